"""The directory's ``ispctl passwd ADDRESS`` (``passwd``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ispctl.providers.ldap.passwd import passwd_cmd
from ispctl.reconciler.contract import Commands, DirOption


def register(commands: Commands) -> None:
    ctx = commands.context

    @commands.command("passwd")
    def passwd(
        address: str = typer.Argument(..., help="the mailbox's address"),
        dir: Path | None = DirOption,
        scheme: str = typer.Option("sha512", "--scheme", help="sha512 or bcrypt"),
        lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="seconds to wait for a running apply"),
    ) -> None:
        """Set a mailbox's password in the directory (read from a prompt, or one line of stdin).

        The password is its user's: plans never revert it. Refused for a mailbox whose hash git
        keeps (credentials: git). Recorded in the audit trail without the value."""
        ctx.run(lambda: passwd_cmd(ctx, ctx.root(dir), address, scheme, lock_timeout))
