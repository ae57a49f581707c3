"""Safe primitives of the mail store on disk (``store``, ``archive``, ``adopt``): directories made,
fixed and flushed without following a symlink where the mail owner could plant one, and JSON
files (markers, manifests) written atomically and read only from regular files."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from ispctl.providers.mailstore.manifest import TMP_SUFFIX
from ispctl.providers.mailstore.paths import StoreError

MARKER_MODE = 0o644  # markers and manifests: the mail owner (Dovecot) may read them, never write
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_real_dir(path: str) -> bool:
    """A real directory (a symlink to one does not count)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def fsync_dir(path: str) -> None:
    # Only flushes: following a symlinked mail root here is harmless.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fix_dir(path: str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Set mode (and owner) of a directory through an O_NOFOLLOW handle: never through a symlink."""
    try:
        fd = os.open(path, _OPEN_DIR)
    except OSError as exc:
        raise StoreError(f"{path} is not a directory ispctl can use (a symlink or a file?): {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if owner is not None and (st.st_uid, st.st_gid) != owner:
            os.fchown(fd, *owner)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def ensure_dir(path: str, mode: int, owner: tuple[int, int] | None = None) -> bool:
    """Create ``path`` with ``mode`` (and owner); True if it was created. An existing one is kept as is."""
    try:
        os.mkdir(path, mode)
    except FileNotFoundError:
        raise StoreError(f"cannot create {path}: its parent directory does not exist") from None
    except FileExistsError:
        if not is_real_dir(path):
            raise StoreError(f"{path} exists but is not a directory (or is a symlink); ispctl will not use "
                             "it") from None
        return False
    fix_dir(path, mode, owner)  # mkdir's mode went through the umask
    return True


def ensure_top(path: str, mode: int) -> None:
    """The mail root or the archive: operator-chosen paths, so a symlink to a directory is fine."""
    if not os.path.isdir(path) and ensure_dir(path, mode):
        fsync_dir(os.path.dirname(path.rstrip("/")) or "/")


def write_json(directory: str, name: str, data: dict[str, Any], mode: int = MARKER_MODE) -> None:
    """Write ``directory/name`` atomically: a fresh temp file, fsync, rename, fsync the directory.

    The temp file is removed first and opened with O_EXCL|O_NOFOLLOW, so a symlink or hard
    link the mail owner placed under that name can never redirect the write.
    """
    tmp = os.path.join(directory, name + TMP_SUFFIX)
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, os.path.join(directory, name))
    fsync_dir(directory)


def read_json(path: str) -> dict[str, Any] | None:
    """A JSON object from a regular file (never through a symlink); None if absent or unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(1 << 24)  # manifests of huge mailboxes are large, markers tiny
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
