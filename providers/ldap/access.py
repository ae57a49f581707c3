"""Who may do what in the managed subtree: slapd access rules (olcAccess), one function makes them.

``access_rules(base_dn, accounts)`` returns the rules; ``access_ldif`` wraps them in the
ldapmodify input an operator applies once (``ispctl render access``). The accounts:

* ``apply``: writes the managed subtree (entries, moves, deletes) and the estate lock in it.
* ``plan``: reads everything ispctl reads there. It also reads ``userPassword`` unless
  ``plan_reads_passwords`` is off: a plan compares the hashes kept in git (and the entry
  fingerprints, which cover them), so without read access every such hash would show as a
  change. Turn it off once no hash is compared any more (passwords owned by their users).
* ``dovecot``: reads the subtree, password hashes included (passdb lookups verify ``{CRYPT}``
  hashes in Dovecot itself).
* ``postfix``: reads the subtree except ``userPassword`` (routing needs addresses, aliases,
  forwards and flags, never a hash).
* ``pureftpd``: reads, in the entries with ispctl's FTP class only, what pure-ftpd-ldap reads
  (``PUREFTPD_ATTRS``: the login name, owner, FTP home and pure-ftpd's own attributes), and may
  search from the base. Never a password: pure-ftpd checks one by binding as the login's entry
  (``LDAPAuthMethod BIND``). The rule names the FTP schema's attributes, so it can only be
  loaded into a slapd that has that schema (``providers/ftp/schema``).
* ``freeradius``: reads, in the entries with FreeRADIUS's ``radiusprofile`` class only (access
  accounts, mailboxes with dial-up, profiles), what its ldap module reads (``FREERADIUS_ATTRS``:
  the login name, ``dialupAccess``, the profile DN, reply values and the credentials its methods
  need: ``userPassword``, the NT hash, the cleartext), and may search from the base. The NT hash
  and cleartext (``RADIUS_SECRETS``) are then closed to everybody else but the apply account and
  plan accounts that read hashes: Dovecot and Postfix read the subtree, never those. The rules
  name the RADIUS schemas' attributes, so they can only be loaded into a slapd that has them
  (``providers/radius/schema``).
* ``resellers``: reseller name (the tenant's key, the ``o=`` value under the base) -> DN of
  that reseller's read-only plan account. It reads ``o=<name>,<base>`` and everything under it
  (hashes as for ``plan``), plus the base entry itself (its existence and object classes, which
  ispctl checks before reading); every other reseller's entries are invisible to it.

Everybody else: a mailbox's user may bind (``anonymous auth`` on ``userPassword``: every bind is
made anonymously) and replace its own password (``self =w``: ldappasswd, not read it back);
nothing else, anonymous included, is allowed anything in the subtree. The rootDN is not subject
to access rules. Rules are evaluated first match wins, so the reseller rules (narrowest
subtrees) come first and end with ``by * break`` to hand every other identity on; the two rules
for the whole subtree end with ``by * none`` so a database-wide rule further down (Debian's
``to * by * read``) never opens the subtree again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import typer

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DIRECTORY, ROLES, DirectoryAccounts, DirectorySettings
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output

DEFAULT_DATABASE = "olcDatabase={1}mdb,cn=config"
# What pure-ftpd-ldap reads of a login's entry (its log_ldap.c; README.LDAP): no userPassword.
PUREFTPD_CLASS = "ispctlFtpUser"
PUREFTPD_ATTRS = ("entry", "objectClass", "uid", "uidNumber", "gidNumber", "ispctlFtpHome", "FTPStatus",
                  "FTPQuotaMBytes", "FTPQuotaFiles", "FTPUploadBandwidth", "FTPDownloadBandwidth", "FTPUploadRatio",
                  "FTPDownloadRatio", "FTPuid", "FTPgid",
                  # In a cluster a host's pure-ftpd filters on where each login is placed.
                  "mailHost", "host")
# What FreeRADIUS's rendered ldap module reads (providers/radius/render.py): filters, the
# access and profile attributes, its map's sources.
FREERADIUS_CLASS = "radiusprofile"
RADIUS_SECRETS = ("ispctlRadiusNTHash", "ispctlRadiusCleartext")
FREERADIUS_ATTRS = ("entry", "objectClass", "uid", "userPassword", *RADIUS_SECRETS, "dialupAccess", "radiusProfileDN",
                    "ispctlRadiusAuthMethod", "radiusSimultaneousUse", "radiusSessionTimeout", "radiusIdleTimeout",
                    "radiusFramedIPAddress", "radiusFramedIPNetmask", "radiusFramedRoute", "radiusReplyAttribute")
# A DN goes between double quotes in a rule; slapd's config parser reads backslashes and quotes
# there itself, so DNs needing either are refused rather than escaped a second time.
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


@dataclass(frozen=True)
class Accounts:
    """The DNs of the accounts the rules are for (``None``: that service has no account)."""

    apply: str
    plan: str
    dovecot: str | None = None
    postfix: str | None = None
    resellers: Mapping[str, str] = field(default_factory=dict)
    plan_reads_passwords: bool = True
    pureftpd: str | None = None
    freeradius: str | None = None


def _quoted_dn(value: str, what: str) -> str:
    if not value.strip():
        raise ConfigError(f"{what} is empty")
    if _UNQUOTABLE.search(value):
        raise ConfigError(f"{what} {value!r} contains a quote, backslash or control character, which an "
                          "access rule cannot carry: use a DN without them")
    try:
        dnlib.check_dn(value)
    except dnlib.InvalidDn:
        raise ConfigError(f"{what} {value!r} is not a distinguished name such as cn=ispctl-plan,dc=example,dc=net"
                          ) from None
    return f'"{value}"'


def _by(dns: list[str], level: str) -> str:
    return "".join(f" by dn.exact={dn} {level}" for dn in dns)


def access_rules(base_dn: str, accounts: Accounts) -> list[str]:
    """The olcAccess values (without their ``{n}`` order prefix), first to last."""
    base = _quoted_dn(base_dn, "the managed base")
    apply = _quoted_dn(accounts.apply, "the apply account")
    plan = _quoted_dn(accounts.plan, "the plan account")
    readers = [plan]
    hash_readers = [plan] if accounts.plan_reads_passwords else []
    if accounts.dovecot is not None:
        readers.append(_quoted_dn(accounts.dovecot, "the Dovecot account"))
        hash_readers.append(readers[-1])
    if accounts.postfix is not None:
        readers.append(_quoted_dn(accounts.postfix, "the Postfix account"))
    rules: list[str] = []
    resellers = []
    for name, account in sorted(accounts.resellers.items()):
        subtree = _quoted_dn(dnlib.child("o", name, base_dn), f"reseller {name!r}'s subtree")
        who = _quoted_dn(account, f"reseller {name!r}'s account")
        resellers.append(who)
        if not accounts.plan_reads_passwords:
            hidden = ",".join(("userPassword", *(RADIUS_SECRETS if accounts.freeradius is not None else ())))
            rules.append(f"to dn.subtree={subtree} attrs={hidden} by dn.exact={who} none by * break")
        rules.append(f"to dn.subtree={subtree} by dn.exact={who} read by * break")
    if resellers:
        # ispctl checks that the base exists and searches from it; nothing else of it is shown.
        rules.append(f"to dn.base={base} attrs=entry,objectClass{_by(resellers, 'read')} by * break")
    if accounts.pureftpd is not None:
        ftp = _quoted_dn(accounts.pureftpd, "pure-ftpd's account")
        # Searching from the base needs the base entry itself (never its other attributes).
        rules.append(f"to dn.base={base} attrs=entry by dn.exact={ftp} search by * break")
        rules.append(f"to dn.subtree={base} filter=(objectClass={PUREFTPD_CLASS}) attrs={','.join(PUREFTPD_ATTRS)}"
                     f" by dn.exact={ftp} read by * break")
    if accounts.freeradius is not None:
        radius = _quoted_dn(accounts.freeradius, "FreeRADIUS's account")
        rules.append(f"to dn.base={base} attrs=entry by dn.exact={radius} search by * break")
        rules.append(f"to dn.subtree={base} filter=(objectClass={FREERADIUS_CLASS}) attrs={','.join(FREERADIUS_ATTRS)}"
                     f" by dn.exact={radius} read by * break")
        # Not for Dovecot (a hash reader) nor Postfix: the NT hash and cleartext are FreeRADIUS's.
        plans = [plan] if accounts.plan_reads_passwords else []
        rules.append(f"to dn.subtree={base} attrs={','.join(RADIUS_SECRETS)} by dn.exact={apply} write"
                     f"{_by(plans, 'read')} by * none")
    rules.append(f"to dn.subtree={base} attrs=userPassword by dn.exact={apply} write{_by(hash_readers, 'read')}"
                 " by self =w by anonymous auth by * none")
    rules.append(f"to dn.subtree={base} by dn.exact={apply} write{_by(readers, 'read')} by * none")
    return rules


def access_ldif(base_dn: str, accounts: Accounts, database: str = DEFAULT_DATABASE) -> str:
    """ldapmodify input that puts the rules before the database's own (which still apply elsewhere)."""
    _quoted_dn(database, "the database")
    values = "".join(f"olcAccess: {{{index}}}{rule}\n" for index, rule in enumerate(access_rules(base_dn, accounts)))
    return (f"# ispctl's access rules for the managed subtree {base_dn}.\n"
            "# Apply once: ldapmodify -Y EXTERNAL -H ldapi:/// -f THIS_FILE. Each value is inserted at the\n"
            "# position it names, ahead of the rules already there; applying it twice adds them twice.\n"
            f"dn: {database}\nchangetype: modify\nadd: olcAccess\n{values}")


