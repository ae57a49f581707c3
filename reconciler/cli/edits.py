"""What every provisioning command shares: its options, how it runs one operation, and the
verbs a service's object gets. (The commands themselves: ``cli.provision``.)

Every command builds one ``provision.Operation`` and runs it through the same edit as a
batch line (``provision.run.provision``). Bodies import the engine when they run, so the
command line starts as fast as before.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import IspctlError

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring
    from ispctl.reconciler.provision.editable import Editable
    from ispctl.reconciler.provision.operations import Operation

DirOption: Any = typer.Option(
    None, "--dir", "-d", help="desired-state folder [default: $ISPCTL_DESIRED_STATE or ./desired-state]")
Commit = typer.Option(False, "--commit", help="commit the change (message names the objects; author from "
                                              "GIT_AUTHOR_* or git config)")
Branch = typer.Option(None, "--branch", metavar="NAME", help="commit on a new branch NAME from HEAD; the checkout is "
                                                             "left as it was")
LockTimeout = typer.Option(120.0, "--lock-timeout", metavar="SECONDS", help="wait this long for another "
                                                                           "provisioning command")
Json = typer.Option(False, "--json", help="print the result as JSON (changed, operations, files, commit, branch)")
Sets = typer.Option([], "--set", metavar="KEY=VALUE", help="any field by its dotted path (repeatable)")
Unsets = typer.Option([], "--unset", metavar="KEY", help="remove a field (repeatable)")
Name = typer.Option(None, "--name", help="display name")
To = typer.Option([], "--to", metavar="ADDRESS", help="a target (repeatable)")
PasswordStdin = typer.Option(False, "--password-stdin", help="hash one line of stdin as the password (never argv)")


def run_edit(ctx: Wiring, dir: Path | None, fields: dict[str, Any], commit: bool, branch: str | None,
             lock_timeout: float, json_out: bool, password_stdin: bool = False) -> None:
    def body() -> int:
        from pydantic import ValidationError

        from ispctl.reconciler.provision.operations import Operation
        from ispctl.reconciler.provision.request import assignments

        values = {k: v for k, v in fields.items() if v not in (None, [], ())}
        values["set"] = assignments(list(fields.get("set") or []))
        if password_stdin:
            values["password"] = _stdin_password()
        try:
            operation = Operation.model_validate(values)
        except ValidationError as exc:  # the message, never the input (it may hold a password)
            raise IspctlError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        return edit_body(ctx, dir, [(0, operation)], commit, branch, lock_timeout, json_out, "command")
    ctx.run(body)


def edit_body(ctx: Wiring, dir: Path | None, operations: list[tuple[int, Operation]], commit: bool,
              branch: str | None, lock_timeout: float, json_out: bool, source: str) -> int:
    """Run the operations as one edit and print its result (a command's, and a batch's)."""
    from ispctl.reconciler.provision.request import as_json, lines
    from ispctl.reconciler.provision.run import provision

    root = ctx.root(dir)
    outcome = provision(root, operations, ctx.check, ctx.registry.editables, commit=commit or branch is not None,
                        branch=branch, lock_timeout=lock_timeout, source=source)
    if json_out:
        output.write_raw(as_json(outcome, root))
    else:
        for line in lines(outcome, root):
            output.out().print(line, markup=False)
    return 0


def _stdin_password() -> str:
    """One line of standard input (never argv: it would be in the process list and history)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise IspctlError("--password-stdin: pipe the password in (printf '%s\\n' \"$PW\" | ispctl ...)")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise IspctlError("--password-stdin: standard input had no password")
    return password


def _simple_verbs(group: typer.Typer, ctx: Wiring, noun: str, field: str, what: str,
                  verbs: tuple[str, ...] = ("suspend", "resume", "delete")) -> None:
    """The verbs that take nothing but the object (and rename, its new name)."""
    for verb in verbs:
        group.command(verb)(_simple(ctx, noun, field, what, verb))


