"""The top command group (reconciler/cli/group.py): the built-in services' commands listed from
an index that matches the registry, and core commands made only when looked up, with every help
the same as an application built eagerly from the registry."""

from __future__ import annotations

import pytest
import typer.main
from typer._click.core import Context
from typer.core import TyperGroup
from typer.testing import CliRunner

from ispctl.providers import registry
from ispctl.reconciler import contract
from ispctl.reconciler.cli import app as cli
from ispctl.reconciler.cli import group
from ispctl.reconciler.cli.context import Wiring
from tests.wiring import REGISTRY


def _listing(top: TyperGroup) -> list[tuple[str, str, bool]]:
    ctx = Context(top, info_name="ispctl")
    commands = [(name, top.get_command(ctx, name)) for name in top.list_commands(ctx)]
    return [(name, group.first_paragraph(cmd), isinstance(cmd, TyperGroup)) for name, cmd in commands if cmd]



def test_the_index_is_what_the_registry_adds() -> None:
    eager = typer.main.get_command(cli.build_app(REGISTRY))
    core = set(typer.main.get_command(cli.build_app(registry.Registry())).commands)
    assert isinstance(eager, TyperGroup)
    added = tuple(entry for entry in _listing(eager) if entry[0] not in core)
    assert added == group.BUILTIN_COMMANDS, f"BUILTIN_COMMANDS in reconciler/cli/group.py should be {added!r}"


def test_the_lazy_help_is_the_eager_help() -> None:
    runner = CliRunner()
    eager = runner.invoke(cli.build_app(REGISTRY), ["--help"], env={"NO_COLOR": "1", "COLUMNS": "120"})
    lazy = runner.invoke(cli.build_app(), ["--help"], env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert eager.exit_code == lazy.exit_code == 0
    assert lazy.stdout == eager.stdout


def test_a_core_command_is_made_only_when_looked_up() -> None:
    top = typer.main.get_command(cli.build_app())
    assert isinstance(top, TyperGroup) and top.commands == {}
    plan = top.get_command(Context(top, info_name="ispctl"), "plan")
    assert plan is not None and list(top.commands) == ["plan"]
    # Nor are the modules of the others registered (tests/test_plan_imports.py: nor imported).
    assert top.deferred is not None and [name for name, _ in group.LATER_COMMANDS if top.deferred[name]] == []


def test_the_later_index_is_what_their_modules_register() -> None:
    app = typer.Typer()
    group.register_later(app, Wiring(None))
    found = group.deferred_commands(app)
    registered = tuple((name, bool(one and one.registered_groups)) for name, one in found.items())
    assert registered == group.LATER_COMMANDS, f"LATER_COMMANDS in reconciler/cli/group.py should be {registered!r}"


@pytest.mark.parametrize("words", [["plan"], ["hash-password"], ["sandbox"], ["sandbox", "up"], ["tenant"],
                                   ["mailbox", "add"], ["show"], ["status"]])
def test_each_lazy_core_commands_help_is_the_eager_help(words: list[str]) -> None:
    runner = CliRunner()
    env = {"NO_COLOR": "1", "COLUMNS": "120"}
    eager = runner.invoke(cli.build_app(REGISTRY), [*words, "--help"], env=env)
    lazy = runner.invoke(cli.build_app(), [*words, "--help"], env=env)
    assert eager.exit_code == lazy.exit_code == 0
    assert lazy.stdout == eager.stdout


def test_a_mistyped_command_is_still_told_the_core_commands_it_resembles() -> None:
    typo = CliRunner().invoke(cli.build_app(), ["plna"], env={"NO_COLOR": "1"})
    assert typo.exit_code == 1 and "Did you mean 'plan'?" in typo.stderr


def test_services_commands_run_through_the_lazy_application() -> None:
    runner = CliRunner()
    app = cli.build_app()
    render = runner.invoke(app, ["render", "--help"], env={"NO_COLOR": "1"})
    assert render.exit_code == 0 and "dovecot" in render.stdout
    passwd = runner.invoke(app, ["passwd", "--help"], env={"NO_COLOR": "1"})
    assert passwd.exit_code == 0 and "--dir" in passwd.stdout
    unknown = runner.invoke(app, ["no-such-command"], env={"NO_COLOR": "1"})
    assert unknown.exit_code == 1 and "No such command" in unknown.stderr


def test_the_dir_option_is_the_contracts() -> None:
    ours, theirs = group.DirOption, contract.DirOption
    assert (ours.default, ours.param_decls, ours.help) == (theirs.default, theirs.param_decls, theirs.help)
    assert group.PLUGIN_GROUP == registry.ENTRY_POINT_GROUP
