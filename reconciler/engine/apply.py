"""Execute a plan: dependency order, independent failures, dependents skipped.

Order: creates and updates run parents-first, deletes run children-first and after
everything else (so a domain moved out of a client is moved before the client is
removed). A change whose prerequisite failed or was skipped is skipped, never tried;
independent changes carry on, and every failure is reported at the end.
"""

from __future__ import annotations

import heapq
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

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


def execution_order(plan: Plan) -> list[Change]:
    """Topological order; ties broken so non-deletes run first, then by address."""
    needs = prerequisites(plan)
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

# TEST HOOK, not an operator feature: with ISPCTL_FAULT_PAUSE_BEFORE=<resource address>,
# apply stops just before running that change, says so on stderr and waits to be killed.
# The crash-safety tests use it to SIGKILL a real apply at an exact point (e.g. between
# the directory change and the maildir move) and prove the next apply converges.
FAULT_PAUSE_ENV = "ISPCTL_FAULT_PAUSE_BEFORE"


def _fault_pause(change: Change) -> None:
    if os.environ.get(FAULT_PAUSE_ENV) == change.address:
        sys.stderr.write(f"paused before {change.address}\n")
        sys.stderr.flush()
        while True:
            time.sleep(3600)


@dataclass
class _Batch:
    """Changes a provider has staged under one batch key, awaiting ``commit``."""

    provider: Provider
    key: str
    changes: list[Change] = field(default_factory=list)


def apply_plan(plan: Plan, route: Router, on_outcome: Listener | None = None) -> ApplyResult:
    """Apply every change through the provider that owns its kind.

    Changes a provider stages (``Provider.batch_key``) get their outcome when their batch
    is committed: at the end, or as soon as a change outside the batch depends on one of
    them, so a dependent never runs before what it needs has really been applied.
    """
    needs = prerequisites(plan)
    result = ApplyResult()
    not_ok: set[str] = set()
    batches: dict[tuple[int, str], _Batch] = {}  # open batches, in the order they were opened
    staged: dict[str, tuple[int, str]] = {}  # change address -> its open batch

    def record(outcome: Outcome) -> None:
        if outcome.status != "ok":
            not_ok.add(outcome.change.address)
        result.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def commit(ident: tuple[int, str]) -> None:
        batch = batches.pop(ident)
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

    for change in execution_order(plan):
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
        for dep in sorted(needs[change.address]):
            if dep in staged and staged[dep] != ident:
                commit(staged[dep])
        blocked = sorted(needs[change.address] & not_ok)
        if blocked:
            record(Outcome(change, "skipped", f"skipped because {', '.join(blocked)} did not apply"))
            continue
        _fault_pause(change)
        outcome = _run(change, provider)
        if ident is None or outcome.status != "ok":
            record(outcome)
            continue
        assert key is not None
        batches.setdefault(ident, _Batch(provider, key)).changes.append(change)
        staged[change.address] = ident
    for ident in list(batches):
        commit(ident)
    return result


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