def _same_dn(a: str, b: str) -> bool:
    try:
        return dnlib.normalise(a) == dnlib.normalise(b)
    except ValueError:
        return a.strip().lower() == b.strip().lower()


def refuse_foreign_account(service: str, bind_dn: str, directory: DirectorySettings | None,
                           env: Mapping[str, str]) -> None:
    """Refuse to render ``bind_dn`` into ``service``'s configuration when it is another role's
    account, under any spelling: ispctl's apply account (the estate's ``accounts.apply`` or this
    machine's ``ISPCTL_LDAP_BIND_DN``, which may write), its plan accounts (``accounts.plan``,
    ``ISPCTL_PLAN_LDAP_BIND_DN``, a reseller's), or another service's. The file is readable by
    the service and whoever reads its configuration."""
    declared = directory.accounts if directory is not None else DirectoryAccounts()
    roles = [(role, f"directory.accounts.{role} in ispctl.yaml", dn) for role in ROLES if role != service
             and (dn := getattr(declared, role)) is not None]
    roles += [("apply", "ISPCTL_LDAP_BIND_DN", env.get("ISPCTL_LDAP_BIND_DN", "")),
              ("plan", "ISPCTL_PLAN_LDAP_BIND_DN", env.get("ISPCTL_PLAN_LDAP_BIND_DN", ""))]
    roles += [(f"reseller {name}'s plan", f"directory.accounts.resellers.{name} in ispctl.yaml", dn)
              for name, dn in declared.resellers.items()]
    for role, source, dn in roles:
        if dn.strip() and _same_dn(dn, bind_dn):
            kind = ("ispctl's own account: its apply account, which may write to the directory" if role == "apply"
                    else f"ispctl's own account: its {role} account" if role.endswith("plan")
                    else f"{role}'s account")
            raise ConfigError(f"render {service}: {bind_dn.strip()} is {kind} ({source}): give {service} its own "
                              f"read-only account (directory.accounts.{service} in ispctl.yaml, "
                              f"ISPCTL_{service.upper()}_LDAP_BIND_DN or --bind-dn)")


