"""The mail store's safe disk primitives (providers/mailstore/disk.py): never through a symlink."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ispctl.providers.mailstore.disk import (
    MARKER_MODE,
    ensure_dir,
    ensure_top,
    fix_dir,
    is_real_dir,
    read_json,
    write_json,
)
from ispctl.providers.mailstore.manifest import TMP_SUFFIX
from ispctl.providers.mailstore.paths import StoreError


def test_a_symlink_to_a_directory_is_no_real_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    assert is_real_dir(str(tmp_path / "d"))
    assert not is_real_dir(str(tmp_path / "link")) and not is_real_dir(str(tmp_path / "absent"))


def test_ensure_dir_creates_once_with_its_mode_and_refuses_symlinks_and_files(tmp_path: Path) -> None:
    path = str(tmp_path / "d")
    old = os.umask(0o077)  # the mode must not depend on the umask
    try:
        assert ensure_dir(path, 0o751) is True
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    assert ensure_dir(path, 0o700) is False  # kept as it is
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    (tmp_path / "link").symlink_to(tmp_path / "d")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for name in ("link", "file"):
        with pytest.raises(StoreError, match=f"{tmp_path / name} exists but is not a directory"):
            ensure_dir(str(tmp_path / name), 0o700)
    with pytest.raises(StoreError, match="its parent directory does not exist"):
        ensure_dir(str(tmp_path / "no" / "d"), 0o700)
    with pytest.raises(StoreError, match="a symlink or a file"):
        fix_dir(str(tmp_path / "link"), 0o700)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751  # not changed through the link


def test_the_mail_root_may_be_a_symlink_the_operator_made(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "root").symlink_to(tmp_path / "real")
    ensure_top(str(tmp_path / "root"), 0o751)
    assert stat.S_IMODE(os.stat(tmp_path / "real").st_mode) == 0o755  # an existing one is left alone
    ensure_top(str(tmp_path / "new"), 0o751)
    assert is_real_dir(str(tmp_path / "new"))


def test_json_is_written_atomically_past_a_planted_temp_file_and_read_only_from_regular_files(
        tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / ("m" + TMP_SUFFIX)).symlink_to(victim)  # planted where the temp file goes
    write_json(str(tmp_path), "m", {"address": "anna@example.net", "n": 1})
    assert victim.read_text(encoding="utf-8") == "keep"
    assert stat.S_IMODE(os.lstat(tmp_path / "m").st_mode) == MARKER_MODE
    assert read_json(str(tmp_path / "m")) == {"address": "anna@example.net", "n": 1}
    assert not (tmp_path / ("m" + TMP_SUFFIX)).exists()
    (tmp_path / "link").symlink_to(tmp_path / "m")
    (tmp_path / "list").write_text(json.dumps([1]), encoding="utf-8")
    (tmp_path / "bad").write_bytes(b"\xff{")
    for name in ("link", "list", "bad", "absent"):
        assert read_json(str(tmp_path / name)) is None, name
    assert read_json(str(tmp_path)) is None  # a directory is no file
