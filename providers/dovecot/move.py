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
so a move killed at any point is completed by running it again from the start. The engine's
move journal (``reconciler/engine/journal.py``, one small file per mailbox being moved) is how
the next plan knows a move was interrupted, even after the switch, when the directory already
names the target.

The doveadm password (``doveadm_password`` of the hosts' doveadm servers) is written into a
private temporary config file for each call, never on a command line.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ispctl.reconciler.contract import MoveJournal, ProviderError


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


def mail_journal(folder: Path) -> MoveJournal:
    """The mail moves' journal (the engine's, records keyed by ``address`` as they always were)."""
    return MoveJournal(folder, field="address", error=MoveError)


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
    journal.record(address, source, target, "copy")
    for host in sources:
        doveadm.sync(address, endpoints[target], endpoints[host])
    switch()
    journal.record(address, source, target, "switched")
    for host in sources:
        doveadm.sync(address, endpoints[target], endpoints[host])
    journal.clear(address)
