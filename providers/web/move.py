"""Moving a site's files to another web host with rsync, journaled (README "Cluster: placement and moves").

A move is three steps, in this order, run by the central apply:

1. copy: the site's directory (``<home>/<site>``, and its docroot when that lies outside it)
   from the old host's web root to the new one's, with ``rsync -aHAX --numeric-ids --delete``
   (owners are the tenant's uid, the same number on every host), through a staging copy on the
   central machine (rsync cannot copy between two remote hosts; the stage also makes a repeated
   copy incremental on both legs);
2. switch: the directory names the new host (``ispctlWebHost`` on the domain entry);
3. final sync: the same copy again without ``--delete`` and with ``--update``, so what changed
   on the old host between 1 and 2 arrives and nothing written on the new host since is undone.

The old copy is then the old host's to archive: its own web run no longer has the site and
archives its files (``files.archive_site``), never deleting them. Each step can be repeated, so
a move killed at any point is completed by running it again; the engine's move journal
(``reconciler/engine/journal.py``, the mail moves' too, in a folder of its own) records the move
from before step 1 until after step 3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ispctl.reconciler.contract import MoveJournal, ProviderError


class MoveError(ProviderError):
    """A step of a move failed; running the move again continues it."""


def site_journal(folder: Path) -> MoveJournal:
    """The site moves' journal (the engine's, records keyed by ``site`` as they always were)."""
    return MoveJournal(folder, field="site", noun="site", error=MoveError)


@dataclass(frozen=True)
class SiteFilesToMove:
    """What a site has on disk, relative to the web root: its directory and a docroot outside it."""

    site: str
    paths: tuple[str, ...]

    @classmethod
    def of(cls, site: str, home: str, docroot: str, web_root: str) -> SiteFilesToMove:
        root = web_root.rstrip("/") + "/"
        own = f"{home.rstrip('/')}/{site}"
        paths = [own] + ([docroot.rstrip("/")] if not (docroot.rstrip("/") + "/").startswith(own + "/") else [])
        for path in paths:
            if not path.startswith(root):
                raise MoveError(f"site {site}: {path} is not inside the web root {web_root}")
        return cls(site, tuple(p[len(root):] for p in paths))


@dataclass(frozen=True)
class Rsync:
    """rsync between two locations (``host:path`` over ssh, or a local path)."""

    binary: str = "rsync"
    timeout: float = 3600.0

    def copy(self, source: str, target: str, final: bool) -> None:
        # The first copy mirrors (the target is new); the final one only adds what is newer.
        mode = ["--update"] if final else ["--delete"]
        command = [self.binary, "-aHAX", "--numeric-ids", "--mkpath", *mode, f"{source}/", f"{target}/"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MoveError(f"rsync {source} -> {target}: {exc}") from None
        # 24: files vanished during the copy (a live site): what is left was copied; the final
        # sync runs anyway.
        if done.returncode not in (0, 24):
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise MoveError(f"rsync {source} -> {target} failed (exit {done.returncode})"
                            + (f": {detail[-1]}" if detail else ""))


def _exists_locally(location: str) -> bool | None:
    """Whether a local location exists (None: a remote ``host:path``, rsync will tell)."""
    if ":" in location.split("/", 1)[0]:
        return None
    return os.path.isdir(location)


def _copy(files: SiteFilesToMove, source: str, target: str, stage: Path, rsync: Rsync, final: bool) -> None:
    for index, rel in enumerate(files.paths):
        origin = f"{source.rstrip('/')}/{rel}"
        if _exists_locally(origin) is False:
            if final:
                continue  # the old host archived it already: the first copy has everything
            raise MoveError(f"moving {files.site}: {origin} does not exist (archived on the old host already? "
                            "restore it from the web archive there)")
        staged = stage / str(index)
        rsync.copy(origin, str(staged), final=False)  # the stage mirrors the source
        rsync.copy(str(staged), f"{target.rstrip('/')}/{rel}", final=final)


def move_site(files: SiteFilesToMove, source: str, target: str, locations: Mapping[str, str], rsync: Rsync,
              journal: MoveJournal, switch: Callable[[], None], also: tuple[str, ...] = ()) -> None:
    """Copy, switch (``switch``), sync again; see the module's docstring. ``locations``: each web
    host's web root as rsync reaches it; ``also``: hosts of an interrupted earlier move."""
    sources = tuple(dict.fromkeys(h for h in (source, *also) if h != target))
    missing = sorted({target, *sources} - set(locations))
    if missing:
        raise MoveError(f"moving {files.site}: {', '.join(missing)} is not a web host of cluster.hosts")
    stage = journal.folder / "stage" / files.site
    earlier = journal.pending().get(files.site)
    if earlier is None or earlier.step != "switched" or earlier.target != target:
        # Not yet switched to this target: (re)start with the mirroring copy. Once switched, the
        # new host may take uploads: a resumed move goes straight to the final (adding) sync.
        journal.record(files.site, source, target, "copy")
        for host in sources:
            _copy(files, locations[host], locations[target], stage, rsync, final=False)
        switch()
        journal.record(files.site, source, target, "switched")
    for host in sources:
        _copy(files, locations[host], locations[target], stage, rsync, final=True)
    shutil.rmtree(stage, ignore_errors=True)
    journal.clear(files.site)
