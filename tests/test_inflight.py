"""Pipelined providers (reconciler/engine/inflight.py) under ``apply_plan``, with an in-memory
provider that finishes what it has in flight newest first: a dependent submitted before its
prerequisite completed would be applied before it, and the strict store would refuse it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest
from memory_provider import MemoryProvider
from test_apply import Batching, index

from ispctl.reconciler.engine.apply import Event, apply_plan, execution_order, prerequisites
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.inflight import Done, InFlight, Pipelined, Submission
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Resource


class Pipelining(MemoryProvider, Pipelined):
    """Takes changes without applying them; ``collect`` applies everything in flight newest
    first (the worst order a server could choose) and answers for the oldest."""

    def __init__(self, live: Iterable[Resource] = (), fail: Iterable[str] = (), size: int = 4,
                 refuse: Iterable[str] = (), broken: Iterable[str] = ()) -> None:
        super().__init__(live, fail)
        self.size = size
        self.refuse = frozenset(refuse)  # refused at submit: nothing sent
        self.broken = frozenset(broken)  # collect raises for these
        self.queue: list[Submission] = []  # submitted, not yet collected (oldest first)
        self.outcomes: dict[int, str | None] = {}
        self.most = 0  # most changes in flight at once
        self.submitted: list[str] = []
        self.in_flight_at_submit: dict[str, set[str]] = {}

    def window(self) -> int:
        return self.size

    def submit(self, submission: Submission) -> None:
        address = submission.resource.address
        if address in self.refuse:
            raise ProviderError(f"{address} refused before sending")
        self.in_flight_at_submit[address] = {s.resource.address for s in self.queue}
        self.queue.append(submission)
        self.submitted.append(address)
        self.most = max(self.most, len(self.queue))

    def collect(self) -> Done:
        for submission in reversed(self.queue):
            if submission.ticket in self.outcomes:
                continue
            try:
                if submission.action == "create":
                    assert submission.after is not None
                    self.create(submission.after)
                elif submission.action == "delete":
                    assert submission.before is not None
                    self.delete(submission.before)
                else:
                    assert submission.before is not None and submission.after is not None
                    self.update(submission.before, submission.after, submission.changed)
                self.outcomes[submission.ticket] = None
            except ProviderError as exc:
                self.outcomes[submission.ticket] = str(exc)
        oldest = self.queue.pop(0)
        if oldest.resource.address in self.broken:
            raise RuntimeError(f"lost track of {oldest.resource.address}")
        return Done(oldest.ticket, self.outcomes.pop(oldest.ticket))


def wide_estate(domains: int = 3, boxes: int = 6) -> list[Resource]:
    out = [Resource("tenant", "t", {"status": "active"})]
    for d in range(domains):
        out.append(Resource("domain", f"d{d}.example", {"status": "active"}, parent="tenant.t"))
        out += [Resource("mailbox", f"m{i}@d{d}.example", {"quota": i}, parent=f"domain.d{d}.example")
                for i in range(boxes)]
        out.append(Resource("alias", f"all@d{d}.example", {"targets": (f"m0@d{d}.example",)},
                            parent=f"domain.d{d}.example", depends_on=(f"mailbox.m0@d{d}.example",)))
    return out


def apply_all(plan: Plan, provider: MemoryProvider, **kwargs: object) -> tuple[list[str], list[tuple[str, str]]]:
    seen: list[str] = []
    result = apply_plan(plan, lambda kind: provider, lambda o: seen.append(o.change.address), **kwargs)  # type: ignore[arg-type]
    return seen, [(o.change.address, o.status) for o in result.outcomes]


def test_independent_changes_are_in_flight_together_and_each_gets_its_own_outcome() -> None:
    desired = index(wide_estate())
    provider = Pipelining(size=8)
    plan = compute_plan(desired, provider.read())
    result = apply_plan(plan, lambda kind: provider)
    assert result.ok and len(result.outcomes) == len(plan.changes) == len(desired)
    assert provider.most == 8  # the window was used, not one change at a time
    # Nothing was sent while a prerequisite of it was still in flight.
    needs = prerequisites(plan)
    for address, in_flight in provider.in_flight_at_submit.items():
        assert not needs[address] & in_flight, address
    # The report is in execution order, whatever order the outcomes came in.
    assert [o.change.address for o in result.outcomes] == [c.address for c in execution_order(plan)]
    assert compute_plan(desired, provider.read()).empty


def test_the_window_bounds_what_is_in_flight() -> None:
    provider = Pipelining(size=1)
    plan = compute_plan(index(wide_estate()), {})
    assert apply_plan(plan, lambda kind: provider).ok
    assert provider.most == 1


def test_a_failure_fails_only_that_change_and_skips_only_its_dependents() -> None:
    desired = index(wide_estate())
    provider = Pipelining(fail={"domain.d1.example", "mailbox.m3@d0.example", "mailbox.m0@d2.example"})
    plan = compute_plan(desired, {})
    result = apply_plan(plan, lambda kind: provider)
    status = {o.change.address: (o.status, o.error) for o in result.outcomes}
    assert status["domain.d1.example"] == ("failed", "memory: refused to create domain.d1.example (configured to fail)")
    assert status["mailbox.m3@d0.example"][0] == "failed" and "m3@d0" in str(status["mailbox.m3@d0.example"][1])
    # Everything under the failed domain is skipped, naming what it waited for ...
    for i in range(6):
        assert status[f"mailbox.m{i}@d1.example"] == ("skipped", "skipped because domain.d1.example did not apply")
    assert status["alias.all@d2.example"] == ("skipped", "skipped because mailbox.m0@d2.example did not apply")
    # ... and nothing else is: the siblings of the failed mailboxes and the other domains apply.
    ok = {a for a, (s, _) in status.items() if s == "ok"}
    assert ok == set(plan_addresses(plan)) - {"domain.d1.example", "mailbox.m3@d0.example", "mailbox.m0@d2.example",
                                               "alias.all@d1.example", "alias.all@d2.example",
                                               *(f"mailbox.m{i}@d1.example" for i in range(6))}
    # A second run finishes the job once the failures are gone.
    provider.fail = frozenset()
    again = compute_plan(desired, provider.read())
    assert apply_plan(again, lambda kind: provider).ok and compute_plan(desired, provider.read()).empty


def plan_addresses(plan: Plan) -> list[str]:
    return [c.address for c in plan.changes]


def test_a_change_refused_at_submit_or_lost_at_collect_fails_alone() -> None:
    provider = Pipelining(refuse={"mailbox.m1@d0.example"}, broken={"mailbox.m2@d0.example"})
    result = apply_plan(compute_plan(index(wide_estate()), {}), lambda kind: provider)
    status = {o.change.address: (o.status, o.error) for o in result.outcomes}
    assert status["mailbox.m1@d0.example"] == ("failed", "mailbox.m1@d0.example refused before sending")
    assert status["mailbox.m2@d0.example"] == ("failed", "lost track of mailbox.m2@d0.example")
    assert [a for a, (s, _) in status.items() if s != "ok"] == ["mailbox.m1@d0.example", "mailbox.m2@d0.example"]


def test_updates_moves_and_deletes_keep_their_order() -> None:
    live = [Resource("tenant", "t"), Resource("tenant", "u"),
            Resource("domain", "a.example", {"status": "active"}, parent="tenant.t"),
            Resource("mailbox", "m@a.example", {"quota": 1}, parent="domain.a.example"),
            Resource("domain", "gone.example", parent="tenant.t"),
            Resource("mailbox", "x@gone.example", parent="domain.gone.example")]
    provider = Pipelining(live)
    desired = index([Resource("tenant", "t"), Resource("tenant", "u"),
                     Resource("domain", "a.example", {"status": "suspended"}, parent="tenant.u"),  # moved
                     Resource("mailbox", "m@a.example", {"quota": 2}, parent="domain.a.example"),
                     Resource("mailbox", "n@a.example", {"quota": 3}, parent="domain.a.example")])
    plan = compute_plan(desired, provider.read())
    assert apply_plan(plan, lambda kind: provider).ok
    assert compute_plan(desired, provider.read()).empty
    # The child's delete went before its parent's, the move before the children that follow it.
    assert provider.submitted.index("mailbox.x@gone.example") < provider.submitted.index("domain.gone.example")
    assert provider.submitted.index("domain.a.example") < provider.submitted.index("mailbox.n@a.example")


def test_a_stop_sends_nothing_new_and_reports_what_was_in_flight() -> None:
    provider = Pipelining(size=5)
    events: list[Event] = []
    plan = compute_plan(index(wide_estate()), {})

    def stop() -> str | None:
        return "SIGTERM" if len(provider.submitted) >= 7 else None

    result = apply_plan(plan, lambda kind: provider, observer=events.append, stop=stop)
    assert result.stopped == "SIGTERM" and len(provider.submitted) == 7
    done = [o.change.address for o in result.outcomes if o.status == "ok"]
    # Every change that was sent was collected and reported with its real outcome ...
    assert sorted(done) == sorted(provider.submitted) and provider.queue == []
    assert sorted(provider.store) == sorted(done)
    # ... and the rest is reported as not run.
    assert {o.error for o in result.outcomes if o.status != "ok"} == {"not run: SIGTERM"}
    assert len(result.outcomes) == len(plan.changes)
    # A change event came before each change was handed over, one outcome event per change.
    changes = [e.change.address for e in events if e.point == "change" and e.change is not None]
    assert changes == provider.submitted
    assert len([e for e in events if e.point == "outcome"]) == len(plan.changes)


def test_a_change_event_comes_before_the_provider_sees_the_change() -> None:
    provider = Pipelining()
    order: list[str] = []
    original = provider.submit

    def submit(submission: Submission) -> None:
        order.append(f"submit {submission.resource.address}")
        original(submission)

    provider.submit = submit  # type: ignore[method-assign]
    apply_plan(compute_plan(index(wide_estate(1, 2)), {}), lambda kind: provider,
               observer=lambda e: order.append(f"{e.point} {e.change.address}") if e.change else None)
    for i, line in enumerate(order):
        if line.startswith("submit "):
            assert order[i - 1] == "change " + line.removeprefix("submit "), order
    assert order.index("submit tenant.t") < order.index("outcome tenant.t") < order.index("change domain.d0.example")


class PipelinedBatching(Batching, Pipelined):
    """Tenants and domains go through the pipeline; mailboxes and aliases are staged per domain."""

    def __init__(self) -> None:
        super().__init__()
        self.flight = Pipelining()
        self.flight.store = self.store  # one store: what the pipeline writes, the batches see

    def window(self) -> int:
        return 2

    def submit(self, submission: Submission) -> None:
        self.flight.submit(submission)

    def collect(self) -> Done:
        return self.flight.collect()


def test_batched_changes_are_staged_not_submitted_and_wait_for_their_parent() -> None:
    provider = PipelinedBatching()
    desired = index(wide_estate())
    plan = compute_plan(desired, {})
    result = apply_plan(plan, lambda kind: provider)
    assert result.ok, result.failed
    assert sorted(provider.flight.submitted) == sorted(a for a in plan_addresses(plan)
                                                      if a.startswith(("tenant.", "domain.")))
    assert provider.commits == [f"domain.d{d}.example" for d in range(3)]
    assert compute_plan(desired, provider.read()).empty


def test_a_non_pipelined_provider_next_to_a_pipelined_one() -> None:
    pipelined, plain = Pipelining(), MemoryProvider()
    desired = index([*wide_estate(2, 3),
                     Resource("maildir", "m0@d0.example", {"path": "/m"}, depends_on=("mailbox.m0@d0.example",))])
    plain.SUPPORTS = frozenset({"maildir"})  # type: ignore[misc]
    pipelined.SUPPORTS = frozenset({"tenant", "domain", "mailbox", "alias"})  # type: ignore[misc]
    plan = compute_plan(desired, {})
    result = apply_plan(plan, lambda kind: plain if kind == "maildir" else pipelined)
    assert result.ok
    assert plain.log == [("create", "maildir.m0@d0.example")]
    assert "mailbox.m0@d0.example" in pipelined.store


def test_in_flight_bookkeeping_answers_oldest_first() -> None:
    a, b = Pipelining(size=2), Pipelining(size=1)
    flights = InFlight()
    assert flights.oldest() is None and len(flights) == 0
    first, second, third = flights.ticket(), flights.ticket(), flights.ticket()
    flights.add(a, first)
    flights.add(b, second)
    flights.add(a, third)
    assert len(flights) == 3 and flights.full(a) and flights.full(b)
    assert flights.oldest() is a and flights.oldest(b) is b
    a.queue = [Submission(first, "create", None, Resource("tenant", "x"))]
    assert flights.collect(a) == Done(first, None)
    assert flights.oldest() is b
    b.queue = [Submission(99, "create", None, Resource("tenant", "y"))]
    with pytest.raises(RuntimeError, match="answered for change 99, expected 2"):
        flights.collect(b)


def test_a_submission_names_the_changed_attributes_of_an_update_only() -> None:
    live = [Resource("tenant", "t", {"status": "active"}), Resource("domain", "old.example", {"status": "active"},
                                                                    parent="tenant.t")]
    provider = Pipelining(live=[dataclasses.replace(r, recorded_fingerprint=r.fingerprint()) for r in live])
    seen: list[Submission] = []
    submit = provider.submit
    provider.submit = lambda s: (seen.append(s), submit(s))[1]  # type: ignore[method-assign]
    desired = index([Resource("tenant", "t", {"status": "suspended", "contact": "x"}),
                     Resource("domain", "new.example", {"status": "active"}, parent="tenant.t")])
    plan = compute_plan(desired, provider.read())
    assert apply_plan(plan, lambda kind: provider).ok
    by_action = {s.action: s.changed for s in seen}
    assert by_action == {"update": ("contact", "status"), "create": (), "delete": ()}
    assert compute_plan(desired, provider.read()).empty
