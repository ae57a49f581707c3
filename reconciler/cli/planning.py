"""Where ``ispctl plan`` gets its desired state: a ``--changed-since`` plan over the snapshot of
the last full plan when it can, the whole estate otherwise; the snapshot saved after a full plan.

The fast path loads only the changed files and what they touch (``estate.incremental``), and
outlines the rest of the estate (``resources.outline``). It is sound or it steps aside, never
different: ``load_narrowed`` says why it cannot (``Fallback``: no snapshot, ispctl.yaml changed,
any problem found, ...), and whatever the plan, its views, gates or saved-plan binding need of an
outlined object raises ``Incomplete``. Either way the plan is made again over the whole estate,
in the same session (providers connected once, a warning they give said once), and the reason
is shown as progress and kept in ``Planned.fallback``. Nothing a command prints or writes comes
from an abandoned attempt: ``render`` runs inside the attempt, its output is printed after it.

After a full plan (its validation found no problem: it would have raised), the snapshot is saved
for the next ``--changed-since`` plan. That is an optimisation of later runs only: a failure to
save is said on stderr and the command goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.runs import PlanOptions, PlanRun, build_scope, make_plan
from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision, changes
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Incomplete, is_outline
from ispctl.reconciler.engine.session import Progress

if TYPE_CHECKING:
    from ispctl.reconciler.estate.desired import Desired, EstateSession

T = TypeVar("T")


@dataclass
class Planned(Generic[T]):
    run: PlanRun
    rendered: T            # what ``render`` made of the plan
    desired: Desired       # what the plan was made from
    fast: bool = False     # over the snapshot: only the changed files and what they touch loaded
    # Why a --changed-since plan was made over the whole estate (None: it was not, or no --changed-since).
    fallback: str | None = None


class _Abandoned(Exception):
    """The fast path cannot answer: why, in one line."""


def plan_estate(ctx: Wiring, root: Path, options: PlanOptions, render: Callable[[Plan], T], show: Progress,
                label: Callable[[], str]) -> Planned[T]:
    """The plan of ``options`` and ``render`` of it, over the snapshot when that gives the same.

    ``label`` is the progress label of validating the whole estate (counting its files costs a
    walk of the tree, which the fast path does not pay)."""
    env = os.environ
    if options.changed_since is None or options.tenants or options.anchors is not None:
        show(label())
        full = _full(ctx, root, env)
        with ctx.session(root, env, desired=full) as whole:
            return _planned(whole, full, root, options, render, show)
    with ExitStack() as held:
        session: EstateSession | None = None
        try:
            changed, rev = _changed(root, options.changed_since)
            show(f"loading the {len(changed)} changed file(s) since {options.changed_since}")
            desired = _narrowed(ctx, root, env, changed)
            session = held.enter_context(ctx.session(root, env, desired=desired))
            return _fast(session, desired, root, options, changed, rev, render, show)
        except _Abandoned as why:
            reason = str(why)
        except Incomplete as why:
            reason = f"it needs what is not loaded ({why})"
        show(f"{label()} (the full way: {reason})")
        full = _full(ctx, root, env)
        if session is None:
            session = held.enter_context(ctx.session(root, env, desired=full))
        else:  # the same providers, already connected: what they said once is not said again
            ctx.use(session, full)
        return replace(_planned(session, full, root, options, render, show), fallback=reason)


def save_snapshot(ctx: Wiring, root: Path, planned: Planned[T]) -> None:
    """After a full plan: the snapshot for the next --changed-since plan (a no-op when current)."""
    if planned.fast or planned.desired.facts is None:
        return  # the fast path keeps it itself; without facts (no snapshot folder) there is none to keep
    try:
        from ispctl.reconciler.estate import snapshot

        snapshot.save(root, ctx.registry.schema, os.environ, planned.desired)
    except Exception as exc:  # an optimisation of later runs must never fail this one
        output.err().print(f"Note: the snapshot for --changed-since plans was not saved ({type(exc).__name__}: "
                           f"{exc}); this plan is complete, the next --changed-since plan runs the full way.",
                           markup=False, style="dim")


def _full(ctx: Wiring, root: Path, env: Mapping[str, str]) -> Desired:
    """The whole estate, with each file's facts when a snapshot can be kept (a cache folder
    outside the estate's repository, ``snapshot.snapshot_path``)."""
    from ispctl.reconciler.estate.snapshot import snapshot_path

    return ctx.desired(root, env=env, facts=snapshot_path(root, env) is not None)


def _changed(root: Path, ref: str) -> tuple[list[Path], Revision]:
    try:
        return changes(root, ref)
    except IspctlError as exc:  # the full run says it, after validating the estate as it always does
        raise _Abandoned(str(exc)) from None


def _narrowed(ctx: Wiring, root: Path, env: Mapping[str, str], changed: list[Path]) -> Desired:
    from ispctl.reconciler.estate.incremental import Fallback, load_narrowed

    loaded = load_narrowed(root, ctx.registry.schema, env, changed)
    if isinstance(loaded, Fallback):
        raise _Abandoned(loaded.reason)
    return loaded


def _fast(session: EstateSession, desired: Desired, root: Path, options: PlanOptions, changed: list[Path],
          rev: Revision, render: Callable[[Plan], T], show: Progress) -> Planned[T]:
    scope = build_scope(session, root, options, changed)
    if scope.everything:
        raise _Abandoned("the changes reach the whole estate")
    # The anchors as the full plan computes them (same files, same catalog of the changed domains).
    planned = _planned(session, desired, root, replace(options, anchors=scope.anchors), render, show, rev)
    for change in planned.run.plan.changes:
        for resource in (change.before, change.after):
            if resource is not None and is_outline(resource):  # the views read values: never shown
                raise Incomplete(f"{resource.address} is only outlined")
    return replace(planned, fast=True)


def _planned(session: EstateSession, desired: Desired, root: Path, options: PlanOptions,
             render: Callable[[Plan], T], show: Progress, rev: Revision | None = None) -> Planned[T]:
    run = make_plan(session, root, options, progress=show, rev=rev)
    return Planned(run, render(run.plan), desired)
