"""The helpdesk's read commands: ``show KIND NAME``, ``list KINDS``, ``find ADDRESS``, ``report usage``.

Thin: each command parses its options and hands one body (``cli.helpdesk``, imported when the
command runs, so the command line's start stays light) to the error handler. ``show PLAN`` (a
saved plan) keeps working: ``show`` is an object when a NAME follows its first argument (a
kind), a plan otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from ispctl.reconciler.cli.context import Wiring

LiveOption: Any = typer.Option(False, "--live", help="also read the live services (the connection plan uses), "
                                                    "in bulk; secrets masked")
JsonOption: Any = typer.Option(False, "--json", help="print JSON (fields in README \"Helpdesk\")")


def _fmt(fmt: str, json_out: bool, allowed: tuple[str, ...]) -> str:
    chosen = "json" if json_out else fmt
    if chosen not in allowed:
        raise typer.BadParameter(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {fmt!r}")
    return chosen


def register(app: typer.Typer, ctx: Wiring, dir_option: Any) -> None:
    """``show``, ``list`` and ``find`` on the top level of ``app``."""

    @app.command()
    def show(
        target: str = typer.Argument(..., metavar="PLAN|KIND", help="a plan saved by `plan --out`, or a kind: "
                                     "mailbox, domain, tenant, alias, site, ..."),
        name: str | None = typer.Argument(None, metavar="[NAME]", help="the object (an address, a domain, a name)"),
        dir: Path | None = dir_option,
        fmt: str = typer.Option("human", "--format", "-f", help="human, json or markdown (a plan only)"),
        json_out: bool = typer.Option(False, "--json", help="same as --format json"),
        live: bool = LiveOption,
    ) -> None:
        """Render a saved plan (checksum verified), or show one object: git's values and, with --live, the live
        ones beside them (secrets masked).

        Example: ispctl show mailbox anna@example.net --live"""
        chosen = _fmt(fmt, json_out, ("human", "json", "markdown"))
        from ispctl.reconciler.cli import helpdesk
        ctx.run(lambda: helpdesk.show_cmd(ctx, ctx.root(dir), target, name, chosen, live))

    @app.command("list")
    def list_(
        kinds: str = typer.Argument(..., metavar="KINDS", help="mailboxes, domains, tenants, aliases, sites, ..."),
        tenant: str | None = typer.Option(None, "--tenant", metavar="NAME", help="only this tenant and its "
                                                                                 "clients"),
        domain: str | None = typer.Option(None, "--domain", metavar="DOMAIN", help="only this domain's"),
        dir: Path | None = dir_option,
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
        json_out: bool = JsonOption,
        live: bool = LiveOption,
    ) -> None:
        """List objects of a kind from the desired state, with --live also whether each is live and differs.

        Example: ispctl list mailboxes --tenant bakery --live"""
        chosen = _fmt(fmt, json_out, ("table", "csv", "json"))
        from ispctl.reconciler.cli import helpdesk
        ctx.run(lambda: helpdesk.list_cmd(ctx, ctx.root(dir), kinds, tenant, domain, chosen, live))

    @app.command()
    def find(
        address: str = typer.Argument(..., metavar="ADDRESS", help="an e-mail address"),
        dir: Path | None = dir_option,
        json_out: bool = JsonOption,
        live: bool = typer.Option(False, "--live", help="also what the live services hold or point to it that git "
                                                        "does not say (one bulk read)"),
    ) -> None:
        """Which objects hold an address or point to it (mailbox, extra address, alias, list, forward,
        catch-all, former address), each with its file:line. Exit 1 when none does.

        Example: ispctl find info@example.net"""
        from ispctl.reconciler.cli import helpdesk
        ctx.run(lambda: helpdesk.find_cmd(ctx, ctx.root(dir), address, json_out, live))


def register_reports(groups: Mapping[str, typer.Typer], ctx: Wiring, dir_option: Any) -> None:
    """``report usage`` in the ``report`` group the services share (none without services)."""
    report = groups.get("report")
    if report is None:
        return

    @report.command("usage")
    def report_usage(
        tenant: str | None = typer.Option(None, "--tenant", metavar="NAME", help="only this tenant and its clients"),
        dir: Path | None = dir_option,
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
        json_out: bool = JsonOption,
        live: bool = LiveOption,
    ) -> None:
        """Per tenant for billing: domains, mailboxes, aliases, quota allocated, sites and accounts, each beside
        its limit; with --live the quota used (mail store) and FTP space used.

        Example: ispctl report usage --format csv --live"""
        chosen = _fmt(fmt, json_out, ("table", "csv", "json"))
        from ispctl.reconciler.cli import helpdesk
        ctx.run(lambda: helpdesk.report_usage_cmd(ctx, ctx.root(dir), tenant, chosen, live))
