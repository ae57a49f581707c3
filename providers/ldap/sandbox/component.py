"""The OpenLDAP part of ``ispctl sandbox``: a detached slapd that later CLI calls find again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.harness.instance import DaemonInstance
from ispctl.reconciler.harness.sandbox import InstanceComponent


class LdapComponent(InstanceComponent):
    """The directory comes first and needs nothing from other components."""

    name = "ldap"
    providers = ("ldap",)
    instance_class = SlapdInstance

    def __init__(self, schemas: tuple[str, ...] = ()) -> None:
        self.schemas = schemas  # the services' schema files (``DirectoryPart``), loaded when built

    def instance(self, workdir: Path, previous: dict[str, Any] | None,
                 context_env: Mapping[str, str]) -> DaemonInstance:
        if previous is None:
            return SlapdInstance(workdir, schemas=self.schemas)
        # A sandbox built before a service brought its schema gets it loaded when it starts.
        return super().instance(workdir, {**previous, "schemas": list(self.schemas)}, context_env)

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        # ispctl runs as the apply account (not the rootDN), the plan account and the mail
        # servers' accounts are exported beside it. A sandbox made before the accounts existed
        # has only its rootDN: `ispctl sandbox down --purge` and `up` give it the accounts.
        instance = SlapdInstance.from_state(state)
        return instance.account_env("apply") if instance.has_accounts else instance.env()
