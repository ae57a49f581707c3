"""Files of ispctl's own cache folder (the parse cache's packs, the snapshots): each written whole
under a temporary name of the writer's own, 0600 in a 0700 folder, and renamed into place, so a
reader (another run at the same time) sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path

_names = itertools.count()  # temporary names of this process's own, also across threads
_BATCH = 1 << 20


def replace_private(path: Path, parts: Iterable[bytes | memoryview]) -> None:
    """``path`` holding ``parts`` one after the other, or as it was (OSError: nothing left behind)."""
    temporary = path.parent / f".{path.name}.{os.getpid()}.{next(_names)}.tmp"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # (only the last one made 0700)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(handle, 0o600)  # a left-over file of the same name may have had another mode
            write_all(handle, parts)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_all(handle: int, parts: Iterable[bytes | memoryview]) -> None:
    """Write ``parts`` in a few large writes: thousands of small parts (a pack's entries, a
    snapshot's files) joined up to a megabyte at a time, never the whole copied at once."""
    batch: list[bytes | memoryview] = []
    held = 0
    for part in itertools.chain(parts, [b""]):
        batch.append(part)
        held += len(part)
        if held >= _BATCH or not part:
            view = memoryview(b"".join(batch))
            while view:
                view = view[os.write(handle, view):]
            batch, held = [], 0


__all__ = ["replace_private", "write_all"]
