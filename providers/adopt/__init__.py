"""Adopting an existing ISP: importers that write a complete estate from another system.

No provider and no live state of its own: the service brings commands (``ispctl import
ldap``, ``ispctl import ispman``) and what they share: ``writer`` (an ``ImportedEstate``
written as one folder per tenant, one file per domain) and ``report`` (the ``ImportReport``
of what was not imported as it was). Each importer adds its commands in ``register``.
"""

from __future__ import annotations

from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.writer import (
    EstateWriteError,
    ImportedDomain,
    ImportedEstate,
    ImportedTenant,
    write_estate,
)
from ispctl.reconciler.contract import Commands, Service


def register(commands: Commands) -> None:
    """Every importer's commands, in the ``import`` group (one line each)."""
    from ispctl.providers.adopt import ispman_commands  # here: the command's modules load when commands do
    ispman_commands.register(commands)
    from ispctl.providers.adopt import ldap_commands
    ldap_commands.register(commands)


SERVICE = Service(
    name="adopt",
    summary="import an existing ISP's directory and mail into a new estate (commands only)",
    commands=register,
)

__all__ = [
    "CONVERTED", "NOT_IMPORTED", "SERVICE", "WEAK_HASHES", "EstateWriteError", "ImportReport", "ImportedDomain",
    "ImportedEstate", "ImportedTenant", "write_estate",
]
