"""Moving a mailbox's mail to another mail_store host with Dovecot's own dsync.

A move is three steps, in this order (README "Cluster: placement and moves"):

1. copy: the target host's doveadm server syncs the mailbox with the source host's
   (``doveadm sync -S <target> -u USER tcp:<source>``), while the source still receives the
   mailbox's mail. dsync's two-way mode: what is on either side ends on both (its one-way
   ``-1`` copied nothing into a new mailbox here, Dovecot 2.3.19), and the source's copy is
   archived after the move anyway;
2. switch: the directory entry names the target (``mailHost``); Postfix's transport map and
   Dovecot read it at each delivery and login, so new mail goes to the target from now on;
3. final sync: the same pull again brings what reached the source between 1 and 2.

The old copy is then the source host's to archive: its own mail store run no longer wants
the home (it is placed elsewhere) and moves it into the mail archive, never deleting it.
Each step can be repeated (dsync is incremental and idempotent, the switch writes one value),
so a move killed at any point is completed by running it again from the start. A journal
(one small file per mailbox being moved, written atomically before the first step and removed
after the last) is how the next plan knows a move was interrupted, even after the switch,
when the directory already names the target.

The doveadm password (``doveadm_password`` of the hosts' doveadm servers) is written into a
private temporary config file for each call, never on a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ispctl.reconciler.contract import ProviderError

Step = Literal["copy", "switched"]


class MoveError(ProviderError):
    """A step of a move failed; running the move again continues it."""


def _quoted(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise MoveError("the doveadm password cannot hold a line break or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Doveadm:
    """Runs doveadm mail commands on the hosts' doveadm servers (``-S host:port``)."""

    password: str
    binary: str = "doveadm"
    timeout: float = 3600.0
    attempts: int = 3

    def __repr__(self) -> str:  # never print the password, even in a traceback
        return f"Doveadm(binary={self.binary!r})"

    def sync(self, user: str, target: str, source: str) -> None:
        """Bring ``user``'s mail from the doveadm server at ``source`` into the one at ``target``."""
        with tempfile.TemporaryDirectory(prefix="ispctl-doveadm-") as tmp:
            conf = Path(tmp) / "doveadm.conf"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(f"doveadm_password = {_quoted(self.password)}\n")
            command = [self.binary, "-c", str(conf), "sync", "-S", target, "-u", user, f"tcp:{source}"]
            for _attempt in range(self.attempts):
                try:
                    done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, check=False)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise MoveError(f"doveadm sync of {user} from {source} to {target}: {exc}") from None
                # 2: done, but the mailbox changed meanwhile; 75: a temporary failure. dsync's
                # manual says to run it again (it is incremental).
                if done.returncode not in (2, 75):
                    break
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise MoveError(f"doveadm sync of {user} from {source} to {target} failed (exit {done.returncode})"
                            + (f": {detail[-1]}" if detail else ""))


@dataclass(frozen=True)
class Pending:
    """A move the journal says was started and not finished."""

    address: str
    source: str  # hosts, as named in cluster.hosts
    target: str
    step: Step

    def describe(self) -> str:
        where = "before the directory was switched" if self.step == "copy" else "after the directory was switched"
        return f"moving {self.address} from {self.source} to {self.target} stopped {where}"


class MoveJournal:
    """One JSON file per mailbox being moved, in ``folder``; written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, address: str) -> Path:
        # Addresses may hold characters no file name should: the name is a digest.
        return self.folder / (hashlib.sha256(address.encode()).hexdigest()[:32] + ".json")

    def pending(self) -> dict[str, Pending]:
        found: dict[str, Pending] = {}
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                item = Pending(str(data["address"]), str(data["source"]), str(data["target"]), data["step"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise MoveError(f"the move journal {path} cannot be read ({exc}): check it, or remove it once the "
                                "move it records is known to be complete") from None
            found[item.address] = item
        return found

    def record(self, item: Pending) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._file(item.address)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(asdict(item), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        _fsync_dir(self.folder)

    def clear(self, address: str) -> None:
        try:
            self._file(address).unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_mailbox(address: str, source: str, target: str, endpoints: Mapping[str, str], doveadm: Doveadm,
                 journal: MoveJournal, switch: Callable[[], None], also: tuple[str, ...] = ()) -> None:
    """Copy, switch the directory entry (``switch``), sync again; see the module's docstring.

    ``also``: more hosts that may hold some of the mail (those of a move interrupted earlier
    towards another host): each is synced like the source, so nothing any of them got is left
    behind."""
    sources = tuple(dict.fromkeys(h for h in (source, *also) if h != target))
    missing = sorted(({target, *sources}) - set(endpoints))
    if missing:
        raise MoveError(f"moving {address}: no doveadm server known for {', '.join(missing)} "
                        "(cluster.hosts with the mail_store role)")
    journal.record(Pending(address, source, target, "copy"))
    for host in sources:
        doveadm.sync(address, endpoints[target], endpoints[host])
    switch()
    journal.record(Pending(address, source, target, "switched"))
    for host in sources:
        doveadm.sync(address, endpoints[target], endpoints[host])
    journal.clear(address)
