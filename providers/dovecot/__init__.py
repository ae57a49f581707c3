"""Dovecot (IMAP/POP3, LMTP): configuration that makes Dovecot read mailboxes from the directory.

Dovecot reads the directory on every login. Its provider has one kind, ``mailhost`` (``hosts``):
in a cluster, each mailbox's mail_store host in the directory, moved with doveadm when the
placement changes (``move``, ``placement``; README "Cluster: placement and moves").
The service ships the passdb/userdb LDAP configuration for ispctl's DIT
(``render``, ``ispctl render dovecot``), and runs a real Dovecot from exactly that
configuration for tests and the sandbox (``sandbox/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ispctl.providers.dovecot.hosts import MailHostProvider
from ispctl.providers.dovecot.placement import (
    SCHEMA_PART,
    build,
    compile_placement,
    placed_counts,
    placed_mailboxes,
    placement_facts,
)
from ispctl.reconciler.contract import Commands, Service

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.dovecot.commands import register

    register(commands)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.dovecot.sandbox.component import DovecotComponent

    return DovecotComponent()


SERVICE = Service(
    name="dovecot",
    summary="IMAP/POP3 and LMTP reading mailboxes from the directory; mailbox hosts and moves in a cluster",
    provider=MailHostProvider,
    build=build,
    compile=compile_placement,
    facts=placement_facts,
    directory=(SCHEMA_PART,),
    sandbox=_sandbox,
    commands=_commands,
    placed=placed_counts,
)

# ``render`` (the Dovecot files, with the Sieve settings) is imported from its module by the
# commands and the sandbox that write them, not with the registry (issue 11).
__all__ = ["SERVICE", "placed_mailboxes"]
