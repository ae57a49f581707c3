"""The edit's files: comments where they belong after an add or a delete, the journal that
puts every file (and folder) back."""

from __future__ import annotations

from pathlib import Path

from ispctl.reconciler.provision.files import EditFiles, drop_key, put_key
from ispctl.reconciler.provision.yamlrt import dump_text, load_text

TEXT = """\
mailboxes:
  anna:
    name: Anna   # the owner
  karl:
    name: Karl
# Aliases below are the shop's.
aliases:
  info: [anna]
"""


def test_a_new_last_key_takes_over_the_comments_that_introduce_the_next_section() -> None:
    doc = load_text(TEXT)
    put_key(doc["mailboxes"], "lena", {"name": "Lena"})
    assert dump_text(doc) == TEXT.replace("    name: Karl\n", "    name: Karl\n  lena:\n    name: Lena\n")


def test_deleting_the_last_entry_keeps_the_next_sections_comment() -> None:
    doc = load_text(TEXT)
    drop_key(doc["mailboxes"], "karl")
    assert dump_text(doc) == TEXT.replace("  karl:\n    name: Karl\n", "")


def test_a_key_in_conventional_order_goes_before_the_first_later_key() -> None:
    doc = load_text("name: Acme\nlimits:\n  max_domains: 2\n")
    put_key(doc, "status", "suspended", ("name", "contact", "status", "limits"))
    assert dump_text(doc) == "name: Acme\nstatus: suspended\nlimits:\n  max_domains: 2\n"


def test_the_journal_restores_bytes_removes_created_files_and_folders_and_recreates_emptied_ones(
        tmp_path: Path) -> None:
    root = tmp_path / "estate"
    (root / "tenants" / "old").mkdir(parents=True)
    kept = root / "tenants" / "kept.yaml"
    kept.write_bytes(b"a: 1   # same bytes after restore\n")
    gone = root / "tenants" / "old" / "tenant.yaml"
    gone.write_bytes(b"name: Old\n")
    files = EditFiles(root)
    files.doc(kept)["a"] = 2
    files.create(root / "tenants" / "new" / "sub" / "tenant.yaml", load_text("name: New\n"))
    files.delete(gone)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    changes = files.changes()
    assert set(changes) == {kept, gone, root / "tenants" / "new" / "sub" / "tenant.yaml"}
    journal = files.write(changes)
    assert kept.read_text() == "a: 2   # same bytes after restore\n"
    assert not (root / "tenants" / "old").exists()  # emptied by the delete: a tenant folder without its file
    assert (root / "tenants" / "new" / "sub" / "tenant.yaml").read_text() == "name: New\n"
    journal.restore()
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "tenants", "tenants/kept.yaml", "tenants/old", "tenants/old/tenant.yaml"]


def test_an_edit_back_to_the_original_is_no_change(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: 1  # note\n", encoding="utf-8")
    files = EditFiles(tmp_path)
    files.doc(path)["a"] = 5
    files.doc(path)["a"] = 1
    assert files.changes() == {}


def test_a_move_keeps_the_bytes_of_a_file_the_edit_did_not_change(tmp_path: Path) -> None:
    # Laid out by hand (four-space indents, padded flow lists): a round trip would re-indent it.
    by_hand = b"domain: x.example\nmailboxes:\n    alice:   {quota: 1GiB}\naliases:\n    sales: [alice,   bob]\n"
    (tmp_path / "a").mkdir()
    old, new, newer = tmp_path / "a" / "x.yaml", tmp_path / "b" / "x.yaml", tmp_path / "c" / "x.yaml"
    old.write_bytes(by_hand)
    files = EditFiles(tmp_path)
    files.move(old, new)
    files.move(new, newer)  # moved twice: still the same bytes, nothing left at the middle path
    assert files.exists(newer) and not files.exists(new) and not files.exists(old)
    assert files.changes() == {old: (by_hand, None), newer: (None, by_hand)}
    # edited after the move: loaded from the moved bytes, written as a document
    files.doc(newer)["description"] = "moved"
    changed = files.changes()[newer][1]
    assert changed is not None and changed.endswith(b"description: moved\n") and b"alice:" in changed
    # a file this edit changed first moves as its document
    other = tmp_path / "a" / "y.yaml"
    other.write_text(TEXT, encoding="utf-8")
    files.doc(other)["description"] = "changed"
    files.move(other, tmp_path / "b" / "y.yaml")
    assert files.changes()[tmp_path / "b" / "y.yaml"][1] == (TEXT + "description: changed\n").encode()
