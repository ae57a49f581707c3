"""Waiting for replicas, service-agnostic: poll until all are in sync or the wait is over, and
keep what the first poll saw (a replica that caught up during the wait was still behind)."""

from __future__ import annotations

from ispctl.reconciler.engine.replicas import ReplicaState, converge


class Scripted:
    """A watch whose replica is behind for ``behind_polls`` polls, then in sync (or never, with None)."""

    def __init__(self, host: str, behind_polls: int | None, error: str | None = None) -> None:
        self.host, self.behind_polls, self.error = host, behind_polls, error
        self.polls = 0
        self.closed = False

    def poll(self) -> list[ReplicaState]:
        self.polls += 1
        synced = self.behind_polls is not None and self.polls > self.behind_polls
        state = ReplicaState("svc", self.host, "directory_replica", f"ldap://{self.host}", in_sync=synced,
                             behind=0 if synced else 1, lag_seconds=None if synced else 2.5,
                             error=None if synced else self.error)
        return [state]

    def close(self) -> None:
        self.closed = True


class Clock:
    """Time that passes only when the loop sleeps: the outcome depends on the polls, never on the machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_replica_that_catches_up_ends_the_wait_and_is_reported_as_having_lagged() -> None:
    clock = Clock()
    fast, slow = Scripted("a", 0), Scripted("b", 3)
    result = converge([fast, slow], wait=60, interval=1, clock=clock, sleep=clock.sleep)
    assert result.in_sync and result.polls == 4 and result.waited == 3
    assert [s.host for s in result.caught_up] == ["b"]
    assert [s.host for s in result.first if not s.in_sync] == ["b"]
    assert result.to_dict()["behind_at_first_poll"][0]["lag_seconds"] == 2.5


def test_a_replica_that_never_answers_is_lagging_when_the_wait_is_over() -> None:
    clock = Clock()
    down = Scripted("c", None, error="connection refused")
    result = converge([Scripted("a", 0), down], wait=5, interval=2, clock=clock, sleep=clock.sleep)
    assert not result.in_sync and result.waited == 5 and result.polls == 4  # 0, 2, 4, 5
    assert [s.host for s in result.lagging] == ["c"] and result.caught_up == ()
    assert result.lagging[0].describe() == "c (directory replica, ldap://c): NOT REACHED: connection refused"


def test_wait_zero_polls_once() -> None:
    clock = Clock()
    slow = Scripted("b", 1)
    result = converge([slow], wait=0, clock=clock, sleep=clock.sleep)
    assert result.polls == 1 and slow.polls == 1 and not result.in_sync
    assert result.lagging[0].describe() == "b (directory replica, ldap://b): BEHIND (1 behind, 2.5 s of changes)"
