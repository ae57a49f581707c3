"""``ispctl import ispman``: read an ISPMan directory (LDIF dump or live) and write the estate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ispctl.providers.adopt.ispman import build_estate
from ispctl.providers.adopt.ispman_passwords import carry_passwords_cmd
from ispctl.providers.adopt.source import SourceEntry, read_ldif, read_live
from ispctl.providers.adopt.writer import write_estate
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.contract import Commands, DirOption, IspctlError, output

PASSWORD_ENV = "ISPCTL_ISPMAN_PASSWORD"
Ldif = typer.Option(None, "--ldif", help="an LDIF dump of the ISPMan tree (slapcat -b BASE)")
Url = typer.Option(None, "--url", help="the live ISPMan directory (ldap://, ldaps://)")
Base = typer.Option("o=ispman", "--base", help="ISPMan's ldapBaseDN")
BindDn = typer.Option(None, "--bind-dn", help="a read-only account of the ISPMan directory")
PasswordFile = typer.Option(None, "--password-file", help=f"its password [default: ${PASSWORD_ENV}]")


def read_source(ldif: Path | None, url: str | None, base: str, bind_dn: str | None,
                password_file: Path | None) -> tuple[list[SourceEntry], str]:
    """The ISPMan directory's entries and a name for it, from --ldif or --url."""
    if (ldif is None) == (url is None):
        raise IspctlError("give either --ldif FILE (a slapcat dump) or --url URL (live, with --bind-dn)")
    if ldif is not None:
        return read_ldif(ldif), str(ldif)
    assert url is not None
    if not bind_dn:
        raise IspctlError("--url needs --bind-dn (a read-only account is enough)")
    settings = LdapSettings(url, bind_dn, _password(password_file))
    return read_live(settings, base), f"{url} ({base})"


def import_ispman_cmd(root: Path, ldif: Path | None, url: str | None, base: str, bind_dn: str | None,
                      password_file: Path | None, base_dn: str | None, force: bool, json_out: bool) -> int:
    entries, source = read_source(ldif, url, base, bind_dn, password_file)
    estate, report = build_estate(entries, source, base_dn)
    site_file = root / "ispctl.yaml"
    if site_file.exists() and estate.site_extra:
        # The operator's own site settings stay as they are; what the domain files rely on is named.
        wanted = [f"{key}.{sub}" if isinstance(value, dict) else key
                  for key, value in estate.site_extra.items() for sub in (value if isinstance(value, dict) else [key])]
        report.add("site_settings", str(site_file), "kept as it is; the import would have set: " + ", ".join(wanted),
                   title="Site settings not written (the domain files may rely on them)")
        estate.site_extra.clear()
    report.written = write_estate(estate, root, force=force)
    if json_out:
        output.out().print(json.dumps(report.as_json(), indent=2, sort_keys=True), markup=False, highlight=False)
    else:
        output.out().print(report.text(), markup=False, highlight=False, end="")
        output.out().print("Next: 'ispctl validate', then 'ispctl plan' against the new directory.", markup=False)
    return 0


def _password(path: Path | None) -> str:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise IspctlError(f"cannot read --password-file {path}: {exc.strerror}") from None
    else:
        text = os.environ.get(PASSWORD_ENV, "")
    if not text:
        raise IspctlError(f"no password for the ISPMan directory: --password-file FILE or {PASSWORD_ENV}")
    return text


def register(commands: Commands) -> None:
    ctx = commands.context
    imports = commands.group("import", "Adopt existing services: write desired state from what is live.")

    @imports.command("ispman")
    def import_ispman(
        ldif: Path | None = Ldif, url: str | None = Url, base: str = Base, bind_dn: str | None = BindDn,
        password_file: Path | None = PasswordFile,
        base_dn: str | None = typer.Option(None, "--base-dn", help="ispctl's own subtree, written to a new "
                                                                   "ispctl.yaml"),
        force: bool = typer.Option(False, "--force", help="replace files the import would write"),
        json_out: bool = typer.Option(False, "--json", help="the import report as JSON"),
        dir: Path | None = DirOption,
    ) -> None:
        """Write an estate from an ISPMan 1.x directory, and report what was not imported as it was."""
        ctx.run(lambda: import_ispman_cmd(ctx.root(dir), ldif, url, base, bind_dn, password_file, base_dn, force,
                                          json_out))

    @imports.command("ispman-passwords")
    def import_ispman_passwords(
        ldif: Path | None = Ldif, url: str | None = Url, base: str = Base, bind_dn: str | None = BindDn,
        password_file: Path | None = PasswordFile,
        lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="seconds to wait for a running apply"),
        dir: Path | None = DirOption,
    ) -> None:
        """After the apply: write ISPMan's weak hashes (DES crypt...) into the migrated mailboxes, never git.

        Only mailboxes git gives no password and whose entry has none; recorded in the audit trail."""
        def body() -> int:
            entries, _source = read_source(ldif, url, base, bind_dn, password_file)
            return carry_passwords_cmd(ctx, ctx.root(dir), entries, lock_timeout)
        ctx.run(body)
