"""Apply: dependency order, failures isolated, dependents skipped, convergence.

The memory provider refuses out-of-order writes (child before parent, parent deleted
while it has children), so a wrong order shows up as a failure, not just a log line.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable

import pytest
from memory_provider import MemoryProvider

from ispctl.reconciler.engine.apply import Outcome, apply_plan, execution_order, observing, prerequisites
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.provider import BatchError, Provider
from ispctl.reconciler.engine.resources import Resource

Index = dict[tuple[str, str], Resource]


def index(resources: Iterable[Resource]) -> Index:
    return {r.identity: r for r in resources}


def estate() -> list[Resource]:
    """A small tree whose address order is NOT a valid creation order (alias < domain < tenant)."""
    return [
        Resource("tenant", "r", {"status": "active"}),
        Resource("tenant", "c", {"status": "active"}, parent="tenant.r"),
        Resource("domain", "c.example", {"status": "active"}, parent="tenant.c"),
        Resource("domain", "alias.example", {"alias_of": "c.example"}, parent="tenant.c",
                 depends_on=("domain.c.example",)),
        Resource("mailbox", "a@c.example", {"quota": 5, "password": "h"}, parent="domain.c.example",
                 sensitive=frozenset({"password"})),
        Resource("alias", "x@c.example", {"targets": ("a@c.example",)}, parent="domain.c.example"),
    ]


def run(desired: Index, provider: MemoryProvider, prune: bool = True) -> tuple[Plan, list[Outcome]]:
    plan = compute_plan(desired, provider.read(), prune=prune)
    seen: list[Outcome] = []
    result = apply_plan(plan, lambda kind: provider, seen.append)
    assert result.outcomes == seen  # the listener sees every outcome, in order
    return plan, result.outcomes


def position(log: list[tuple[str, str]]) -> dict[str, int]:
    return {address: i for i, (_, address) in enumerate(log)}


def test_creates_run_parents_before_children() -> None:
    provider = MemoryProvider()
    _, outcomes = run(index(estate()), provider)
    assert [o.status for o in outcomes] == ["ok"] * 6
    pos = position(provider.log)
    for r in estate():
        for dep in (r.parent, *r.depends_on):
            if dep is not None:
                assert pos[dep] < pos[r.address], (dep, r.address)
    assert set(pos) == {r.address for r in estate()}


def test_deletes_run_children_before_parents_and_last() -> None:
    provider = MemoryProvider()
    run(index(estate()), provider)
    provider.log.clear()
    keep = Resource("tenant", "z", {"status": "active"})
    _, outcomes = run(index([keep]), provider)
    assert all(o.status == "ok" for o in outcomes)
    assert provider.log[0] == ("create", "tenant.z")  # non-deletes before any delete
    pos = position(provider.log)
    for r in estate():
        for dep in (r.parent, *r.depends_on):
            if dep is not None:
                assert pos[r.address] < pos[dep], (r.address, dep)
    assert list(provider.store) == ["tenant.z"]


def test_move_runs_before_the_old_parent_is_deleted() -> None:
    old = Resource("tenant", "old", {"status": "active"})
    dom = Resource("domain", "d.example", {"status": "active"}, parent="tenant.old")
    provider = MemoryProvider()
    run(index([old, dom]), provider)
    provider.log.clear()
    new = Resource("tenant", "new", {"status": "active"})
    moved = Resource("domain", "d.example", {"status": "active"}, parent="tenant.new")
    plan, outcomes = run(index([new, moved]), provider)
    assert [c.is_move for c in plan.changes if c.kind == "domain"] == [True]
    assert all(o.status == "ok" for o in outcomes)
    assert provider.log == [("create", "tenant.new"), ("update", "domain.d.example"), ("delete", "tenant.old")]
    assert provider.store["domain.d.example"].parent == "tenant.new"


def test_prerequisites_of_a_move() -> None:
    old = Resource("tenant", "old")
    plan = compute_plan(
        index([Resource("tenant", "new"), Resource("domain", "d", parent="tenant.new")]),
        index([old, Resource("domain", "d", parent="tenant.old", recorded_fingerprint="x")]),
    )
    assert prerequisites(plan) == {
        "domain.d": {"tenant.new"},
        "tenant.new": set(),
        "tenant.old": {"domain.d"},
    }


def test_plain_update_of_a_parent_does_not_block_children() -> None:
    provider = MemoryProvider()
    base = estate()
    run(index(base[:3]), provider)  # tenants and domain c.example exist
    changed_domain = Resource("domain", "c.example", {"status": "suspended"}, parent="tenant.c")
    failing = MemoryProvider(provider.store.values(), fail={"domain.c.example"})
    _, outcomes = run(index([*base[:2], changed_domain, base[4]]), failing)
    status = {o.change.address: o.status for o in outcomes}
    assert status == {"domain.c.example": "failed", "mailbox.a@c.example": "ok"}


def test_one_failure_skips_its_dependents_transitively_and_spares_the_rest() -> None:
    other = Resource("tenant", "other", {"status": "active"})
    other_dom = Resource("domain", "o.example", {}, parent="tenant.other")
    provider = MemoryProvider(fail={"tenant.c"})
    _, outcomes = run(index([*estate(), other, other_dom]), provider)
    status = {o.change.address: o.status for o in outcomes}
    assert status == {
        "tenant.r": "ok",
        "tenant.c": "failed",
        "domain.c.example": "skipped",  # child of the failed tenant
        "domain.alias.example": "skipped",
        "mailbox.a@c.example": "skipped",  # grandchild: skipped because its parent was
        "alias.x@c.example": "skipped",
        "tenant.other": "ok",
        "domain.o.example": "ok",
    }
    skipped = {o.change.address: o.error for o in outcomes if o.status == "skipped"}
    assert skipped["domain.c.example"] == "skipped because tenant.c did not apply"
    assert skipped["mailbox.a@c.example"] == "skipped because domain.c.example did not apply"
    failed = next(o for o in outcomes if o.status == "failed")
    assert failed.error is not None and "tenant.c" in failed.error and "configured to fail" in failed.error
    # Skipped changes were never tried: nothing of them reached the provider.
    assert sorted(a for _, a in provider.log) == ["domain.o.example", "tenant.other", "tenant.r"]


def test_every_failure_is_reported() -> None:
    provider = MemoryProvider(fail={"alias.x@c.example", "mailbox.a@c.example"})
    plan = compute_plan(index(estate()), provider.read())
    result = apply_plan(plan, lambda kind: provider)
    assert not result.ok
    assert [(o.change.address, o.status) for o in result.failed] == [
        ("alias.x@c.example", "failed"), ("mailbox.a@c.example", "failed"),
    ]
    assert len(provider.store) == 4


def test_failed_child_delete_keeps_parent() -> None:
    provider = MemoryProvider()
    run(index(estate()), provider)
    failing = MemoryProvider(provider.store.values(), fail={"mailbox.a@c.example"})
    _, outcomes = run({}, failing)
    status = {o.change.address: o.status for o in outcomes}
    assert status["mailbox.a@c.example"] == "failed"
    assert status["domain.c.example"] == "skipped"
    assert status["tenant.c"] == "skipped" and status["tenant.r"] == "skipped"
    assert status["alias.x@c.example"] == "ok" and status["domain.alias.example"] == "ok"
    assert sorted(failing.store) == ["domain.c.example", "mailbox.a@c.example", "tenant.c", "tenant.r"]


def test_failed_move_keeps_old_parent() -> None:
    seeded = MemoryProvider()
    run(index([Resource("tenant", "old"), Resource("domain", "d", parent="tenant.old")]), seeded)
    provider = MemoryProvider(seeded.store.values(), fail={"domain.d"})
    _, outcomes = run(index([Resource("tenant", "new"), Resource("domain", "d", parent="tenant.new")]), provider)
    status = {o.change.address: o.status for o in outcomes}
    assert status == {"tenant.new": "ok", "domain.d": "failed", "tenant.old": "skipped"}
    assert "tenant.old" in provider.store


def test_routing_error_is_a_failure_not_a_crash() -> None:
    provider = MemoryProvider()

    def route(kind: str) -> Provider:
        if kind == "alias":
            raise LookupError("no provider for alias")
        return provider

    plan = compute_plan(index(estate()), {})
    result = apply_plan(plan, route)
    (failed,) = result.failed
    assert failed.change.address == "alias.x@c.example"
    assert failed.error == "no provider for alias"
    assert len(provider.store) == 5


def test_exception_without_message_is_named() -> None:
    class Silent(MemoryProvider):
        def _create(self, resource: Resource) -> None:
            raise RuntimeError()

    result = apply_plan(compute_plan(index([Resource("tenant", "t")]), {}), lambda kind: Silent())
    assert result.outcomes[0].error == "RuntimeError"


def test_dependency_cycle_raises() -> None:
    a = Resource("domain", "a", depends_on=("domain.b",))
    b = Resource("domain", "b", depends_on=("domain.a",))
    c = Resource("domain", "c")
    plan = compute_plan(index([a, b, c]), {})
    with pytest.raises(ValueError, match=r"dependency cycle among: domain\.a, domain\.b$"):
        execution_order(plan)
    provider = MemoryProvider()
    with pytest.raises(ValueError, match="dependency cycle"):
        apply_plan(plan, lambda kind: provider)
    assert provider.log == []  # refused before writing anything


def test_rerun_converges() -> None:
    provider = MemoryProvider()
    run(index(estate()), provider)
    assert compute_plan(index(estate()), provider.read()).empty
    # Change values, move a mailbox, drop an alias: one apply, then nothing left to do.
    second = [
        *estate()[:4],
        Resource("domain", "b.example", {"status": "active"}, parent="tenant.r"),
        Resource("mailbox", "a@c.example", {"quota": 9, "password": "h2"}, parent="domain.b.example",
                 sensitive=frozenset({"password"})),
    ]
    plan, outcomes = run(index(second), provider)
    assert plan.summary == {"add": 1, "change": 1, "destroy": 1}
    assert all(o.status == "ok" for o in outcomes)
    again = compute_plan(index(second), provider.read())
    assert again.empty, [c.address for c in again.changes]


def test_rerun_after_failure_finishes_the_job() -> None:
    failing = MemoryProvider(fail={"domain.c.example"})
    run(index(estate()), failing)
    healed = MemoryProvider(failing.store.values())
    plan, outcomes = run(index(estate()), healed)
    assert plan.summary == {"add": 4, "change": 0, "destroy": 0}
    assert all(o.status == "ok" for o in outcomes)
    assert compute_plan(index(estate()), healed.read()).empty


def test_drift_is_repaired_and_converges() -> None:
    desired = Resource("mailbox", "m@c.example", {"quota": 5, "status": "active"}, parent=None)
    edited = Resource("mailbox", "m@c.example", {"quota": 7, "status": "active"},
                      recorded_fingerprint=desired.fingerprint())
    provider = MemoryProvider([edited])
    plan, _ = run(index([desired]), provider)
    assert [c.drift for c in plan.changes] == ["changed outside ispctl"]
    after = provider.read()[desired.identity]
    assert after.attrs == desired.attrs and after.drifted() is None


def test_update_passes_only_changed_attribute_names() -> None:
    class Recording(MemoryProvider):
        def __init__(self, live: Iterable[Resource]) -> None:
            super().__init__(live)
            self.changed: list[tuple[str, ...]] = []

        def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
            self.changed.append(changed)
            super()._update(before, after, changed)

    before = Resource("mailbox", "m", {"quota": 1, "status": "active", "display_name": "M"})
    after = Resource("mailbox", "m", {"quota": 2, "status": "suspended", "display_name": "M"})
    provider = Recording([before])
    run(index([after]), provider)
    assert provider.changed == [("quota", "status")]


class Batching(MemoryProvider):
    """Stages mailbox and alias changes per domain and writes them only on ``commit``.

    ``fail_batches`` makes a commit fail as a whole; ``partial`` makes it apply only the
    named addresses and raise ``BatchError`` for the rest, as a provider does when a batch
    had to be sent in parts and a later part was refused.
    """

    def __init__(self, live: Iterable[Resource] = (), fail_batches: Iterable[str] = (),
                 partial: dict[str, frozenset[str]] | None = None) -> None:
        super().__init__(live)
        self.fail_batches = frozenset(fail_batches)
        self.partial = partial or {}
        self.staged: dict[str, list[tuple[str, Resource]]] = {}
        self.commits: list[str] = []

    def batch_key(self, resource: Resource) -> str | None:
        return resource.parent if resource.kind in ("mailbox", "alias") else None

    def _create(self, resource: Resource) -> None:
        key = self.batch_key(resource)
        if key is None:
            super()._create(resource)
        else:
            self.staged.setdefault(key, []).append(("create", resource))

    def commit(self, batch: str) -> None:
        self.commits.append(batch)
        staged = self.staged.pop(batch)
        if batch in self.fail_batches:
            raise ProviderError(f"batch {batch} refused")
        applied = self.partial.get(batch)
        for _, resource in staged:
            if applied is None or resource.address in applied:
                super()._create(resource)
        if applied is not None:
            raise BatchError(f"batch {batch} stopped half-way", applied)


def batch_estate() -> list[Resource]:
    return [
        Resource("tenant", "t"),
        Resource("domain", "a.example", parent="tenant.t"),
        Resource("mailbox", "m@a.example", {"quota": 1}, parent="domain.a.example"),
        Resource("alias", "x@a.example", {"targets": ("m@a.example",)}, parent="domain.a.example"),
        Resource("domain", "b.example", parent="tenant.t"),
        Resource("mailbox", "m@b.example", {"quota": 1}, parent="domain.b.example"),
    ]


def test_staged_changes_are_committed_once_per_batch_at_the_end() -> None:
    provider = Batching()
    _, outcomes = run(index(batch_estate()), provider)
    assert provider.commits == ["domain.a.example", "domain.b.example"]
    assert [o.status for o in outcomes] == ["ok"] * 6
    # Unbatched changes are reported as they run, staged ones when their batch is sent.
    assert [o.change.address for o in outcomes][-3:] == ["alias.x@a.example", "mailbox.m@a.example",
                                                         "mailbox.m@b.example"]
    assert compute_plan(index(batch_estate()), provider.read()).empty


def test_a_failed_batch_fails_all_its_changes_and_only_them() -> None:
    provider = Batching(fail_batches={"domain.a.example"})
    _, outcomes = run(index(batch_estate()), provider)
    status = {o.change.address: (o.status, o.error) for o in outcomes}
    assert status["alias.x@a.example"] == ("failed", "batch domain.a.example refused")
    assert status["mailbox.m@a.example"] == ("failed", "batch domain.a.example refused")
    assert status["mailbox.m@b.example"] == ("ok", None)
    assert "mailbox.m@a.example" not in provider.store and "mailbox.m@b.example" in provider.store


def test_a_partly_applied_batch_reports_what_took_effect() -> None:
    provider = Batching(partial={"domain.a.example": frozenset({"mailbox.m@a.example"})})
    _, outcomes = run(index(batch_estate()), provider)
    status = {o.change.address: o.status for o in outcomes}
    assert status["mailbox.m@a.example"] == "ok" and status["alias.x@a.example"] == "failed"
    assert "mailbox.m@a.example" in provider.store and "alias.x@a.example" not in provider.store


def test_a_dependent_outside_the_batch_waits_for_its_commit_and_is_skipped_on_failure() -> None:
    # The domain depends on a mailbox staged in another batch: that batch is sent first.
    needs_mailbox = Resource("domain", "c.example", parent="tenant.t", depends_on=("mailbox.m@a.example",))
    desired = index([*batch_estate(), needs_mailbox])
    provider = Batching()
    run(desired, provider)
    assert provider.log.index(("create", "mailbox.m@a.example")) < provider.log.index(("create", "domain.c.example"))
    failing = Batching(fail_batches={"domain.a.example"})
    _, outcomes = run(desired, failing)
    status = {o.change.address: (o.status, o.error) for o in outcomes}
    assert status["domain.c.example"] == ("skipped", "skipped because mailbox.m@a.example did not apply")
    assert failing.commits == ["domain.a.example", "domain.b.example"]


def test_the_default_provider_stages_nothing() -> None:
    provider = MemoryProvider()
    assert provider.batch_key(Resource("tenant", "t")) is None
    with pytest.raises(ProviderError, match="stages no changes"):
        provider.commit("x")


def test_observers_see_each_change_before_it_runs_and_each_commit() -> None:
    provider, events = Batching(), []
    with observing(lambda e: events.append((e.point, e.change.address if e.change else e.batch))):
        apply_plan(compute_plan(index(batch_estate()), {}), lambda kind: provider)
    assert events[:3] == [("change", "tenant.t"), ("outcome", "tenant.t"), ("change", "domain.a.example")]
    assert ("commit", "domain.a.example") in events and len([e for e in events if e[0] == "change"]) == 6
    before = events.index(("commit", "domain.a.example"))
    assert events.index(("outcome", "mailbox.m@a.example")) > before  # staged: its outcome comes with the commit
    apply_plan(compute_plan(index(estate()), {}), lambda kind: MemoryProvider())
    assert len([e for e in events if e[0] == "change"]) == 6  # the block ended: no longer observed


def test_a_stop_request_ends_the_run_at_a_change_boundary_and_reports_the_rest() -> None:
    provider, seen = Batching(), []
    result = apply_plan(compute_plan(index(batch_estate()), {}), lambda kind: provider,
                        observer=lambda e: seen.append(e.point), stop=lambda: "SIGTERM" if len(seen) >= 6 else None)
    assert result.stopped == "SIGTERM" and provider.commits == []  # a staged batch is never sent after a stop
    done = [o.change.address for o in result.outcomes if o.status == "ok"]
    assert done == ["tenant.t", "domain.a.example", "domain.b.example"] and sorted(provider.store) == sorted(done)
    assert {o.error for o in result.outcomes if o.status != "ok"} == {"not run: SIGTERM"}
    assert len(result.outcomes) == 6


def test_cyclic_gc_is_off_while_changes_are_applied_and_as_it_was_afterwards() -> None:
    seen: list[bool] = []

    class Watching(MemoryProvider):
        def _create(self, resource: Resource) -> None:
            seen.append(gc.isenabled())
            super()._create(resource)

    def fail(outcome: Outcome) -> None:
        raise RuntimeError("listener broke")

    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            apply_plan(compute_plan(index(estate()), {}), lambda kind: Watching())
            assert gc.isenabled() is enabled
            with pytest.raises(RuntimeError, match="listener broke"):
                apply_plan(compute_plan(index(estate()), {}), lambda kind: Watching(), fail)
            assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert seen and not any(seen)
