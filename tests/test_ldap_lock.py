"""The apply lock in a real slapd: atomic, informative, expiring, removable by id only."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import ldap3
import pytest

from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.ldap.lock import DirectoryLock, LockHeld, LockInfo, holding, new_lock
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import IspctlError


@contextmanager
def lock_of(slapd: SlapdInstance) -> Iterator[DirectoryLock]:
    conn = connect(LdapSettings.from_env(slapd.env()))
    try:
        yield DirectoryLock(conn, slapd.managed_base)
    finally:
        conn.unbind()


def test_a_second_holder_waits_then_fails_naming_the_first(slapd: SlapdInstance) -> None:
    with lock_of(slapd) as first, lock_of(slapd) as second:
        mine = first.acquire(new_lock("apply", "c0ffee" * 6, timedelta(minutes=10)), timeout=0)
        assert first.read() == mine
        with pytest.raises(LockHeld) as held:
            second.acquire(new_lock("apply", None, timedelta(minutes=10)), timeout=0.3, poll=0.1)
        text = str(held.value)
        assert f"lock {mine.id} held by {mine.owner} on {mine.host} for apply (commit c0ffeec0ffee)" in text
        # Its process is alive here: wait for it or stop it; force-unlock is never suggested for a live run.
        assert f"Its process {os.getpid()} is running on this host" in text and "force-unlock" not in text
        first.release(mine)
        assert first.read() is None
        taken = second.acquire(new_lock("apply", None, timedelta(minutes=10)), timeout=0)
        assert second.read() == taken


class _Watched(DirectoryLock):
    """A lock that says when it has seen someone else's lock (no clock involved)."""

    def __init__(self, conn: ldap3.Connection, base_dn: str) -> None:
        super().__init__(conn, base_dn)
        self.saw_holder = threading.Event()

    def read(self) -> LockInfo | None:
        found = super().read()
        if found is not None:
            self.saw_holder.set()
        return found


def test_a_waiting_holder_takes_the_lock_once_it_is_released(slapd: SlapdInstance) -> None:
    with lock_of(slapd) as first:
        mine = first.acquire(new_lock("apply", None, timedelta(minutes=10)), timeout=0)
        conn = connect(LdapSettings.from_env(slapd.env()))
        waiter = _Watched(conn, slapd.managed_base)
        got: list[str] = []
        thread = threading.Thread(target=lambda: got.append(
            waiter.acquire(new_lock("apply", None, timedelta(minutes=10)), timeout=120, poll=0.05).id))
        thread.start()
        try:
            assert waiter.saw_holder.wait(120), "the waiter never looked at the lock"
            first.release(mine)  # released while the other one waits
        finally:
            thread.join(120)
            conn.unbind()
        holder = first.read()
        assert len(got) == 1 and got[0] != mine.id and holder is not None and holder.id == got[0]


def test_an_expired_lock_from_another_host_is_taken_over(slapd: SlapdInstance) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    with lock_of(slapd) as lock:
        dead = lock.acquire(dataclasses.replace(new_lock("apply", None, timedelta(minutes=5), now=past),
                                                host="other-host.invalid"), timeout=0)
        fresh = lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0)
        assert fresh.id != dead.id and lock.read() == fresh
        lock.release(fresh)
        live = lock.acquire(dataclasses.replace(new_lock("apply", None, timedelta(minutes=5)), host="x.invalid"), 0)
        with pytest.raises(LockHeld) as held:  # from another host, unexpired: waited for, force-unlock named
            lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0)
        assert f"if it died, run: ispctl force-unlock {live.id}" in str(held.value)


def test_an_expired_lock_of_a_live_process_on_this_host_is_never_taken_over(slapd: SlapdInstance) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    with lock_of(slapd) as lock:
        alive = lock.acquire(new_lock("apply", None, timedelta(minutes=5), now=past), timeout=0)
        with pytest.raises(LockHeld, match=f"Its process {os.getpid()} is running on this host"):
            lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0)
        assert lock.read() == alive


