"""The on-disk form of a snapshot (estate.snapshot_format); writing and reading whole
snapshots back is tested through ``save`` and ``load`` in test_snapshot."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from ispctl.reconciler.engine.narrow_index import summarise
from ispctl.reconciler.estate import snapshot_format
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.snapshot_format import FileEntry, OutlineData, Snapshot, mapped, read, write
from ispctl.reconciler.estate.snapshot_index import Damaged, Identities, Index


def packed(rows: tuple[OutlineData, ...]) -> bytes:
    """Outlines as ``FileEntry.of`` keeps them."""
    return marshal.dumps(rows)


def entry(digest: bytes, facts: bytes, rows: tuple[OutlineData, ...], outlines: bytes | None = None) -> FileEntry:
    return FileEntry(digest, facts, packed(rows) if outlines is None else outlines, None, summarise(rows))


def test_file_entries_are_equal_by_content_whatever_their_bytes() -> None:
    name = "".join(["mail", "box"])  # not the interned constant: marshal writes it again, not as a reference
    shared = (("mailbox", "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    apart = ((name, "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    facts = marshal.dumps(((), (), ()))
    one = entry(b"d", facts, shared)
    other = entry(b"d", facts, apart)
    assert packed(shared) != packed(apart)  # (else this test shows nothing)
    assert one == other and one == entry(b"d", facts, shared)
    assert one != entry(b"e", facts, shared)
    assert one != entry(b"d", facts, shared[:1])
    assert one != entry(b"d", marshal.dumps((("address:a@b.example",), (), ())), shared)


def test_an_entry_keeps_its_outlines_summary() -> None:
    rows = (("domain", "b.example", "tenant.t", (), ("old.example",)),
            ("mailbox", "a@b.example", "domain.b.example", (), ()))
    made = FileEntry.of(b"d", Facts(), rows)
    again = FileEntry(made.digest, made.packed_facts, made.packed_outlines, None, made.summary)
    assert again.outlines == rows and again.summary == summarise(rows)
    assert again.summary == (("tenant.t",), (("domain", "tenant"), ("mailbox", "domain")),
                             (("domain.old.example", "domain.b.example"),), (("domain", 1), ("mailbox", 1)))
    assert again.addresses() == ["domain.b.example", "mailbox.a@b.example"]


def test_outlines_not_of_the_shape_written_are_damaged() -> None:
    rows = (("mailbox", "a@b.example", None, (), ()),)
    with pytest.raises(Damaged):  # (an older format: rows and their summary)
        entry(b"d", marshal.dumps(((), (), ())), rows, marshal.dumps([rows])).outlines  # noqa: B018
    with pytest.raises(Damaged):
        entry(b"d", marshal.dumps(((), (), ())), rows, marshal.dumps((("mailbox",),))).addresses()


def snapshot_of(count: int) -> Snapshot:
    """``count`` files with facts and outlines of their own, and the index of them."""
    files = {}
    for n in range(count):
        domain = f"d{n}.example"
        rows: tuple[OutlineData, ...] = (("domain", domain, None, (), ()),
                                         ("mailbox", f"m@{domain}", f"domain.{domain}", (), (f"o@{domain}",)))
        files[f"desired-state/tenants/t/d{n}.example.yaml"] = FileEntry.of(
            bytes([n % 256]) * 32, Facts(names=frozenset({f"domain:d{n}.example"})), rows, (n, n, n, n, n))
    identities = Identities.of((name, entry.addresses()) for name, entry in files.items())
    return Snapshot(b"c" * 32, files, Index.of((name, entry.facts) for name, entry in files.items()), identities)


def test_a_snapshot_reads_back_as_written(tmp_path: Path) -> None:
    """Each file's parts, and the index's buckets, are read in place (views of the body)."""
    snapshot = snapshot_of(40)
    path = tmp_path / "s.snapshot"
    assert write(path, snapshot) is None
    kept, why = read(path.read_bytes(), snapshot.context)
    assert kept is not None, why
    assert kept.files == snapshot.files and list(kept.files) == list(snapshot.files)
    assert all(type(entry.packed_outlines) is memoryview for entry in kept.files.values())
    assert all(type(bucket) is memoryview for bucket in kept.index.packed)
    assert kept.files["desired-state/tenants/t/d7.example.yaml"].outlines[1][4] == ("o@d7.example",)
    assert kept.index.to_data() == snapshot.index.to_data()
    assert kept.identities.packed == snapshot.identities.packed
    assert all(type(bucket) is memoryview for bucket in kept.identities.packed)
    assert kept.identities.files_of("mailbox.m@d7.example") == ("desired-state/tenants/t/d7.example.yaml",)
    assert kept.files["desired-state/tenants/t/d7.example.yaml"].summary[3] == (("domain", 1), ("mailbox", 1))
    # A file's name is written once (the indexes number the files), and equal parts of
    # summaries are written once (and read back as one tuple).
    assert path.read_bytes().count(b"desired-state/tenants/t/d7.example.yaml") == 1
    one, other = (kept.files[f"desired-state/tenants/t/d{n}.example.yaml"].summary for n in (3, 4))
    assert one[1] == other[1] and one[1] is other[1] and one[3] is other[3]
    # Written again from the parts read back: the same bytes.
    again = tmp_path / "again.snapshot"
    assert write(again, kept, force=True) is None
    assert again.read_bytes() == path.read_bytes()


def test_a_table_that_points_past_the_parts_is_damaged(tmp_path: Path) -> None:
    """Whole (its digest right) but not of the shape written: read as nothing."""
    snapshot = snapshot_of(3)
    path = tmp_path / "s.snapshot"
    assert write(path, snapshot) is None
    raw = path.read_bytes()
    head = snapshot_format._HEAD.unpack_from(raw)
    body = memoryview(raw)[snapshot_format._HEAD.size:]
    (length,) = snapshot_format._TABLE.unpack_from(body)
    data, index = marshal.loads(body[snapshot_format._TABLE.size:snapshot_format._TABLE.size + length])
    name = next(iter(data))
    digest, facts_at, facts_length, outlines_at, outlines_length, stat, summary = data[name]

    def rewritten(item: tuple[object, ...]) -> bytes:
        table = marshal.dumps(({**data, name: item}, index))
        new_body = snapshot_format._TABLE.pack(len(table)) + table + bytes(body[snapshot_format._TABLE.size + length:])
        return snapshot_format._HEAD.pack(head[0], head[1], head[2],
                                          snapshot_format._digest(head[1], head[2], new_body)) + new_body

    assert read(rewritten((digest, facts_at, facts_length, outlines_at, outlines_length + 10**6, stat, summary)),
                snapshot.context) == (None, "the snapshot is damaged")
    assert read(rewritten((digest, facts_at, facts_length, outlines_at, outlines_length, stat, summary[:3])),
                snapshot.context) == (None, "the snapshot is damaged")
    assert read(rewritten((digest, facts_at, facts_length, outlines_at, outlines_length, stat, summary)),
                snapshot.context)[0] is not None


def test_a_mapped_snapshot_keeps_its_bytes_when_the_file_is_replaced(tmp_path: Path) -> None:
    """A snapshot is mapped, not read (``mapped``): a full run that replaces it meanwhile
    (temporary name, renamed into place) leaves the mapping with the bytes it was made of."""
    path = tmp_path / "s.snapshot"
    before = snapshot_of(4)
    assert write(path, before) is None
    kept, why = read(mapped(path), before.context)
    assert kept is not None, why
    assert write(path, snapshot_of(6), force=True) is None
    name = "desired-state/tenants/t/d3.example.yaml"
    assert kept.files[name].outlines == before.files[name].outlines and len(kept.files) == 4
    (tmp_path / "empty").touch()
    assert mapped(tmp_path / "empty") == b""
    assert read(mapped(tmp_path / "empty"), before.context) == (None, "the snapshot is damaged")