def _simple(ctx: Wiring, noun: str, field: str, what: str, verb: str) -> Callable[..., None]:
    def command(name: str = typer.Argument(..., metavar=field.upper(), help=what), dir: Path | None = DirOption,
                commit: bool = Commit, branch: str | None = Branch, lock_timeout: float = LockTimeout,
                json_out: bool = Json) -> None:
        run_edit(ctx, dir, {"op": f"{noun}.{verb}", field: name}, commit, branch, lock_timeout, json_out)
    command.__doc__ = f"{verb.capitalize()} a {noun}" + (" (planned as a delete; apply asks before it destroys)."
                                                         if verb == "delete" else ".")
    return command


def _rename(group: typer.Typer, ctx: Wiring, noun: str, field: str, doc: str) -> None:
    def rename(name: str = typer.Argument(..., metavar=field.upper()), new: str = typer.Argument(..., metavar="NEW"),
               dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
               lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        run_edit(ctx, dir, {"op": f"{noun}.rename", field: name, "new": new}, commit, branch, lock_timeout, json_out)
    rename.__doc__ = doc
    group.command("rename")(rename)


def _set(group: typer.Typer, ctx: Wiring, noun: str, field: str, doc: str) -> None:
    def set_(name: str = typer.Argument(..., metavar=field.upper()), sets: list[str] = Sets,
             unsets: list[str] = Unsets, dir: Path | None = DirOption, commit: bool = Commit,
             branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        run_edit(ctx, dir, {"op": f"{noun}.set", field: name, "set": sets, "unset": unsets}, commit, branch,
                 lock_timeout, json_out)
    set_.__doc__ = doc
    group.command("set")(set_)


def _set_with_password(ctx: Wiring, noun: str) -> Callable[..., None]:
    def set_(name: str = typer.Argument(..., metavar="OBJECT"), sets: list[str] = Sets, unsets: list[str] = Unsets,
             password_stdin: bool = PasswordStdin, dir: Path | None = DirOption, commit: bool = Commit,
             branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        run_edit(ctx, dir, {"op": f"{noun}.set", "object": name, "set": sets, "unset": unsets}, commit, branch,
                 lock_timeout, json_out, password_stdin)
    set_.__doc__ = f"Change any field of a {noun}; --password-stdin sets its password (hashed)."
    return set_


def register_editable(group: typer.Typer, ctx: Wiring, editable: Editable) -> None:
    """A service's object: add (fields by --set), set, suspend/resume if it can, rename if it
    carries no data or has a planned rename (``Editable.previous``), delete."""
    noun = editable.noun
    example = "www.example.net" if editable.naming == "host" else "login@example.net"

    def add(name: str = typer.Argument(..., metavar="NAME", help=f"e.g. {example}"), sets: list[str] = Sets,
            password_stdin: bool = PasswordStdin, dir: Path | None = DirOption, commit: bool = Commit,
            branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        if password_stdin and editable.password is None:
            raise typer.BadParameter(f"a {noun} has no password")
        run_edit(ctx, dir, {"op": f"{noun}.add", "object": name, "set": sets}, commit, branch, lock_timeout, json_out,
                 password_stdin)
    add.__doc__ = f"Add a {noun} ({editable.summary}): ispctl {noun} add {example} --set KEY=VALUE"
    group.command("add")(add)
    if editable.password is None:
        _set(group, ctx, noun, "object", f"Change any field of a {noun}.")
    else:
        group.command("set")(_set_with_password(ctx, noun))
    verbs = ("suspend", "resume", "delete") if editable.suspend is not None else ("delete",)
    _simple_verbs(group, ctx, noun, "object", f"the {noun}, e.g. {example}", verbs)
    if editable.rename:
        _rename(group, ctx, noun, "object", f"Rename a {noun}: its delete and its add, in one commit (it carries "
                                            "no data).")
    elif editable.previous is not None:
        _rename(group, ctx, noun, "object", f"Rename a {noun} within its domain (a planned rename: the old name "
                                            f"goes to {editable.previous}:, apply renames the live object and keeps "
                                            "what it holds).")
    else:  # registered so the refusal says why and what to do, rather than "no such command"
        _rename(group, ctx, noun, "object", f"Refused: a {noun} has no planned rename "
                                            f"{editable.no_rename or '(its data would not move)'}")


__all__ = ["Branch", "Commit", "DirOption", "Json", "LockTimeout", "Name", "Sets", "To", "edit_body",
           "register_editable", "run_edit"]
