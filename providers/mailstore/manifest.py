"""The manifest written into a home before it is archived: what was there, byte for byte.

It lists every file with its size and SHA-256, so an archive can be checked against what
the mailbox held, long after the mailbox is gone.
"""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from typing import Any

FORMAT = 1
MANIFEST = ".ispctl-archive.json"
TMP_SUFFIX = ".tmp"


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def iso(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(path: str) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def inventory(home: str, with_hashes: bool = True) -> list[dict[str, Any]]:
    """Every file below ``home`` (sorted relative paths) except the manifest; symlinks are listed, not followed."""
    files: list[dict[str, Any]] = []
    for current, dirs, names in os.walk(home):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, home)
            if rel in (MANIFEST, MANIFEST + TMP_SUFFIX):
                continue
            st = os.lstat(full)
            item: dict[str, Any] = {"path": rel, "size": st.st_size}
            if stat.S_ISLNK(st.st_mode):
                item["symlink"] = os.readlink(full)
            elif stat.S_ISREG(st.st_mode) and with_hashes:
                item["sha256"] = _hash(full)
            files.append(item)
    return sorted(files, key=lambda f: f["path"])


def manifest(address: str, original_path: str, now: datetime, files: list[dict[str, Any]],
             owner: tuple[int, int]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "address": address,
        "original_path": original_path,
        "archived_at": iso(now),
        "uid": owner[0],
        "gid": owner[1],
        "file_count": len(files),
        "total_bytes": sum(f["size"] for f in files if "symlink" not in f),
        "files": files,
    }
