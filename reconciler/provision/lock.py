"""One provisioning edit at a time per checkout: an advisory lock held across edit,
validation and commit. A second command waits for it (up to its timeout)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ispctl.reconciler.engine.errors import IspctlError

LOCK_NAME = "ispctl-provision.lock"
_POLL = 0.05


def lock_path(root: Path) -> Path:
    """In the repository's git dir (never a file of the estate); beside the estate without git."""
    for folder in (root, *root.resolve().parents):
        git = folder / ".git"
        if git.is_dir():
            return git / LOCK_NAME
        if git.is_file():  # a worktree: .git names its git dir
            text = git.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                return (folder / text.split(":", 1)[1].strip()).resolve() / LOCK_NAME
    return root.resolve().parent / f".{root.resolve().name}.{LOCK_NAME}"


@contextmanager
def edit_lock(root: Path, timeout: float) -> Iterator[None]:
    path = lock_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IspctlError(f"another provisioning command holds {path}; waited {timeout:g} s "
                                      "(--lock-timeout)") from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
