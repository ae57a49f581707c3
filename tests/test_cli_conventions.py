"""Every command, whoever registered it, behaves the way people expect of a command line.

The tree is walked through the installed application (the lazy one the console script
runs, services' commands included), so a command a service or another module adds later
is checked without being named here: ``-h``, a metavar instead of a Python type, an
example, usage errors exiting 1, the global options accepted after it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from ldap_helpers import EXAMPLE, copy_example, edit_yaml, run_cli
from typer._click.core import Command, Context
from typer.core import TyperGroup, TyperOption

from ispctl.reconciler.cli import app as cli
from ispctl.reconciler.cli.conventions import EXAMPLE_MARK, completion_shell, global_options, hoist, option_metavar

PYTHON_TYPES = re.compile(r"<(bool|str|int|float|path|file|dir|text|list\[[^>]*\])>")
GLOBALS = {"--no-color": False, "--errors": True, "--version": False}


def _tree() -> list[tuple[tuple[str, ...], bool]]:
    """Every command's words after ``ispctl``, and whether it is a group."""
    root = typer.main.get_command(cli.build_app())
    assert isinstance(root, TyperGroup)
    found: list[tuple[tuple[str, ...], bool]] = []

    def walk(group: TyperGroup, ctx: Context, words: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            is_group = isinstance(command, TyperGroup)
            found.append(((*words, name), is_group))
            if isinstance(command, TyperGroup):
                walk(command, Context(command, info_name=name, parent=ctx), (*words, name))

    walk(root, Context(root, info_name="ispctl"), ())
    return found


TREE = _tree()
COMMANDS = [words for words, group in TREE if not group]
GROUPS = [words for words, group in TREE if group]


def _help(*words: str, flag: str = "--help") -> str:
    done = run_cli(None, *words, flag, NO_COLOR="1", COLUMNS="200")
    assert done.exit_code == 0, (words, done.output)
    return done.stdout


def test_the_tree_holds_the_core_and_the_services_commands() -> None:
    assert {("plan",), ("validate",), ("man",), ("schema",), ("render", "dovecot"), ("dkim", "rotate")} <= set(COMMANDS)
    assert {("render",), ("sandbox",), ("report",)} <= set(GROUPS)


@pytest.mark.parametrize("words", [(), *(w for w, _ in TREE)], ids=lambda w: " ".join(w) or "ispctl")
def test_minus_h_is_help_and_help_shows_no_python_type(words: tuple[str, ...]) -> None:
    long = _help(*words)
    assert _help(*words, flag="-h") == long
    assert PYTHON_TYPES.findall(long) == [], long
    assert "{" not in long.split("\n\n")[1]  # the usage line writes a required argument NAME, not {name}


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_shows_an_example_of_itself(words: tuple[str, ...]) -> None:
    shown = _help(*words)
    assert EXAMPLE_MARK in shown, f"add an example for {' '.join(words)!r} to reconciler/cli/examples.py"
    example = shown[shown.index(EXAMPLE_MARK):].split("\n")[0]
    assert f"ispctl {' '.join(words)}" in example, example


def _command(words: tuple[str, ...]) -> tuple[Command, Context]:
    root = typer.main.get_command(cli.build_app())
    ctx = Context(root, info_name="ispctl")
    command: Command = root
    for word in words:
        assert isinstance(command, TyperGroup)
        found = command.get_command(ctx, word)
        assert found is not None, words
        command, ctx = found, Context(found, info_name=word, parent=ctx)
    return command, ctx


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_example_uses_options_its_command_has(words: tuple[str, ...]) -> None:
    # An example that rots (an option renamed or removed) fails here, not in a user's shell.
    command, ctx = _command(words)
    help_text = command.help or ""
    example = help_text[help_text.index(EXAMPLE_MARK):].split("\n")[0]
    call = example[example.index(f"ispctl {' '.join(words)}"):]
    mine = re.split(r"\s(?:&&|\||<|>|;)\s", call)[0].split()[len(words) + 1:]
    known = {o for p in command.get_params(ctx) for o in (*p.opts, *p.secondary_opts)} | set(GLOBALS)
    assert [w for w in mine if w.startswith("-") and w != "-" and w.split("=")[0] not in known] == [], example


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_a_usage_error_exits_1_in_every_command(words: tuple[str, ...]) -> None:
    done = run_cli(None, *words, "--no-such-option", NO_COLOR="1")
    assert done.exit_code == 1, done.output
    assert "No such option" in done.stderr


@pytest.mark.parametrize("words", GROUPS, ids=" ".join)
def test_a_usage_error_exits_1_in_every_group(words: tuple[str, ...]) -> None:
    unknown = run_cli(None, *words, "no-such-command", NO_COLOR="1")
    assert unknown.exit_code == 1 and "No such command" in unknown.stderr
    bare = run_cli(None, *words, NO_COLOR="1")  # the help, as an error: a command was expected
    assert bare.exit_code == 1 and "Usage:" in bare.output


def test_no_command_takes_an_option_named_like_a_global_one() -> None:
    # Otherwise moving the global options before the command would take that command's own.
    root = typer.main.get_command(cli.build_app())
    names = set(global_options(root))
    assert {"--no-color", "--errors", "--version", "--install-completion", "--show-completion"} <= names
    for words in COMMANDS:
        command, _ = _command(words)
        taken = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        assert taken & names == set(), words


@pytest.mark.parametrize(("args", "expected"), [
    (["plan", "--no-color"], ["--no-color", "plan"]),
    (["plan", "-d", "x", "--errors", "github", "--json"], ["--errors", "github", "plan", "-d", "x", "--json"]),
    (["plan", "--errors=github"], ["--errors=github", "plan"]),
    (["--no-color", "render", "dovecot", "--no-color"], ["--no-color", "--no-color", "render", "dovecot"]),
    (["--errors", "github", "plan"], ["--errors", "github", "plan"]),
    # After "--" every word is an argument: nothing moves.
    (["passwd", "--", "--no-color"], ["passwd", "--", "--no-color"]),
    ([], []),
])
def test_global_options_move_before_the_command(args: list[str], expected: list[str]) -> None:
    assert hoist(args, GLOBALS) == expected


@pytest.mark.parametrize(("args", "expected"), [
    (["--show-completion", "zsh"], (["--show-completion"], "zsh")),
    (["--install-completion=fish"], (["--install-completion"], "fish")),
    (["--show-completion"], (["--show-completion"], None)),
    (["--show-completion", "--no-color"], (["--show-completion", "--no-color"], None)),
    (["plan", "--", "--show-completion", "zsh"], (["plan", "--", "--show-completion", "zsh"], None)),
])
def test_a_completion_option_may_name_the_shell(args: list[str], expected: tuple[list[str], str | None]) -> None:
    assert completion_shell(args) == expected


def test_a_shell_ispctl_cannot_complete_is_a_usage_error() -> None:
    done = run_cli(None, "--show-completion", "tcsh", NO_COLOR="1")
    assert done.exit_code == 1 and "not 'tcsh'" in done.stderr


def test_global_options_after_the_command_take_effect(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    edit_yaml(root / "tenants/northwind/northwind.example.yaml",
              lambda d: d["mailboxes"]["noc"].__setitem__("quota", "lots"))
    after = run_cli(None, "validate", "-d", str(root), "--errors", "github", "--no-color")
    before = run_cli(None, "--errors", "github", "--no-color", "validate", "-d", str(root))
    assert after.exit_code == before.exit_code == 1
    assert after.stderr == before.stderr and "::error file=" in after.stderr
    assert "\x1b[" not in after.stderr
    assert run_cli(None, "validate", "-d", str(EXAMPLE), "--errors", "gh").exit_code == 1  # still checked


def _option(*decls: str, annotation: type = str, flag: bool = False) -> TyperOption:
    app = typer.Typer()

    def one(value: object = typer.Option(False if flag else None, *decls)) -> None:
        """Stand-in."""

    one.__annotations__ = {"value": annotation, "return": None}  # typer reads the real type from here
    app.command()(one)
    command = typer.main.get_command(app)
    option = command.params[0]
    assert isinstance(option, TyperOption)
    return option


@pytest.mark.parametrize(("decls", "annotation", "flag", "metavar"), [
    (("--changed-since",), str, False, "REF"),
    (("--target",), list[str], False, "GLOB"),
    (("--dir", "-d"), Path, False, "PATH"),
    (("--password-file",), Path, False, "PATH"),
    (("--bind-dn",), str, False, "DN"),
    (("--auth-port",), int, False, "PORT"),
    (("--rounds",), int, False, "N"),
    (("--ratio",), float, False, "NUMBER"),
    (("--scheme",), str, False, "SCHEME"),
    (("--older-than",), int, False, "AGE"),
    (("--json",), bool, True, ""),
])
def test_metavars_say_what_to_write(decls: tuple[str, ...], annotation: type, flag: bool, metavar: str) -> None:
    assert option_metavar(_option(*decls, annotation=annotation, flag=flag)) == metavar
