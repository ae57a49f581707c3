"""The on-disk form of a snapshot (``estate.snapshot``): what it holds per file (``FileEntry``:
digest, stat, the summary of its outlines, facts and outlines kept packed until asked for) and
how it is written and read back. A file is a header (magic, context key, digest of the files
described, digest of all of it) and a body: the length of a ``marshal`` table (each file's
digest, stat, summary and where its packed facts and outlines are; the index's totals and the
lengths of its buckets, the identities' files and the lengths of their buckets), the table, then the packed parts one
after the other: each file's facts and outlines, the index's buckets, the identities'. It is
written 0600 to a temporary name and renamed into place, and whatever is damaged or of another
format or context is read as nothing, with the reason.
"""

from __future__ import annotations

import hashlib
import marshal
import mmap
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ispctl.reconciler.engine.narrow_index import summarise
from ispctl.reconciler.engine.outlined import Summary
from ispctl.reconciler.engine.resources import OutlineRow, Resource, address_of, outline
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.private_files import replace_private
from ispctl.reconciler.estate.snapshot_index import Damaged, Identities, Index

# v4: each file's outlines with their summary (narrow_index); v5: the index of all the
# domain files' names and totals (snapshot_index); v6: the packed parts (files', then the
# index's buckets) after the table, read in place (``marshal`` copied them all out of the
# body: ~14 MB at 30k mailboxes); v7: the outlines' summaries in the table (a narrowed run
# reads every one, and the rows of only a few files) and the index of identities; v8: the
# indexes name files by number, equal parts of summaries written once (15.3 -> 11.6 MB at 30k)
_MAGIC = b"ispctl snapshot v8\n"
# magic, context key, digest of the files (their names and digests), digest of all of it
_HEAD = struct.Struct(f"<{len(_MAGIC)}s32s32s32s")
_TABLE = struct.Struct("<Q")  # the length of the table that starts the body


# The resources of the site settings (a RADIUS profile of ispctl.yaml) are kept under this
# name: a narrowed run compiles them again from the site settings, the same as the snapshot's
# (its context), and falls back if they are not the same objects. A service must compile such a
# resource from the site settings (and tenants) alone: one summing up the domain files would
# be worked out from a narrowed run's subset (each service's narrowed tests compare values).
SITE = ""

# One resource's outline as stored: kind, key, parent, depends_on, previous.
OutlineData = OutlineRow

# size, modification time (ns), inode, device and change time (ns) of a file. The change time
# is what an edit that puts its modification time back (``os.utime``) cannot put back: git's
# index keeps it for the same reason.
Stat = tuple[int, int, int, int, int]

# A ``marshal`` packing: its own bytes, or the part of a snapshot's body read back that holds it.
Packed = bytes | memoryview
# A snapshot file's bytes: read, or mapped (``mapped``).
Raw = bytes | mmap.mmap

# Facts as stored (``Facts.to_data``): names, needs, totals, each sorted.
FactsData = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...]]


class FileEntry:
    """One tenant or domain file as the snapshot's run saw it: the digest of its bytes, its
    facts and the outlines of its resources, with what the engine needs of them as a whole
    (``narrow_index.summarise``, worked out when saved: a narrowed run outlines most files and
    looks at each as one group). Facts and outlines are kept as ``marshal`` gave
    them until asked for: a narrowed run reads the facts of the few files it loads or that
    changed (the others' are in the snapshot's ``Index``), the outlines of those it does not
    load, and writes back only the few files it loaded (re-encoding a hundred thousand
    outlines was most of an update)."""

    __slots__ = ("digest", "packed_facts", "packed_outlines", "stat", "summary", "_data", "_facts", "_outlines")

    def __init__(self, digest: bytes, packed_facts: Packed, packed_outlines: Packed, stat: Stat | None,
                 summary: Summary) -> None:
        self.digest = digest
        self.packed_facts = packed_facts
        self.packed_outlines = packed_outlines
        # The file's stat when ``digest`` was taken (``stat_of``): the same stat now is the same
        # bytes, without reading them. None: read it.
        self.stat = stat
        self.summary = summary  # ``narrow_index.summarise`` of the outlines
        self._data: FactsData | None = None
        self._facts: Facts | None = None
        self._outlines: tuple[OutlineData, ...] | None = None

    @classmethod
    def of(cls, digest: bytes, facts: Facts, outlines: Iterable[OutlineData], stat: Stat | None = None) -> FileEntry:
        rows = tuple(outlines)
        entry = cls(digest, marshal.dumps(facts.to_data()), marshal.dumps(rows), stat, summarise(rows))
        entry._facts = facts
        return entry

    def restated(self, stat: Stat | None) -> FileEntry:
        """The same entry, known by another stat (the same bytes)."""
        return FileEntry(self.digest, self.packed_facts, self.packed_outlines, stat, self.summary)

    @property
    def data(self) -> FactsData:
        """The facts as stored (``Facts.to_data``): names, needs, totals."""
        if self._data is None:
            self._data = _unpacked(self.packed_facts, _is_facts)
        return self._data

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            self._facts = Facts.from_data(self.data)
        return self._facts

    @property
    def outlines(self) -> tuple[OutlineData, ...]:
        if self._outlines is None:
            self._outlines = _unpacked(self.packed_outlines, _is_outlines)
        return self._outlines

    def addresses(self) -> list[str]:
        """The address (``kind.key``) of each outline."""
        try:
            return [address_of(kind, key) for kind, key, *_ in self.outlines]
        except (ValueError, TypeError):
            raise Damaged from None

    def resources(self) -> Iterable[Resource]:
        try:
            for kind, key, parent, depends_on, previous in self.outlines:
                yield outline(kind, key, parent, depends_on, previous)
        except (ValueError, TypeError):
            raise Damaged from None

    def __eq__(self, other: object) -> bool:
        # By content: marshal may encode equal data differently (it shares repeated objects).
        if not isinstance(other, FileEntry):
            return NotImplemented
        if self.digest != other.digest:
            return False
        # The same bytes decode to the same data: unpacked only when they differ (a narrowed
        # run compares every file it loaded, every tenant file among them, with its old entry).
        return (self.packed_facts == other.packed_facts or self.data == other.data) and \
            (self.packed_outlines == other.packed_outlines or self.outlines == other.outlines)

    __hash__ = None  # type: ignore[assignment]


