"""Dovecot (IMAP/POP3, LMTP): configuration that makes Dovecot read mailboxes from the directory.

ispctl does not manage Dovecot as a provider with live state: Dovecot reads the directory on
every login. The service ships the passdb/userdb LDAP configuration for ispctl's DIT
(``render``, ``ispctl render dovecot``), and runs a real Dovecot from exactly that
configuration for tests and the sandbox (``sandbox/``).
"""

from __future__ import annotations

from ispctl.providers.dovecot.commands import register
from ispctl.providers.dovecot.render import LDAP_CONF_FILE, SETTINGS_FILE, render, write_files
from ispctl.providers.dovecot.sandbox.component import DovecotComponent
from ispctl.reconciler.contract import Service

SERVICE = Service(
    name="dovecot",
    summary="IMAP/POP3 and LMTP delivery reading mailboxes from the directory (configuration only)",
    sandbox=DovecotComponent,
    commands=register,
)

__all__ = ["LDAP_CONF_FILE", "SERVICE", "SETTINGS_FILE", "render", "write_files"]
