"""``ispctl sandbox up|down|status|env``: the local sandbox of real services, wired from the registry.

Registered by ``app.build_app`` with one line; a command's body is imported when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring

SandboxRoot = typer.Option(Path(".sandbox"), "--root", help="where the sandbox keeps its data")


def register(app: typer.Typer, ctx: Wiring) -> None:
    group = typer.Typer(no_args_is_help=True, help="A local sandbox of real services on loopback (data in .sandbox/).")
    app.add_typer(group, name="sandbox")

    def components() -> list[Any]:
        return ctx.registry.components()

    @group.command("up")
    def sandbox_up(root: Path = SandboxRoot) -> None:
        """Start the sandbox services on loopback (idempotent)."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.sandbox_up_cmd(components(), root))

    @group.command("down")
    def sandbox_down(root: Path = SandboxRoot, purge: bool = typer.Option(False, help="also delete the sandbox "
                                                                                      "data")) -> None:
        """Stop the sandbox services."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.sandbox_down_cmd(components(), root, purge))

    @group.command("status")
    def sandbox_status(root: Path = SandboxRoot) -> None:
        """Show whether the sandbox services run."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.sandbox_status_cmd(components(), root))

    @group.command("env")
    def sandbox_env(root: Path = SandboxRoot) -> None:
        """Print shell exports for the sandbox: eval "$(ispctl sandbox env)"."""
        from ispctl.reconciler.cli import commands as cmd
        ctx.run(lambda: cmd.sandbox_env_cmd(components(), root))
