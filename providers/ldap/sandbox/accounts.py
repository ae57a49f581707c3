"""The least-privilege accounts a sandbox or test slapd carries, and their passwords.

They live under ``ou=services,<suffix>``, outside the managed subtree (ispctl never reads or
changes them): the apply account, the read-only plan account and Dovecot's and Postfix's
service accounts, each with a random password kept in a 0600 file next to the data. The
access rules for them (``ispctl.providers.ldap.access``) are built into the config;
pure-ftpd's and FreeRADIUS's only where slapd has their schemas (their rules name the schemas'
attributes).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from ispctl.providers.ldap.access import Accounts

SERVICES_RDN = "ou=services"
# role -> cn of its entry
ROLES = {"apply": "ispctl-apply", "plan": "ispctl-plan", "dovecot": "dovecot", "postfix": "postfix",
         "pureftpd": "pureftpd", "freeradius": "freeradius"}
# role -> prefix of the variables ``env`` exports for it (apply's are ispctl's own)
ENV_PREFIX = {"apply": "ISPCTL_LDAP", "plan": "ISPCTL_PLAN_LDAP", "dovecot": "ISPCTL_DOVECOT_LDAP",
              "postfix": "ISPCTL_POSTFIX_LDAP", "pureftpd": "ISPCTL_PUREFTPD_LDAP",
              "freeradius": "ISPCTL_FREERADIUS_LDAP"}


def account_dn(role: str, suffix: str) -> str:
    return f"cn={ROLES[role]},{SERVICES_RDN},{suffix}"


def sandbox_accounts(suffix: str, ftp: bool = False, radius: bool = False) -> Accounts:
    """The accounts' DNs; pure-ftpd's rules only with ``ftp`` (slapd has the FTP schema),
    FreeRADIUS's only with ``radius`` (it has the RADIUS schemas)."""
    return Accounts(apply=account_dn("apply", suffix), plan=account_dn("plan", suffix),
                    dovecot=account_dn("dovecot", suffix), postfix=account_dn("postfix", suffix),
                    pureftpd=account_dn("pureftpd", suffix) if ftp else None,
                    freeradius=account_dn("freeradius", suffix) if radius else None)


def load_passwords(path: Path) -> dict[str, str]:
    """The accounts' passwords, made (and kept, 0600) on first use; a role added since the
    file was written gets one (its entry exists once the sandbox is made again)."""
    kept: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict):
            kept = {str(k): str(v) for k, v in stored.items() if k in ROLES}
        if set(kept) == set(ROLES):
            return kept
    passwords = {role: kept.get(role) or secrets.token_urlsafe(24) for role in ROLES}
    # Created 0600 before the secrets are written, so they are never readable by others.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(passwords), encoding="utf-8")
    return passwords


def accounts_ldif(suffix: str, passwords: Mapping[str, str], hash_password: Callable[[str], str]) -> list[str]:
    """ldapadd records for the container and the accounts, with hashed passwords."""
    records = [f"dn: {SERVICES_RDN},{suffix}\nobjectClass: organizationalUnit\nou: services\n"]
    for role, cn in ROLES.items():
        records.append(
            f"dn: {account_dn(role, suffix)}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: {cn}\nuserPassword: {hash_password(passwords[role])}\n"
            f"description: ispctl's {role} account (sandbox)\n")
    return records


def accounts_env(suffix: str, passwords: Mapping[str, str]) -> dict[str, str]:
    """``<PREFIX>_BIND_DN`` and ``<PREFIX>_PASSWORD`` for every account."""
    env: dict[str, str] = {}
    for role, prefix in ENV_PREFIX.items():
        env[f"{prefix}_BIND_DN"] = account_dn(role, suffix)
        env[f"{prefix}_PASSWORD"] = passwords[role]
    return env
