"""What a snapshot (``estate.snapshot_format``) keeps once for all its domain files, so a
narrowed run (``estate.incremental``) never unpacks the facts of the thousands of files it
neither loads nor changes: which files name each name, and whether they need it
(``Index.holders``), and the sum of
every file's totals (``Index.totals``: the totals outside a narrowed run are that sum less
those of the few files it loads or that changed).

The names are kept in buckets (by a digest of the name that is the same in every process),
each packed with ``marshal`` on its own: a run asks about a few dozen names and unpacks only
their buckets. Each name's files are sorted and sums of zero are left out, so an index kept
up to date run after run (``Index.updated``) is the one worked out from scratch
(``Index.of``) for the same files.
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Iterable, Mapping
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


class Index:
    """The names and totals of a snapshot's domain files (module docstring)."""

    __slots__ = ("packed", "totals", "_open")

    def __init__(self, packed: tuple[bytes | memoryview, ...], totals: dict[str, int]) -> None:
        # Per bucket: marshal of {name: (the files naming it without needing it (declaring it,
        # or only naming it), the files needing it)}, each sorted.
        self.packed = packed
        self.totals = totals    # the sum of every file's totals, without sums of zero
        self._open: dict[int, dict[str, Holders]] = {}

    @classmethod
    def of(cls, facts: Iterable[tuple[str, Facts]]) -> Index:
        """The index of these files' facts (each file once)."""
        buckets: list[dict[str, tuple[list[str], list[str]]]] = [{} for _ in range(BUCKETS)]
        totals: dict[str, int] = {}
        for file, found in facts:
            needs = found.needs
            for name in found.names:
                name_holders = buckets[_bucket(name)].get(name)
                if name_holders is None:
                    name_holders = buckets[_bucket(name)][name] = ([], [])
                name_holders[name in needs].append(file)
            for key, value in found.totals.items():
                totals[key] = totals.get(key, 0) + value
        packed = tuple(marshal.dumps({name: (tuple(sorted(naming)), tuple(sorted(needing)))
                                      for name, (naming, needing) in bucket.items()})
                       for bucket in buckets)
        return cls(packed, {key: value for key, value in totals.items() if value})

    def _opened(self, number: int) -> dict[str, Holders]:
        found = self._open.get(number)
        if found is None:
            try:
                found = marshal.loads(self.packed[number])
            except (ValueError, EOFError, TypeError):
                raise Damaged from None
            if type(found) is not dict:
                raise Damaged
            self._open[number] = found
        return found

    def holders(self, names: Iterable[str]) -> dict[str, Holders]:
        """The files naming each of ``names`` without needing it, and those needing it (names
        no file names are left out)."""
        found = {}
        for name in names:
            files = self._opened(_bucket(name)).get(name)
            if files is not None:
                found[name] = files
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
        # Per bucket: (name, file, whether it needed it, whether it needs it; None: not named).
        moved: dict[int, list[tuple[str, str, bool | None, bool | None]]] = {}
        empty = Facts()
        for file, (old, new) in changes.items():
            old, new = old or empty, new or empty
            for key, value in old.totals.items():
                totals[key] = totals.get(key, 0) - value
            for key, value in new.totals.items():
                totals[key] = totals.get(key, 0) + value
            for name in old.names | new.names:
                was = (name in old.needs) if name in old.names else None
                now = (name in new.needs) if name in new.names else None
                if was != now:
                    moved.setdefault(_bucket(name), []).append((name, file, was, now))
        packed: list[bytes | memoryview] = list(self.packed)
        for number, moves in moved.items():
            bucket = dict(self._opened(number))
            for name, file, needed, needs in moves:
                lists = [set(part) for part in bucket.get(name, ((), ()))]
                if needed is not None:
                    lists[needed].discard(file)
                if needs is not None:
                    lists[needs].add(file)
                if lists[0] or lists[1]:
                    bucket[name] = (tuple(sorted(lists[0])), tuple(sorted(lists[1])))
                else:
                    bucket.pop(name, None)
            packed[number] = marshal.dumps(bucket)
        return Index(tuple(packed), {key: value for key, value in totals.items() if value})

    def to_data(self) -> tuple[tuple[bytes | memoryview, ...], dict[str, int]]:
        return self.packed, self.totals

    @classmethod
    def from_data(cls, data: Any) -> Index | None:
        """The index ``to_data`` gave, or None unless it has that shape."""
        if type(data) is not tuple or len(data) != 2:
            return None
        packed, totals = data
        if type(packed) is not tuple or len(packed) != BUCKETS or type(totals) is not dict \
                or not all(type(part) is bytes or type(part) is memoryview for part in packed):
            return None
        return cls(packed, totals)

    def __eq__(self, other: object) -> bool:
        # By content: equal buckets may be packed in another order (``updated`` adds at the end).
        if not isinstance(other, Index):
            return NotImplemented
        return self.totals == other.totals and all(
            mine == theirs or self._opened(number) == other._opened(number)
            for number, (mine, theirs) in enumerate(zip(self.packed, other.packed, strict=True)))

    __hash__ = None  # type: ignore[assignment]


__all__ = ["BUCKETS", "Damaged", "Holders", "Index"]
