"""``apply --reviewed PLAN``: apply what a pull request's saved plan reviewed, nothing more.

The merge commit is never the commit the pull request was planned at (unless it was
fast-forwarded), so the reviewed plan is usually stale by commit alone. Apply then plans
again with the same scope (the reviewed plan's anchors, or ``--changed-since`` the
previous main: what the merge changed), and applies only the changes the reviewed plan
has exactly: the same change, the same values (masked ones by their digests). Everything
else -- a change the review did not show, one whose values or live state moved, and
whatever needs such a change -- is reported and left for a plan of its own, never applied.
When the reviewed plan is still fresh (same commit, same live objects), it is applied as is.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ispctl.reconciler.cli.runs import PlanRun
from ispctl.reconciler.engine import output, saved
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.estate.desired import EstateSession


@dataclass(frozen=True)
class Review:
    plan: Plan                    # what this apply may run
    exact: bool                   # the reviewed plan was fresh: applied as it is
    held: tuple[tuple[str, str], ...] = ()  # (address, "address: why") for each change not applied
    gone: tuple[str, ...] = ()    # reviewed changes no longer needed

    def record(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """For the audit trail: which reviewed plan, and what it held back."""
        meta = stored.get("meta") or {}
        return {"plan": stored.get("checksum"), "commit": (meta.get("desired") or {}).get("commit"),
                "exact": self.exact, "held_back": sorted(address for address, _ in self.held)}


def review(session: EstateSession, run: PlanRun, stored: Mapping[str, Any]) -> Review:
    if not saved.staleness(stored, run.plan, run.revision, run.live):
        return Review(run.plan, True)
    matched, why, gone = saved.reviewed_changes(stored, run.plan)
    unreviewed = tuple(glob.escape(c.address) for c in run.plan.changes if c.address not in matched)
    context = session.scope_context or session.compiled or session.desired  # see runs.make_plan
    # Excluding a change also holds back what needs it or is bound to it (a maildir
    # following its renamed entry): a reviewed change never runs without what it needs.
    subset = apply_scope(run.plan, Scope(excludes=unreviewed), context, run.live) if unreviewed else run.plan
    kept = {c.address for c in subset.changes}
    held = tuple((c.address, why.get(c.address) or f"{c.address}: needs or moves with a change that was not reviewed")
                 for c in run.plan.changes if c.address not in kept)
    return Review(replace(subset, meta=run.plan.meta), False, held, tuple(gone))


def report(result: Review, path: Path) -> None:
    err = output.err()
    if result.exact:
        err.print(f"The reviewed plan {path} is fresh: applying exactly it.", markup=False)
        return
    err.print(f"The reviewed plan {path} is not exactly what apply would do now; applying only the "
              f"{len(result.plan.changes)} change(s) it reviewed.", markup=False)
    if result.held:
        err.print(f"Not applied ({len(result.held)}; not reviewed: plan them in a pull request of their own):",
                  markup=False, style="bold yellow")
        for _address, line in result.held:
            err.print(f"  {line}", markup=False, style="yellow")
            output.annotate("warning", f"not applied, not reviewed: {line}")
    for line in result.gone:
        err.print(f"  {line}", markup=False)
