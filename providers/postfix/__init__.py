"""Postfix: LDAP lookup tables (ldap_table(5)) that route mail straight from ispctl's directory.

Postfix has no live state of its own for ispctl to reconcile: it reads the directory on
every lookup. This service therefore only renders configuration (``ispctl render
postfix``); see ``render`` for the tables and why they are ordered as they are.
"""

from __future__ import annotations

# ``render`` (the lookup tables) is imported from its module by the commands that write them,
# not with the registry that every plan and apply loads (issue 11).
from ispctl.reconciler.contract import Commands, Service


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.postfix.commands import register

    register(commands)


SERVICE = Service(
    name="postfix",
    summary="mail routing through LDAP tables that read the directory (configuration only)",
    commands=_commands,
)

__all__ = ["SERVICE"]
