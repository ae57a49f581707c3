"""``ispctl render replication provider|consumer``: the cn=config LDIF of ``replication_config``.

What an operator feeds to ``ldapmodify -Y EXTERNAL -H ldapi:///`` on the provider and on each
consumer (README "Replication"). The consumer's file carries the replication account's password
(``olcSyncrepl`` needs it): it is read from a file, never from the command line, and the LDIF is
written with mode 0600.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from ispctl.providers.ldap.replication_config import DEFAULT_DATABASE, consumer_ldif, provider_ldif
from ispctl.reconciler.contract import Commands, IspctlError, output, write_rendered


def _write(out: Path, render: Callable[[], str]) -> int:
    """Render (a bad value is the user's error, not a crash) and write ``out``, mode 0600."""
    try:
        text = render()
    except ValueError as exc:
        raise IspctlError(str(exc)) from None
    try:
        write_rendered({out.name: text}, out.parent, {out.name: 0o600})
    except OSError as exc:
        raise IspctlError(f"cannot write {out}: {exc.strerror or exc}") from None
    output.out().print(f"Wrote {out} (apply as root on that server: ldapmodify -Y EXTERNAL -H ldapi:/// -f {out})",
                       markup=False)
    return 0


def _password(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise IspctlError(f"cannot read the replication password file {path}: "
                          f"{exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}") from None
    if not text:
        raise IspctlError(f"the replication password file {path} is empty")
    return text


def register(commands: Commands) -> None:
    ctx = commands.context
    group = commands.group("render", "Render configuration files that make servers read the directory.")
    replication = typer.Typer(no_args_is_help=True, help="cn=config LDIF for directory replication (delta-syncrepl).")
    group.add_typer(replication, name="replication")

    @replication.command("provider")
    def provider(
        out: Path = typer.Option(..., "--out", help="LDIF file to write (ldapmodify input)"),
        replicator_dn: str = typer.Option(..., "--replicator-dn", help="the account consumers bind as (it must "
                                                                       "exist, with a password)"),
        accesslog_dir: Path = typer.Option(Path("/var/lib/ldap/accesslog"), "--accesslog-dir",
                                           help="the changelog database's directory (create it, owned by slapd)"),
        database: str = typer.Option(DEFAULT_DATABASE, "--database", help="cn=config entry of the main database"),
        accesslog_database: str = typer.Option("{2}mdb", "--accesslog-database",
                                               help="olcDatabase of the new changelog database (the next free number)"),
    ) -> None:
        """The provider's changes: syncprov, accesslog and its changelog database, indexes, access.

        Example: ispctl render replication provider --replicator-dn cn=replicator,dc=example,dc=net --out p.ldif
        """
        ctx.run(lambda: _write(out, lambda: provider_ldif(replicator_dn, str(accesslog_dir), database=database,
                                                          accesslog_database=accesslog_database)))

    @replication.command("consumer")
    def consumer(
        out: Path = typer.Option(..., "--out", help="LDIF file to write (ldapmodify input; mode 0600: it holds the "
                                                    "password)"),
        provider_url: str = typer.Option(..., "--provider", help="the provider's URL (ldap://, ldaps://)"),
        suffix: str = typer.Option(..., "--suffix", help="the replicated database's suffix (dc=example,dc=net)"),
        replicator_dn: str = typer.Option(..., "--replicator-dn", help="the account to bind to the provider as"),
        password_file: Path = typer.Option(..., "--password-file", help="file holding that account's password"),
        rid: int = typer.Option(1, "--rid", help="replica id, 1-999, unique per consumer of a provider"),
        database: str = typer.Option(DEFAULT_DATABASE, "--database", help="cn=config entry of the main database"),
    ) -> None:
        """A read-only consumer of the provider (olcSyncrepl with syncdata=accesslog, olcUpdateRef).

        Example: ispctl render replication consumer --provider ldap://ldap1.example.net --suffix dc=example,dc=net
        --replicator-dn cn=replicator,dc=example,dc=net --password-file /etc/ldap/replicator.pw --out c.ldif
        """
        ctx.run(lambda: _write(out, lambda: consumer_ldif(rid, provider_url, suffix, replicator_dn,
                                                          _password(password_file), database=database)))
