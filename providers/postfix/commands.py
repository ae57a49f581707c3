"""``ispctl render postfix``: Postfix's LDAP tables for the directory, written for an operator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer

from ispctl.providers.ldap.access import service_settings
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DIRECTORY, DirectorySettings
from ispctl.providers.postfix.render import MAIN_CF, render, write_files
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output


def connection_settings(env: Mapping[str, str] | None, bind_dn: str | None,
                        password_file: Path | None, directory: DirectorySettings | None = None) -> LdapSettings:
    """The environment's connection with Postfix's own read-only account (never ispctl's)."""
    return service_settings("postfix", env, bind_dn, password_file, directory)


def render_postfix_cmd(ctx: CommandContext, out: Path, root: Path, bind_dn: str | None = None,
                       password_file: Path | None = None, table_dir: str | None = None, group: str | None = None,
                       env: Mapping[str, str] | None = None) -> int:
    """Write the tables and ``main.cf.ispctl`` into ``out``.

    ``main.cf.ispctl`` names the tables in ``table_dir`` (default: ``out`` itself, as an
    absolute path), so rendering straight into ``/etc/postfix/ispctl`` needs nothing else.
    """
    site = ctx.site(root, env)
    ldap = connection_settings(env, bind_dn, password_file, site.section(DIRECTORY))
    files = render(site, ldap, table_dir if table_dir is not None else str(out.absolute()))
    try:
        written = write_files(files, out, group)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        output.out().print(f"Wrote {path}", markup=False)
    output.out().print(
        f"Merge {out / MAIN_CF} into /etc/postfix/main.cf and run `postfix reload`. The tables hold "
        "the bind password: keep them root-owned, group postfix, mode 0640.", markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("postfix")
    def render_postfix(
        out: Path = typer.Option(..., "--out", help="folder to write the LDAP tables (*.cf) and main.cf.ispctl into"),
        dir: Path | None = DirOption,
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="DN Postfix binds as: its read-only account "
                                                                   "[default: ISPCTL_POSTFIX_LDAP_BIND_DN]"),
        password_file: Path | None = typer.Option(None, "--password-file", help="file holding that "
                                                   "DN's password [default: ISPCTL_POSTFIX_LDAP_PASSWORD(_FILE)]"),
        table_dir: str | None = typer.Option(None, "--table-dir", help="where the tables will be installed, as "
                                                                       "main.cf.ispctl names them [default: --out]"),
        group: str | None = typer.Option(None, "--group", help="group owning the files (postfix, so proxymap can read "
                                                               "them)"),
    ) -> None:
        """Postfix LDAP lookup tables for the directory (URL from ISPCTL_LDAP_*, account ISPCTL_POSTFIX_LDAP_*)."""
        ctx.run(lambda: render_postfix_cmd(ctx, out, ctx.root(dir), bind_dn, password_file, table_dir, group))
