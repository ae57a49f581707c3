"""Merging a home Dovecot made on delivery into the home being moved there (real filesystem)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ispctl.providers.mailstore.merge import delivered_messages, merge_delivered
from ispctl.providers.mailstore.store import StoreError

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def dovecot_home(path: Path) -> Path:
    """What Dovecot leaves after one delivery and a login: a message, indexes, a quota file."""
    for folder in ("Maildir/cur", "Maildir/new", "Maildir/tmp", "Maildir/.Sent/cur"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    (path / "Maildir/new/1700000000.M1P2.host").write_bytes(b"Subject: late\n\nhello\n")
    (path / "Maildir/.Sent/cur/1700000001.M2P2.host:2,S").write_bytes(b"Subject: sent\n\nbye\n")
    for name in ("dovecot.index.log", "dovecot-uidlist", "dovecot-uidvalidity", "maildirsize", "subscriptions"):
        (path / "Maildir" / name).write_text("x")
    (path / "Maildir/.Sent/maildirfolder").write_text("")
    return path


def test_a_delivered_home_lists_its_messages_only(tmp_path: Path) -> None:
    home = dovecot_home(tmp_path / "new")
    assert delivered_messages(str(home)) == ["Maildir/.Sent/cur/1700000001.M2P2.host:2,S",
                                             "Maildir/new/1700000000.M1P2.host"]


@pytest.mark.parametrize("extra", ["Maildir/tmp/1700000002.M3P2.host", "notes.txt", "Maildir/cur/x/y", "link"])
def test_anything_else_stops_the_merge_and_moves_nothing(tmp_path: Path, extra: str) -> None:
    home = dovecot_home(tmp_path / "new")
    source = tmp_path / "old"
    (source / "Maildir/cur").mkdir(parents=True)
    target = home / extra
    target.parent.mkdir(parents=True, exist_ok=True)
    if extra == "link":
        os.symlink("/etc", target)
    else:
        target.write_text("someone's")
    assert delivered_messages(str(home)) is None
    archive = tmp_path / "archive"
    archive.mkdir()
    with pytest.raises(StoreError, match="never overwrites mail"):
        merge_delivered(str(home), str(source), str(archive), "k@example.net", NOW)
    assert (home / "Maildir/new/1700000000.M1P2.host").exists() and not list(archive.iterdir())


def test_merge_moves_the_messages_and_archives_the_rest(tmp_path: Path) -> None:
    home = dovecot_home(tmp_path / "new")
    source = tmp_path / "old"
    (source / "Maildir/cur").mkdir(parents=True)
    (source / "Maildir/cur/1.old:2,S").write_bytes(b"old mail")
    archive = tmp_path / "archive"
    archive.mkdir()
    left = Path(merge_delivered(str(home), str(source), str(archive), "k@example.net", NOW))
    assert not home.exists()
    assert (source / "Maildir/new/1700000000.M1P2.host").read_bytes() == b"Subject: late\n\nhello\n"
    assert (source / "Maildir/.Sent/cur/1700000001.M2P2.host:2,S").exists()
    assert (source / "Maildir/cur/1.old:2,S").read_bytes() == b"old mail"
    assert left.parent == archive and left.name == "k@example.net.delivered-during-rename.20261202T070000000000Z"
    assert (left / "Maildir/dovecot-uidlist").exists()  # Dovecot's files are kept, not deleted


def test_a_message_name_taken_in_the_old_home_is_never_overwritten(tmp_path: Path) -> None:
    home = dovecot_home(tmp_path / "new")
    source = tmp_path / "old"
    (source / "Maildir/new").mkdir(parents=True)
    (source / "Maildir/new/1700000000.M1P2.host").write_bytes(b"mine")
    with pytest.raises(StoreError, match="already there"):
        merge_delivered(str(home), str(source), str(tmp_path), "k@example.net", NOW)
    assert (source / "Maildir/new/1700000000.M1P2.host").read_bytes() == b"mine"
    assert delivered_messages(str(home)) is not None and len(delivered_messages(str(home)) or []) == 2  # nothing moved
