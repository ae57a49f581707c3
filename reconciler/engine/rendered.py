"""Writing rendered configuration files (``ispctl render ...`` and the sandbox's own copies).

One way for every service: each file is created under a temporary name with its final mode
(never through a symlink planted under that name), then renamed over the target, so a file
that holds a password is never readable by others, not even for a moment, and a reader
never sees half a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_MODE = 0o644


def write_rendered(files: Mapping[str, str], out_dir: Path, modes: Mapping[str, int] | None = None) -> list[Path]:
    """Write ``files`` (name relative to ``out_dir`` -> text), each with its mode from ``modes``
    (default 0644); returns the paths written, in name order."""
    written: list[Path] = []
    for name, text in sorted(files.items()):
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = (modes or {}).get(name, DEFAULT_MODE)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)  # the umask may have narrowed it; never wider than ``mode``
        os.replace(tmp, target)
        written.append(target)
    return written