def service_settings(service: str, env: Mapping[str, str] | None, bind_dn: str | None,
                     password_file: Path | None, directory: DirectorySettings | None = None) -> LdapSettings:
    """The connection a service's configuration is rendered with: that service's own account.

    The DN from ``--bind-dn``, else ``ISPCTL_<SERVICE>_LDAP_BIND_DN`` (this machine's override),
    else the estate's ``directory.accounts.<service>``; its password from ``--password-file``,
    else ``ISPCTL_<SERVICE>_LDAP_PASSWORD(_FILE)`` (never from git); the URL and TLS settings
    stay ispctl's. Another role's account is refused (``refuse_foreign_account``).
    """
    env = dict(os.environ if env is None else env)
    prefix = f"ISPCTL_{service.upper()}_LDAP"
    overridden = env.get(f"{prefix}_BIND_DN", "").strip() or None
    if (bind_dn is not None and password_file is None) or (bind_dn is None and password_file and overridden):
        # The environment's password belongs to another DN (and --password-file to the estate's
        # when the environment names none): never pair them silently.
        raise ConfigError("--bind-dn and --password-file go together (the service account and its password)")
    password: str | None = None
    if bind_dn is None:
        bind_dn = overridden or (getattr(directory.accounts, service, None) if directory is not None else None)
        if password_file is None:
            password = env.get(f"{prefix}_PASSWORD") or None
            named = env.get(f"{prefix}_PASSWORD_FILE", "").strip()
            password_file = Path(named) if named else None
        if bind_dn is None or (password is None and password_file is None):
            raise ConfigError(
                f"ispctl render {service} writes a bind DN and its password into the configuration, and never "
                f"ispctl's own (ISPCTL_LDAP_BIND_DN may write to the directory). Declare {service}'s read-only "
                f"account in ispctl.yaml (directory.accounts.{service}) or set {prefix}_BIND_DN, and its password "
                f"in {prefix}_PASSWORD_FILE (or {prefix}_PASSWORD or --password-file); or pass --bind-dn and "
                "--password-file (README \"Service accounts and access rules\")")
    if not bind_dn.strip():
        raise ConfigError("--bind-dn is empty")
    refuse_foreign_account(service, bind_dn, directory, env)
    env["ISPCTL_LDAP_BIND_DN"] = bind_dn.strip()
    env.pop("ISPCTL_LDAP_PASSWORD", None)
    env.pop("ISPCTL_LDAP_PASSWORD_FILE", None)
    if password_file is not None:
        env["ISPCTL_LDAP_PASSWORD_FILE"] = str(password_file)
    else:
        assert password is not None
        env["ISPCTL_LDAP_PASSWORD"] = password
    return LdapSettings.from_env(env)


