"""``ispctl passwd ADDRESS``: an operator sets a mailbox's password directly in the directory.

A mailbox's password belongs to its user once the mailbox exists (``credentials: user``, the
default): plans never compare it, so a reset is not a change to git but a write to the
directory, like the user's own ``ldappasswd``. It runs under the estate's apply lock (an apply
renaming the same entry half-way is never interleaved with it), refuses a mailbox ispctl does
not manage or whose hash git keeps (``credentials: git``: change it in git instead), and
appends a record to the audit trail. Neither the password nor its hash is ever printed,
logged or recorded.
"""

from __future__ import annotations

import getpass
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from ispctl.providers.ldap.provider import LdapProvider
from ispctl.reconciler.contract import (
    MAILBOX,
    CommandContext,
    InvalidName,
    IspctlError,
    address_of,
    audit,
    hash_password,
    normalise_address,
    output,
)

FIELD = "password"


def read_password(stdin: IO[str] | None) -> str:
    """From a prompt, twice, on a terminal; else the first line of standard input (never argv)."""
    if stdin is None:
        raise IspctlError("no password on standard input: pipe it in or run on a terminal")
    if stdin.isatty():
        first = getpass.getpass("New password: ")
        if first != getpass.getpass("Again: "):
            raise IspctlError("the two passwords differ; nothing was changed")
        return first
    return stdin.readline().rstrip("\r\n")


def passwd_cmd(ctx: CommandContext, root: Path, address: str, scheme: str = "sha512", lock_timeout: float = 0.0,
               stdin: IO[str] | None = None) -> int:
    try:
        wanted = normalise_address(address)
    except InvalidName as exc:
        raise IspctlError(f"{address!r} is not a mailbox address: {exc}") from None
    with ctx.session(root) as session:
        ident = (MAILBOX, wanted)
        desired = session.compiled.get(ident) or session.desired.get(ident)
        if desired is None:
            raise IspctlError(f"ispctl does not manage a mailbox {wanted}: it is in no file of the estate; nothing "
                              "was changed")
        if FIELD not in desired.create_only:
            raise IspctlError(f"the password of {wanted} is kept in git (credentials: git): a password set here "
                              "would be reverted by the next apply. Change its hash in git ('ispctl hash-password') "
                              "and apply; nothing was changed")
        provider = next((p for p in session.providers if isinstance(p, LdapProvider)), None)
        if provider is None:
            raise IspctlError("ispctl passwd writes the directory: enable the ldap provider (providers: in "
                              "ispctl.yaml or ISPCTL_PROVIDERS)")
        password = read_password(sys.stdin if stdin is None else stdin)
        try:
            hashed = hash_password(password, scheme)
        except ValueError as exc:
            raise IspctlError(f"{exc}; nothing was changed") from None
        del password
        ttl = timedelta(seconds=session.catalog.estate.site.safety.lock_ttl)
        with provider.estate_lock("passwd", None, ttl, lock_timeout) as lock:
            live = provider.read({MAILBOX}).get(ident)
            if live is None:
                raise IspctlError(f"{wanted} is not in the directory yet: run 'ispctl apply' first (it creates the "
                                  "mailbox with its initial password from git, or none); nothing was changed")
            entry = provider.set_credential(live, FIELD, hashed)
            path = audit.log_path()
            audit.append({"estate": ctx.estate(root), **_record(wanted, entry, provider, lock.id)}, path)
    output.out().print(f"The password of {wanted} was changed ({entry}); it is its user's from now on: plans "
                       f"leave it alone. Recorded in the audit trail {path}.", markup=False)
    return 0


def _record(address: str, entry: str, provider: LdapProvider, lock_id: str) -> dict[str, object]:
    """The audit line: who set which credential of what, never the value. Shaped like an
    apply's record (an ``end`` line without a run id), so ``ispctl history`` lists it."""
    change = {"address": address_of(MAILBOX, address), "action": "update", "status": "ok", "error": None,
              "attributes": [FIELD]}
    return {
        "type": "end", "run": None, "result": "complete", "stopped": None, "operation": "passwd",
        "time": datetime.now(UTC).isoformat(timespec="seconds"), "who": _who(), "host": socket.gethostname(),
        "desired": {"commit": None, "dirty": False}, "plan_checksum": None, "lock": lock_id,
        "directory": {"url": provider.settings.url, "base_dn": provider.base_dn, "entry": entry},
        "summary": {"added": 0, "changed": 1, "destroyed": 0, "failed": 0, "skipped": 0}, "changes": [change],
    }


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
