"""The ``ispctl`` command line: a thin typer layer over the command bodies.

``build_app`` makes the application for one registry of services: the core commands
(validate, plan, apply, show, history, force-unlock, hash-password, sandbox) and then
whatever each service adds (``render dovecot``, ``archive purge``, ``dkim init`` ...).
Every command parses its arguments and hands one body to the one error handler.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

# typer carries its own copy of click: its usage errors are these, not the click package's.
from typer._click.core import Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from ispctl.providers.registry import services
from ispctl.reconciler import __version__
from ispctl.reconciler.cli import commands as cmd
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.runs import PlanOptions
from ispctl.reconciler.contract import CommandContext, DirOption, Registry
from ispctl.reconciler.engine import output

Targets = typer.Option([], "--target", help="only changes to addresses matching this glob (repeatable), plus what they "
                                            "need")
Excludes = typer.Option([], "--exclude", help="leave out changes to matching addresses, and what needs them "
                                              "(repeatable)")
Tenants = typer.Option([], "--tenant", help="only this tenant and everything in it (repeatable)")
ChangedSince = typer.Option(None, "--changed-since", help="only tenants and domains whose files changed since this git "
                                                          "ref")
NoPrune = typer.Option(False, "--no-prune", help="leave objects that are not in git alone")
FormatOption = typer.Option("human", "--format", "-f", help="human, json or markdown (a pull-request comment)")
SandboxRoot = typer.Option(Path(".sandbox"), "--root", help="where the sandbox keeps its data")
# The groups several services add to; a service that needs another group makes it.
SHARED_GROUPS = {
    "render": "Render configuration files that make servers read the directory.",
    "report": "Reports from the live services.",
    "import": "Adopt existing services: write desired state from what is live.",
}


def _format(fmt: str, json_out: bool) -> str:
    chosen = "json" if json_out else fmt
    if chosen not in ("human", "json", "markdown"):
        raise typer.BadParameter(f"--format must be human, json or markdown, not {fmt!r}")
    return chosen


def _options(no_prune: bool, target: list[str], exclude: list[str], tenant: list[str],
             changed_since: str | None) -> PlanOptions:
    return PlanOptions(prune=not no_prune, targets=tuple(target), excludes=tuple(exclude), tenants=tuple(tenant),
                       changed_since=changed_since)


class _Group(TyperGroup):
    """The top command group: a usage error (unknown option, missing argument, no such
    command) exits 1 like every other error, because 2 means only "changes present"
    (``plan --detailed-exitcode``) and CI scripts branch on it. Subcommands and service
    groups are parsed inside ``invoke``, so this one place covers them all."""

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: object) -> Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx: Context) -> object:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = 1
            raise


def _print_version(value: bool) -> None:
    # Eager, so `ispctl --version` works without a command (click would ask for one first).
    if value:
        output.write_raw(f"ispctl {__version__}")
        raise typer.Exit(0)


class _Commands:
    """Where services add their commands (``contract.Commands``)."""

    def __init__(self, app: typer.Typer, context: Wiring) -> None:
        self._app = app
        self._context = context
        self._groups: dict[str, typer.Typer] = {}

    @property
    def context(self) -> CommandContext:
        return self._context

    def command(self, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        return self._app.command(name)

    def group(self, name: str, help: str) -> typer.Typer:
        if name not in self._groups:
            sub = typer.Typer(no_args_is_help=True, help=SHARED_GROUPS.get(name, help))
            self._app.add_typer(sub, name=name)
            self._groups[name] = sub
        return self._groups[name]


def build_app(registry: Registry) -> typer.Typer:
    """The command line for these services."""
    ctx = Wiring(registry)
    app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True,
                      help="ISP services as code: plan and apply tenants, domains and mailboxes.")
    _core(app, ctx)
    _plan_apply(app, ctx)
    _admin(app, ctx)
    _sandbox(app, ctx)
    services = _Commands(app, ctx)
    for service in registry:
        if service.commands is not None:
            service.commands(services)
    return app


def _core(app: typer.Typer, ctx: Wiring) -> None:
    @app.callback()
    def main_options(
        no_color: bool = typer.Option(False, "--no-color", help="plain output even on a terminal"),
        version: bool = typer.Option(False, "--version", help="print the version and exit",
                                     callback=_print_version, is_eager=True),
        errors: str = typer.Option("human", "--errors", help="human, or github: also state each error as a GitHub "
                                                             "Actions annotation (::error file=,line=,col=::)"),
    ) -> None:
        if errors not in ("human", "github"):
            raise typer.BadParameter(f"--errors must be human or github, not {errors!r}")
        output.configure(no_color=no_color)
        output.set_annotations(errors == "github")

    @app.command()
    def validate(dir: Path | None = DirOption) -> None:
        """Check the desired state without touching anything."""
        ctx.run(lambda: cmd.validate_cmd(ctx, ctx.root(dir)))



def _plan_apply(app: typer.Typer, ctx: Wiring) -> None:
    @app.command()
    def plan(
        dir: Path | None = DirOption,
        fmt: str = FormatOption,
        json_out: bool = typer.Option(False, "--json", help="same as --format json (secrets masked)"),
        out: str | None = typer.Option(None, "--out", "-o", help="also save the plan for `ispctl apply PLAN`; a bare "
                                                                 "name goes to plans/"),
        detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 0 no changes, 2 changes, 1 "
                                                                                  "error"),
        no_prune: bool = NoPrune,
        target: list[str] = Targets,
        exclude: list[str] = Excludes,
        tenant: list[str] = Tenants,
        changed_since: str | None = ChangedSince,
    ) -> None:
        """Show what apply would change. Never writes to any service."""
        chosen = _format(fmt, json_out)
        options = _options(no_prune, target, exclude, tenant, changed_since)
        ctx.run(lambda: cmd.plan_cmd(ctx, ctx.root(dir), chosen, out, detailed_exitcode, options))

    @app.command()
    def apply(
        plan_file: Path | None = typer.Argument(None, metavar="[PLAN]", help="a plan saved by `plan --out`: apply "
                                                                             "exactly it, or refuse if stale"),
        dir: Path | None = DirOption,
        auto_approve: bool = typer.Option(False, "--auto-approve", help="apply without asking (CI); destroys included"),
        force: bool = typer.Option(False, "--force", help="allow plans over the change thresholds (never protected "
                                                          "objects)"),
        lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="seconds to wait for another apply's lock"),
        allow_dirty: bool = typer.Option(False, "--allow-dirty", help="apply a saved plan made from uncommitted "
                                                                      "files (refused by default)"),
        reviewed: Path | None = typer.Option(None, "--reviewed", metavar="PLAN", help="plan again in the scope of "
                                             "this reviewed plan (or --changed-since) and apply only the changes it "
                                             "reviewed; report the others"),
        force_reason: str | None = typer.Option(None, "--force-reason", help="why --force was given (the audit "
                                                                             "trail records it)"),
        no_prune: bool = NoPrune,
        target: list[str] = Targets,
        exclude: list[str] = Excludes,
        tenant: list[str] = Tenants,
        changed_since: str | None = ChangedSince,
    ) -> None:
        """Show the plan, ask for approval, and make the live services match it."""
        options = _options(no_prune, target, exclude, tenant, changed_since)
        ctx.run(lambda: cmd.apply_cmd(ctx, ctx.root(dir), auto_approve, options, plan_file, force, lock_timeout,
                                      allow_dirty, reviewed, force_reason))

    @app.command()
    def show(
        plan_file: Path = typer.Argument(..., metavar="PLAN", help="a plan saved by `plan --out`"),
        fmt: str = FormatOption,
        json_out: bool = typer.Option(False, "--json", help="same as --format json"),
    ) -> None:
        """Render a saved plan (checksum verified) as text, JSON or Markdown."""
        chosen = _format(fmt, json_out)
        ctx.run(lambda: cmd.show_cmd(plan_file, chosen))



def _admin(app: typer.Typer, ctx: Wiring) -> None:
    @app.command()
    def history(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the records as JSON"),
        limit: int | None = typer.Option(20, "--limit", help="newest N records (0 = all)"),
        every_estate: bool = typer.Option(False, "--all", help="every estate's applies, not only this one's"),
    ) -> None:
        """Past applies of this estate from the audit trail ($ISPCTL_AUDIT_LOG), newest first."""
        ctx.run(lambda: cmd.history_cmd(ctx, ctx.root(dir), json_out, limit or None, every_estate))

    @app.command("force-unlock")
    def force_unlock(
        lock_id: str = typer.Argument(..., metavar="LOCK_ID", help="the id a refused apply printed"),
        dir: Path | None = DirOption,
    ) -> None:
        """Remove a stale apply lock (only the one with this id)."""
        ctx.run(lambda: cmd.force_unlock_cmd(ctx, ctx.root(dir), lock_id))

    @app.command("hash-password")
    def hash_password(
        scheme: str = typer.Option("sha512", help="sha512 ({CRYPT}$6$) or bcrypt ({CRYPT}$2y$)"),
        rounds: int | None = typer.Option(None, help="cost: SHA-512 rounds or bcrypt log2 cost"),
    ) -> None:
        """Hash a password read from a prompt (or stdin when piped); never from argv."""
        ctx.run(lambda: cmd.hash_password_cmd(scheme, rounds))


def _sandbox(app: typer.Typer, ctx: Wiring) -> None:
    group = typer.Typer(no_args_is_help=True, help="A local sandbox of real services on loopback (data in .sandbox/).")
    app.add_typer(group, name="sandbox")
    components = ctx.registry.components

    @group.command("up")
    def sandbox_up(root: Path = SandboxRoot) -> None:
        """Start the sandbox services on loopback (idempotent)."""
        ctx.run(lambda: cmd.sandbox_up_cmd(components(), root))

    @group.command("down")
    def sandbox_down(root: Path = SandboxRoot, purge: bool = typer.Option(False, help="also delete the sandbox "
                                                                                      "data")) -> None:
        """Stop the sandbox services."""
        ctx.run(lambda: cmd.sandbox_down_cmd(components(), root, purge))

    @group.command("status")
    def sandbox_status(root: Path = SandboxRoot) -> None:
        """Show whether the sandbox services run."""
        ctx.run(lambda: cmd.sandbox_status_cmd(components(), root))

    @group.command("env")
    def sandbox_env(root: Path = SandboxRoot) -> None:
        """Print shell exports for the sandbox: eval "$(ispctl sandbox env)"."""
        ctx.run(lambda: cmd.sandbox_env_cmd(components(), root))


# The command line is the one place that wires the registry's services in.
app = build_app(services())


def main() -> None:
    app()