def declared_accounts(directory: DirectorySettings, overrides: Mapping[str, str | None],
                      resellers: Mapping[str, str], plan_reads_passwords: bool | None) -> Accounts:
    """The estate's accounts (``directory.accounts``) with the command line's overrides on top
    (``overrides``: role -> DN or None for not given; ``resellers`` replace the declared ones
    when any is given)."""
    declared = directory.accounts
    dns = {role: overrides.get(role) or getattr(declared, role) for role in ROLES}
    missing = [role for role in ("apply", "plan") if dns[role] is None]
    if missing:
        raise ConfigError(" and ".join(f"the {role} account" for role in missing) + " is not declared: write "
                          + " and ".join(f"directory.accounts.{role}" for role in missing) + " in ispctl.yaml "
                          "(or pass " + " and ".join(f"--{role}-dn" for role in missing) + ")")
    apply, plan = dns["apply"], dns["plan"]
    assert apply is not None and plan is not None
    return Accounts(apply, plan, dns["dovecot"], dns["postfix"], dict(resellers or declared.resellers),
                    declared.plan_reads_passwords if plan_reads_passwords is None else plan_reads_passwords,
                    dns["pureftpd"], dns["freeradius"])


def _resellers(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, account = value.partition("=")
        if not sep or not name.strip() or not account.strip():
            raise ConfigError(f"--reseller {value!r}: write NAME=ACCOUNT_DN (e.g. acme=cn=acme-plan,dc=example,dc=net)")
        if name.strip() in out:
            raise ConfigError(f"--reseller {name.strip()} given twice")
        out[name.strip()] = account.strip()
    return out


def render_access_cmd(ctx: CommandContext, out: Path, root: Path, accounts: Accounts | None = None,
                      database: str = DEFAULT_DATABASE, overrides: Mapping[str, str | None] | None = None,
                      resellers: Mapping[str, str] | None = None, plan_reads_passwords: bool | None = None) -> int:
    """The LDIF for ``accounts``, or for the estate's (``directory.accounts``) with the flags'
    ``overrides`` on top."""
    directory = ctx.site(root).section(DIRECTORY)
    if accounts is None:
        accounts = declared_accounts(directory, overrides or {}, resellers or {}, plan_reads_passwords)
    text = access_ldif(directory.base_dn, accounts, database)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    output.out().print(f"Wrote {out}", markup=False)
    output.out().print(f"Apply it on the LDAP server as root: ldapmodify -Y EXTERNAL -H ldapi:/// -f {out}",
                       markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("access")
    def render_access(
        out: Path = typer.Option(..., "--out", help="LDIF file to write (ldapmodify input)"),
        dir: Path | None = DirOption,
        apply_dn: str | None = typer.Option(None, "--apply-dn", help="account ispctl apply binds as (write) "
                                                                      "[default: directory.accounts.apply]"),
        plan_dn: str | None = typer.Option(None, "--plan-dn", help="account ispctl plan binds as (read-only) "
                                                                    "[default: directory.accounts.plan]"),
        dovecot_dn: str | None = typer.Option(None, "--dovecot-dn", help="Dovecot's account (reads hashes)"),
        postfix_dn: str | None = typer.Option(None, "--postfix-dn", help="Postfix's account (no hashes)"),
        pureftpd_dn: str | None = typer.Option(None, "--pureftpd-dn", help="pure-ftpd's account (FTP logins' "
                                                                          "attributes only; needs the FTP schema)"),
        freeradius_dn: str | None = typer.Option(None, "--freeradius-dn", help="FreeRADIUS's account (access "
                                                 "accounts and profiles only; needs the RADIUS schemas)"),
        reseller: list[str] = typer.Option([], "--reseller", help="NAME=ACCOUNT_DN: a reseller's read-only plan "
                                                                   "account, limited to o=NAME under the base"),
        plan_passwords: bool | None = typer.Option(None, "--plan-passwords/--no-plan-passwords",
                                                   help="whether plan accounts read password hashes (needed while "
                                                        "git holds hashes to compare) [default: directory.accounts."
                                                        "plan_reads_passwords, else yes]"),
        database: str = typer.Option(DEFAULT_DATABASE, "--database", help="cn=config entry of the database "
                                                                          "holding the managed base"),
    ) -> None:
        """Directory access rules (olcAccess LDIF) for the accounts ispctl.yaml declares (directory.accounts);
        each flag overrides its role."""
        overrides = {"apply": apply_dn, "plan": plan_dn, "dovecot": dovecot_dn, "postfix": postfix_dn,
                     "pureftpd": pureftpd_dn, "freeradius": freeradius_dn}
        ctx.run(lambda: render_access_cmd(ctx, out, ctx.root(dir), None, database, overrides, _resellers(reseller),
                                          plan_passwords))


__all__ = [
    "DEFAULT_DATABASE", "FREERADIUS_ATTRS", "FREERADIUS_CLASS", "PUREFTPD_ATTRS", "PUREFTPD_CLASS", "RADIUS_SECRETS",
    "Accounts", "access_ldif", "access_rules", "declared_accounts", "refuse_foreign_account", "register",
    "service_settings",
]
