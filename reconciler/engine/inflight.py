"""Pipelined providers: many changes in flight at once, their outcomes collected as they come.

A provider whose service answers requests asynchronously on one connection (LDAP: every
request carries a message id) need not wait for one change's answer before sending the
next. It declares ``Pipelined`` and the engine (``apply.apply_plan``) then *submits* every
change whose prerequisites have completed, up to ``window()`` at a time, and *collects*
their outcomes: independent changes (children of one parent, unrelated objects) overlap,
a dependent still waits until what it needs has really been applied.

Outcomes are collected in the order the changes were submitted (``collect`` waits for the
oldest): which change the engine starts next then depends only on the plan and on the
outcomes, never on which answer happened to arrive first, so a run is repeatable and its
progress lines come in a stable order. The provider itself may finish later changes first.

``InFlight`` is the engine's bookkeeping of what each pipelined provider has in flight.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ispctl.reconciler.engine.resources import Resource

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Submission:
    """One change handed to a pipelined provider: ``ticket`` names it in ``Done``; ``changed``
    names an update's changed attributes (empty for a create or a delete)."""

    ticket: int
    action: Action
    before: Resource | None
    after: Resource | None
    changed: tuple[str, ...] = ()

    @property
    def resource(self) -> Resource:
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found


@dataclass(frozen=True)
class Done:
    """The outcome of a submitted change: ``error`` None means it was applied."""

    ticket: int
    error: str | None = None


@runtime_checkable
class Pipelined(Protocol):
    """A provider that keeps several changes in flight (see the module docstring).

    ``submit`` starts a change without waiting for its outcome; it may raise for a change it
    can tell is invalid before sending anything (that change alone fails) and may block while
    the service catches up (e.g. before moving a subtree that changes in flight still name).
    ``collect`` waits for the oldest submitted change not yet collected and returns its
    outcome; it reports a lost service as that change's error, never by raising. Each change
    must store ``after.fingerprint()`` with its values, as ``create``/``update``/``delete`` do.
    """

    def window(self) -> int:
        """How many changes may be in flight at once (at least 1); asked once per apply."""
        ...

    def submit(self, submission: Submission) -> None:
        """Start one change; its outcome comes from a later ``collect``."""
        ...

    def collect(self) -> Done:
        """The outcome of the oldest change submitted and not yet collected."""
        ...


@dataclass
class _Queue:
    provider: Pipelined
    window: int  # asked once per apply
    tickets: deque[int] = field(default_factory=deque)


class InFlight:
    """What each pipelined provider has in flight, oldest first, and which change each ticket is."""

    def __init__(self) -> None:
        self._queues: dict[int, _Queue] = {}
        self._next = 0
        self._count = 0  # changes in flight, all providers

    def __len__(self) -> int:
        return self._count

    def full(self, provider: Pipelined) -> bool:
        queue = self._queues.get(id(provider))
        return queue is not None and len(queue.tickets) >= queue.window

    def ticket(self) -> int:
        self._next += 1
        return self._next

    def add(self, provider: Pipelined, ticket: int) -> None:
        queue = self._queues.get(id(provider))
        if queue is None:
            queue = self._queues[id(provider)] = _Queue(provider, max(1, provider.window()))
        queue.tickets.append(ticket)
        self._count += 1

    def oldest(self, provider: Pipelined | None = None) -> Pipelined | None:
        """The provider whose oldest change in flight is the oldest of all (or ``provider``,
        when it has any in flight); None when nothing is in flight."""
        if provider is not None:
            queue = self._queues.get(id(provider))
            return provider if queue is not None and queue.tickets else None
        busy = [q for q in self._queues.values() if q.tickets]
        return min(busy, key=lambda q: q.tickets[0]).provider if busy else None

    def collect(self, provider: Pipelined) -> Done:
        """Collect the oldest outcome of ``provider``; a provider that answers for another
        ticket than the oldest breaks the contract (and would mix up outcomes)."""
        queue = self._queues[id(provider)]
        expected = queue.tickets.popleft()
        self._count -= 1
        try:
            done = provider.collect()
        except Exception as exc:  # a provider's bug must not hide the outcomes of the others
            return Done(expected, str(exc) or type(exc).__name__)
        if done.ticket != expected:
            raise RuntimeError(f"pipelined provider answered for change {done.ticket}, expected {expected}")
        return done
