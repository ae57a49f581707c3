"""The OpenLDAP part of ``ispctl sandbox``: a detached slapd that later CLI calls find again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from providers.ldap.slapd import SlapdInstance
from reconciler.daemons import port_accepts


class LdapComponent:
    """Adapter between ``reconciler.sandbox`` and ``SlapdInstance``."""

    name = "ldap"

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str] | None = None) -> dict[str, Any]:
        # The directory comes first and needs nothing from other components (context_env).
        if previous is None:
            instance = SlapdInstance(workdir)
        else:
            saved = dict(previous)
            # Reuse the old port so exported environments keep working, unless something else
            # took it while the sandbox was down (the data does not depend on the port).
            if saved.get("port") and port_accepts("127.0.0.1", int(saved["port"])):
                saved["port"] = None
            saved["workdir"] = str(workdir)
            instance = SlapdInstance.from_state(saved)
        instance.start(detach=True)
        return instance.to_state()

    def down(self, state: dict[str, Any]) -> bool:
        instance = SlapdInstance.from_state(state)
        was_running = instance.running()
        instance.stop()
        return was_running

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        instance = SlapdInstance.from_state(state)
        return {"running": instance.running(), "pid": instance.pid, "url": instance.url}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        return SlapdInstance.from_state(state).env()
