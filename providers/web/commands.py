"""The web service's command: ``ispctl report web``, sites' disk use against their quotas.

Beside ``ispctl report quota`` (mailboxes). The sites and their quotas are the live ones (what
the web host's files say, through the web provider); their use is one walk of each site's
directory (``quota.site_usage``). The report says first whether quotas are enforced (btrfs with
quotas on: as qgroup limits of the sites' subvolumes) or not, and why; on btrfs it names the sites
whose directory is a plain directory, which no limit holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ispctl.providers.web.quota import BtrfsQuotas, dir_of, is_subvolume, quota_of, site_usage
from ispctl.providers.web.render import KIND
from ispctl.providers.web.settings import WEB
from ispctl.reconciler.contract import CommandContext, Commands, DirOption, IspctlError, format_size, output


def report_web_cmd(ctx: CommandContext, root: Path, json_out: bool, threshold: float, show_all: bool) -> int:
    if not 0 < threshold <= 1000:
        raise IspctlError("--threshold must be a percentage above 0")
    web_root = ctx.site(root).section(WEB).web_root
    with ctx.session(root) as session:
        web = [p for p in session.providers if KIND in p.SUPPORTS]
        if not web:
            raise IspctlError("the web report reads the web host's sites on this machine: enable the web provider "
                              "(providers: [..., web] in ispctl.yaml, or ISPCTL_PROVIDERS=...,web)")
        sites = [r for (kind, _), r in web[0].read().items() if kind == KIND]
    rows = site_usage(sites)
    quotas = BtrfsQuotas.probe(web_root)
    fs = quotas.fs
    unlimited: list[str] = []
    if quotas.enabled:
        enforced = "site quotas are enforced as btrfs qgroup limits of the sites' subvolumes"
        where = f"{fs.describe()}, quotas on" if fs else "unknown filesystem"
        unlimited = sorted(s.key for s in sites if quota_of(s) and not is_subvolume(dir_of(s) or ""))
    elif fs is not None and fs.fstype == "btrfs":
        enforced = "no site quota is enforced: btrfs quotas are off ('btrfs quota enable')"
        where = f"{fs.describe()}, quotas off"
    else:
        enforced = "no site quota is enforced: ispctl does not set project quotas"
        where = f"{fs.describe()}, project quotas {'on' if fs.project_quotas else 'off'}" if fs else "unknown fs"
    listed = [r for r in rows if show_all or r.state(threshold) in ("near", "over")]
    if json_out:
        output.write_raw(json.dumps({
            "web_root": web_root, "filesystem": where, "enforced": quotas.enabled, "not_enforced": unlimited,
            "threshold": threshold, "checked": len(rows), "over": sum(1 for r in rows if r.state(threshold) == "over"),
            "sites": [r.to_dict(threshold) for r in listed]}, indent=2, sort_keys=True))
        return 0
    if unlimited:
        enforced += f" (not on {', '.join(unlimited)}: a plain directory)"
    output.out().print(f"Web root {web_root} ({where}); {enforced}.", markup=False)
    if not listed:
        output.out().print(f"No site is over its quota or at or over {threshold:g}% of it ({len(rows)} checked).",
                           markup=False)
        return 0
    width = max(len(r.host) for r in listed)
    heading = "All sites" if show_all else f"Sites over their quota or at or over {threshold:g}% of it"
    output.out().print(f"{heading} ({len(rows)} checked):", markup=False)
    output.out().print(f"  {'SITE'.ljust(width)}  {'USED':>10}  {'QUOTA':>10}  {'%':>6}  {'FILES':>7}  STATE",
                       markup=False)
    for r in listed:
        quota = format_size(r.quota) if r.quota else "none"
        pct = f"{r.percent:.1f}" if r.percent is not None else "-"
        note = "" if r.present else " (no files)"
        style = "red" if r.state(threshold) == "over" else ("yellow" if r.state(threshold) == "near" else None)
        output.out().print(f"  {r.host.ljust(width)}  {format_size(r.used):>10}  {quota:>10}  {pct:>6}  {r.files:>7}  "
                           f"{r.state(threshold)}{note}", style=style, markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    report = commands.group("report", "Reports from the live services.")

    @report.command("web")
    def report_web(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
        threshold: float = typer.Option(90.0, "--threshold", help="list sites at or over this percentage of their "
                                                                  "quota"),
        show_all: bool = typer.Option(False, "--all", help="list every site, not only those near or over quota"),
    ) -> None:
        """Web sites near or over their quota: disk use on the web host (enforced on btrfs with quotas on)."""
        ctx.run(lambda: report_web_cmd(ctx, ctx.root(dir), json_out, threshold, show_all))
