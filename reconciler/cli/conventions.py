"""The command line's conventions, applied to every command whoever registered it.

Commands are declared with typer in ``app`` and in each service's ``commands`` hook; none of
them has to spell out what people expect of a Unix command line, because ``conventional``
is applied to each command as the top group hands it out (``group.TopGroup.get_command``):

* a metavar that says what to write (``--dir PATH``, ``--changed-since REF``, ``--target
  GLOB``, ``--tenant NAME``), never a Python type (``<bool>``, ``<list[str]>``); a flag has
  none;
* arguments in the usage line as ``NAME`` (required) or ``[NAME]`` (optional);
* an example in every command's help (``examples.EXAMPLES``, unless its docstring has one).

``hoist`` lets the top group's own options (``--no-color``, ``--errors github``) be written
after the subcommand too, as git and Terraform users do; ``completion_shell`` lets
``--show-completion zsh`` name the shell (typer's options only detect the one they run in).

Light on purpose (the start of the command line imports it): typer's classes only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from typer._click.core import Command, Context, Parameter
from typer._click.exceptions import UsageError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ispctl.reconciler.cli.examples import EXAMPLES

# Option names whose value is better named by what it is than by the option (argparse's
# default, the option's name in capitals, is the fallback: --scheme SCHEME).
NAMED: Mapping[str, str] = {
    "changed-since": "REF", "target": "GLOB", "exclude": "GLOB", "tenant": "NAME", "reseller": "NAME",
    "group": "NAME", "domain": "DOMAIN", "zone": "DOMAIN", "out": "PATH", "root": "PATH", "socket": "PATH",
    "format": "FORMAT", "errors": "FORMAT", "limit": "N", "rounds": "N", "lock-timeout": "SECONDS",
    "listen": "ADDRESS", "older-than": "AGE", "threshold": "PERCENT", "force-reason": "TEXT", "description": "TEXT",
    "base": "DN", "database": "DN",
}
_SUFFIXES = (("-dn", "DN"), ("port", "PORT"), ("-path", "PATH"), ("-file", "PATH"), ("-dir", "PATH"), ("-root", "PATH"),
             ("-url", "URL"))
EXAMPLE_MARK = "Example:"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
COMPLETION_OPTIONS = ("--install-completion", "--show-completion")


def option_metavar(option: TyperOption) -> str:
    """What an option's value is called in help: empty for a flag."""
    if option.is_flag or option.count:
        return ""
    longs = [o[2:] for o in option.opts if o.startswith("--")]
    name = longs[0] if longs else (option.name or "value")
    if name in NAMED:
        return NAMED[name]
    for suffix, metavar in _SUFFIXES:
        if name.endswith(suffix):
            return metavar
    descriptor = getattr(option, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if descriptor is not None and descriptor.is_path:
        return "PATH"
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    return name.replace("-", "_").upper()


def argument_metavar(argument: Parameter) -> str:
    """An argument's name in capitals, without the brackets typer adds itself for optional ones."""
    given = argument.metavar or argument.name or "ARG"
    return given.strip("[]{}").upper()


class _Argument(TyperArgument):
    """An argument shown as ``NAME``/``[NAME]``: its metavar says what it is, no type column."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


def help_without_type(self: Command, ctx: Context) -> Any:
    """``-h, --help`` is a flag: no ``<bool>`` beside it (a ``get_help_option`` for the classes below).

    A function rather than a mixin: a mixin base changes the object layout, and the class of
    the commands typer made is swapped for these."""
    option = Command.get_help_option(self, ctx)
    if option is not None:
        option.metavar = ""
    return option


class _Command(TyperCommand):
    get_help_option = help_without_type


class _SubGroup(TyperGroup):
    get_help_option = help_without_type

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        return conventional(found, (*command_words(ctx), cmd_name)) if found is not None else None


def command_words(ctx: Context) -> tuple[str, ...]:
    """The words of a context's command after the program's name: ("render", "dovecot")."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return tuple(reversed(names))


def conventional(command: Command, path: Sequence[str]) -> Command:
    """The command (and its subcommands) with conventional metavars, usage and an example.

    Idempotent; ``path`` is its words after ``ispctl`` (the key of its example)."""
    if getattr(command, "_conventional", False):
        return command
    if type(command) is TyperGroup:
        command.__class__ = _SubGroup
    elif type(command) is TyperCommand:
        command.__class__ = _Command
    for param in command.params:
        if type(param) is TyperArgument:
            param.metavar = argument_metavar(param)
            param.__class__ = _Argument
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = option_metavar(param)
    example = EXAMPLES.get(" ".join(path))
    if example and EXAMPLE_MARK not in (command.help or ""):
        command.help = f"{(command.help or '').rstrip()}\n\n{EXAMPLE_MARK} {example}"
    if not path:
        _completion_for_named_shell(command)
    command._conventional = True  # type: ignore[attr-defined]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            conventional(sub, (*path, name))
    return command


def global_options(group: Command) -> dict[str, bool]:
    """The top group's option names, each with whether it takes a value (help left out)."""
    found: dict[str, bool] = {}
    for param in group.params:
        if isinstance(param, TyperOption):
            for name in (*param.opts, *param.secondary_opts):
                if name not in ("-h", "--help"):
                    found[name] = not (param.is_flag or param.count)
    return found


def hoist(args: Sequence[str], options: Mapping[str, bool]) -> list[str]:
    """``args`` with the global options written after the subcommand moved before it.

    ``ispctl plan --no-color`` becomes ``ispctl --no-color plan``. Nothing after ``--``
    moves, nor the value of an option (``--errors github``: both words move together)."""
    words = list(args)
    head: list[str] = []
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "--":
        head.append(words[i])
        if options.get(words[i], False) and i + 1 < len(words):
            head.append(words[i + 1])
            i += 1
        i += 1
    moved: list[str] = []
    kept: list[str] = []
    rest = words[i:]
    j = 0
    while j < len(rest):
        word = rest[j]
        if word == "--":
            kept.extend(rest[j:])
            break
        name = word.split("=", 1)[0]
        if name in options:
            moved.append(word)
            if options[name] and "=" not in word and j + 1 < len(rest):
                moved.append(rest[j + 1])
                j += 1
        else:
            kept.append(word)
        j += 1
    return head + moved + kept



def completion_shell(args: Sequence[str]) -> tuple[list[str], str | None]:
    """``args`` without the shell a completion option names (``--show-completion zsh`` or
    ``=zsh``), and that shell; None: the option detects the shell it runs in."""
    words = list(args)
    for i, word in enumerate(words):
        if word == "--":
            break
        name, _, value = word.partition("=")
        if name not in COMPLETION_OPTIONS:
            continue
        if not value and i + 1 < len(words) and not words[i + 1].startswith("-"):
            value = words.pop(i + 1)
        if value and value not in SHELLS:
            raise UsageError(f"{name} completes {', '.join(SHELLS)}, not {value!r}")
        words[i] = name
        return words, value or None
    return words, None


def _completion_for_named_shell(group: Command) -> None:
    # typer's completion options are flags whose callback detects the shell; given the shell
    # the command line named (the top group keeps it while it runs: group.TopGroup), pass it on.
    for param in group.params:
        callback = param.callback
        if callback is None or not isinstance(param, TyperOption) or not set(param.opts) & set(COMPLETION_OPTIONS):
            continue
        shown = "install completion" if "--install-completion" in param.opts else "print the completion script"
        param.help = f"{shown} for the shell this runs in, or the one named after it: bash, zsh or fish"

        def named(ctx: Context, param: Parameter, value: Any, callback: Any = callback) -> Any:
            shell = getattr(ctx.find_root().command, "completion_shell", None)
            return callback(ctx, param, shell if value and shell else value)

        param.callback = named
