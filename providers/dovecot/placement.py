"""The Dovecot service's part of placement: a ``mailhost`` resource per placed mailbox, and its
provider built from the site settings and this machine's environment (see ``hosts``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ispctl.providers.dovecot.hosts import KIND, MailHostProvider
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import (
    CLUSTER,
    MAILBOX,
    Catalog,
    Compiled,
    ConfigError,
    DirectoryPart,
    Facts,
    Resource,
    SiteFile,
    address_of,
    place_mailboxes,
)

# The schema of mailHost and inetLocalMailRecipient (the entries' values are this service's
# provider's; the part only makes the directory load the schema).
MISC_SCHEMA = Path("/etc/ldap/schema/misc.ldif")
SCHEMA_PART = DirectoryPart(MAILBOX, {}, schemas=(MISC_SCHEMA,))


def compile_placement(catalog: Catalog) -> Compiled:
    """``mailhost.<address>`` (``host``) for every placed mailbox; nothing without a cluster.

    A default host is written at creation and is the directory's afterwards (``create_only``:
    a new host in the cluster moves nothing); a pinned one is compared, a change is a move.
    Placement problems are the mail store's to report (it compiles the same placement)."""
    out = Compiled()
    for address, placed in place_mailboxes(catalog).hosts.items():
        box = catalog.mailboxes[address]
        out.resources.append(Resource(KIND, address, {"host": placed.host},
                                      depends_on=(address_of(MAILBOX, address),), previous=box.previous,
                                      source=box.origin.location(), create_only=placed.create_only))
    return out


def placement_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """No facts: a ``mailhost``'s host is the mailbox's own, its domain's (same file) or its tenants'
    ``placement:``, else a default chosen by its address over the cluster's hosts, so no other
    domain file changes it. The one rule across files of placement, a host's capacity, is the
    mail store's to report and to count (``mailstore_facts``), not counted twice here."""
    return {}


def _password(env: Mapping[str, str]) -> str | None:
    path = env.get("ISPCTL_DOVEADM_PASSWORD_FILE", "").strip()
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read ISPCTL_DOVEADM_PASSWORD_FILE {path}: {exc}") from None
        if not value:
            raise ConfigError(f"ISPCTL_DOVEADM_PASSWORD_FILE {path} is empty")
        return value
    return env.get("ISPCTL_DOVEADM_PASSWORD") or None


def journal_folder(env: Mapping[str, str]) -> Path:
    """``$ISPCTL_MOVE_JOURNAL``, else ``$XDG_STATE_HOME/ispctl/moves`` (``~/.local/state/...``)."""
    if env.get("ISPCTL_MOVE_JOURNAL"):
        return Path(env["ISPCTL_MOVE_JOURNAL"])
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ispctl" / "moves"


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> MailHostProvider:
    from ispctl.providers.dovecot.move import Doveadm, mail_journal  # doveadm's client: when a provider is made

    env = os.environ if env is None else env
    cluster = site.section(CLUSTER)
    directory = site.section(DIRECTORY)
    password = _password(env)
    endpoints = {name: cluster.doveadm_address(name) for name, _host in cluster.with_role("mail_store")}
    return MailHostProvider(LdapSettings.from_env(env), directory.base_dn, endpoints,
                            # ISPCTL_DOVEADM: another doveadm binary (a wrapper, a full path).
                            Doveadm(password, env.get("ISPCTL_DOVEADM") or "doveadm") if password else None,
                            mail_journal(journal_folder(env)),
                            directory.page_size)


def placed_mailboxes(site: SiteFile, env: Mapping[str, str]) -> dict[str, str]:
    """Every mailbox's mailHost in the directory (address -> host), in one search: what a mail
    store host's own run keeps (``MailStoreProvider.reconciles``), wired by the registry."""
    hosts = build(site, env)
    try:
        return hosts.placed()
    finally:
        hosts.close()


def placed_counts(site: SiteFile, env: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Mailboxes (and their FTP logins) per mail_store host in the directory (``ispctl status``)."""
    hosts = build(site, env)
    try:
        return hosts.counts()
    finally:
        hosts.close()
