"""The top command group of ``ispctl`` (``app.build_app`` makes one per application).

It exits 1 on usage errors, hands every command out with the conventions, makes the core
commands into click commands only when they are looked up, and loads the services' commands
from the registry the first time one is (the top-level help lists the built-in ones from
``BUILTIN_COMMANDS``, kept equal to what the registry adds by ``tests/test_group.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

# typer carries its own copy of click: its usage errors are these, not the click package's.
from typer._click.core import Command, Context
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperCommand, TyperGroup

from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.cli.conventions import (
    completion_shell,
    conventional,
    global_options,
    help_without_type,
    hoist,
)
from ispctl.reconciler.engine.errors import IspctlError

if TYPE_CHECKING:
    from typer._click.formatting import HelpFormatter

    from ispctl.reconciler.contract import CommandContext

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
# The core commands that modules of their own register (``register_later``), in typer's order (its
# commands, then its groups): (name, is a group). The installed command line imports those modules
# the first time one of these is looked up, so that a plan imports none of them (issue 11);
# tests/test_group.py keeps this equal to what they register.
LATER_COMMANDS: tuple[tuple[str, bool], ...] = (
    ("show", False), ("list", False), ("find", False), ("batch", False), ("status", False), ("man", False),
    ("schema", False), ("sandbox", True), ("tenant", True), ("domain", True), ("mailbox", True), ("alias", True),
    ("forward", True),
)
# ``registry.ENTRY_POINT_GROUP``, named here so that looking for plug-ins loads no service.
PLUGIN_GROUP = "ispctl.services"
# The same option as ``contract.DirOption`` (a test keeps them equal), without importing the contract.
DirOption: Any = typer.Option(
    None, "--dir", "-d", help="desired-state folder [default: $ISPCTL_DESIRED_STATE or ./desired-state]")
# The groups several services add to; a service that needs another group makes it.
SHARED_GROUPS = {
    "render": "Render configuration files that make servers read the directory.",
    "report": "Reports from the live services.",
    "import": "Adopt existing services: write desired state from what is live.",
}


def register_later(app: typer.Typer, ctx: Wiring) -> None:
    """The core commands of ``LATER_COMMANDS`` on ``app``: the sandbox, the helpdesk's reads, the
    provisioning commands, status and the tools (their modules imported here)."""
    from ispctl.reconciler.cli import lookup, provision, sandbox, status, tools

    sandbox.register(app, ctx)
    lookup.register(app, ctx, DirOption)  # show (objects and saved plans), list, find
    provision.register(app, ctx)  # tenant, domain, mailbox, alias, forward, batch
    status.register(app, ctx, DirOption)  # status: hosts, replicas, last apply
    tools.register(app, ctx)


def first_paragraph(command: Command) -> str:
    """What the top-level help shows of a command (as typer's rich help takes it)."""
    return inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()


class TopGroup(TyperGroup):
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
    # get_type_hints of every function) was ~20 ms of every run that needs one. The commands of
    # ``LATER_COMMANDS`` are None here until one of them is looked up (``_core_command``).
    deferred: dict[str, typer.Typer | None] | None = None
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
            commands = ServiceCommands(extra, self.services)
            try:
                registry = self.services.registry
            except IspctlError as exc:  # a broken plug-in: one message, not a traceback
                raise ClickException(str(exc)) from None
            for service in registry:
                if service.commands is not None:
                    service.commands(commands)
            from ispctl.reconciler.cli import lookup, provision

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
        later = dict(LATER_COMMANDS)
        return [(name, later[name] if one is None else bool(one.registered_groups))
                for name, one in self.deferred.items()]

    def _core_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and self.deferred is not None and cmd_name in self.deferred:
            one = self.deferred[cmd_name]
            if one is None:
                assert self.services is not None
                later = typer.Typer()
                register_later(later, self.services)
                self.deferred.update(deferred_commands(later))  # same keys: the order stays
                one = self.deferred[cmd_name]
                assert one is not None, f"{cmd_name} is in LATER_COMMANDS, not registered by register_later"
            found = self.commands[cmd_name] = typer.main.get_group(one).commands[cmd_name]
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


class ServiceCommands:
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


def deferred_commands(app: typer.Typer) -> dict[str, typer.Typer | None]:
    """``app``'s commands, then its groups (typer's order), each moved to a Typer of its own."""
    found: dict[str, typer.Typer | None] = {}
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


def later_commands(app: typer.Typer) -> dict[str, typer.Typer | None]:
    """``deferred_commands`` of ``app`` and the names of ``LATER_COMMANDS``, in typer's order: the
    core commands ``build_app`` registered itself come first in their kind (commands, groups)."""
    core = deferred_commands(app)
    listed: list[tuple[str, bool]] = [(name, bool(one and one.registered_groups)) for name, one in core.items()]
    listed += LATER_COMMANDS
    return {name: core.get(name) for group in (False, True) for name, is_group in listed if is_group == group}
