"""``ispctl render dovecot``: Dovecot's configuration for the directory, written for an operator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer

from ispctl.providers.dovecot.render import DEFAULT_INSTALL_DIR, LDAP_CONF_FILE, render, write_files
from ispctl.providers.ldap.access import service_settings
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output


def render_dovecot_cmd(ctx: CommandContext, out: Path, root: Path, bind_dn: str | None, password_file: Path | None,
                       ldap_conf_path: str = f"{DEFAULT_INSTALL_DIR}/{LDAP_CONF_FILE}",
                       env: Mapping[str, str] | None = None) -> int:
    """Write both files to ``out`` for an operator to install.

    The bind DN and password written are Dovecot's own read-only account (``--bind-dn`` and
    ``--password-file``, or ``ISPCTL_DOVECOT_LDAP_*``), never ispctl's (``service_settings``).
    """
    site = ctx.site(root, env)
    ldap = service_settings("dovecot", env, bind_dn, password_file, site.section(DIRECTORY))
    files = render(site, ldap, ldap_conf_path)
    try:
        written = write_files(files, out)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        output.out().print(f"Wrote {path}", markup=False)
    install = str(Path(ldap_conf_path).parent)
    output.out().print(
        f"Install them in {install}/ (keep {LDAP_CONF_FILE} owned by root, mode 0600), "
        "disable other passdb/userdb sources, and reload Dovecot.", markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("dovecot")
    def render_dovecot(
        out: Path = typer.Option(..., "--out", help="folder to write dovecot-ldap.conf.ext and conf.d/90-ispctl.conf "
                                                    "into"),
        dir: Path | None = DirOption,
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="DN Dovecot binds as: its read-only account "
                                                                   "[default: ISPCTL_DOVECOT_LDAP_BIND_DN]"),
        password_file: Path | None = typer.Option(None, "--password-file", help="file holding that "
                                                   "DN's password [default: ISPCTL_DOVECOT_LDAP_PASSWORD(_FILE)]"),
        ldap_conf_path: str = typer.Option(f"{DEFAULT_INSTALL_DIR}/{LDAP_CONF_FILE}", "--ldap-conf-path",
                                           help="where dovecot-ldap.conf.ext will be installed"),
    ) -> None:
        """Dovecot's passdb/userdb LDAP config (URL: ISPCTL_LDAP_*, account: ISPCTL_DOVECOT_LDAP_*)."""
        ctx.run(lambda: render_dovecot_cmd(ctx, out, ctx.root(dir), bind_dn, password_file, ldap_conf_path))
