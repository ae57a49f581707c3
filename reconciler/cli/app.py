"""The ``ispctl`` command line: a thin typer layer over the command bodies.

``build_app`` makes the application for one registry of services: the core commands
(validate, plan, apply, show, history, force-unlock, hash-password, sandbox) and then
whatever each service adds (``render dovecot``, ``archive purge``, ``dkim init`` ...).
Every command parses its arguments and hands one body to the one error handler.

The installed command starts light (issue 11: ``--version`` and ``--help`` well under a
second): this module imports typer and little else; a command's body, and with it the
engine, the estate's models and the services' clients, is imported when the command runs.
The services' own commands are loaded from the registry the first time one is looked up;
the top-level help lists the built-in ones from ``BUILTIN_COMMANDS`` instead (kept equal
to what the registry adds by ``tests/test_cli_startup.py``), unless plug-ins are installed.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

# typer carries its own copy of click: its usage errors are these, not the click package's.
from typer._click.core import Command, Context
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperCommand, TyperGroup

from ispctl.reconciler import __version__
from ispctl.reconciler.cli import lookup, provision, sandbox, status, tools
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.conventions import (
    completion_shell,
    conventional,
    global_options,
    help_without_type,
    hoist,
)
from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import IspctlError

if TYPE_CHECKING:
    from typer._click.formatting import HelpFormatter

    from ispctl.reconciler.cli.runs import PlanOptions
    from ispctl.reconciler.contract import CommandContext, Registry

# The built-in services' top-level commands in registration order: (name, first paragraph of
# its help, is a group). Only the top-level --help reads it; running any of them loads the
# registry. A test fails with the list to paste here when a service's commands change.
BUILTIN_COMMANDS: tuple[tuple[str, str, bool], ...] = (
    ("passwd", "Set a mailbox's password in the directory (read from a prompt, or one line of stdin).", False),
    ("render", "Render configuration files that make servers read the directory.", True),
    ("archive", "The mail archive: mail of removed mailboxes (list, purge).", True),
    ("report", "Reports from the live services.", True),
    ("dkim", "DKIM keys of mail domains (made only by these commands, never by plan or apply).", True),
    ("import", "Adopt existing services: write desired state from what is live.", True),
    ("record",
     "Edit the DNS records of one name (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS as fields) in the desired state.", True),
    ("site", "Edit a web site (docroot, PHP, HTTPS, redirects, protected paths) in the desired state.", True),
    ("access", "Edit a dial-up/DSL/VPN access account (login <name>@<domain>) in the desired state.", True),
    ("ftp-site",
     "Edit the FTP owner login of a web site (password hash, quota, bandwidth) in the desired state.", True),
)
# ``registry.ENTRY_POINT_GROUP``, named here so that looking for plug-ins loads no service.
PLUGIN_GROUP = "ispctl.services"
# The same option as ``contract.DirOption`` (a test keeps them equal), without importing the contract.
DirOption: Any = typer.Option(
    None, "--dir", "-d", help="desired-state folder [default: $ISPCTL_DESIRED_STATE or ./desired-state]")
Targets = typer.Option([], "--target", help="only changes to addresses matching this glob (repeatable), plus what they "
                                            "need")
Excludes = typer.Option([], "--exclude", help="leave out changes to matching addresses, and what needs them "
                                              "(repeatable)")
Tenants = typer.Option([], "--tenant", help="only this tenant and everything in it (repeatable)")
ChangedSince = typer.Option(None, "--changed-since", help="only tenants and domains whose files changed since this git "
                                                          "ref")
NoPrune = typer.Option(False, "--no-prune", help="leave objects that are not in git alone")
FormatOption = typer.Option("human", "--format", "-f", help="human, json or markdown (a pull-request comment)")
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
    from ispctl.reconciler.cli.runs import PlanOptions

    return PlanOptions(prune=not no_prune, targets=tuple(target), excludes=tuple(exclude), tenants=tuple(tenant),
                       changed_since=changed_since)


def first_paragraph(command: Command) -> str:
    """What the top-level help shows of a command (as typer's rich help takes it)."""
    return inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()


class _Group(TyperGroup):
    """The top command group: a usage error (unknown option, missing argument, no such
    command) exits 1 like every other error, because 2 means only "changes present"
    (``plan --detailed-exitcode``) and CI scripts branch on it. Subcommands and service
    groups are parsed inside ``invoke``, so this one place covers them all. So are the
    conventions (``conventions``): every command it hands out gets them, and its own options
    are accepted after the subcommand too.

    With ``services`` set (the installed registry, loaded lazily), the services' commands join
    the core ones the first time any of them is looked up."""

    services: Wiring | None = None  # set on a subclass by build_app(); None: all commands added eagerly
    # Set with ``services``: each core command (or group) in a Typer of its own, made into a
    # click command only when looked up. typer building all 19 (inspect.signature and
    # get_type_hints of every function) was ~20 ms of every run that needs one.
    deferred: dict[str, typer.Typer] | None = None
    _loaded: dict[str, Command] | None = None
    _plugins: bool | None = None
    _listing_help = False
    completion_shell: str | None = None  # the shell --show/--install-completion named, this run
    get_help_option = help_without_type

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: object) -> Context:
        try:
            if parent is None:
                conventional(self, ())
                args, self.completion_shell = completion_shell(args)
                args = hoist(args, global_options(self))
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

    def _service_commands(self) -> dict[str, Command]:
        if self.services is None:
            return {}
        if self._loaded is None:
            extra = typer.Typer()
            commands = _Commands(extra, self.services)
            try:
                registry = self.services.registry
            except IspctlError as exc:  # a broken plug-in: one message, not a traceback
                raise ClickException(str(exc)) from None
            for service in registry:
                if service.commands is not None:
                    service.commands(commands)
            lookup.register_reports(commands._groups, self.services, DirOption)  # report usage
            provision.register_editables(commands.group, self.services, registry)  # services' objects
            self._loaded = dict(typer.main.get_group(extra).commands) if commands.added else {}
        return self._loaded

    def _from_index(self) -> bool:
        # Only the top-level help, only before anything loaded the registry, only without plug-ins.
        if self.services is None or not self._listing_help or self._loaded is not None:
            return False
        if self._plugins is None:
            # Imported here: importlib.metadata is a good part of what `ispctl --version` would import.
            from importlib.metadata import entry_points

            self._plugins = bool(entry_points(group=PLUGIN_GROUP))
        return not self._plugins

    def _core(self, ctx: Context) -> list[tuple[str, bool]]:
        if self.deferred is None:
            return [(name, isinstance(self.commands[name], TyperGroup)) for name in super().list_commands(ctx)]
        return [(name, bool(one.registered_groups)) for name, one in self.deferred.items()]

    def _core_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and self.deferred is not None and cmd_name in self.deferred:
            found = self.commands[cmd_name] = typer.main.get_group(self.deferred[cmd_name]).commands[cmd_name]
        return found

    def list_commands(self, ctx: Context) -> list[str]:
        listed = self._core(ctx)
        core = [name for name, _ in listed]
        if self._from_index():
            added = [(name, group) for name, _, group in BUILTIN_COMMANDS]
        else:
            added = [(name, isinstance(cmd, TyperGroup)) for name, cmd in self._service_commands().items()]
        # typer's own order: every command, then every group; core before services in each.
        groups = {name for name, group in listed if group}
        return ([n for n in core if n not in groups] + [n for n, g in added if not g]
                + [n for n in core if n in groups] + [n for n, g in added if g])

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = self._find(ctx, cmd_name)
        if found is None:  # a typo: "Did you mean ...?" looks among the core commands made
            for name in self.deferred or ():
                self._core_command(ctx, name)
        return conventional(found, (cmd_name,)) if found is not None else None

    def _find(self, ctx: Context, cmd_name: str) -> Command | None:
        found = self._core_command(ctx, cmd_name)
        if found is not None or self.services is None:
            return found
        if self._from_index():
            entry = next((e for e in BUILTIN_COMMANDS if e[0] == cmd_name), None)
            return TyperCommand(cmd_name, help=entry[1]) if entry is not None else None
        return self._service_commands().get(cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing_help = False


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
        self.added = False  # typer cannot make a group of nothing

    @property
    def context(self) -> CommandContext:
        return self._context

    def command(self, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        self.added = True
        return self._app.command(name)

    def group(self, name: str, help: str) -> typer.Typer:
        self.added = True
        if name not in self._groups:
            sub = typer.Typer(no_args_is_help=True, help=SHARED_GROUPS.get(name, help))
            self._app.add_typer(sub, name=name)
            self._groups[name] = sub
        return self._groups[name]


def build_app(registry: Registry | None = None) -> typer.Typer:
    """The command line for these services; by default the installed ones, loaded when needed."""
    ctx = Wiring(registry)
    # A class per application: typer makes the click group itself, from the class alone.
    group: type[_Group] = type("IspctlGroup", (_Group,), {"services": ctx if registry is None else None})
    app = typer.Typer(cls=group, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                      help="ISP services as code: plan and apply tenants, domains and mailboxes.")
    _core(app, ctx)
    _plan_apply(app, ctx)
    _admin(app, ctx)
    sandbox.register(app, ctx)
    lookup.register(app, ctx, DirOption)  # show (objects and saved plans), list, find
    provision.register(app, ctx)  # tenant, domain, mailbox, alias, forward, batch
    status.register(app, ctx, DirOption)  # status: hosts, replicas, last apply
    tools.register(app, ctx)
    if registry is not None:
        services = _Commands(app, ctx)
        for service in registry:
            if service.commands is not None:
                service.commands(services)
        lookup.register_reports(services._groups, ctx, DirOption)  # report usage
        provision.register_editables(services.group, ctx, registry)
    else:
        group.deferred = _deferred(app)
    return app


def _deferred(app: typer.Typer) -> dict[str, typer.Typer]:
    """``app``'s commands, then its groups (typer's order), each moved to a Typer of its own."""
    found: dict[str, typer.Typer] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        found[command.name or typer.main.get_command_name(command.callback.__name__)] = one = typer.Typer()
        one.registered_commands.append(command)
    for group in app.registered_groups:
        assert isinstance(group.name, str)  # a group without a name would merge into the top one
        found[group.name] = one = typer.Typer()
        one.registered_groups.append(group)
    app.registered_commands, app.registered_groups = [], []
    return found


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
    try:
        app()
    finally:
        # The interpreter's own shutdown runs full cyclic collections that walk every object
        # still alive: after a plan at 10,000 mailboxes (the estate, the live state, the
        # plan) that was ~0.2 s of CPU for garbage nobody waits for. Frozen objects are not
        # walked; they are still freed by reference counting as modules are torn down, and
        # the command's own work (sessions, files, locks) is closed by its with-blocks already.
        gc.freeze()
