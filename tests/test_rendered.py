"""Rendered configuration files are written whole, with their modes, never through a planted link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ispctl.reconciler.contract import write_rendered


def test_each_file_gets_its_mode_and_its_text_and_subfolders_are_made(tmp_path: Path) -> None:
    old = os.umask(0o077)  # a narrow umask must not change the modes asked for
    try:
        written = write_rendered({"conf.d/90-x.conf": "a\n", "secret.conf": "pw\n"}, tmp_path, {"secret.conf": 0o600})
    finally:
        os.umask(old)
    assert written == [tmp_path / "conf.d/90-x.conf", tmp_path / "secret.conf"]
    assert (tmp_path / "conf.d/90-x.conf").read_text(encoding="utf-8") == "a\n"
    assert stat.S_IMODE((tmp_path / "secret.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "conf.d/90-x.conf").stat().st_mode) == 0o644  # as asked, whatever the umask
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_link_planted_at_the_temporary_name_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".ldap.conf.tmp").symlink_to(victim)
    write_rendered({"ldap.conf": "bindpw secret\n"}, out, {"ldap.conf": 0o600})
    assert victim.read_text(encoding="utf-8") == "untouched"
    assert (out / "ldap.conf").read_text(encoding="utf-8") == "bindpw secret\n"
    assert not (out / "ldap.conf").is_symlink()


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    (tmp_path / "KeyTable").write_text("old\n" * 100, encoding="utf-8")
    write_rendered({"KeyTable": "new\n"}, tmp_path)
    assert (tmp_path / "KeyTable").read_text(encoding="utf-8") == "new\n"
