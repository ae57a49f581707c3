"""``ispctl render freeradius``: FreeRADIUS's LDAP module and virtual server, for an operator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer

from ispctl.providers.ldap.access import service_settings
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.providers.radius.directory import SCHEMAS
from ispctl.providers.radius.render import DEFAULT_INSTALL_DIR, MODULE_FILE, SITE_FILE, SITE_NAME, render, write_files
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output


def render_freeradius_cmd(ctx: CommandContext, out: Path, root: Path, bind_dn: str | None, password_file: Path | None,
                          address: str = "*", auth_port: int = 0, acct_port: int = 0,
                          env: Mapping[str, str] | None = None) -> int:
    """Write both files below ``out`` (laid out as in the raddb) for an operator to install.

    The bind DN and password written are FreeRADIUS's own read-only account (``--bind-dn`` and
    ``--password-file``, or ``ISPCTL_FREERADIUS_LDAP_*``), never ispctl's (``service_settings``).
    """
    directory = ctx.site(root, env).section(DIRECTORY)
    ldap = service_settings("freeradius", env, bind_dn, password_file, directory)
    base_dn = directory.base_dn
    files = render(ldap, base_dn, address, auth_port, acct_port)
    try:
        written = write_files(files, out)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        output.out().print(f"Wrote {path}", markup=False)
    raddb = DEFAULT_INSTALL_DIR
    steps = [
        f"Install them in {raddb}/ ({MODULE_FILE}: owner root, group freerad, mode 0640), then:",
        f"  ln -s ../{MODULE_FILE} {raddb}/mods-enabled/ldap",
        f"  ln -s ../{SITE_FILE} {raddb}/sites-enabled/{SITE_NAME}",
        f"  rm {raddb}/sites-enabled/default    # the ispctl server listens on its ports instead",
        "  add your NAS devices to clients.conf (with nas_type: Simultaneous-Use counts the sessions their",
        "  accounting reports in radutmp and asks the NAS about them); restart freeradius (check: freeradius -XC)",
        "The directory needs these schemas loaded (ldapadd -Y EXTERNAL -H ldapi:/// -f FILE), in this order:",
        *(f"  {path}" for path in SCHEMAS),
    ]
    for line in steps:
        output.out().print(line, markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("freeradius")
    def render_freeradius(
        out: Path = typer.Option(..., "--out", help="folder to write mods-available/ldap and sites-available/ispctl "
                                                    "into"),
        dir: Path | None = DirOption,
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="DN FreeRADIUS binds as: its read-only account "
                                                                   "[default: ISPCTL_FREERADIUS_LDAP_BIND_DN]"),
        password_file: Path | None = typer.Option(None, "--password-file", help="file holding that DN's password "
                                                  "[default: ISPCTL_FREERADIUS_LDAP_PASSWORD(_FILE)]"),
        listen: str = typer.Option("*", "--listen", help="address the RADIUS server listens on"),
        auth_port: int = typer.Option(0, "--auth-port", help="authentication port (0: 1812)"),
        acct_port: int = typer.Option(0, "--acct-port", help="accounting port (0: 1813)"),
    ) -> None:
        """FreeRADIUS's LDAP module and virtual server (URL: ISPCTL_LDAP_*, account: ISPCTL_FREERADIUS_LDAP_*)."""
        ctx.run(lambda: render_freeradius_cmd(ctx, out, ctx.root(dir), bind_dn, password_file, listen, auth_port,
                                              acct_port))
