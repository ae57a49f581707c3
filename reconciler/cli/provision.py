"""The provisioning commands (``ispctl mailbox add ...``, ``ispctl batch``): typer wiring only.

Every command builds one ``provision.Operation`` and runs it through the same edit as a
batch line (``provision.run.provision``). Bodies import the engine when they run, so the
command line starts as fast as before.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ispctl.reconciler.cli.edits import Branch, Commit, DirOption, Json, LockTimeout, edit_body, register_editable
from ispctl.reconciler.cli.provision_core import core_groups

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring
    from ispctl.reconciler.contract import Registry


def batch_cmd(ctx: Wiring, source: str, dir: Path | None, commit: bool, branch: str | None, lock_timeout: float,
              json_out: bool) -> None:
    def body() -> int:
        from ispctl.reconciler.provision.operations import parse_lines

        name = "<stdin>" if source == "-" else source
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return edit_body(ctx, dir, parse_lines(text, name), commit, branch, lock_timeout, json_out, name)
    ctx.run(body)


def register(app: typer.Typer, ctx: Wiring) -> None:
    core_groups(app, ctx)

    @app.command("batch")
    def batch(source: str = typer.Argument(..., metavar="FILE", help="JSON lines, one operation each; - for stdin"),
              dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
              lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Apply JSON-lines operations as one edit, one validation and one commit, or none.

        Each line: {"op": "mailbox.add", "address": "alice@example.net", "name": "Alice"}
        (README "Provisioning" lists every field). Every invalid line is reported with its number.
        """
        batch_cmd(ctx, source, dir, commit, branch, lock_timeout, json_out)


def register_editables(group: Callable[[str, str], typer.Typer], ctx: Wiring, registry: Registry) -> None:
    """One command group per object the services declare (``ispctl record add ...``)."""
    for editable in registry.editables.values():
        register_editable(group(editable.noun, f"Edit {editable.summary} in the desired state."), ctx, editable)


__all__ = ["register", "register_editables"]