def test_a_lock_whose_pid_now_names_another_process_is_taken_over(slapd: SlapdInstance) -> None:
    mine = new_lock("apply", None, timedelta(hours=2))
    # Our own PID, recorded with another start time: the holder died and its PID was reused.
    head, _, start = mine.owner.rstrip(")").rpartition(".")
    reused = dataclasses.replace(mine, owner=f"{head}.{int(start) + 1})")
    with lock_of(slapd) as lock:
        lock.acquire(reused, timeout=0)
        taken = lock.acquire(new_lock("apply", None, timedelta(hours=2)), timeout=0)
        assert taken.id != reused.id and lock.read() == taken


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def test_the_holder_renews_its_lock_while_it_works(slapd: SlapdInstance) -> None:
    settings = LdapSettings.from_env(slapd.env())
    conn = connect(settings)
    try:
        with holding(conn, lambda: connect(settings), slapd.managed_base, new_lock("apply", None, timedelta(seconds=2)),
                     timedelta(seconds=2), timeout=0) as held, lock_of(slapd) as other:
            first = other.read()
            assert first is not None and first.id == held.id
            # Renewed beyond its first expiry (its TTL is shorter than this test): never lapses while held.
            wait_for(lambda: (now := other.read()) is not None and now.expires > first.expires)
            assert held.lost() is None
        assert other_read(slapd) is None  # released at the end of the block
    finally:
        conn.unbind()


def other_read(slapd: SlapdInstance) -> LockInfo | None:
    with lock_of(slapd) as lock:
        return lock.read()


def test_the_holder_learns_that_its_lock_was_removed_or_taken_over(slapd: SlapdInstance) -> None:
    settings = LdapSettings.from_env(slapd.env())
    conn = connect(settings)
    try:
        with holding(conn, lambda: connect(settings), slapd.managed_base, new_lock("apply", None, timedelta(seconds=3)),
                     timedelta(seconds=3), timeout=0) as held, lock_of(slapd) as other:
            other.force_unlock(held.id)
            wait_for(lambda: held.lost() == "it was removed (force-unlock?)")
            thief = other.acquire(dataclasses.replace(new_lock("apply", None, timedelta(hours=1)),
                                                      host="other.invalid"), timeout=0)
        assert other_read(slapd) == thief  # our release never removes someone else's lock
    finally:
        conn.unbind()


def test_release_and_force_unlock_only_remove_the_named_lock(slapd: SlapdInstance) -> None:
    with lock_of(slapd) as lock:
        current = lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0)
        stale = new_lock("apply", None, timedelta(minutes=5))
        lock.release(stale)  # another id: the assertion control makes the delete a no-op
        assert lock.read() == current
        with pytest.raises(IspctlError, match=f"no lock with id {stale.id} \\(the current lock is {current.id}\\)"):
            lock.force_unlock(stale.id)
        assert lock.force_unlock(current.id) == current
        assert lock.read() is None
        with pytest.raises(IspctlError, match="nothing is locked"):
            lock.force_unlock(current.id)


def test_concurrent_takers_get_exactly_one_lock(slapd: SlapdInstance) -> None:
    winners: list[str] = []
    losers: list[str] = []
    start = threading.Barrier(6)

    def take() -> None:
        with lock_of(slapd) as lock:
            start.wait()
            try:
                winners.append(lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0).id)
            except LockHeld as exc:
                losers.append(str(exc))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 5
    assert all(winners[0] in text for text in losers)


def test_the_lock_lives_in_the_managed_base_and_is_not_a_managed_resource(slapd: SlapdInstance) -> None:
    with lock_of(slapd) as lock:
        lock.acquire(new_lock("apply", None, timedelta(minutes=5)), timeout=0)
        found = lock.conn.search(slapd.managed_base, "(objectClass=ispctlManaged)", ldap3.SUBTREE, attributes=["1.1"])
        assert not found and lock.dn == f"cn=ispctl-lock,{slapd.managed_base}"


def test_a_lock_whose_process_died_on_this_host_is_taken_over(slapd: SlapdInstance) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    with lock_of(slapd) as lock:
        orphan = dataclasses.replace(
            new_lock("apply", None, timedelta(hours=2)), owner=f"root (pid {dead.stdout.strip()})"
        )
        lock.acquire(orphan, timeout=0)
        taken = lock.acquire(new_lock("apply", None, timedelta(hours=2)), timeout=0)
        assert taken.id != orphan.id and lock.read() == taken
        # A holder on another host is never judged by this host's processes.
        elsewhere = dataclasses.replace(new_lock("apply", None, timedelta(hours=2)), host="other-host.invalid",
                                        owner=f"root (pid {dead.stdout.strip()})")
        lock.release(taken)
        lock.acquire(elsewhere, timeout=0)
        with pytest.raises(LockHeld):
            lock.acquire(new_lock("apply", None, timedelta(hours=2)), timeout=0)
