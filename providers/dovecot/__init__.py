"""Dovecot (IMAP/POP3): configuration that makes Dovecot read mailboxes from ispctl's directory.

ispctl does not manage Dovecot as a provider with live state; it ships the passdb/userdb LDAP
configuration for its DIT (``render``), runs a real Dovecot from exactly that configuration for
tests and the sandbox (``daemon``), and plugs it into ``ispctl sandbox`` (``sandbox_component``).
"""

from __future__ import annotations

from .render import LDAP_CONF_FILE, SETTINGS_FILE, render, write_files

__all__ = ["LDAP_CONF_FILE", "SETTINGS_FILE", "render", "write_files"]
