"""One apply at a time per estate, across machines: a lock entry in the directory itself.

The lock is the entry ``cn=ispctl-lock,<managed base>`` (object class ``ispctlLock``).
Taking it is an LDAP add, which the server makes atomic: of two machines adding it at once,
exactly one succeeds. The entry records who, on which host, for which operation and
commit, since when and until when; its second ``cn`` value is the lock's id. An expired
lock (its holder died) is removed and the add retried; removing it uses the Assertion
control (RFC 4528) on the id, so a process never deletes a lock that someone else took
meanwhile. ``ispctl force-unlock ID`` removes a lock by id, the same way.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPEntryAlreadyExistsResult, LDAPException, LDAPNoSuchObjectResult
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder

from ispctl.providers.ldap import dn as dnlib
from ispctl.reconciler.contract import IspctlError, ProviderError

LOCK_RDN = "ispctl-lock"
ASSERTION_OID = "1.3.6.1.1.12"
_TIME = "%Y%m%d%H%M%SZ"


class LockHeld(IspctlError):
    """Someone else holds the lock and did not release it in time."""


@dataclass(frozen=True)
class LockInfo:
    id: str
    owner: str
    host: str
    operation: str
    commit: str
    since: datetime
    expires: datetime

    def describe(self) -> str:
        return (f"lock {self.id} held by {self.owner} on {self.host} for {self.operation} "
                f"(commit {self.commit[:12] or 'unknown'}) since {self.since:%Y-%m-%d %H:%M:%S} UTC, "
                f"expires {self.expires:%Y-%m-%d %H:%M:%S} UTC")


def new_lock(operation: str, commit: str | None, ttl: timedelta, now: datetime | None = None) -> LockInfo:
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return LockInfo(uuid.uuid4().hex, f"{user} (pid {os.getpid()})", socket.gethostname(), operation,
                    commit or "", start, start + ttl)


def _assertion(lock_id: str) -> tuple[str, bool, bytes]:
    tree = parse_filter(f"(cn={dnlib.escape_filter(lock_id)})", None, True, True, None, False)
    return (ASSERTION_OID, True, encoder.encode(compile_filter(tree.elements[0])))


def _holder_died(holder: LockInfo) -> bool:
    """True when the holder ran on this host and its process no longer exists.

    A killed apply (SIGKILL, OOM, a reboot) cannot release its lock; on the same host we
    can see that it is gone instead of waiting for the lock to expire. On another host
    only expiry (or force-unlock) frees it.
    """
    found = re.search(r"\(pid (\d+)\)$", holder.owner)
    if holder.host != socket.gethostname() or found is None:
        return False
    stat = f"/proc/{found.group(1)}/stat"
    try:
        with open(stat, encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _first(attrs: dict[str, Any], name: str) -> str:
    values = attrs.get(name) or []
    return str(values[0]) if values else ""


class DirectoryLock:
    def __init__(self, conn: ldap3.Connection, base_dn: str) -> None:
        self.conn = conn
        self.dn = dnlib.child("cn", LOCK_RDN, base_dn)

    def read(self) -> LockInfo | None:
        try:
            found = self.conn.search(self.dn, "(objectClass=ispctlLock)", ldap3.BASE, attributes=["*"])
        except LDAPNoSuchObjectResult:
            return None
        if not found or not self.conn.entries:
            return None
        attrs = self.conn.response[0]["attributes"]
        ids = [v for v in attrs.get("cn", []) if v != LOCK_RDN]

        def when(name: str) -> datetime:
            value = attrs.get(name)
            if isinstance(value, datetime):
                return value.astimezone(UTC)
            text = _first(attrs, name)
            return datetime.strptime(text, _TIME).replace(tzinfo=UTC) if text else datetime.now(UTC)

        return LockInfo(ids[0] if ids else "", _first(attrs, "ispctlLockOwner"), _first(attrs, "ispctlLockHost"),
                        _first(attrs, "ispctlLockOperation"), _first(attrs, "ispctlLockCommit"),
                        when("ispctlLockSince"), when("ispctlLockExpires"))

    def _add(self, info: LockInfo) -> bool:
        attrs = {
            "objectClass": ["ispctlLock"], "cn": [LOCK_RDN, info.id],
            "ispctlLockOwner": info.owner, "ispctlLockHost": info.host, "ispctlLockOperation": info.operation,
            "ispctlLockSince": info.since.strftime(_TIME), "ispctlLockExpires": info.expires.strftime(_TIME),
        }
        if info.commit:
            attrs["ispctlLockCommit"] = info.commit
        try:
            return bool(self.conn.add(self.dn, attributes=attrs))
        except LDAPEntryAlreadyExistsResult:
            return False

    def _delete(self, lock_id: str) -> bool:
        """Delete the lock only if it is still the one with ``lock_id``."""
        try:
            return bool(self.conn.delete(self.dn, controls=[_assertion(lock_id)]))
        except LDAPNoSuchObjectResult:
            return False
        except LDAPException as exc:
            if "assertion" in str(exc).lower():
                return False
            raise

    def acquire(self, info: LockInfo, timeout: float, poll: float = 1.0) -> LockInfo:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._add(info):
                    return info
                holder = self.read()
            except LDAPException as exc:
                raise ProviderError(f"cannot take the lock {self.dn}: {exc}") from None
            if holder is not None and (holder.expires <= datetime.now(UTC) or _holder_died(holder)):
                self._delete(holder.id)  # its holder is gone; only this exact lock is removed
                continue
            if time.monotonic() >= deadline:
                what = holder.describe() if holder else "a lock that disappeared while being read"
                raise LockHeld(f"another run holds the estate: {what}. Wait for it, or if it died, "
                               f"run: ispctl force-unlock {holder.id if holder else 'ID'}")
            time.sleep(max(0.05, min(poll, deadline - time.monotonic())))

    def release(self, info: LockInfo) -> None:
        self._delete(info.id)

    def force_unlock(self, lock_id: str) -> LockInfo:
        holder = self.read()
        if holder is None or holder.id != lock_id:
            current = f"the current lock is {holder.id}" if holder else "nothing is locked"
            raise IspctlError(f"no lock with id {lock_id} ({current})")
        if not self._delete(lock_id):
            raise IspctlError(f"lock {lock_id} changed while it was being removed; look again")
        return holder
