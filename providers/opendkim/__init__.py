"""OpenDKIM: the DKIM signer of outgoing mail, configured from the estate (configuration only).

Why OpenDKIM and not rspamd: it is a plain Debian package (``opendkim``, ``opendkim-tools``)
that does one thing - sign as a milter Postfix calls - and reads its keys from files named in
two plain tables (``KeyTable``, ``SigningTable``), which ispctl renders like Dovecot's and
Postfix's configuration; the private keys stay where ``ispctl dkim`` made them
(``dns.dkim.key_dir``). rspamd would sign too, but brings a spam filter, Redis and its own
configuration language to a host that asked for signatures.

``render`` (``ispctl render opendkim``) writes ``opendkim.conf`` and the tables; which key signs a
domain follows the rotation (``providers/dns/dkim.py``). ``sandbox/`` runs a real opendkim, and
the Postfix it signs for, from exactly those files for the tests.
"""

from __future__ import annotations

from ispctl.providers.opendkim.commands import register
from ispctl.providers.opendkim.render import CONF_FILE, KEY_TABLE, SIGNING_TABLE, render, signing_keys, write_files
from ispctl.providers.opendkim.sandbox.component import OpenDkimComponent
from ispctl.reconciler.contract import Service

SERVICE = Service(
    name="opendkim",
    summary="DKIM signing of outgoing mail as a Postfix milter (configuration only)",
    sandbox=OpenDkimComponent,
    commands=register,
)

__all__ = ["CONF_FILE", "KEY_TABLE", "SERVICE", "SIGNING_TABLE", "render", "signing_keys", "write_files"]
