"""The named part of ``ispctl sandbox``: a detached BIND that later CLI calls find again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from providers.dns.named import NamedInstance
from reconciler.daemons import port_accepts


class DnsComponent:
    """Adapter between ``reconciler.sandbox`` and ``NamedInstance``."""

    name = "dns"
    # The engine providers this component lets ispctl run (``ISPCTL_PROVIDERS`` in ``sandbox env``).
    providers = ("dns",)

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str] | None = None) -> dict[str, Any]:
        # DNS needs nothing from the other components (context_env).
        if previous is None:
            instance = NamedInstance(workdir)
        else:
            saved = dict(previous)
            # Keep the ports of the last run so exported environments keep working, unless
            # something else took them while the sandbox was down (zones do not depend on them).
            for key in ("port", "control_port"):
                if saved.get(key) and port_accepts("127.0.0.1", int(saved[key])):
                    saved[key] = None
            saved["workdir"] = str(workdir)
            instance = NamedInstance.from_state(saved)
        instance.start(detach=True)
        return instance.to_state()

    def down(self, state: dict[str, Any]) -> bool:
        instance = NamedInstance.from_state(state)
        was_running = instance.running()
        instance.stop()
        return was_running

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        instance = NamedInstance.from_state(state)
        return {"running": instance.running(), "pid": instance.pid, "url": instance.url}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        return NamedInstance.from_state(state).env()
