"""Files of ispctl's own cache folder (estate.private_files): written whole, 0600 in a 0700
folder, renamed into place; a write that fails leaves the old file and no temporary behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.reconciler.estate import private_files
from ispctl.reconciler.estate.private_files import replace_private, write_all


def test_parts_of_every_size_are_written_in_order(tmp_path: Path) -> None:
    """Small parts joined up to a batch, parts larger than one, views and empty parts."""
    big = os.urandom(private_files._BATCH + 12345)
    parts: list[bytes | memoryview] = [b"head", b"", memoryview(b"0123456789")[2:8], big, b"x" * 999, b"tail"]
    path = tmp_path / "out"
    handle = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(handle, iter(parts))
    finally:
        os.close(handle)
    assert path.read_bytes() == b"".join(parts)


def test_a_file_is_replaced_whole_and_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "snapshots" / "a.snapshot"
    replace_private(path, [b"one", b"two"])
    assert path.read_bytes() == b"onetwo"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    replace_private(path, [memoryview(b"three")])
    assert path.read_bytes() == b"three"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.snapshot"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.pack"
    replace_private(path, [b"old"])

    def parts() -> Iterator[bytes]:
        yield b"new"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        replace_private(path, parts())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.pack"]
