"""``ispctl render pureftpd``: pure-ftpd-ldap's configuration, written for an operator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import typer

from ispctl.providers.ftp.render import DEFAULT_LDAP_CONF_PATH, LDAP_CONF, render
from ispctl.providers.ftp.report import FtpUsage, ftp_usage
from ispctl.providers.ftp.sites import KIND
from ispctl.providers.ldap.access import service_settings
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import (
    MAILBOX,
    CommandContext,
    Commands,
    ConfigError,
    DirOption,
    IspctlError,
    format_size,
    output,
    write_rendered,
)

SCHEMA_DIR = Path(__file__).parent / "schema"


def write_files(files: Mapping[str, str], modes: Mapping[str, int], out_dir: Path) -> list[Path]:
    """The rendered files with their modes (``contract.write_rendered``: the password file is
    never readable by others, not even for a moment)."""
    return write_rendered(files, out_dir, modes)


def render_pureftpd_cmd(ctx: CommandContext, out: Path, root: Path, bind_dn: str | None, password_file: Path | None,
                        ldap_conf_path: str = DEFAULT_LDAP_CONF_PATH, env: Mapping[str, str] | None = None) -> int:
    """The account written is pure-ftpd's own read-only one (``--bind-dn``/``--password-file`` or
    ``ISPCTL_PUREFTPD_LDAP_*``); ispctl's own is refused (``service_settings``)."""
    site = ctx.site(root, env)
    ldap = service_settings("pureftpd", env, bind_dn, password_file, site.section(DIRECTORY))
    files = render(site, ldap, ldap_conf_path)
    try:
        written = write_files(files, {LDAP_CONF: 0o600}, out)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        output.out().print(f"Wrote {path}", markup=False)
    schemas = " and ".join(str(SCHEMA_DIR / name) for name in ("pureftpd.ldif", "ispctl-ftp.ldif"))
    output.out().print(
        f"Install them below /etc/pure-ftpd/ ({LDAP_CONF} owned by root, mode 0600), link auth/30ldap to "
        "conf/LDAPConfigFile, and restart pure-ftpd. The directory needs the FTP schemas, in this order "
        f"(ldapadd -Y EXTERNAL -H ldapi:/// -f FILE): {schemas}; and pure-ftpd's access rule "
        "(ispctl render access --pureftpd-dn).", markup=False)
    return 0


def _usage(ctx: CommandContext, root: Path) -> list[FtpUsage]:
    with ctx.session(root) as session:
        if not any(MAILBOX in p.SUPPORTS and KIND in p.SUPPORTS for p in session.providers):
            raise IspctlError("the FTP quota report reads the logins from the directory: enable the ldap provider")
        return ftp_usage(session.read_live())


def report_ftp_cmd(ctx: CommandContext, root: Path, json_out: bool, threshold: float, show_all: bool) -> int:
    if not 0 < threshold <= 1000:
        raise IspctlError("--threshold must be a percentage above 0")
    rows = _usage(ctx, root)
    listed = [r for r in rows if show_all or r.state(threshold) in ("near", "over")]
    if json_out:
        output.write_raw(json.dumps({
            "threshold": threshold, "checked": len(rows),
            "over": sum(1 for r in rows if r.state(threshold) == "over"),
            "near": sum(1 for r in rows if r.state(threshold) == "near"),
            "logins": [r.to_dict(threshold) for r in listed]}, indent=2, sort_keys=True))
        return 0
    if not listed:
        output.out().print(f"No FTP login is over its quota or at or over {threshold:g}% of it ({len(rows)} checked).",
                           markup=False)
        return 0
    width = max(len(r.login) for r in listed)
    heading = "All FTP logins" if show_all else f"FTP logins over their quota or at or over {threshold:g}% of it"
    output.out().print(f"{heading} ({len(rows)} checked):", markup=False)
    output.out().print(f"  {'LOGIN'.ljust(width)}  {'USED':>10}  {'QUOTA':>10}  {'FILES':>12}  {'%':>6}  STATE",
                       markup=False)
    for r in listed:
        quota = format_size(r.quota) if r.quota else "none"
        files = f"{r.files}/{r.quota_files}" if r.quota_files else str(r.files)
        pct = f"{r.percent:.1f}" if r.percent is not None else "-"
        state = r.state(threshold)
        output.out().print(f"  {r.login.ljust(width)}  {format_size(r.used):>10}  {quota:>10}  {files:>12}  {pct:>6}  "
                           f"{state}", style="red" if state == "over" else ("yellow" if state == "near" else None),
                           markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    report = commands.group("report", "Reports from the live services.")

    @report.command("ftp")
    def report_ftp(
        dir: Path | None = DirOption,
        json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
        threshold: float = typer.Option(90.0, "--threshold", help="list logins at or over this percentage of a "
                                                                  "quota (size or files)"),
        show_all: bool = typer.Option(False, "--all", help="list every FTP login, not only those near or over quota"),
    ) -> None:
        """FTP logins near or over quota: usage in their homes (here) against the quotas in the directory."""
        ctx.run(lambda: report_ftp_cmd(ctx, ctx.root(dir), json_out, threshold, show_all))

    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("pureftpd")
    def render_pureftpd(
        out: Path = typer.Option(..., "--out", help="folder to write db/ldap.conf and conf/* into"),
        dir: Path | None = DirOption,
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="DN pure-ftpd binds as: its read-only account "
                                                                   "[default: ISPCTL_PUREFTPD_LDAP_BIND_DN]"),
        password_file: Path | None = typer.Option(None, "--password-file", help="file holding that DN's password "
                                                  "[default: ISPCTL_PUREFTPD_LDAP_PASSWORD(_FILE)]"),
        ldap_conf_path: str = typer.Option(DEFAULT_LDAP_CONF_PATH, "--ldap-conf-path",
                                           help="where db/ldap.conf will be installed"),
    ) -> None:
        """pure-ftpd-ldap's LDAP config (URL: ISPCTL_LDAP_*, account: ISPCTL_PUREFTPD_LDAP_*)."""
        ctx.run(lambda: render_pureftpd_cmd(ctx, out, ctx.root(dir), bind_dn, password_file, ldap_conf_path))
