"""The mail store's commands: ``ispctl archive list|purge`` and ``ispctl report quota``.

Each is a small typed function returning an exit code; the command line passes the
context it wired (site settings, sessions, the one error handler).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ispctl.providers.mailstore.archive import describe, list_archives, purgeable, remove
from ispctl.providers.mailstore.provider import KIND
from ispctl.providers.mailstore.report import Usage, quota_usage
from ispctl.providers.mailstore.settings import MAIL
from ispctl.reconciler.contract import MAILBOX, CommandContext, Commands, DirOption, IspctlError, format_size, output


def archive_list_cmd(ctx: CommandContext, root: Path, json_out: bool, now: datetime | None = None) -> int:
    mail = ctx.site(root).section(MAIL)
    archive, retention = mail.archive_dir, mail.archive_retention_days
    now = now or datetime.now(UTC)
    entries = list_archives(archive)
    if json_out:
        output.write_raw(json.dumps({
            "archive": archive,
            "retention_days": retention,
            "entries": [e.to_dict(now, retention) for e in entries],
        }, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    if not entries:
        output.out().print(f"The mail archive {archive} is empty.", markup=False)
        return 0
    output.out().print(f"Mail archive {archive} (retention {retention} days):", markup=False)
    for entry in entries:
        output.out().print(describe(entry, now, retention), markup=False)
    ready = sum(1 for e in entries if e.to_dict(now, retention)["purgeable"])
    output.out().print(f"{len(entries)} archive(s); {ready} may be purged with 'ispctl archive purge'.", markup=False)
    return 0


def archive_purge_cmd(ctx: CommandContext, root: Path, older_than: int | None, yes: bool,
                      now: datetime | None = None) -> int:
    mail = ctx.site(root).section(MAIL)
    archive, retention = mail.archive_dir, mail.archive_retention_days
    days = retention if older_than is None else older_than
    now = now or datetime.now(UTC)
    chosen = purgeable(list_archives(archive), days, retention, now)
    if not chosen:
        output.out().print(f"Nothing to purge: no archive in {archive} is older than {days} days.", markup=False)
        return 0
    output.out().print(f"These archives in {archive} are older than {days} days:", markup=False)
    for entry in chosen:
        output.out().print(describe(entry, now, retention), markup=False)
    if not yes:
        output.confirm(f"Do you want to permanently DELETE the mail in these {len(chosen)} archive(s)?", "yes",
                       refusal="Purge cancelled", outcome="Nothing was deleted.", hint="pass --yes")
    for entry in chosen:
        remove(archive, entry)
        output.out().print(f"purged {entry.name} ({entry.address}, {entry.file_count} files, "
                           f"{format_size(entry.total_bytes)})", markup=False)
    total = sum(e.total_bytes for e in chosen)
    output.out().print(f"Purged {len(chosen)} archive(s), {format_size(total)}.", style="bold", markup=False)
    return 0


def _usage(ctx: CommandContext, root: Path, threshold: float) -> tuple[list[Usage], dict[str, list[dict[str, Any]]]]:
    """The mailboxes' usage, and the other services' rows (``ctx.quota_reports``: FTP's) from the
    same read of the live state."""
    with ctx.session(root) as session:
        owned = {kind: any(kind in p.SUPPORTS for p in session.providers) for kind in (MAILBOX, KIND)}
        if not owned[KIND]:
            raise IspctlError("the quota report reads the mail store on this machine: enable the mailstore "
                              "provider (providers: [ldap, mailstore] in ispctl.yaml, or "
                              "ISPCTL_PROVIDERS=ldap,mailstore)")
        if not owned[MAILBOX]:
            raise IspctlError("the quota report reads quotas from the directory: enable the ldap provider too")
        live = session.read_live()
        return quota_usage(live), {name: report(live, threshold) for name, report in ctx.quota_reports().items()}


def report_quota_cmd(ctx: CommandContext, root: Path, json_out: bool, threshold: float, show_all: bool) -> int:
    if not 0 < threshold <= 1000:
        raise IspctlError("--threshold must be a percentage above 0")
    rows, others = _usage(ctx, root, threshold)
    listed = [r for r in rows if show_all or r.state(threshold) in ("near", "over")]
    shown = {name: [r for r in found if show_all or r["state"] in ("near", "over")] for name, found in others.items()}
    if json_out:
        report = _report(rows, listed, threshold)
        if any(others.values()):
            report["services"] = {name: {"checked": len(others[name]), "listed": shown[name]}
                                  for name in sorted(others) if others[name]}
        output.write_raw(json.dumps(report, indent=2, sort_keys=True))
        return 0
    _print_mailboxes(rows, listed, threshold, show_all)
    for name in sorted(others):
        if others[name]:
            _print_service(name, others[name], shown[name], threshold, show_all)
    return 0


def _print_mailboxes(rows: list[Usage], listed: list[Usage], threshold: float, show_all: bool) -> None:
    if not listed:
        output.out().print(f"No mailbox is over its quota or at or over {threshold:g}% of it ({len(rows)} checked).",
                           markup=False)
        return
    width = max(len(r.address) for r in listed)
    heading = "All mailboxes" if show_all else f"Mailboxes over their quota or at or over {threshold:g}% of it"
    output.out().print(f"{heading} ({len(rows)} checked):", markup=False)
    output.out().print(f"  {'ADDRESS'.ljust(width)}  {'USED':>10}  {'QUOTA':>10}  {'%':>6}  STATE", markup=False)
    for r in listed:
        quota = format_size(r.quota) if r.quota else "none"
        pct = f"{r.percent:.1f}" if r.percent is not None else "-"
        note = "" if r.has_maildir else " (no maildir)"
        style = "red" if r.state(threshold) == "over" else ("yellow" if r.state(threshold) == "near" else "")
        output.out().print(f"  {r.address.ljust(width)}  {format_size(r.used):>10}  {quota:>10}  {pct:>6}  "
                           f"{r.state(threshold)}{note}", style=style or None, markup=False)


def _print_service(name: str, rows: list[dict[str, Any]], listed: list[dict[str, Any]], threshold: float,
                   show_all: bool) -> None:
    """Another service's accounts (``QuotaReport`` rows), after the mailboxes."""
    if not listed:
        output.out().print(f"No {name} account is over its quota or at or over {threshold:g}% of it "
                           f"({len(rows)} checked).", markup=False)
        return
    width = max(len(str(r["name"])) for r in listed)
    heading = f"All {name} accounts" if show_all else f"{name} accounts over their quota or at or over {threshold:g}%"
    output.out().print(f"{heading} ({len(rows)} checked):", markup=False)
    output.out().print(f"  {'NAME'.ljust(width)}  {'USED':>10}  {'QUOTA':>10}  {'%':>6}  STATE", markup=False)
    for r in listed:
        quota = format_size(r["quota"]) if r["quota"] else "none"
        pct = f"{r['percent']:.1f}" if r["percent"] is not None else "-"
        state = str(r["state"])
        output.out().print(f"  {str(r['name']).ljust(width)}  {format_size(r['used']):>10}  {quota:>10}  {pct:>6}  "
                           f"{state}", style="red" if state == "over" else ("yellow" if state == "near" else None),
                           markup=False)


def _report(rows: list[Usage], listed: list[Usage], threshold: float) -> dict[str, Any]:
    return {
        "threshold": threshold,
        "checked": len(rows),
        "over": sum(1 for r in rows if r.state(threshold) == "over"),
        "near": sum(1 for r in rows if r.state(threshold) == "near"),
        "mailboxes": [r.to_dict(threshold) for r in listed],
    }


def register(commands: Commands) -> None:
    ctx = commands.context
    archive = commands.group("archive", "The mail archive: mail of removed mailboxes (list, purge).")
    report = commands.group("report", "Reports from the live services.")

    @archive.command("list")
    def archive_list(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the archive as JSON"),
    ) -> None:
        """List archived mailboxes (from their manifests) and which may be purged."""
        ctx.run(lambda: archive_list_cmd(ctx, ctx.root(dir), json_out))

    @archive.command("purge")
    def archive_purge(
        dir: Path | None = DirOption,
        older_than: int | None = typer.Option(None, "--older-than", help="days [default: mail.archive_retention_days; "
                                                                         "never less]"),
        yes: bool = typer.Option(False, "--yes", help="delete without asking"),
    ) -> None:
        """Permanently delete archived mail older than the retention. The only command that deletes mail."""
        ctx.run(lambda: archive_purge_cmd(ctx, ctx.root(dir), older_than, yes))

    @report.command("quota")
    def report_quota(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
        threshold: float = typer.Option(90.0, "--threshold", help="list mailboxes at or over this percentage of their "
                                                                  "quota"),
        show_all: bool = typer.Option(False, "--all", help="list every mailbox, not only those near or over quota"),
    ) -> None:
        """Mailboxes near or over quota: usage in the mail store against quotas in the directory."""
        ctx.run(lambda: report_quota_cmd(ctx, ctx.root(dir), json_out, threshold, show_all))
