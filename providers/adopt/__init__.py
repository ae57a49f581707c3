"""Adopting an existing ISP: importers that write a complete estate from another system.

No provider and no live state of its own: the service brings commands (``ispctl import
ldap``, ``ispctl import ispman``) and what they share: ``writer`` (an ``ImportedEstate``
written as one folder per tenant, one file per domain) and ``report`` (the ``ImportReport``
of what was not imported as it was). Each importer adds its commands in ``register``.
"""

from __future__ import annotations

# Only the service here: its ``writer`` (ruamel.yaml) and ``report`` load with its commands, not
# with the registry that every plan and apply loads (issue 11). Import them from their modules.
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

__all__ = ["SERVICE"]
