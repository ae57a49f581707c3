"""One plan or apply run, end to end: scope, prune policy, gates, lock, saved plans.

The engine's session computes the plan (only the scope's part of it when the scope has
anchors); this module narrows and checks it the way the GitOps workflow needs and is what the
``plan``/``apply`` commands call.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ispctl.reconciler.engine import gates, output
from ispctl.reconciler.engine.apply import StopCheck
from ispctl.reconciler.engine.gitinfo import Revision, changed_files, revision
from ispctl.reconciler.engine.groups import plan_crossings, plan_groups
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.provider import HeldLock
from ispctl.reconciler.engine.resources import Index
from ispctl.reconciler.engine.saved import saved_meta
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.engine.session import Progress
from ispctl.reconciler.estate.desired import EstateSession
from ispctl.reconciler.estate.scopes import changed_scope, former_domains, tenant_scope
from ispctl.reconciler.estate.sources import confine


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = True
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    changed_since: str | None = None
    # Set when re-planning a saved plan: the anchors it was narrowed to, as saved.
    anchors: frozenset[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"prune": self.prune, "targets": list(self.targets), "excludes": list(self.excludes),
                "tenants": list(self.tenants), "changed_since": self.changed_since}

    @classmethod
    def from_saved(cls, meta: dict[str, Any]) -> PlanOptions:
        options = meta.get("options") or {}
        scope = options.get("scope") or {}
        anchors = scope.get("anchors")
        return cls(prune=bool(options.get("prune", True)), targets=tuple(scope.get("targets") or ()),
                   excludes=tuple(scope.get("excludes") or ()),
                   anchors=frozenset(anchors) if anchors is not None else None)


def build_scope(session: EstateSession, root: Path, options: PlanOptions, changed: list[Path] | None = None) -> Scope:
    """The scope of ``options`` over the session's catalog; ``changed``: the files git says changed
    since ``options.changed_since`` when the caller has them already."""
    scope = Scope(targets=options.targets, excludes=options.excludes)
    if options.anchors is not None:
        return replace(scope, anchors=options.anchors, everything=False)
    narrowed: list[Scope] = []
    if options.tenants:
        narrowed.append(tenant_scope(options.tenants, session.catalog))
    if options.changed_since:
        ref = options.changed_since
        files = changed_files(root, ref) if changed is None else changed
        narrowed.append(changed_scope(files, session.catalog, former_domains(root, ref)))
    # Several narrowings widen each other (a union): planning a little more is safe,
    # missing a change is not. One that covers everything (the site file changed) wins.
    if narrowed and not any(s.everything for s in narrowed):
        anchors = frozenset().union(*(s.anchors for s in narrowed))
        scope = replace(scope, anchors=anchors, everything=False)
    return scope


@dataclass
class PlanRun:
    plan: Plan
    live: Index
    revision: Revision
    warnings: list[str] = field(default_factory=list)
    # What the gates' shares count as existing, by kind (``Session.existing``); None: ``live``'s.
    existing: Mapping[str, int] | None = None


def make_plan(session: EstateSession, root: Path, options: PlanOptions, progress: Progress | None = None,
              rev: Revision | None = None) -> PlanRun:
    """Plan, narrow to the scope, confine, apply the prune policy and the gates, bind for saving.

    The scope comes from the catalog and git alone, so a plan narrowed by --tenant or
    --changed-since (or re-planned in a saved plan's anchors) reads and compares only what
    the scope reaches (``Session.plan(anchors=...)``); the result is the full plan's,
    filtered. Globs alone (--target, --exclude) still read everything: they name addresses
    anywhere. ``rev``: ``revision(root)`` when the caller has it already (``gitinfo.changes``).
    """
    site = session.catalog.estate.site
    scope = build_scope(session, root, options)
    anchors = None if scope.everything else scope.anchors
    full = session.plan(prune=options.prune, progress=progress, anchors=anchors)
    live = session.live
    # A narrowed plan's walks up reach only part of the desired state: that part is enough.
    context = session.scope_context or session.compiled or session.desired
    plan = confine(apply_scope(full, scope, context, live), session.catalog, context, live)
    plan = gates.apply_prune_policy(plan, site.prune.enabled and options.prune, site.prune.keep)
    rev = revision(root) if rev is None else rev
    meta: dict[str, Any] = {"groups": plan_groups(plan, context, live), **plan.meta}
    estate = session.catalog.estate
    if estate.sources:  # the commit each other repository was read at (README "An estate of several ...")
        meta["sources"] = dict(estate.sources)
    if estate.confined is not None:
        meta["confined"] = sorted(estate.confined)
    crossings = plan_crossings(plan, context, live)
    if crossings:
        meta["crossings"] = crossings
    limits = gates.Thresholds(site.safety.max_change_share, site.safety.min_existing)
    protected = gates.protection_violations(plan, live)
    too_much = gates.threshold_violations(plan, session.existing, limits)
    # What the gates say is part of the plan (JSON, the PR comment), so a reviewer sees
    # before the merge that apply will refuse it or needs --force, and under which policy.
    meta["gates"] = {"protected": protected, "thresholds": too_much, "needs_force": bool(too_much),
                     "refused": bool(protected),
                     "limits": {"max_change_share": limits.max_share, "min_existing": limits.min_existing},
                     "prune": {"enabled": site.prune.enabled and options.prune, "keep": list(site.prune.keep)}}
    meta = saved_meta(replace(plan, meta=meta), rev, live, {**options.to_dict(), "scope": scope.describe()})
    plan = replace(plan, meta=meta)
    return PlanRun(plan, live, rev, protected + too_much, session.existing)


def check_gates(session: EstateSession, run: PlanRun, force: bool) -> None:
    site = session.catalog.estate.site
    gates.check(run.plan, run.live, gates.Thresholds(site.safety.max_change_share, site.safety.min_existing), force,
                run.existing)


@contextmanager
def locked(session: EstateSession, operation: str, commit: str | None, timeout: float) -> Iterator[HeldLock | None]:
    """Hold the estate's lock (from the first provider that keeps one) for the block."""
    keeper = session.lock_keeper()
    if keeper is None:
        yield None
        return
    ttl = timedelta(seconds=session.catalog.estate.site.safety.lock_ttl)
    with keeper.estate_lock(operation, commit, ttl, timeout) as held:
        yield held


SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
EXIT_CODES = {"Ctrl-C (SIGINT)": 130, "SIGTERM": 143}


@contextmanager
def stop_on_signals(lock: HeldLock | None) -> Iterator[StopCheck]:
    """While changes are written, SIGTERM and Ctrl-C ask apply to stop at the next change
    boundary instead of ending the process inside a change; a lost lock stops it the same way.

    The check yielded gives the reason to stop ("SIGTERM", "Ctrl-C (SIGINT)", "the estate
    lock was lost: ..."). Outside this block the handler's own SIGTERM handling applies.
    """
    reasons: list[str] = []

    def request(signum: int, _frame: object) -> None:
        name = SIGNAL_NAMES.get(signal.Signals(signum), f"signal {signum}")
        if not reasons:
            reasons.append(name)
            output.err().print(f"{name}: stopping after the change in progress (never inside one).",
                               markup=False, style="bold yellow")

    def check() -> str | None:
        if not reasons and lock is not None:
            lost = lock.lost()
            if lost:
                reasons.append(f"the estate lock was lost ({lost})")
        return reasons[0] if reasons else None

    if threading.current_thread() is not threading.main_thread():
        yield check  # signals reach the main thread only
        return
    previous = {sig: signal.signal(sig, request) for sig in SIGNAL_NAMES}
    try:
        yield check
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
