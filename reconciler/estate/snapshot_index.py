"""What a snapshot (``estate.snapshot_format``) keeps once for all its files, so a narrowed run
(``estate.incremental``) never unpacks the facts or outlines of the thousands of files it
neither loads nor changes: which domain files name each name, and whether they need it
(``Index.holders``), the sum of every domain file's totals (``Index.totals``: the totals
outside a narrowed run are that sum less those of the few files it loads or that changed), and
which file's outlines hold each identity (``Identities``).

Both are kept in buckets (by a digest of the name that is the same in every process), each
packed with ``marshal`` on its own: a run asks about a few dozen names and unpacks only their
buckets. Files are named by their number in a list kept with the index. An index kept up to
date run after run (``updated``) answers as the one worked out from scratch (``of``) for the
same files, and compares equal to it.
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ispctl.reconciler.estate.facts import Facts

# The files naming a name without needing it (declaring it, or only naming it), and those
# needing it (``Facts.needs``).
Holders = tuple[tuple[str, ...], tuple[str, ...]]

# Buckets of names: a run asks about a few dozen names; ~50 names a bucket at 50,000 names.
BUCKETS = 1024


class Damaged(Exception):
    """A snapshot's part that is not what ``snapshot_format.write`` gives."""


def _bucket(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % BUCKETS


def _unpacked_bucket(packed: bytes | memoryview) -> dict[Any, Any]:
    try:
        found = marshal.loads(packed)
    except (ValueError, EOFError, TypeError):
        raise Damaged from None
    if type(found) is not dict:
        raise Damaged
    return found


class _Buckets:
    """Buckets each packed on its own and unpacked when first asked for, naming files by their
    number in ``names`` (a file's name in every bucket it is in was most of the snapshot)."""

    __slots__ = ("packed", "names", "_open")

    def __init__(self, packed: tuple[bytes | memoryview, ...], names: tuple[str, ...]) -> None:
        self.packed = packed
        self.names = names  # the files by number (a file gone keeps its number until a full run)
        self._open: dict[int, dict[Any, Any]] = {}

    def _opened(self, number: int) -> dict[Any, Any]:
        found = self._open.get(number)
        if found is None:
            found = self._open[number] = _unpacked_bucket(self.packed[number])
        return found

    def _named(self, numbers: Iterable[int]) -> tuple[str, ...]:
        """The files of these numbers, sorted."""
        try:
            return tuple(sorted(self.names[number] for number in numbers))
        except (IndexError, TypeError):
            raise Damaged from None

    def _numbering(self, files: Iterable[str]) -> tuple[list[str], dict[str, int]]:
        """The files by number with those of ``files`` not numbered yet added, and each one's number."""
        names = list(self.names)
        numbers = {name: number for number, name in enumerate(names)}
        for file in files:
            if file not in numbers:
                numbers[file] = len(names)
                names.append(file)
        return names, numbers


class Index(_Buckets):
    """The names and totals of a snapshot's domain files (module docstring)."""

    __slots__ = ("totals",)

    def __init__(self, packed: tuple[bytes | memoryview, ...], totals: dict[str, int], names: tuple[str, ...]) -> None:
        # Per bucket: marshal of {name: (the files naming it without needing it (declaring it,
        # or only naming it), the files needing it)}, each sorted, by number.
        super().__init__(packed, names)
        self.totals = totals    # the sum of every file's totals, without sums of zero

    @classmethod
    def of(cls, facts: Iterable[tuple[str, Facts]]) -> Index:
        """The index of these files' facts (each file once)."""
        buckets: list[dict[str, tuple[list[int], list[int]]]] = [{} for _ in range(BUCKETS)]
        totals: dict[str, int] = {}
        names = []
        for number, (file, found) in enumerate(facts):
            names.append(file)
            needs = found.needs
            for name in found.names:
                name_holders = buckets[_bucket(name)].get(name)
                if name_holders is None:
                    name_holders = buckets[_bucket(name)][name] = ([], [])
                name_holders[name in needs].append(number)
            for key, value in found.totals.items():
                totals[key] = totals.get(key, 0) + value
        packed = tuple(marshal.dumps({name: (tuple(naming), tuple(needing))
                                      for name, (naming, needing) in bucket.items()})
                       for bucket in buckets)
        return cls(packed, {key: value for key, value in totals.items() if value}, tuple(names))

    def holders(self, names: Iterable[str]) -> dict[str, Holders]:
        """The files naming each of ``names`` without needing it, and those needing it, each
        sorted (names no file names are left out)."""
        found = {}
        for name in names:
            files = self._opened(_bucket(name)).get(name)
            if files is not None:
                found[name] = self._named(files[0]), self._named(files[1])
        return found

    def outside(self, excluded: Iterable[Facts]) -> dict[str, int]:
        """The totals of every file but those whose facts are ``excluded`` (each of them once)."""
        totals = dict(self.totals)
        for found in excluded:
            for key, value in found.totals.items():
                totals[key] = totals.get(key, 0) - value
        return {key: value for key, value in totals.items() if value}

    def updated(self, changes: Mapping[str, tuple[Facts | None, Facts | None]]) -> Index:
        """The index after each file of ``changes`` went from its old facts to its new ones
        (None: the file was not there / is gone)."""
        totals = dict(self.totals)
        names, numbers = self._numbering(changes)
        # Per bucket: (name, file, whether it needed it, whether it needs it; None: not named).
        moved: dict[int, list[tuple[str, int, bool | None, bool | None]]] = {}
        empty = Facts()
        for file, (old, new) in changes.items():
            old, new = old or empty, new or empty
            for key, value in old.totals.items():
                totals[key] = totals.get(key, 0) - value
            for key, value in new.totals.items():
                totals[key] = totals.get(key, 0) + value
            number = numbers[file]
            for name in old.names | new.names:
                was = (name in old.needs) if name in old.names else None
                now = (name in new.needs) if name in new.names else None
                if was != now:
                    moved.setdefault(_bucket(name), []).append((name, number, was, now))
        packed: list[bytes | memoryview] = list(self.packed)
        for bucket_number, moves in moved.items():
            bucket = dict(self._opened(bucket_number))
            for name, number, needed, needs in moves:
                lists = [set(part) for part in bucket.get(name, ((), ()))]
                if needed is not None:
                    lists[needed].discard(number)
                if needs is not None:
                    lists[needs].add(number)
                if lists[0] or lists[1]:
                    bucket[name] = (tuple(sorted(lists[0])), tuple(sorted(lists[1])))
                else:
                    bucket.pop(name, None)
            packed[bucket_number] = marshal.dumps(bucket)
        return Index(tuple(packed), {key: value for key, value in totals.items() if value}, tuple(names))

    def to_data(self) -> tuple[tuple[bytes | memoryview, ...], dict[str, int], tuple[str, ...]]:
        return self.packed, self.totals, self.names

    @classmethod
    def from_data(cls, data: Any) -> Index | None:
        """The index ``to_data`` gave, or None unless it has that shape."""
        if type(data) is not tuple or len(data) != 3:
            return None
        packed, totals, names = data
        if type(packed) is not tuple or len(packed) != BUCKETS or type(totals) is not dict or type(names) is not tuple \
                or not all(type(part) is bytes or type(part) is memoryview for part in packed):
            return None
        return cls(packed, totals, names)

    def __eq__(self, other: object) -> bool:
        # By content: equal buckets may be packed in another order (``updated`` adds at the
        # end), and files numbered otherwise.
        if not isinstance(other, Index):
            return NotImplemented
        return self.totals == other.totals and all(
            self.holders(self._opened(number)) == other.holders(other._opened(number))
            and self._opened(number).keys() == other._opened(number).keys() for number in range(BUCKETS))

    __hash__ = None  # type: ignore[assignment]


class Identities(_Buckets):
    """Which file's outlines hold each identity (an address, ``kind.key``), so a narrowed run
    makes the outlines of only the few files whose objects it looks up (``engine.outlined``).

    Not the addresses themselves (~150,000 at 30,000 mailboxes: they were most of the
    snapshot), but a digest of each (crc32, the same in every process): its low bits choose
    the bucket, the rest are the key, and each key gives the number of the file (in ``names``)
    of every address with that digest. Two addresses may share a digest: a lookup names every
    file that may hold it, and the caller looks in each (a file named in vain is only slower).
    """

    # Per bucket: marshal of {key: file number, or numbers (a digest shared)}.
    __slots__ = ()

    @classmethod
    def of(cls, files: Iterable[tuple[str, Iterable[str]]]) -> Identities:
        """The index of these files' addresses (each file once)."""
        buckets: list[dict[int, list[int]]] = [{} for _ in range(BUCKETS)]
        names = []
        for number, (file, addresses) in enumerate(files):
            names.append(file)
            for address in addresses:
                bucket, key = _digest(address)
                buckets[bucket].setdefault(key, []).append(number)
        return cls(tuple(map(_packed, buckets)), tuple(names))

    def files_of(self, address: str) -> tuple[str, ...]:
        """The files that may hold ``address``, sorted (none: no file does)."""
        bucket, key = _digest(address)
        return self._named(_numbers(self._opened(bucket).get(key, ())))

    def updated(self, changes: Mapping[str, tuple[Collection[str], Collection[str]]]) -> Identities:
        """The index after each file of ``changes`` went from its old addresses to its new ones."""
        names, numbers = self._numbering(changes)
        moved: dict[int, list[tuple[int, int, bool]]] = {}
        for file, (old, new) in changes.items():
            number = numbers[file]
            for address in set(old) ^ set(new):
                bucket, key = _digest(address)
                moved.setdefault(bucket, []).append((key, number, address in new))
        packed = list(self.packed)
        for bucket, moves in moved.items():
            lists = {key: list(_numbers(found)) for key, found in self._opened(bucket).items()}
            for key, number, held in moves:
                if held:
                    lists.setdefault(key, []).append(number)
                elif number in lists.get(key, ()):
                    lists[key].remove(number)
            packed[bucket] = _packed({key: found for key, found in lists.items() if found})
        return Identities(tuple(packed), tuple(names))

    @classmethod
    def from_data(cls, packed: Any, names: Any) -> Identities | None:
        if type(packed) is not tuple or len(packed) != BUCKETS or type(names) is not tuple \
                or not all(type(part) is bytes or type(part) is memoryview for part in packed):
            return None
        return cls(packed, names)

    def __eq__(self, other: object) -> bool:
        # By what each address gives (files are numbered in the order they were added).
        if not isinstance(other, Identities):
            return NotImplemented
        return all(self._files(number) == other._files(number) for number in range(BUCKETS))

    def _files(self, bucket: int) -> dict[int, tuple[str, ...]]:
        return {key: self._named(_numbers(found)) for key, found in self._opened(bucket).items()}

    __hash__ = None  # type: ignore[assignment]


def _digest(address: str) -> tuple[int, int]:
    """The bucket and the key of an address (22 bits: packed in 5 bytes)."""
    digest = zlib.crc32(address.encode("utf-8", "surrogatepass"))
    return digest % BUCKETS, digest // BUCKETS


def _numbers(found: int | tuple[int, ...]) -> tuple[int, ...]:
    """The file numbers a key of the identities gives (one, or those sharing its digest)."""
    return (found,) if type(found) is int else found  # type: ignore[return-value]


def _packed(bucket: Mapping[int, Sequence[int]]) -> bytes:
    return marshal.dumps({key: numbers[0] if len(numbers) == 1 else tuple(sorted(numbers))
                          for key, numbers in sorted(bucket.items())})


__all__ = ["BUCKETS", "Damaged", "Holders", "Identities", "Index"]
