"""The on-disk form of a snapshot (estate.snapshot_format); writing and reading whole
snapshots back is tested through ``save`` and ``load`` in test_snapshot."""

from __future__ import annotations

import marshal

import pytest

from ispctl.reconciler.engine.narrow_index import summarise
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.snapshot_format import FileEntry, OutlineData
from ispctl.reconciler.estate.snapshot_index import Damaged


def packed(rows: tuple[OutlineData, ...]) -> bytes:
    """Outlines as ``FileEntry.of`` keeps them: with their summary."""
    return marshal.dumps((rows, summarise(rows)))


def test_file_entries_are_equal_by_content_whatever_their_bytes() -> None:
    name = "".join(["mail", "box"])  # not the interned constant: marshal writes it again, not as a reference
    shared = (("mailbox", "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    apart = ((name, "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    facts = marshal.dumps(((), (), ()))
    one = FileEntry(b"d", facts, packed(shared))
    other = FileEntry(b"d", facts, packed(apart))
    assert packed(shared) != packed(apart)  # (else this test shows nothing)
    assert one == other and one == FileEntry(b"d", facts, packed(shared))
    assert one != FileEntry(b"e", facts, packed(shared))
    assert one != FileEntry(b"d", facts, packed(shared[:1]))
    assert one != FileEntry(b"d", marshal.dumps((("address:a@b.example",), (), ())), packed(shared))


def test_an_entry_keeps_its_outlines_summary() -> None:
    rows = (("domain", "b.example", "tenant.t", (), ("old.example",)),
            ("mailbox", "a@b.example", "domain.b.example", (), ()))
    entry = FileEntry.of(b"d", Facts(), rows)
    again = FileEntry(entry.digest, entry.packed_facts, entry.packed_outlines)
    assert again.outlines == rows and again.summary == summarise(rows)
    assert again.summary == (("tenant.t",), (("domain", "tenant"), ("mailbox", "domain")),
                             (("domain.old.example", "domain.b.example"),))


def test_outlines_without_a_summary_are_damaged() -> None:
    rows = (("mailbox", "a@b.example", None, (), ()),)
    with pytest.raises(Damaged):
        FileEntry(b"d", marshal.dumps(((), (), ())), marshal.dumps(rows)).outlines  # noqa: B018 (an older format)
    broken = FileEntry.of(b"d", Facts(), [("mailbox", "a@b.example", 7, (), ())])  # type: ignore[list-item]
    with pytest.raises(Damaged):
        FileEntry(broken.digest, broken.packed_facts, broken.packed_outlines).summary  # noqa: B018
