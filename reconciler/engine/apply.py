"""Execute a plan: dependency order, independent failures, dependents skipped.

Order: creates and updates run parents-first, deletes run children-first and after
everything else (so a domain moved out of a client is moved before the client is
removed). A change whose prerequisite failed or was skipped is skipped, never tried;
independent changes carry on, and every failure is reported at the end.

Observers see the run as typed events (a change about to run, an outcome, a batch about
to be committed): the command line draws progress with them, and the fault tests' launcher
(tests/faults/) registers one that stops the process at an exact point. Nothing in the
product registers a global observer, and no setting or variable can: a process must run
code of its own to install one (``observing``). A stop check, asked before every change and
batch commit, ends the run at a change boundary (never inside a change): SIGTERM, Ctrl-C,
or a lost lock. Everything not run is reported as such.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.inflight import InFlight, Pipelined, Submission
from ispctl.reconciler.engine.plan import Change, Plan
from ispctl.reconciler.engine.provider import BatchError, Provider

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: Status
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"address": self.change.address, "action": self.change.action, "status": self.status,
                "error": self.error}


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before the end (e.g. "SIGTERM")

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


def prerequisites(plan: Plan) -> dict[str, set[str]]:
    """For each change address, the addresses of changes that must succeed first."""
    by_address = {c.address: c for c in plan.changes}
    needs: dict[str, set[str]] = {c.address: set() for c in plan.changes}
    for change in plan.changes:
        if change.action == "delete":
            continue
        after = change.after
        assert after is not None
        for dep in (after.parent, *after.depends_on):
            dep_change = by_address.get(dep) if dep else None
            # Creating (or moving, or renaming) a parent must happen first; a plain attribute update
            # of a parent is independent of its children.
            if dep_change and (dep_change.action == "create" or dep_change.is_move or dep_change.renamed_from):
                needs[change.address].add(dep_change.address)
    for change in plan.changes:
        before = change.before
        if before is None:
            continue
        # Anything that lived under (or referred to) a deleted object must be gone or
        # moved away before the object itself is deleted.
        for dep in (before.parent, *before.depends_on):
            dep_change = by_address.get(dep) if dep else None
            if dep_change and dep_change.action == "delete" and dep_change.address != change.address:
                needs[dep_change.address].add(change.address)
    return needs


def execution_order(plan: Plan, needs: dict[str, set[str]] | None = None) -> list[Change]:
    """Topological order; ties broken so non-deletes run first, then by address.

    ``needs`` is ``prerequisites(plan)`` when the caller has it already."""
    needs = prerequisites(plan) if needs is None else needs
    by_address = {c.address: c for c in plan.changes}
    waiting = {a: set(d) for a, d in needs.items()}
    dependents: dict[str, set[str]] = {a: set() for a in needs}
    for address, deps in needs.items():
        for dep in deps:
            dependents[dep].add(address)

    def rank(address: str) -> tuple[int, str]:
        return (1 if by_address[address].action == "delete" else 0, address)

    ready = [rank(a) for a, d in waiting.items() if not d]
    heapq.heapify(ready)
    order: list[Change] = []
    while ready:
        _, address = heapq.heappop(ready)
        order.append(by_address[address])
        for nxt in sorted(dependents[address]):
            waiting[nxt].discard(address)
            if not waiting[nxt]:
                heapq.heappush(ready, rank(nxt))
    if len(order) != len(plan.changes):
        stuck = sorted(set(by_address) - {c.address for c in order})
        raise ValueError(f"dependency cycle among: {', '.join(stuck)}")
    return order


Router = Callable[[str], Provider]
Listener = Callable[[Outcome], None]
Point = Literal["change", "outcome", "commit"]


@dataclass(frozen=True)
class Event:
    """One point of an apply: ``change`` (its provider is about to be called), ``outcome``
    (a change's outcome was recorded) or ``commit`` (a batch is about to be committed;
    ``changes`` are its staged changes). ``provider`` names the provider that writes;
    ``index`` counts the changes started so far."""

    point: Point
    provider: str = ""
    change: Change | None = None
    outcome: Outcome | None = None
    batch: str | None = None
    changes: tuple[Change, ...] = ()
    index: int = 0
    total: int = 0


Observer = Callable[[Event], None]
# Asked before every change and commit: a reason to stop there (e.g. "SIGTERM"), or None.
StopCheck = Callable[[], str | None]

_observers: list[Observer] = []


@contextmanager
def observing(observer: Observer) -> Iterator[None]:
    """See every apply this process runs while the block lasts (the fault tests' launcher)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _watched(observer: Observer | None) -> bool:
    """Whether anyone observes: events are built only then (an apply makes two per change)."""
    return bool(_observers) or observer is not None


def _notify(event: Event, observer: Observer | None) -> None:
    for each in (*_observers, *([observer] if observer is not None else [])):
        each(event)


NOT_RUN = "not run"


@dataclass
class _Batch:
    """Changes a provider has staged under one batch key, awaiting ``commit``."""

    provider: Provider
    key: str
    changes: list[Change] = field(default_factory=list)


def apply_plan(plan: Plan, route: Router, on_outcome: Listener | None = None, *,
               observer: Observer | None = None, stop: StopCheck | None = None) -> ApplyResult:
    """Apply every change through the provider that owns its kind.

    A change runs once every prerequisite has an outcome, in ``execution_order`` among
    those that may run. Changes a provider stages (``Provider.batch_key``) get their outcome
    when their batch is committed: at the end, or as soon as a change outside the batch
    depends on one of them, so a dependent never runs before what it needs has really been
    applied. A ``Pipelined`` provider is handed every change that may run, up to its window,
    without waiting for each answer (``inflight``); its dependents wait for the outcome.

    When ``stop`` gives a reason, nothing more is written: what is in flight is collected and
    reported, every change not yet run (staged ones included, whose batch is never sent) is
    reported ``skipped`` as "not run: <reason>", and ``result.stopped`` holds the reason.
    With a pipelined provider the outcomes come as they are collected; ``result.outcomes``
    is then put in execution order at the end, so reports do not depend on timing.
    """
    # The desired state, the live state and the plan stay alive for the whole apply, and so does
    # most of what it makes (an outcome per change): full collections walked them again and
    # again, a quarter of the apply's own CPU at 10,000 mailboxes (engine/heap.py).
    with collector_paused():
        return _apply_plan(plan, route, on_outcome, observer, stop)


def _apply_plan(plan: Plan, route: Router, on_outcome: Listener | None, observer: Observer | None,
                stop: StopCheck | None) -> ApplyResult:
    needs = prerequisites(plan)
    result = ApplyResult()
    started = 0
    not_ok: set[str] = set()
    batches: dict[tuple[int, str], _Batch] = {}  # open batches, in the order they were opened
    staged: dict[str, tuple[int, str]] = {}  # change address -> its open batch
    order = execution_order(plan, needs)
    position = {c.address: i for i, c in enumerate(order)}
    waiting = {a: len(d) for a, d in needs.items()}
    dependents: dict[str, list[str]] = {a: [] for a in needs}
    for address, deps in needs.items():
        for dep in deps:
            dependents[dep].append(address)
    ready = [position[a] for a, n in waiting.items() if not n]
    heapq.heapify(ready)
    released: set[str] = set()  # changes whose dependents may run (an outcome, or staged)
    flights = InFlight()
    tickets: dict[int, Change] = {}
    pipelined = False
    pipes: dict[int, Pipelined | None] = {}  # id(provider) -> the provider if it is pipelined

    def release(address: str) -> None:
        # Dependents run once all their prerequisites have an outcome (or are staged: a
        # dependent outside the batch commits it first, below).
        if address in released:
            return
        released.add(address)
        for nxt in dependents[address]:
            waiting[nxt] -= 1
            if not waiting[nxt]:
                heapq.heappush(ready, position[nxt])

    def record(outcome: Outcome) -> None:
        address = outcome.change.address
        if outcome.status != "ok":
            not_ok.add(address)
        result.outcomes.append(outcome)
        release(address)
        if on_outcome is not None:
            on_outcome(outcome)
        if _watched(observer):
            _notify(Event("outcome", change=outcome.change, outcome=outcome, index=started, total=len(plan.changes)),
                    observer)

    def halted() -> bool:
        if result.stopped is None and stop is not None:
            result.stopped = stop()
        return result.stopped is not None

    def commit(ident: tuple[int, str]) -> None:
        if halted():
            return
        batch = batches.pop(ident)
        _notify(Event("commit", batch.provider.name, batch=batch.key, changes=tuple(batch.changes), index=started,
                      total=len(plan.changes)), observer)
        applied: frozenset[str] | None = None
        error = None
        try:
            batch.provider.commit(batch.key)
        except BatchError as exc:
            applied, error = exc.applied, str(exc) or type(exc).__name__
        except Exception as exc:
            applied, error = frozenset(), str(exc) or type(exc).__name__
        for change in batch.changes:
            del staged[change.address]
            if applied is None or change.address in applied:
                record(Outcome(change, "ok"))
            else:
                record(Outcome(change, "failed", error))

    def collect(provider: Pipelined | None = None) -> None:
        source = flights.oldest(provider)
        assert source is not None
        done = flights.collect(source)
        change = tickets.pop(done.ticket)
        record(Outcome(change, "ok") if done.error is None else Outcome(change, "failed", done.error))

    while ready or flights:
        if not ready or halted():
            if not flights:
                break
            collect()  # nothing may start now: wait for the oldest change in flight
            continue
        at = heapq.heappop(ready)
        change = order[at]
        prereqs = needs[change.address]
        try:
            provider = route(change.kind)
            resource = change.after if change.after is not None else change.before
            assert resource is not None
            key = provider.batch_key(resource)
        except Exception as exc:
            record(Outcome(change, "failed", str(exc) or type(exc).__name__))
            continue
        ident = (id(provider), key) if key is not None else None
        # A prerequisite staged in another batch must really be applied (or have failed)
        # before this change may run; within one batch the provider orders the changes.
        for dep in sorted(prereqs) if staged else ():
            if dep in staged and staged[dep] != ident:
                commit(staged[dep])
        if id(provider) not in pipes:  # asked once per provider: isinstance of a protocol is slow
            pipes[id(provider)] = provider if isinstance(provider, Pipelined) else None
        through = pipes[id(provider)] if ident is None else None
        while through is not None and flights.full(through) and not halted():
            collect(through)
        if halted():  # a commit above was refused, or a stop came while waiting: not this change
            heapq.heappush(ready, at)
            continue
        blocked = sorted(prereqs & not_ok) if not_ok else ()
        if blocked:
            record(Outcome(change, "skipped", f"skipped because {', '.join(blocked)} did not apply"))
            continue
        started += 1
        if _watched(observer):
            _notify(Event("change", provider.name, change, index=started, total=len(plan.changes)), observer)
        if through is not None:
            pipelined = True
            ticket = flights.ticket()
            try:
                through.submit(_submission(ticket, change))
            except Exception as exc:
                record(Outcome(change, "failed", str(exc) or type(exc).__name__))
                continue
            tickets[ticket] = change
            flights.add(through, ticket)
            continue
        outcome = _run(change, provider)
        if ident is None or outcome.status != "ok":
            record(outcome)
            continue
        assert key is not None
        batches.setdefault(ident, _Batch(provider, key)).changes.append(change)
        staged[change.address] = ident
        release(change.address)
    for ident in list(batches):
        commit(ident)
    if result.stopped is not None:
        done = {o.change.address for o in result.outcomes}
        # Everything not run in execution order, then staged changes whose batch was never sent.
        _not_run([c for c in order if c.address not in done and c.address not in staged], record, result.stopped)
        _not_run([c for b in batches.values() for c in b.changes], record, result.stopped)
    if pipelined:
        result.outcomes.sort(key=lambda o: position[o.change.address])
    return result


def _submission(ticket: int, change: Change) -> Submission:
    # Only an update needs the names of what changed: a create writes every value (and its
    # attribute list is the longest), a delete none.
    changed = tuple(a.name for a in change.attrs) if change.action == "update" else ()
    return Submission(ticket, change.action, change.before, change.after, changed)


def _not_run(changes: list[Change], record: Listener, reason: str | None) -> None:
    for change in changes:
        record(Outcome(change, "skipped", f"{NOT_RUN}: {reason}"))


def _run(change: Change, provider: Provider) -> Outcome:
    try:
        if change.action == "create":
            assert change.after is not None
            provider.create(change.after)
        elif change.action == "delete":
            assert change.before is not None
            provider.delete(change.before)
        else:
            assert change.before is not None and change.after is not None
            provider.update(change.before, change.after, tuple(a.name for a in change.attrs))
    except Exception as exc:
        # An exception without a message (e.g. a bare RuntimeError()) is named by its type.
        return Outcome(change, "failed", str(exc) or type(exc).__name__)
    return Outcome(change, "ok")
