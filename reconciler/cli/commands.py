"""The core command bodies: each a small typed function returning an exit code.

They call library functions and send everything through the one output module; ``app``
only parses arguments and hands the body to the one error handler. Services' commands
live in their own packages. What only apply, history, the sandbox and hash-password use (the
audit trail, the replicas' watch, the reviewed plan's check, the estate's identity, the sandbox,
getpass) is imported by the command using it: a plan imports this module and needs none of it
(issue 11; tests/test_plan_imports.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.planning import plan_estate, save_snapshot
from ispctl.reconciler.cli.runs import EXIT_CODES, PlanOptions, check_gates, locked, make_plan, stop_on_signals
from ispctl.reconciler.engine import output, saved
from ispctl.reconciler.engine.apply import ApplyResult, Listener, Outcome, StopCheck
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import revision
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.saved import plan_from_dict
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.estate.passwords import hash_password
from ispctl.reconciler.views.text import OutcomeLines, apply_summary, plan_json, plan_text

if TYPE_CHECKING:
    from ispctl.reconciler.harness.sandbox import Component

PLANS_DIR = Path("plans")
PROGRESS_THRESHOLD = 20


def validate_cmd(ctx: Wiring, root: Path) -> int:
    counts: dict[str, int] = {}
    for kind, _ in ctx.desired(root).resources:
        counts[kind] = counts.get(kind, 0) + 1
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
    output.out().print(f"The desired state in {root} is valid: {detail}.", style="green", markup=False)
    return 0


def plan_path(name: str) -> Path:
    """A bare name is saved under plans/; a path is used as given."""
    path = Path(name)
    if path.parent == Path("."):
        path = PLANS_DIR / path
    return path if path.suffix else path.with_suffix(".json")


def _render(plan: Plan, fmt: str) -> None:
    _shown(plan, fmt)()


def _shown(plan: Plan, fmt: str) -> Callable[[], None]:
    """What showing the plan prints, made now (it reads every value the view shows), printed later."""
    if fmt == "json":
        text = plan_json(plan)
        return lambda: output.write_raw(text)
    if fmt == "markdown":
        from ispctl.reconciler.views.markdown import plan_markdown

        markdown = plan_markdown(plan)
        return lambda: output.write_raw(markdown)
    rich = plan_text(plan)
    return lambda: output.out().print(rich)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        output.err().print(f"Warning: {warning}", markup=False, style="yellow")
    if warnings:
        output.err().print("apply will refuse this plan (protected objects) or need --force (thresholds).",
                           markup=False, style="yellow")


def _validating(root: Path) -> str:
    """The progress label while the estate is read: how many files, so a long wait makes sense."""
    files = 0
    for _folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git, caches
        files += sum(1 for name in names if name.endswith((".yaml", ".yml")) and not name.startswith("."))
    return f"validating {files} files in {root}"


def plan_cmd(ctx: Wiring, root: Path, fmt: str, out: str | None, detailed: bool, options: PlanOptions) -> int:
    def render(plan: Plan) -> tuple[Callable[[], None], str | None]:
        return _shown(plan, fmt), plan_json(plan) if out else None

    with output.progress() as show:
        planned = plan_estate(ctx, root, options, render, show, lambda: _validating(root))
    plan = planned.run.plan
    shown, saved_json = planned.rendered
    if out and saved_json is not None:
        target = plan_path(out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(saved_json, encoding="utf-8")
        except OSError as exc:
            # A path the operator mistyped is their error to fix, not an internal error.
            raise IspctlError(f"cannot save the plan to {target}: {exc.strerror or exc}") from None
        output.err().print(f"Saved the plan to {target}", markup=False)
    shown()
    _warn(planned.run.warnings)
    save_snapshot(ctx, root, planned)
    if detailed and not plan.empty:
        return 2
    return 0


def show_cmd(path: Path, fmt: str) -> int:
    _render(plan_from_dict(saved.load(path)), fmt)
    return 0


def _approve(plan: Plan) -> None:
    destroys = plan.count("delete") - plan.archived
    warning = f" {destroys} object(s) will be DESTROYED." if destroys else ""
    if plan.archived:
        warning += f" {plan.archived} will be archived (kept, not destroyed)."
    output.confirm(f"Do you want to perform these actions?{warning}", "yes", refusal="Apply cancelled",
                   outcome="Nothing was changed.", hint="pass --auto-approve in CI")


def _saved_options(stored: dict[str, Any], options: PlanOptions, reviewed: bool) -> PlanOptions:
    kept = PlanOptions.from_saved(stored.get("meta") or {})
    if reviewed and options.changed_since is not None:
        # The merge's own scope (what it changed), with the reviewed plan's prune and globs.
        return replace(options, prune=kept.prune, targets=kept.targets, excludes=kept.excludes)
    return kept


def apply_cmd(ctx: Wiring, root: Path, auto_approve: bool, options: PlanOptions, plan_file: Path | None = None,
              force: bool = False, lock_timeout: float = 0.0, allow_dirty: bool = False,
              reviewed: Path | None = None, force_reason: str | None = None) -> int:
    from ispctl.reconciler.cli import replicas
    from ispctl.reconciler.cli.identity import estate_identity
    from ispctl.reconciler.cli.reviewed import report as report_review
    from ispctl.reconciler.cli.reviewed import review as review_plan
    from ispctl.reconciler.engine import audit

    if plan_file is not None and reviewed is not None:
        raise IspctlError("pass a saved plan either as PLAN (apply exactly it) or as --reviewed PLAN, not both")
    source = plan_file or reviewed
    stored = saved.load(source) if source is not None else None
    if stored is not None and source is not None:
        saved.check_clean(stored, source, allow_dirty)
        options = _saved_options(stored, options, reviewed is not None)
    context: dict[str, Any] = {"estate": estate_identity(ctx, root), "force": force,
                               "force_reason": force_reason if force else None}
    with ExitStack() as held:
        with output.progress() as show:  # ends before anything is printed or asked
            show(_validating(root))
            session = held.enter_context(ctx.session(root))
            lock = held.enter_context(locked(session, "apply", revision(root).commit, lock_timeout))
            run = make_plan(session, root, options, progress=show)
        if stored is not None and reviewed is not None:
            review = review_plan(session, run, stored)
            report_review(review, reviewed)
            context["reviewed"] = review.record(stored)
            run = replace(run, plan=review.plan)
        elif stored is not None and plan_file is not None:
            saved.check_fresh(stored, run.plan, run.revision, run.live, plan_file)
        plan = run.plan
        site = session.catalog.estate.site
        output.out().print(plan_text(plan))
        if plan.empty:
            return 0
        check_gates(session, run, force)
        # A saved plan was reviewed when it was made: applying it is the approval.
        if not auto_approve and stored is None:
            _approve(plan)
        # The start is on disk before the first write: a killed apply still shows in history.
        trail = audit.Trail(audit.log_path(), plan, run.revision, lock.id if lock else None, context)
        with stop_on_signals(lock) as stop:
            # An exception escaping here (a bug) leaves no end line: history shows the run as interrupted.
            result = _run_apply(session, plan, stop, trail.outcome)
            trail.end(result)
    output.out().print()
    output.out().print(apply_summary(result))
    if result.stopped is not None:
        done = sum(1 for o in result.outcomes if o.status == "ok")
        not_run = sum(1 for o in result.outcomes if o.error and o.error.startswith("not run"))
        output.err().print(f"Apply stopped at a change boundary ({result.stopped}): {done} change(s) done, "
                           f"{not_run} not run (listed above). The lock was released; run apply again to finish.",
                           markup=False, style="bold red")
        return EXIT_CODES.get(result.stopped, 1)
    # With the lock released: waiting for the replicas (cluster.wait) holds no other apply back.
    synced = replicas.after_apply(ctx, site, trail.run_id)
    return (0 if synced else replicas.LAGGING) if result.ok else 1


def _run_apply(session: Session, plan: Plan, stop: StopCheck, also: Listener) -> ApplyResult:
    console = output.out()
    lines = OutcomeLines()  # a reason many changes share is said a few times, then counted
    if len(plan.changes) >= PROGRESS_THRESHOLD and console.is_terminal:
        # rich.progress (~30 ms) only when a bar is drawn: every plan and apply imports this module.
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("apply", total=len(plan.changes))

            def tick(outcome: Outcome) -> None:
                also(outcome)
                shown = lines.line(outcome)
                if shown is not None:
                    progress.console.print(shown)
                progress.advance(task)

            return session.apply(plan, tick, stop=stop)

    def line(outcome: Outcome) -> None:
        also(outcome)
        shown = lines.line(outcome)
        if shown is not None:
            console.print(shown)

    return session.apply(plan, line, stop=stop)


def history_cmd(ctx: Wiring, root: Path, json_out: bool, limit: int | None, every_estate: bool) -> int:
    from ispctl.reconciler.cli.identity import describe as describe_estate
    from ispctl.reconciler.cli.identity import estate_identity, same_estate
    from ispctl.reconciler.engine import audit

    path = audit.log_path()
    entries, bad = audit.read(path)
    hidden = 0
    if not every_estate:
        try:
            estate = estate_identity(ctx, root)
        except IspctlError as exc:
            raise IspctlError(f"{exc}\nhistory shows the applies of the estate in {root} (-d); --all shows every "
                              "estate's") from None
        mine = [e for e in entries if same_estate(e.get("estate"), estate)]
        hidden, entries = len(entries) - len(mine), mine
    entries = entries[:limit] if limit else entries
    if json_out:
        output.write_raw(json.dumps(entries, indent=2, sort_keys=True, ensure_ascii=False))
    elif not entries:
        output.out().print(f"No applies of this estate recorded in {path}." if not every_estate
                           else f"No applies recorded in {path}.", markup=False)
    elif not every_estate:
        output.out().print(f"Applies of {describe_estate(estate)}:", markup=False)
    for entry in [] if json_out else entries:
        output.out().print(audit.describe(entry), markup=False)
    if hidden:
        output.err().print(f"{hidden} apply record(s) of other estates (or from before estates were recorded) are "
                           "not shown; --all shows every record.", markup=False)
    if bad:
        output.err().print(f"Warning: {bad} unreadable line(s) in {path} were skipped.", markup=False, style="yellow")
    return 0


def force_unlock_cmd(ctx: Wiring, root: Path, lock_id: str) -> int:
    with ctx.session(root) as session:
        keeper = session.lock_keeper()
        if keeper is None:
            raise IspctlError("no enabled provider keeps a lock")
        removed = keeper.force_unlock(lock_id)
    output.out().print(f"Removed {removed}.", markup=False)
    return 0


def hash_password_cmd(scheme: str, rounds: int | None) -> int:
    """Hash a password read from a prompt (or stdin when piped); never from argv."""
    import getpass

    if sys.stdin is None:  # started with standard input closed
        raise IspctlError("no password on standard input: pipe it in or run on a terminal")
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise IspctlError("the two passwords differ")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        output.write_raw(hash_password(password, scheme, rounds))
    except ValueError as exc:
        raise IspctlError(str(exc)) from None
    return 0


def sandbox_up_cmd(components: Iterable[Component], root: Path) -> int:
    from ispctl.reconciler.harness import sandbox

    report = sandbox.up(root, components)
    for name, state in sorted(report["components"].items()):
        url = f" at {state['url']}" if state.get("url") else ""
        output.out().print(f"{name}: {state['action']}{url} (pid {state.get('pid')})", markup=False)
    output.out().print(f'Sandbox is up (data in {root}/). Point ispctl at it with: eval "$(ispctl sandbox '
                       'env)"', markup=False)
    return 0


def sandbox_down_cmd(components: Iterable[Component], root: Path, purge: bool) -> int:
    from ispctl.reconciler.harness import sandbox

    sandbox.down(root, components, purge=purge)
    output.out().print("Sandbox stopped." + (" Its data was removed." if purge else ""), markup=False)
    return 0


def sandbox_status_cmd(components: Iterable[Component], root: Path) -> int:
    from ispctl.reconciler.harness import sandbox

    states = sandbox.status(root, components)["components"]
    running = True
    for name, state in sorted(states.items()):
        running &= bool(state.get("running"))
        where = f" at {state['url']}" if state.get("url") else ""
        pid = f" (pid {state['pid']})" if state.get("pid") else ""
        output.out().print(f"{name}: {'running' if state.get('running') else 'stopped'}{where}{pid}", markup=False)
    return 0 if running else 1


def sandbox_env_cmd(components: Iterable[Component], root: Path) -> int:
    from ispctl.reconciler.harness import sandbox

    output.write_raw(sandbox.shell_exports(sandbox.env(root, components)))
    return 0
