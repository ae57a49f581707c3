"""The journal of moves in progress, shared by every service that moves data between hosts.

A move (a mailbox's mail, a site's files) copies, switches the directory, then syncs again;
it can be killed at any point and is completed by running it again. The journal is how the
next plan knows a move was started and not finished, even after the switch, when the
directory already names the target: one small JSON file per thing being moved, written
atomically (fsync, rename, fsync of the folder) before the first step and removed after the
last.

Each service keeps its journal in a folder of its own and names what it moves (``field``:
the JSON key, ``noun``: the word in messages), so the files written before this module
existed (``{"address": ...}`` for mail, ``{"site": ...}`` for web) are read unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.resources import Resource, Value

MoveStep = Literal["copy", "switched"]


@dataclass(frozen=True)
class PendingMove:
    """A move the journal says was started and not finished."""

    subject: str  # what is moved: a mailbox's address, a site's name
    source: str  # hosts, as named in cluster.hosts
    target: str
    step: MoveStep
    noun: str = ""  # how messages name the subject ("site"), empty when the subject says it

    def describe(self) -> str:
        where = "before the directory was switched" if self.step == "copy" else "after the directory was switched"
        what = f"{self.noun} {self.subject}" if self.noun else self.subject
        return f"moving {what} from {self.source} to {self.target} stopped {where}"


def moving_attrs(host: str, moving: PendingMove | None) -> dict[str, Value]:
    """A placed object's live attributes: its ``host`` as the directory has it and, while a move
    is unfinished, ``moving: A -> B`` (never desired, so the plan proposes to finish it)."""
    attrs: dict[str, Value] = {"host": host}
    if moving is not None:
        attrs["moving"] = f"{moving.source} -> {moving.target}"
    return attrs


def interrupted_hosts(before: Resource) -> tuple[str, ...]:
    """The hosts of the unfinished move the live side shows (``moving_attrs``), else ()."""
    moving = before.attrs.get("moving")
    return tuple(moving.split(" -> ")) if isinstance(moving, str) else ()


def placed_host(resource: Resource) -> str:
    """A placed object's ``host`` (its host kind: a mailbox's ``mailhost``, a site's ``webhost``)."""
    host = resource.attrs.get("host")
    if not isinstance(host, str):
        raise ProviderError(f"{resource.address} has no host")
    return host


class MoveJournal:
    """One JSON file per subject being moved, in ``folder``; each written atomically.

    ``error``: the service's own error type, raised when a record cannot be read."""

    def __init__(self, folder: Path, field: str = "address", noun: str = "",
                 error: type[ProviderError] = ProviderError) -> None:
        self.folder = folder
        self.field = field
        self.noun = noun
        self.error = error

    def _file(self, subject: str) -> Path:
        # Subjects may hold characters no file name should: the name is a digest.
        return self.folder / (hashlib.sha256(subject.encode()).hexdigest()[:32] + ".json")

    def pending(self) -> dict[str, PendingMove]:
        found: dict[str, PendingMove] = {}
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                item = PendingMove(str(data[self.field]), str(data["source"]), str(data["target"]), data["step"],
                               self.noun)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                journal = f"{self.noun} move journal" if self.noun else "move journal"
                raise self.error(f"the {journal} {path} cannot be read ({exc}): check it, or remove it once the "
                                 "move it records is known to be complete") from None
            found[item.subject] = item
        return found

    def record(self, subject: str, source: str, target: str, step: MoveStep) -> PendingMove:
        """Write (or overwrite) the subject's record; returns it as ``pending`` will read it."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._file(subject)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({self.field: subject, "source": source, "target": target, "step": step}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.folder)
        return PendingMove(subject, source, target, step, self.noun)

    def clear(self, subject: str) -> None:
        try:
            self._file(subject).unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    # The rename or unlink is durable only once the folder itself is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
