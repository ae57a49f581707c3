"""One apply at a time per estate, across machines: a lock entry in the directory itself.

The lock is the entry ``cn=ispctl-lock,<managed base>`` (object class ``ispctlLock``).
Taking it is an LDAP add, which the server makes atomic: of two machines adding it at once,
exactly one succeeds. The entry records who, on which host, for which operation and
commit, since when and until when; its second ``cn`` value is the lock's id.

The holder keeps it alive: a heartbeat thread renews ``ispctlLockExpires`` every third of
the TTL over a connection of its own (an ldap3 connection is not safe to share between
threads, and the apply's connection may be busy with a long operation), so an apply may
run far longer than ``lock_ttl``. When it cannot renew in time, or finds the lock taken
over, it says so (``HeldLock.lost``) and the apply stops at the next change boundary.

Only a provably dead holder loses its lock: on this host (same name, same boot, same PID
namespace), when its process is gone or its PID now belongs to a process started at
another time (PID reuse: the start time is recorded in the owner); on another host, when
it was not renewed within the TTL. A live holder on this host keeps it even when expired
(a hung apply is for a person to stop, not for a second apply to run beside). Removing a
dead holder's lock uses the Assertion control (RFC 4528) on the id, so a process never
deletes a lock that someone else took meanwhile. ``ispctl force-unlock ID`` removes a lock
by id, the same way.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ldap3
from ldap3.core.exceptions import (
    LDAPEntryAlreadyExistsResult,
    LDAPException,
    LDAPInsufficientAccessRightsResult,
    LDAPNoSuchObjectResult,
)
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder

from ispctl.providers.ldap import dn as dnlib
from ispctl.reconciler.contract import IspctlError, ProviderError, output

LOCK_RDN = "ispctl-lock"
ASSERTION_OID = "1.3.6.1.1.12"
_TIME = "%Y%m%d%H%M%SZ"


class LockHeld(IspctlError):
    """Someone else holds the lock and did not release it in time."""


class LockLost(IspctlError):
    """The lock we held was removed or taken over."""


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


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _process_start(pid: int) -> tuple[str, str] | None:
    """A process's state and start time (clock ticks after boot), or None if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name in parentheses may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _boot() -> str:
    return (_read("/proc/sys/kernel/random/boot_id") or "unknown").strip().replace("-", "")[:12]


def _pid_namespace() -> str:
    try:
        return re.sub(r"\D", "", os.readlink("/proc/self/ns/pid")) or "0"
    except OSError:
        return "0"


def _identity(pid: int) -> str:
    start = _process_start(pid)
    return f"{_boot()}.{_pid_namespace()}.{start[1] if start else 0}"


_OWNER = re.compile(r"\(pid (\d+)(?:, process ([0-9a-z]+)\.(\d+)\.(\d+))?\)$")


def new_lock(operation: str, commit: str | None, ttl: timedelta, now: datetime | None = None) -> LockInfo:
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    pid = os.getpid()
    return LockInfo(uuid.uuid4().hex, f"{user} (pid {pid}, process {_identity(pid)})", socket.gethostname(),
                    operation, commit or "", start, _expiry(now or datetime.now(UTC), ttl))


def _expiry(now: datetime, ttl: timedelta) -> datetime:
    """``now + ttl`` rounded up to the second the directory stores: never shorter than the TTL."""
    end = now + ttl
    return end.replace(microsecond=0) + (timedelta(seconds=1) if end.microsecond else timedelta())


def _assertion(lock_id: str) -> tuple[str, bool, bytes]:
    tree = parse_filter(f"(cn={dnlib.escape_filter(lock_id)})", None, True, True, None, False)
    return (ASSERTION_OID, True, encoder.encode(compile_filter(tree.elements[0])))


def _local_pid(holder: LockInfo) -> tuple[int, str | None] | None:
    """The holder's PID (and recorded start) when its process would be visible here, else None."""
    found = _OWNER.search(holder.owner)
    if holder.host != socket.gethostname() or found is None:
        return None
    pid, boot, namespace, start = found.groups()
    if boot is not None and (boot != _boot() or namespace != _pid_namespace()):
        # Another boot: every process of it is gone. Another PID namespace on a host of
        # the same name (a container): its processes are invisible here, expiry decides.
        return (0, None) if boot != _boot() else None
    return int(pid), start


def _holder_died(holder: LockInfo) -> bool:
    """True when the holder ran where we can see its processes and its process is gone.

    A killed apply (SIGKILL, OOM, a reboot) cannot release its lock; on the same host we
    can see that it is gone instead of waiting for the lock to expire. On another host
    only expiry (or force-unlock) frees it.
    """
    local = _local_pid(holder)
    if local is None:
        return False
    pid, recorded = local
    current = _process_start(pid) if pid else None
    if current is None or current[0] in ("Z", "X"):
        return True
    return recorded is not None and current[1] != recorded  # the PID now names another process


