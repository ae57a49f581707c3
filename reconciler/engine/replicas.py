"""Waiting for replicas: after an apply, until every registered replica has what the primary has.

ispctl writes one primary per service (the directory's provider, the DNS primary); the services'
own replication carries the changes to the replicas (syncrepl, NOTIFY + IXFR with catalog
zones). A service that has replicas gives a ``ReplicaWatch`` (``contract.Service.replicas``):
made right after the apply, it remembers what the primary holds then (the directory's
``contextCSN``, each zone's SOA serial), and each ``poll`` says, per replica, whether it has
caught up with that. ``converge`` polls every watch until all replicas are in sync or the
wait is over, and keeps what the first poll saw, so a replica that was behind and caught up
during the wait is still reported as having lagged. Nothing here names a service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ReplicaState:
    """One replica compared with its primary, as one poll saw it."""

    service: str  # the service keeping it: "ldap", "dns"
    host: str  # the cluster host it runs on
    role: str  # its role there: "directory_replica", "dns_secondary"
    endpoint: str  # where it was asked
    in_sync: bool
    behind: int = 0  # how many things it lacks: contextCSN values, zones (0 when in sync)
    lag_seconds: float | None = None  # how much older its newest change is, where the service can tell
    error: str | None = None  # why it could not be asked (unreachable, refused)
    detail: Mapping[str, Any] = field(default_factory=dict)  # the service's figures (JSON-able)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "host": self.host, "role": self.role, "endpoint": self.endpoint,
                "in_sync": self.in_sync, "behind": self.behind, "lag_seconds": self.lag_seconds,
                "error": self.error, "detail": dict(self.detail)}

    def condition(self) -> str:
        if self.in_sync:
            return "in sync"
        if self.error:
            return f"NOT REACHED: {self.error}"
        lag = f", {self.lag_seconds:.1f} s of changes" if self.lag_seconds is not None else ""
        what = self.detail.get("summary") or f"{self.behind} behind"
        return f"BEHIND ({what}{lag})"

    def describe(self) -> str:
        return f"{self.host} ({self.role.replace('_', ' ')}, {self.endpoint}): {self.condition()}"


class ReplicaWatch(Protocol):
    """A service's replicas compared with what its primary held when the watch was made."""

    def poll(self) -> list[ReplicaState]:
        """Ask every replica once; never raises for a replica that cannot be reached (its state says so)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class Convergence:
    """What waiting for the replicas found."""

    states: tuple[ReplicaState, ...]  # the last poll's
    first: tuple[ReplicaState, ...]  # the first poll's: what was behind right after the apply
    polls: int
    waited: float  # seconds spent waiting (for people; no decision is taken on it)

    @property
    def in_sync(self) -> bool:
        return all(s.in_sync for s in self.states)

    @property
    def lagging(self) -> tuple[ReplicaState, ...]:
        return tuple(s for s in self.states if not s.in_sync)

    @property
    def caught_up(self) -> tuple[ReplicaState, ...]:
        """Replicas that were behind at the first poll and in sync at the last."""
        now = {(s.service, s.host, s.role): s for s in self.states}
        return tuple(s for s in self.first if not s.in_sync
                     and (found := now.get((s.service, s.host, s.role))) is not None and found.in_sync)

    def to_dict(self) -> dict[str, Any]:
        return {"in_sync": self.in_sync, "polls": self.polls, "waited_seconds": round(self.waited, 3),
                "replicas": [s.to_dict() for s in self.states],
                "behind_at_first_poll": [s.to_dict() for s in self.first if not s.in_sync]}


def poll_all(watches: Sequence[ReplicaWatch]) -> list[ReplicaState]:
    return [state for watch in watches for state in watch.poll()]


def converge(watches: Sequence[ReplicaWatch], wait: float, interval: float = 0.25,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Convergence:
    """Poll until every replica is in sync or ``wait`` seconds are over (0: one poll, no waiting)."""
    start = clock()
    states = first = tuple(poll_all(watches))
    polls = 1
    while not all(s.in_sync for s in states) and clock() - start < wait:
        sleep(min(interval, max(0.0, wait - (clock() - start))))
        states = tuple(poll_all(watches))
        polls += 1
    return Convergence(states, first, polls, clock() - start)
