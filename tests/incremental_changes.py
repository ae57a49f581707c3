"""The changes the narrowed-run acceptance tests make to the example estate
(``incremental_helpers.rich_example``, warm: committed and snapshotted), and whether each must
take the fast path or fall back (``Case``): files and their mailboxes, sites and records edited,
files committed, edited in place keeping their stat, and the snapshot damaged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.incremental_helpers import Warm, applied, box, git, rich_example

HART = "northwind/lawfirm/hartcole.example.yaml"
NET = "northwind/lawfirm/hartcole.net.yaml"
NW = "northwind/northwind.example.yaml"
BAKERY = "northwind/bakery/bäckerei-müller.example.yaml"
BAKERY_ASCII = "northwind/bakery/baeckerei-mueller.example.yaml"
SB = "southbay/southbay.example.yaml"
SCHOOL = "southbay/school/riverside-school.example.yaml"
BAKERY_SHOP = "northwind/bakery/mueller-shop.example.yaml"
SITE = "ispctl.yaml"


@dataclass(frozen=True)
class Case:
    change: Callable[[Warm], object]
    fast: bool
    reason: str = ""  # a fallback's reason contains it


def fast(change: Callable[[Warm], object]) -> Case:
    return Case(change, True)


def falls(change: Callable[[Warm], object], reason: str = "problem") -> Case:
    return Case(change, False, reason)


def mailbox(rel: str, local: str, **fields: Any) -> Callable[[Warm], object]:
    return lambda e: e.edit(rel, lambda d: d["mailboxes"].__setitem__(local, box(**fields)))


def field(rel: str, local: str, name: str, value: Any) -> Callable[[Warm], object]:
    return lambda e: e.edit(rel, lambda d: d["mailboxes"][local].__setitem__(name, value))


def drop(rel: str, *locals_: str) -> Callable[[Warm], object]:
    return lambda e: e.edit(rel, lambda d: [d["mailboxes"].pop(local) for local in locals_])


def both(*changes: Callable[[Warm], object]) -> Callable[[Warm], object]:
    return lambda e: [change(e) for change in changes]


def committed(change: Callable[[Warm], object]) -> Callable[[Warm], object]:
    """The change committed: git names nothing since HEAD, only the digests tell."""
    def run(e: Warm) -> None:
        change(e)
        # the index emptied first: git trusts a file's stat as the snapshot does, and would not
        # see a change that keeps it (``same_stat``)
        git(e.repo, "rm", "-rq", "--cached", ".")
        git(e.repo, "add", "-A")
        git(e.repo, "commit", "-qm", "a change")
    return run


def sites(rel: str, **hosts: Any) -> Callable[[Warm], object]:
    return lambda e: e.edit(rel, lambda d: d.setdefault("web", {}).setdefault("sites", {}).update(hosts))


def shop(alias: str) -> dict[str, Any]:
    return {"domain": "mueller-shop.example", "services": ["web", "dns"], "placement": {"web": "web2.example.net"},
            "web": {"sites": {"@": {"aliases": [alias]}}}}


def same_stat(rel: str, old: bytes, new: bytes) -> Callable[[Warm], object]:
    """``old`` replaced by ``new`` (as long) in place, the file's time put back: its size,
    time, inode and device are those the snapshot knows it by; only its change time is not."""
    def run(e: Warm) -> None:
        e.snapshot_path.unlink()  # a snapshot that knows the file by its stat now (not a former inode's)
        e.prime()
        path = e.path(rel)
        info = path.stat()
        with path.open("r+b") as handle:
            raw = handle.read()
            assert len(old) == len(new) and old in raw
            handle.seek(0)
            handle.write(raw.replace(old, new, 1))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return run


def damage(e: Warm) -> None:
    raw = bytearray(e.snapshot_path.read_bytes())
    raw[-5] ^= 0xFF
    e.snapshot_path.write_bytes(bytes(raw))


def warm_example(base: Path) -> Warm:
    """The example estate under ``base``, committed, its snapshot saved by a full run."""
    keys = rich_example(base / "repo")
    return Warm(base / "repo", base / "cache", kept=(keys,))


# The acceptance modules' fixtures (each module that imports them by name gets its own warm
# example: module scope), all changes starting from the warm state put back.

@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Warm:
    return warm_example(tmp_path_factory.mktemp("example"))


@pytest.fixture
def example(warm: Warm) -> Iterator[Warm]:
    yield warm
    warm.restore()


@pytest.fixture(scope="module")
def live(warm: Warm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with applied(warm, tmp_path_factory) as env:
        yield env
