"""The ``ispctl`` command line: a thin typer layer over the command bodies.

``build_app`` makes the application for one registry of services: the core commands
(validate, plan, apply, show, history, force-unlock, hash-password, sandbox) and then
whatever each service adds (``render dovecot``, ``archive purge``, ``dkim init`` ...).
Every command parses its arguments and hands one body to the one error handler.

The installed command starts light (issue 11: ``--version`` and ``--help`` well under a
second): this module imports typer and little else; a command's body, and with it the
engine, the estate's models and the services' clients, is imported when the command runs.
The services' own commands are loaded from the registry the first time one is looked up;
the top-level help lists the built-in ones from ``BUILTIN_COMMANDS`` instead, unless plug-ins
are installed (``cli.group``: the top group that does both).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ispctl.reconciler import __version__
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.group import DirOption, ServiceCommands, TopGroup, later_commands, register_later
from ispctl.reconciler.engine import output

if TYPE_CHECKING:
    from ispctl.reconciler.cli.runs import PlanOptions
    from ispctl.reconciler.contract import Registry

Targets = typer.Option([], "--target", help="only changes to addresses matching this glob (repeatable), plus what they "
                                            "need")
Excludes = typer.Option([], "--exclude", help="leave out changes to matching addresses, and what needs them "
                                              "(repeatable)")
Tenants = typer.Option([], "--tenant", help="only this tenant and everything in it (repeatable)")
ChangedSince = typer.Option(None, "--changed-since", help="only tenants and domains whose files changed since this git "
                                                          "ref")
NoPrune = typer.Option(False, "--no-prune", help="leave objects that are not in git alone")
FormatOption = typer.Option("human", "--format", "-f", help="human, json or markdown (a pull-request comment)")
def _format(fmt: str, json_out: bool) -> str:
    chosen = "json" if json_out else fmt
    if chosen not in ("human", "json", "markdown"):
        raise typer.BadParameter(f"--format must be human, json or markdown, not {fmt!r}")
    return chosen


def _options(no_prune: bool, target: list[str], exclude: list[str], tenant: list[str],
             changed_since: str | None) -> PlanOptions:
    from ispctl.reconciler.cli.runs import PlanOptions

    return PlanOptions(prune=not no_prune, targets=tuple(target), excludes=tuple(exclude), tenants=tuple(tenant),
                       changed_since=changed_since)


def _print_version(value: bool) -> None:
    # Eager, so `ispctl --version` works without a command (click would ask for one first).
    if value:
        output.write_raw(f"ispctl {__version__}")
        raise typer.Exit(0)


def build_app(registry: Registry | None = None) -> typer.Typer:
    """The command line for these services; by default the installed ones, loaded when needed."""
    ctx = Wiring(registry)
    # A class per application: typer makes the click group itself, from the class alone.
    group: type[TopGroup] = type("IspctlGroup", (TopGroup,), {"services": ctx if registry is None else None})
    app = typer.Typer(cls=group, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                      help="ISP services as code: plan and apply tenants, domains and mailboxes.")
    _core(app, ctx)
    _plan_apply(app, ctx)
    _admin(app, ctx)
    if registry is not None:
        from ispctl.reconciler.cli import lookup, provision

        register_later(app, ctx)  # sandbox, show, list, find, the provisioning commands, status, man, schema
        services = ServiceCommands(app, ctx)
        for service in registry:
            if service.commands is not None:
                service.commands(services)
        lookup.register_reports(services._groups, ctx, DirOption)  # report usage
        provision.register_editables(services.group, ctx, registry)
    else:
        # Those of ``register_later`` too, registered when one of them is looked up (``group.LATER_COMMANDS``).
        group.deferred = later_commands(app)
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
    def validate(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print every problem as JSON (file, line, column, field, "
                                                            "message, code) on stdout"),
    ) -> None:
        """Check the desired state without touching anything."""
        if json_out:
            from ispctl.reconciler.cli import tools

            ctx.run(lambda: tools.validate_json_cmd(ctx, dir))
            return
        from ispctl.reconciler.cli import commands as cmd
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
        from ispctl.reconciler.cli import commands as cmd
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
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.apply_cmd(ctx, ctx.root(dir), auto_approve, options, plan_file, force, lock_timeout,
                                      allow_dirty, reviewed, force_reason))


def _admin(app: typer.Typer, ctx: Wiring) -> None:
    @app.command()
    def history(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the records as JSON"),
        limit: int | None = typer.Option(20, "--limit", help="newest N records (0 = all)"),
        every_estate: bool = typer.Option(False, "--all", help="every estate's applies, not only this one's"),
    ) -> None:
        """Past applies of this estate from the audit trail ($ISPCTL_AUDIT_LOG), newest first."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.history_cmd(ctx, ctx.root(dir), json_out, limit or None, every_estate))

    @app.command("force-unlock")
    def force_unlock(
        lock_id: str = typer.Argument(..., metavar="LOCK_ID", help="the id a refused apply printed"),
        dir: Path | None = DirOption,
    ) -> None:
        """Remove a stale apply lock (only the one with this id)."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.force_unlock_cmd(ctx, ctx.root(dir), lock_id))

    @app.command("hash-password")
    def hash_password(
        scheme: str = typer.Option("sha512", help="sha512 ({CRYPT}$6$) or bcrypt ({CRYPT}$2y$)"),
        rounds: int | None = typer.Option(None, help="cost: SHA-512 rounds or bcrypt log2 cost"),
    ) -> None:
        """Hash a password read from a prompt (or stdin when piped); never from argv."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.hash_password_cmd(scheme, rounds))


# The command line is the one place that wires the registry's services in.
app = build_app()


def main() -> None:
    """The console script: one command, then the process ends."""
    # The cyclic collector looks at the young objects every 50,000 allocations instead of 700.
    # A command's start (the command line's values through pydantic, its modules' classes and
    # models) makes thousands of objects that live as long as the process, and it walked them
    # again and again (~10 ms of a --changed-since plan's ~0.7 s); what makes the most objects
    # after that pauses it anyway (``engine.heap``).
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    # ispctl takes no pydantic plug-ins: pydantic looks for them (a scan of every installed
    # distribution's entry points, ~5 ms) as it builds the first model, unless told not to.
    # Setting the variable (even empty) looks for them again.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    finally:
        # The interpreter's own shutdown runs full cyclic collections that walk every object
        # still alive: after a plan at 10,000 mailboxes (the estate, the live state, the
        # plan) that was ~0.2 s of CPU for garbage nobody waits for. Frozen objects are not
        # walked; they are still freed by reference counting as modules are torn down, and
        # the command's own work (sessions, files, locks) is closed by its with-blocks already.
        gc.freeze()
