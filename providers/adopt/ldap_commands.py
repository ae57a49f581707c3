"""``ispctl import ldap``: a Postfix-LDAP (iRedMail-style) directory written as a new estate.

Reads the directory live (``--url``, ``--base``, a read-only ``--bind-dn`` with its
``--password-file``; paged) or from a ``slapcat`` LDIF (``--from-ldif``), converts it with the
mapping (``--mapping``, iRedMail's convention by default), writes the estate into ``--dir``
(nothing existing is overwritten without ``--force``), validates what it wrote and prints the
import report (``--json``: the report's JSON, README "Adopting an existing ISP"). Exit 0 when
the written estate is valid, 1 otherwise or on any error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ispctl.providers.adopt import homes
from ispctl.providers.adopt.iredmail import convert
from ispctl.providers.adopt.ispman_passwords import carry_passwords
from ispctl.providers.adopt.ldap_passwords import carriable
from ispctl.providers.adopt.mapping import default_mapping_yaml, load_mapping
from ispctl.providers.adopt.report import ImportReport
from ispctl.providers.adopt.source import SourceEntry, SourceError, read_ldif, read_live
from ispctl.providers.adopt.writer import write_estate
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output

PASSWORD_ENV = "ISPCTL_IMPORT_LDAP_PASSWORD_FILE"


def target_base(entries: list[SourceEntry], base: str | None) -> str:
    """ispctl's own subtree beside the imported data: ``ou=ispctl,<the source's dc= suffix>``."""
    sample = base or next((e.dn for e in entries), "")
    suffix = [rdn.strip() for rdn in sample.split(",") if rdn.strip().lower().startswith("dc=")]
    if not suffix:
        raise ConfigError("cannot tell the directory's suffix from the data: give ispctl's subtree with --base-dn")
    return "ou=ispctl," + ",".join(suffix)


def _read(from_ldif: Path | None, url: str | None, base: str | None, bind_dn: str | None,
          password_file: Path | None) -> tuple[list[SourceEntry], str]:
    if (from_ldif is None) == (url is None):
        raise ConfigError("give either --from-ldif FILE or --url URL with --base DN")
    if from_ldif is not None:
        return read_ldif(from_ldif), str(from_ldif)
    if not base:
        raise ConfigError("--url needs --base (the subtree holding the mail domains, e.g. o=domains,dc=example,dc=com)")
    password = ""
    source = password_file or (Path(os.environ[PASSWORD_ENV]) if os.environ.get(PASSWORD_ENV) else None)
    if bind_dn and source is None:
        raise ConfigError(f"--bind-dn needs --password-file (or {PASSWORD_ENV}); a password is never an argument")
    if source is not None:
        try:
            password = source.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the password file {source}: {getattr(exc, 'strerror', None) or exc}") \
                from None
    assert url is not None
    return read_live(LdapSettings(url, bind_dn or "", password), base), f"{url} ({base})"


def import_ldap_cmd(ctx: CommandContext, root: Path, *, from_ldif: Path | None, url: str | None, base: str | None,
                    bind_dn: str | None, password_file: Path | None, mapping_file: Path | None,
                    base_dn: str | None, settings: homes.HomeSettings, force: bool, json_out: bool) -> int:
    mapping = load_mapping(mapping_file)
    try:
        entries, source = _read(from_ldif, url, base, bind_dn, password_file)
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    report = ImportReport(source)
    estate = convert(entries, mapping, report, settings, base_dn or target_base(entries, base))
    kept_site = (root / "ispctl.yaml").exists()
    suggested = json.dumps(dict(estate.site_extra), default=dict, sort_keys=True)
    if kept_site:
        estate.site_extra.clear()  # the operator's own site settings stay as they are
    report.written = write_estate(estate, root, force=force)
    _, problems = ctx.check(root)
    if json_out:
        data = report.as_json()
        data["problems"] = [str(p) for p in problems]
        output.write_raw(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        output.out().print(report.text(), markup=False, end="")
        output.out().print(f"The estate is in {root}.", markup=False)
    if kept_site:
        output.err().print(f"{root / 'ispctl.yaml'} exists and was left as it is; the import suggests these site "
                           f"settings: {suggested}", markup=False)
    if problems:
        for problem in problems:
            output.err().print(str(problem), markup=False, style="red")
        output.err().print(f"{len(problems)} problem(s) in the written estate: fix them (or the mapping) before "
                           "'ispctl plan'.", markup=False)
        return 1
    if not json_out:
        output.out().print("Valid. Next: 'ispctl plan' against ispctl's subtree (README \"Adopting an existing ISP\").",
                           markup=False)
    return 0


def import_passwords_cmd(ctx: CommandContext, root: Path, *, from_ldif: Path | None, url: str | None,
                         base: str | None, bind_dn: str | None, password_file: Path | None, mapping_file: Path | None,
                         lock_timeout: float) -> int:
    mapping = load_mapping(mapping_file)
    try:
        entries, _source = _read(from_ldif, url, base, bind_dn, password_file)
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    carry, refused = carriable(entries, mapping)
    return carry_passwords(ctx, root, carry, refused, lock_timeout, "import-ldap-passwords", "the old directory")


def _print_mapping() -> int:
    output.write_raw(default_mapping_yaml())
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    imports = commands.group("import", "Adopt existing services: write desired state from what is live.")

    @imports.command("ldap")
    def import_ldap(
        from_ldif: Path | None = typer.Option(None, "--from-ldif", help="an LDIF dump (slapcat) of the directory"),
        url: str | None = typer.Option(None, "--url", help="read live: ldap://, ldaps:// or ldapi:// URL"),
        base: str | None = typer.Option(None, "--base", help="with --url: the subtree to read"),
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="with --url: a read-only account [default: "
                                                                   "anonymous]"),
        password_file: Path | None = typer.Option(None, "--password-file", help=f"its password [or ${PASSWORD_ENV}]"),
        mapping: Path | None = typer.Option(None, "--mapping", help="YAML overriding the convention (see "
                                                                    "--print-mapping) [default: iRedMail's]"),
        print_mapping: bool = typer.Option(False, "--print-mapping", help="print the default mapping and exit"),
        base_dn: str | None = typer.Option(None, "--base-dn", help="ispctl's subtree for directory.base_dn "
                                                                   "[default: ou=ispctl,<the source's dc= suffix>]"),
        mail_root: str | None = typer.Option(
            None, "--mail-root", help="mail.root [default: where the homes already are in ispctl's layout, else the "
                                      "common storage base]"),
        mail_uid: int | None = typer.Option(None, "--mail-uid", help="mail.uid [default: the homes' owner]"),
        mail_gid: int | None = typer.Option(None, "--mail-gid", help="mail.gid [default: the homes' group]"),
        no_adopt: bool = typer.Option(False, "--no-adopt-mail", help="write no maildir.adopt (the mail stays where "
                                                                     "it is, homes start empty)"),
        force: bool = typer.Option(False, "--force", help="replace files that exist"),
        json_out: bool = typer.Option(False, "--json", help="print the import report as JSON"),
        dir: Path | None = DirOption,
    ) -> None:
        """Write a new estate from an iRedMail-style LDAP directory (live or LDIF), with an import report."""
        if print_mapping:
            ctx.run(_print_mapping)
            return
        settings = homes.HomeSettings(mail_root, mail_uid, mail_gid, adopt=not no_adopt)
        ctx.run(lambda: import_ldap_cmd(
            ctx, ctx.root(dir), from_ldif=from_ldif, url=url, base=base, bind_dn=bind_dn, password_file=password_file,
            mapping_file=mapping, base_dn=base_dn, settings=settings, force=force, json_out=json_out))

    @imports.command("ldap-passwords")
    def import_ldap_passwords(
        from_ldif: Path | None = typer.Option(None, "--from-ldif", help="the same LDIF dump as the import"),
        url: str | None = typer.Option(None, "--url", help="or read live: ldap://, ldaps:// or ldapi:// URL"),
        base: str | None = typer.Option(None, "--base", help="with --url: the subtree to read"),
        bind_dn: str | None = typer.Option(None, "--bind-dn", help="with --url: an account that may read "
                                                                   "userPassword"),
        password_file: Path | None = typer.Option(None, "--password-file", help=f"its password [or ${PASSWORD_ENV}]"),
        mapping: Path | None = typer.Option(None, "--mapping", help="the mapping the import used"),
        lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="seconds to wait for the apply lock"),
        dir: Path | None = DirOption,
    ) -> None:
        """After the apply: write the old hashes git cannot hold ({SSHA512}...) into the migrated mailboxes."""
        ctx.run(lambda: import_passwords_cmd(
            ctx, ctx.root(dir), from_ldif=from_ldif, url=url, base=base, bind_dn=bind_dn, password_file=password_file,
            mapping_file=mapping, lock_timeout=lock_timeout))