def _may_take_over(holder: LockInfo) -> bool:
    if _local_pid(holder) is not None:
        return _holder_died(holder)  # never from a live process here, expired or not
    return holder.expires <= datetime.now(UTC)


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
        announced: str | None = None
        while True:
            try:
                if self._add(info):
                    return info
                holder = self.read()
            except LDAPInsufficientAccessRightsResult:
                # The usual cause: a plan (read-only) account given to apply.
                raise ProviderError(
                    f"cannot take the lock {self.dn}: the directory account may not write here (insufficient "
                    "access). It is a read-only account, e.g. the plan account: 'ispctl plan' works with it, "
                    "'ispctl apply' needs the apply account in ISPCTL_LDAP_BIND_DN / ISPCTL_LDAP_PASSWORD. "
                    "Nothing was changed.") from None
            except LDAPException as exc:
                raise ProviderError(f"cannot take the lock {self.dn}: {exc}") from None
            if holder is not None and _may_take_over(holder):
                self._delete(holder.id)  # its holder is gone; only this exact lock is removed
                continue
            if time.monotonic() >= deadline:
                raise LockHeld(_held_message(holder))
            if holder is not None and holder.id != announced:
                announced = holder.id
                output.err().print(f"Waiting up to {timeout:g} s for the estate lock, held by another run: "
                                   f"{holder.describe()}.", markup=False, style="yellow")
            time.sleep(max(0.05, min(poll, deadline - time.monotonic())))

    def renew(self, lock_id: str, ttl: timedelta) -> datetime:
        """Push the expiry of our lock ``ttl`` ahead; LockLost if it is no longer ours."""
        expires = _expiry(datetime.now(UTC), ttl)
        change = {"ispctlLockExpires": [(ldap3.MODIFY_REPLACE, [expires.strftime(_TIME)])]}
        try:
            self.conn.modify(self.dn, change, controls=[_assertion(lock_id)])
        except LDAPNoSuchObjectResult:
            raise LockLost("it was removed (force-unlock?)") from None
        except LDAPException as exc:
            if "assertion" in str(exc).lower():
                holder = self.read()
                raise LockLost(f"it was taken over: {holder.describe() if holder else 'now unlocked'}") from None
            raise
        return expires

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


def _held_message(holder: LockInfo | None) -> str:
    if holder is None:
        return "another run holds the estate: a lock that disappeared while being read. Run apply again."
    text = f"another run holds the estate: {holder.describe()}."
    local = _local_pid(holder)
    if local is not None and local[0]:
        # Alive on this host: never taken over, whatever its expiry says.
        return (f"{text} Its process {local[0]} is running on this host: wait for it (--lock-timeout SECONDS), "
                f"or if it hangs, stop it (kill {local[0]}) and run again.")
    return f"{text} Wait for it (--lock-timeout SECONDS), or if it died, run: ispctl force-unlock {holder.id}"


class Heartbeat:
    """Keeps a held lock alive from a thread with a connection of its own (``HeldLock``)."""

    def __init__(self, connect: Callable[[], ldap3.Connection], base_dn: str, info: LockInfo, ttl: timedelta) -> None:
        self.info, self.ttl, self.base_dn, self._connect = info, ttl, base_dn, connect
        self.interval = max(ttl.total_seconds() / 3, 0.1)
        self.expires = info.expires
        self._lost: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ispctl-lock-heartbeat", daemon=True)

    @property
    def id(self) -> str:
        return self.info.id

    def lost(self) -> str | None:
        if self._lost is not None:
            return self._lost
        if datetime.now(UTC) + timedelta(seconds=self.interval) >= self.expires:
            # Not renewed in time: another host may take it over at expiry, so stop writing now.
            return f"it could not be renewed and expires at {self.expires:%Y-%m-%d %H:%M:%S} UTC"
        return None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        conn: ldap3.Connection | None = None
        while not self._done.wait(self.interval):
            try:
                conn = conn or self._connect()
                self.expires = DirectoryLock(conn, self.base_dn).renew(self.info.id, self.ttl)
            except LockLost as exc:
                self._lost = str(exc)
                break
            except (LDAPException, IspctlError):
                _close(conn)  # the directory restarted or is unreachable: reconnect next beat
                conn = None
        _close(conn)


def _close(conn: ldap3.Connection | None) -> None:
    if conn is not None:
        try:
            conn.unbind()
        except LDAPException:
            pass


@contextmanager
def holding(conn: ldap3.Connection, connect: Callable[[], ldap3.Connection], base_dn: str, info: LockInfo,
            ttl: timedelta, timeout: float) -> Iterator[Heartbeat]:
    """Take the lock (waiting up to ``timeout``), keep it alive for the block, release it."""
    held = DirectoryLock(conn, base_dn).acquire(info, timeout)
    beat = Heartbeat(connect, base_dn, held, ttl)
    beat.start()
    try:
        yield beat
    finally:
        beat.stop()
        _release(conn, connect, base_dn, held)


def _release(conn: ldap3.Connection, connect: Callable[[], ldap3.Connection], base_dn: str, held: LockInfo) -> None:
    try:
        DirectoryLock(conn, base_dn).release(held)
        return
    except LDAPException:
        pass  # the apply's connection broke (a directory restart): try once on a fresh one
    fresh = None
    try:
        fresh = connect()
        DirectoryLock(fresh, base_dn).release(held)
    except (LDAPException, IspctlError):
        # Never hide the apply's real outcome; a dead holder's lock is taken over on this host.
        output.err().print(f"Warning: could not release the estate lock {held.id}; the next apply on this host "
                           f"takes it over, elsewhere run: ispctl force-unlock {held.id}", markup=False,
                           style="yellow")
    finally:
        _close(fresh)
