"""Which estate an apply touched: recorded in the audit trail, used to filter ``history``.

An estate is its repository (origin URL without credentials, else the checkout's path),
the desired-state folder in it, and what each enabled service says its live side is (the
directory's URL and base DN). The same repository applied to a sandbox and to production
are two estates; so are two checkouts of the same repository pointing at different bases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ispctl.reconciler.contract import Registry, SiteFile
from ispctl.reconciler.engine.gitinfo import repository
from ispctl.reconciler.estate.settings import enabled_providers


class Wired(Protocol):
    """What this needs of the command line's ``Wiring`` (not imported: it imports this)."""

    registry: Registry

    def site(self, root: Path, env: Mapping[str, str] | None = None) -> SiteFile: ...


def estate_identity(ctx: Wired, root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    where, folder = repository(root)
    site = ctx.site(root, env)
    services: dict[str, dict[str, str]] = {}
    for name in enabled_providers(site, env):
        service = ctx.registry.get(name)
        if service is not None and service.identity is not None:
            services[name] = service.identity(site, env)
    return {"repository": where, "folder": folder, "services": services}


def same_estate(recorded: Any, current: Mapping[str, Any]) -> bool:
    """Same repository and folder, and no service recorded with a different live side
    (a runner that enables fewer services still sees its estate's applies)."""
    if not isinstance(recorded, dict):
        return False
    if (recorded.get("repository"), recorded.get("folder")) != (current["repository"], current["folder"]):
        return False
    services = recorded.get("services")
    theirs: dict[str, Any] = services if isinstance(services, dict) else {}
    return all(theirs[name] == mine for name, mine in current["services"].items() if name in theirs)


def describe(estate: Mapping[str, Any]) -> str:
    parts = [f"{estate.get('repository')} ({estate.get('folder')})"]
    for name, values in sorted((estate.get("services") or {}).items()):
        parts.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(values.items()) if v))
    return "; ".join(parts)
