"""OpenDKIM: the DKIM signer of outgoing mail: its configuration, and which key signs each domain.

Why OpenDKIM and not rspamd: it is a plain Debian package (``opendkim``, ``opendkim-tools``)
that does one thing - sign as a milter Postfix calls - and reads its keys from files named in
two plain tables (``KeyTable``, ``SigningTable``), which ispctl renders like Dovecot's and
Postfix's configuration; the private keys stay where ``ispctl dkim`` made them
(``dns.dkim.key_dir``). rspamd would sign too, but brings a spam filter, Redis and its own
configuration language to a host that asked for signatures.

``render`` (``ispctl render opendkim``) writes ``opendkim.conf`` and the tables once, for an
operator to install. Then the provider (kind ``signing``: ``compile``, ``provider``,
``tables``) keeps the tables: which key signs each domain is desired state, so a key rotation's
switch is a planned change between publishing the new record and deleting the old one
(``providers/dns/dkim.py``). ``sandbox/`` runs a real opendkim, and the Postfix it signs for,
from exactly those files for the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ispctl.providers.dns import dkim_inputs
from ispctl.providers.opendkim.compile import compile_signing, signing_facts
from ispctl.providers.opendkim.provider import SigningProvider, served_from_env
from ispctl.reconciler.contract import Commands, Service, SiteFile

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component

ENV_DIR = "ISPCTL_OPENDKIM_DIR"  # where the tables are (render's --conf-dir)
ENV_PIDFILE = "ISPCTL_OPENDKIM_PIDFILE"


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> SigningProvider:
    env = env or {}
    # Here, not with the registry: the files' module loads when a provider is made (issue 11).
    from ispctl.providers.opendkim.render import DEBIAN_PIDFILE, DEFAULT_INSTALL_DIR

    return SigningProvider(Path(env.get(ENV_DIR, "").strip() or DEFAULT_INSTALL_DIR),
                           Path(env.get(ENV_PIDFILE, "").strip() or DEBIAN_PIDFILE), served_from_env(env))


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.opendkim.commands import register

    register(commands)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.opendkim.sandbox.component import OpenDkimComponent

    return OpenDkimComponent()


SERVICE = Service(
    name="opendkim",
    summary="DKIM signing of outgoing mail as a Postfix milter: which key signs each domain",
    provider=SigningProvider,
    build=build,
    compile=compile_signing,
    facts=signing_facts,
    # Its hook reads what the zones read (the public keys, and the store's path for key_file):
    # the same function, so the schema reads the store once for both.
    inputs=dkim_inputs,
    sandbox=_sandbox,
    commands=_commands,
)

# ``render`` and ``tables`` (the files OpenDKIM reads) are imported from their modules.
__all__ = ["SERVICE", "SigningProvider", "build"]