def _unpacked(packed: Packed, shape: Callable[[Any], bool]) -> Any:
    try:
        found = marshal.loads(packed)
    except (ValueError, EOFError, TypeError):
        raise Damaged from None
    if not shape(found):
        raise Damaged
    return found


def _is_facts(data: Any) -> bool:
    return isinstance(data, tuple) and len(data) == 3 and all(isinstance(part, tuple) for part in data)


def _is_outlines(data: Any) -> bool:
    # (Each item's shape is checked where it is taken apart: ``FileEntry.resources`` and
    # ``engine.outlined`` raise. The body's digest already rules out damage.)
    return type(data) is tuple


def _is_summary(data: Any) -> bool:
    # (Written out: a generator per file is a tenth of reading the table.)
    return type(data) is tuple and len(data) == 4 and type(data[0]) is tuple and type(data[1]) is tuple \
        and type(data[2]) is tuple and type(data[3]) is tuple


@dataclass
class Snapshot:
    """Every tenant and domain file of a valid estate, by ``Document.file``, and the index of
    the domain files' facts (``snapshot_index``: kept with them by whoever changes ``files``)."""

    context: bytes
    files: dict[str, FileEntry]
    index: Index
    identities: Identities  # which file's outlines hold each address

    def combined(self) -> bytes:
        return combined(self.context, ((name, entry.digest) for name, entry in self.files.items()))


def combined(context: bytes, digests: Iterable[tuple[str, bytes]]) -> bytes:
    """What a snapshot describes, in one digest: its context and every file's name and bytes."""
    digest = hashlib.sha256(context)
    for name, found in sorted(digests):
        if name == SITE:
            continue  # (the site settings are the context's)
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + found)
    return digest.digest()


def write(path: Path, snapshot: Snapshot, force: bool = False) -> str | None:
    """Write ``snapshot`` to ``path`` unless the one there describes the same files (``force``:
    whatever is there); returns why it was not written, None when written or current."""
    summary = snapshot.combined()
    if not force and described(path) == (snapshot.context, summary):
        return None
    parts: list[Packed] = []
    data = {}
    at = 0
    shared: dict[Any, Any] = {}
    for name, entry in snapshot.files.items():
        facts, outlines = entry.packed_facts, entry.packed_outlines
        data[name] = (entry.digest, at, len(facts), at + len(facts), len(outlines), entry.stat,
                      _shared(entry.summary, shared))
        at += len(facts) + len(outlines)
        parts += (facts, outlines)
    buckets, totals, names = snapshot.index.to_data()
    lengths = tuple(map(len, buckets))
    identities = snapshot.identities.packed
    parts += buckets  # (after the files' parts: a file's parts start at its offsets)
    parts += identities
    try:
        table = marshal.dumps((data, (at, lengths, totals, names, tuple(map(len, identities)),
                                      snapshot.identities.names)))
    except ValueError:
        return "a fact or an outline is not plain data"
    body = [_TABLE.pack(len(table)), table, *parts]
    head = _HEAD.pack(_MAGIC, snapshot.context, summary, _digest(snapshot.context, summary, *body))
    try:
        replace_private(path, [head, *body])
    except OSError as exc:
        return f"cannot write {path} ({exc.strerror or type(exc).__name__})"
    return None


