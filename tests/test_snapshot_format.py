"""The on-disk form of a snapshot (estate.snapshot_format); writing and reading whole
snapshots back is tested through ``save`` and ``load`` in test_snapshot."""

from __future__ import annotations

import marshal

from ispctl.reconciler.estate.snapshot_format import FileEntry


def test_file_entries_are_equal_by_content_whatever_their_bytes() -> None:
    name = "".join(["mail", "box"])  # not the interned constant: marshal writes it again, not as a reference
    shared = (("mailbox", "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    apart = ((name, "a@b.example", None, (), ()), ("mailbox", "c@b.example", None, (), ()))
    facts = marshal.dumps(((), (), ()))
    one = FileEntry(b"d", facts, marshal.dumps(shared))
    other = FileEntry(b"d", facts, marshal.dumps(apart))
    assert marshal.dumps(shared) != marshal.dumps(apart)  # (else this test shows nothing)
    assert one == other and one == FileEntry(b"d", facts, marshal.dumps(shared))
    assert one != FileEntry(b"e", facts, marshal.dumps(shared))
    assert one != FileEntry(b"d", facts, marshal.dumps(shared[:1]))
    assert one != FileEntry(b"d", marshal.dumps((("address:a@b.example",), (), ())), marshal.dumps(shared))
