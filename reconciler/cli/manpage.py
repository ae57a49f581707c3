"""``ispctl man``: the manual page, generated from the same help the commands print.

Walks the command tree the way ``ispctl COMMAND --help`` does (the services' commands
included, with the conventions applied: metavars, examples) and writes roff for man(1).
No date in the header, so the page of one version is the same bytes wherever it is made.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from typer._click.core import Command, Context, Parameter
from typer.core import TyperGroup as Group

from ispctl.reconciler import __version__
from ispctl.reconciler.cli.conventions import EXAMPLE_MARK, command_words

EXIT_STATUS = (
    ("0", "success, or nothing to do"),
    ("1", "an error, usage errors included (an unknown option, a missing argument)"),
    ("2", "changes present (only with plan --detailed-exitcode)"),
    ("130", "interrupted (Ctrl-C)"),
    ("143", "terminated (SIGTERM); a lock held is released"),
)
ENVIRONMENT = (
    ("ISPCTL_DESIRED_STATE", "the desired-state folder when --dir is not given (default ./desired-state)"),
    ("ISPCTL_DEBUG", "1: a traceback for an internal error"),
    ("NO_COLOR", "plain output, as --no-color"),
)


def commands(group: Group, ctx: Context) -> Iterator[tuple[tuple[str, ...], Command, Context]]:
    """Every command below ``group`` (groups too, before their own), in help order."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = Context(command, info_name=name, parent=ctx)
        yield (*command_words(ctx), name), command, sub
        if isinstance(command, Group):
            yield from commands(command, sub)


def escape(text: str) -> str:
    """Text for roff: backslashes and hyphens literal, no line taken for a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n") if p.strip()]


def _option(param: Parameter, ctx: Context) -> list[str]:
    """One option or argument as a tagged paragraph: names in bold, its value in italics, then
    its help as ``--help`` shows it (defaults included)."""
    record = param.get_help_record(ctx)
    if record is None:
        return []
    names, text = record
    metavar = param.metavar or ""
    if metavar and names.endswith(" " + metavar):
        head = f"\\fB{escape(names[:-len(metavar) - 1])}\\fR \\fI{escape(metavar)}\\fR"
    elif names == metavar:  # an argument
        head = f"\\fI{escape(names)}\\fR"
    else:
        head = f"\\fB{escape(names)}\\fR"
    return [".TP", head, escape(" ".join(text.split()) or "-")]


def _help(command: Command, ctx: Context, out: list[str]) -> None:
    example = ""
    for paragraph in _paragraphs(command.help or ""):
        if paragraph.startswith(EXAMPLE_MARK):
            example = paragraph[len(EXAMPLE_MARK):].strip()
            continue
        out += [".PP", escape(paragraph)]
    for param in command.get_params(ctx):
        out += _option(param, ctx)
    if example:
        out += [".PP", "Example:", ".RS", ".nf", escape(example), ".fi", ".RE"]


def manpage(root: Group, ctx: Context) -> str:
    """The man page of the command line ``root`` (its context named ``ispctl``)."""
    summary = _paragraphs(root.help or "")
    out = [f'.TH ISPCTL 1 "" "ispctl {__version__}" "User Commands"', ".SH NAME",
           f"ispctl \\- {escape(summary[0] if summary else '')}", ".SH SYNOPSIS",
           ".B ispctl", "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]...",
           ".SH DESCRIPTION"]
    out += [line for p in summary[1:] for line in (".PP", escape(p))]
    out += [".PP", "Global options may be written before or after the command. "
            "Every command takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR."]
    out += [".SH GLOBAL OPTIONS"]
    for param in root.get_params(ctx):
        out += _option(param, ctx)
    out += [".SH COMMANDS"]
    for words, command, sub in commands(root, ctx):
        usage = " ".join(command.collect_usage_pieces(sub))
        out += [f'.SS "{escape(" ".join(("ispctl", *words, usage)))}"']
        _help(command, sub, out)
    out += [".SH EXIT STATUS"]
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", escape(meaning)]
    out += [".SH ENVIRONMENT"]
    for name, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{name}\\fR", escape(meaning)]
    out += [".SH SEE ALSO", "The README of ispctl: the desired state, every command, the services."]
    return "\n".join(out) + "\n"