def _shared(summary: Summary, shared: dict[Any, Any]) -> Summary:
    """``summary`` made of the same tuples as every equal one before it: ``marshal`` writes a
    tuple it has written already as a reference, and reads it back once (most domain files'
    summaries share their parts: the table was half as big again, and as slow to read, without)."""
    def one(part: Any) -> Any:
        return shared.setdefault(part, part)

    out, pairs, claims, kinds = summary
    return (one(out), one(tuple(map(one, pairs))), one(tuple(map(one, claims))), one(tuple(map(one, kinds))))


def _digest(context: bytes, summary: bytes, *body: Packed) -> bytes:
    """The digest of a body (given whole or in parts), bound to the header that describes it:
    sha256 of them all joined, fed one after the other (joined, tens of megabytes were copied)."""
    digest = hashlib.sha256(context)
    digest.update(summary)
    for part in body:
        digest.update(part)
    return digest.digest()


def mapped(path: Path) -> Raw:
    """The bytes of the file at ``path``, mapped rather than read: a snapshot is read whole for
    its digest, and copying ~12 MB (at 30k mailboxes) into fresh memory cost twice the digest
    itself. Files are only ever replaced (``replace_private``), never changed in place, so the
    mapping keeps the bytes it was made of. OSError as ``open`` raises it."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return b""  # (an empty file cannot be mapped)
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


def described(path: Path) -> tuple[bytes, bytes] | None:
    """The context and files a whole, undamaged snapshot at ``path`` describes."""
    try:
        raw = mapped(path)
    except (OSError, ValueError):
        return None
    if len(raw) < _HEAD.size:
        return None
    magic, context, summary, digest = _HEAD.unpack_from(raw)
    if magic != _MAGIC or _digest(context, summary, memoryview(raw)[_HEAD.size:]) != digest:
        return None
    return context, summary


def read(raw: Raw, context: bytes) -> tuple[Snapshot | None, str]:
    """The snapshot in ``raw`` (a file's bytes) if it is whole and of ``context``, else None and why not."""
    if len(raw) < _HEAD.size:
        return None, "the snapshot is damaged"
    magic, found, summary, digest = _HEAD.unpack_from(raw)
    body = memoryview(raw)[_HEAD.size:]
    if magic != _MAGIC:
        return None, "the snapshot is of another format"
    if found != context:
        return None, "the snapshot is of another context (code, site settings, environment or services changed)"
    if _digest(found, summary, body) != digest:
        return None, "the snapshot is damaged"
    decoded = _decode(body)  # (the parts stay where they are: views of ``raw``)
    if decoded is None:
        return None, "the snapshot is damaged"
    return Snapshot(context, *decoded), ""


def _decode(body: memoryview) -> tuple[dict[str, FileEntry], Index, Identities] | None:
    """The files and index of a body, or None unless they have the shape ``write`` gives (what
    each file's facts and outlines hold is checked when they are first read: ``Damaged``)."""
    try:
        (length,) = _TABLE.unpack_from(body)
        whole: Any = marshal.loads(body[_TABLE.size:_TABLE.size + length])
        parts = body[_TABLE.size + length:]
        if type(whole) is not tuple or len(whole) != 2 or type(whole[0]) is not dict:
            return None
        data, (at, lengths, totals, names, identity_lengths, identity_names) = whole
        buckets: list[list[Packed]] = [[], []]
        end = at
        for part, sizes in zip(buckets, (lengths, identity_lengths), strict=True):
            for size in sizes:  # the index's buckets, then the identities', after the files' parts
                if size < 0:
                    return None
                part.append(parts[end:end + size])
                end += size
        if not 0 <= at <= end <= len(parts):
            return None
        index = Index.from_data((tuple(buckets[0]), totals, names))
        identities = Identities.from_data(tuple(buckets[1]), identity_names)
        if index is None or identities is None:
            return None
        files = {}
        for name, (found, facts_at, facts_length, outlines_at, outlines_length, stat, summary) in data.items():
            # A part past the end would read as a shorter one: the shape is checked here, the
            # parts' contents when unpacked (the body's digest already rules out damage).
            if type(name) is not str or type(found) is not bytes or not 0 <= facts_at <= facts_at + facts_length \
                    <= outlines_at <= outlines_at + outlines_length <= at \
                    or not (stat is None or type(stat) is tuple and len(stat) == 5) or not _is_summary(summary):
                return None
            files[name] = FileEntry(found, parts[facts_at:facts_at + facts_length],
                                    parts[outlines_at:outlines_at + outlines_length], stat, summary)
    except (ValueError, EOFError, TypeError, AttributeError, struct.error):
        return None
    return files, index, identities
