"""Command bodies: each a small typed function returning an exit code.

They call library functions and send everything through ``reconciler.output``; the
CLI module only parses arguments and calls ``run_command``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import audit, output, sandbox, saved
from .apply import ApplyResult, Outcome
from .engine import Session, load_desired, open_session
from .gitinfo import revision
from .render_markdown import plan_markdown
from .runs import PlanOptions, check_gates, locked, make_plan
from .saved import plan_from_dict
from .daemons import DaemonError, DaemonUnavailable
from .errors import ApprovalRequired, IspctlError
from .plan import Plan
from .render import apply_summary, outcome_text, plan_json, plan_text

PLANS_DIR = Path("plans")
PROGRESS_THRESHOLD = 20


def validate_cmd(root: Path) -> int:
    catalog, desired = load_desired(root)
    counts: dict[str, int] = {}
    for kind, _ in desired:
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
    if fmt == "json":
        output.write_raw(plan_json(plan))
    elif fmt == "markdown":
        output.write_raw(plan_markdown(plan))
    else:
        output.out().print(plan_text(plan))


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        output.err().print(f"Warning: {warning}", markup=False, style="yellow")
    if warnings:
        output.err().print("apply will refuse this plan (protected objects) or need --force (thresholds).",
                           markup=False, style="yellow")


def plan_cmd(root: Path, fmt: str, out: str | None, detailed: bool, options: PlanOptions) -> int:
    with open_session(root) as session:
        run = make_plan(session, root, options)
    plan = run.plan
    if out:
        target = plan_path(out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(plan_json(plan), encoding="utf-8")
        except OSError as exc:
            # A path the operator mistyped is their error to fix, not an internal error.
            raise IspctlError(f"cannot save the plan to {target}: {exc.strerror or exc}") from None
        output.err().print(f"Saved the plan to {target}", markup=False)
    _render(plan, fmt)
    _warn(run.warnings)
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
    output.out().print(
        f"Do you want to perform these actions?{warning}\n  Only 'yes' will be accepted to approve.\n",
        style="bold", markup=False,
    )
    output.out().print("  Enter a value: ", end="", markup=False)
    # A CI job may run with standard input closed (sys.stdin is None): that is no answer.
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if answer.strip() != "yes":
        detail = "no answer on standard input (pass --auto-approve in CI)" if not answer else "the answer was not 'yes'"
        raise ApprovalRequired(f"Apply cancelled: {detail}. Nothing was changed.")


def _report(result: ApplyResult, outcome: Outcome) -> None:
    output.out().print(outcome_text(outcome))


def apply_cmd(root: Path, auto_approve: bool, options: PlanOptions, plan_file: Path | None = None,
              force: bool = False, lock_timeout: float = 0.0) -> int:
    stored = saved.load(plan_file) if plan_file is not None else None
    if stored is not None:
        options = PlanOptions.from_saved(stored.get("meta") or {})
    with open_session(root) as session, locked(session, "apply", revision(root).commit, lock_timeout) as lock_id:
        run = make_plan(session, root, options)
        plan = run.plan
        if stored is not None and plan_file is not None:
            saved.check_fresh(stored, plan, run.revision, run.live, plan_file)
        output.out().print(plan_text(plan))
        if plan.empty:
            return 0
        check_gates(session, run, force)
        # A saved plan was reviewed when it was made: applying it is the approval.
        if not auto_approve and stored is None:
            _approve(plan)
        result = _run_apply(session, plan)
        audit.append(audit.record(plan, result, run.revision, lock_id), audit.log_path())
    output.out().print()
    output.out().print(apply_summary(result))
    return 0 if result.ok else 1


def _run_apply(session: Session, plan: Plan) -> ApplyResult:
    console = output.out()
    if len(plan.changes) >= PROGRESS_THRESHOLD and console.is_terminal:
        columns = (TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("apply", total=len(plan.changes))

            def tick(outcome: Outcome) -> None:
                progress.console.print(outcome_text(outcome))
                progress.advance(task)

            return session.apply(plan, tick)
    return session.apply(plan, lambda o: console.print(outcome_text(o)))


def history_cmd(json_out: bool, limit: int | None) -> int:
    path = audit.log_path()
    entries, bad = audit.read(path, limit)
    if json_out:
        output.write_raw(json.dumps(entries, indent=2, sort_keys=True, ensure_ascii=False))
    elif not entries:
        output.out().print(f"No applies recorded in {path}.", markup=False)
    for entry in [] if json_out else entries:
        output.out().print(audit.describe(entry), markup=False)
    if bad:
        output.err().print(f"Warning: {bad} unreadable line(s) in {path} were skipped.", markup=False, style="yellow")
    return 0


def force_unlock_cmd(root: Path, lock_id: str) -> int:
    with open_session(root) as session:
        backend = next((p for p in session.providers if hasattr(p, "force_unlock")), None)
        if backend is None:
            raise IspctlError("no enabled provider keeps a lock")
        removed = backend.force_unlock(lock_id)  # type: ignore[attr-defined]
    output.out().print(f"Removed {removed}.", markup=False)
    return 0


def sandbox_up_cmd(root: Path) -> int:
    try:
        report = sandbox.up(root)
    except (sandbox.SandboxError, DaemonUnavailable, DaemonError) as exc:
        raise IspctlError(str(exc)) from None
    for name, state in sorted(report["components"].items()):
        url = f" at {state['url']}" if state.get("url") else ""
        output.out().print(f"{name}: {state['action']}{url} (pid {state.get('pid')})", markup=False)
    output.out().print(f'Sandbox is up (data in {root}/). Point ispctl at it with: eval "$(ispctl sandbox env)"', markup=False)
    return 0


def sandbox_down_cmd(root: Path, purge: bool) -> int:
    try:
        sandbox.down(root, purge=purge)
    except sandbox.SandboxError as exc:
        raise IspctlError(str(exc)) from None
    output.out().print("Sandbox stopped." + (" Its data was removed." if purge else ""), markup=False)
    return 0


def sandbox_status_cmd(root: Path) -> int:
    states = sandbox.status(root)["components"]
    running = True
    for name, state in sorted(states.items()):
        running &= bool(state.get("running"))
        where = f" at {state['url']}" if state.get("url") else ""
        pid = f" (pid {state['pid']})" if state.get("pid") else ""
        output.out().print(f"{name}: {'running' if state.get('running') else 'stopped'}{where}{pid}", markup=False)
    return 0 if running else 1


def sandbox_env_cmd(root: Path) -> int:
    try:
        variables = sandbox.env(root)
    except sandbox.SandboxError as exc:
        raise IspctlError(str(exc)) from None
    output.write_raw(sandbox.shell_exports(variables))
    return 0
