"""Safety gates: thresholds, protection, pruning policy."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.gates import (
    GateFailed,
    Thresholds,
    apply_prune_policy,
    check,
    protection_violations,
    threshold_violations,
)
from ispctl.reconciler.engine.resources import Resource


def live_of(*resources: Resource) -> dict:  # type: ignore[type-arg]
    return {r.identity: dataclasses.replace(r, recorded_fingerprint=r.fingerprint()) for r in resources}


def counts(index: dict) -> Counter[str]:  # type: ignore[type-arg]
    """What the shares count: existing objects by kind."""
    return Counter(kind for kind, _ in index)


def boxes(n: int, quota: int = 1) -> list[Resource]:
    return [Resource("mailbox", f"u{i:02}@x.example", {"quota": quota}, parent="domain.x.example") for i in range(n)]


def test_more_than_the_share_of_a_large_set_needs_force() -> None:
    live = live_of(*boxes(10))
    desired = {r.identity: r for r in boxes(10, quota=2)[:3] + boxes(10)[3:]}  # 3 of 10 updated: 30% is fine
    plan = compute_plan(desired, live)
    assert threshold_violations(plan, counts(live), Thresholds()) == []
    desired = {r.identity: r for r in boxes(10, quota=2)[:4] + boxes(10)[4:]}  # 4 of 10: too many
    plan = compute_plan(desired, live)
    assert threshold_violations(plan, counts(live), Thresholds()) == [
        "the plan would update 4 of 10 existing mailbox objects (40%, more than 30%)"]
    with pytest.raises(GateFailed, match="without --force"):
        check(plan, live, Thresholds(), force=False)
    check(plan, live, Thresholds(), force=True)


def test_deletes_count_separately_and_small_sets_are_exempt() -> None:
    live = live_of(*boxes(10))
    plan = compute_plan({r.identity: r for r in boxes(10)[:6]}, live)  # delete 4 of 10
    assert threshold_violations(plan, counts(live), Thresholds()) == [
        "the plan would delete 4 of 10 existing mailbox objects (40%, more than 30%)"]
    small = live_of(*boxes(9))
    assert threshold_violations(compute_plan({}, small), counts(small), Thresholds()) == []
    assert threshold_violations(compute_plan({}, small), counts(small), Thresholds(min_existing=5)) != []


def test_destroying_anything_under_a_protected_object_fails_even_with_force() -> None:
    tenant = Resource("tenant", "t", {"protected": True})
    domain = Resource("domain", "x.example", {"status": "active"}, parent="tenant.t")
    box = Resource("mailbox", "a@x.example", {"quota": 1}, parent="domain.x.example")
    live = live_of(tenant, domain, box)
    # Deleting the mailbox only: it lies under the protected tenant.
    plan = compute_plan({tenant.identity: tenant, domain.identity: domain}, live)
    assert protection_violations(plan, live) == [
        "mailbox.a@x.example would be destroyed, but tenant.t is protected (protect: true). "
        "Remove the protection in an earlier, separate commit and apply it first."]
    with pytest.raises(GateFailed, match="is protected"):
        check(plan, live, Thresholds(), force=True)
    # Lifting protection in the same plan that deletes does not help: the live flag decides.
    unprotected = dataclasses.replace(tenant, attrs={"protected": None})
    assert protection_violations(compute_plan({unprotected.identity: unprotected}, live), live)
    # Once the live object is unprotected, deletes pass.
    lifted = live_of(unprotected, domain, box)
    assert protection_violations(compute_plan({unprotected.identity: unprotected}, lifted), lifted) == []


def test_prune_policy_keeps_objects_not_in_git_and_reports_them() -> None:
    live = live_of(*boxes(3))
    plan = compute_plan({r.identity: r for r in boxes(3)[:1]}, live)
    kept = apply_prune_policy(plan, enabled=True, keep=["mailbox.u02@*"])
    assert [c.address for c in kept.changes] == ["mailbox.u01@x.example"]
    assert kept.meta["not_pruned"] == ["mailbox.u02@x.example"]
    off = apply_prune_policy(plan, enabled=False, keep=[])
    assert off.changes == () and off.meta["not_pruned"] == ["mailbox.u01@x.example", "mailbox.u02@x.example"]
    assert apply_prune_policy(plan, enabled=True, keep=[]) is plan
