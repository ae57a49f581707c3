"""Where the command line wires the registry's services into the engine, the estate and the sandbox.

``Wiring`` is the ``CommandContext`` every command gets: the estate's language composed from
the registered services' sections, providers built by the services' factories for the ones
this machine enables, and the sandbox's components. Nothing below this layer names a service.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ispctl.reconciler.cli.handler import run_command
from ispctl.reconciler.cli.identity import estate_identity
from ispctl.reconciler.contract import CommandContext, Registry
from ispctl.reconciler.engine.errors import ConfigError, Problem
from ispctl.reconciler.engine.provider import Provider
from ispctl.reconciler.engine.session import in_scope
from ispctl.reconciler.estate.desired import Desired, EstateSession, check_desired, load_desired
from ispctl.reconciler.estate.model import SiteFile
from ispctl.reconciler.estate.settings import desired_root, enabled_providers, load_site


class Wiring(CommandContext):
    """The services of one run, wired into every layer."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def run(self, body: Callable[[], int]) -> None:
        run_command(body)

    def root(self, value: Path | None) -> Path:
        return value if value is not None else desired_root()

    def site(self, root: Path, env: Mapping[str, str] | None = None) -> SiteFile:
        schema = self.registry.schema
        return load_site(root, schema.files.site, schema.overrides, env)

    def desired(self, root: Path, tolerate: Collection[str] = (), env: Mapping[str, str] | None = None) -> Desired:
        return load_desired(root, self.registry.schema, env, tolerate)

    def check(self, root: Path) -> tuple[Desired | None, list[Problem]]:
        return check_desired(root, self.registry.schema)

    def estate(self, root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """What the audit trail records as this estate (for the services' commands, ``ispctl passwd``)."""
        return estate_identity(self, root, env)

    def provider(self, name: str, site: SiteFile, env: Mapping[str, str]) -> Provider:
        service = self.registry.get(name)
        if service is None or service.build is None:
            known = sorted(s.name for s in self.registry if s.build is not None)
            raise ConfigError(f"unknown provider {name!r}; known: {', '.join(known)}")
        return service.build(site, env)

    @contextmanager
    def session(self, root: Path, env: Mapping[str, str] | None = None,
                providers: list[Provider] | None = None) -> Iterator[EstateSession]:
        """Validate the estate and connect this machine's providers; connections close on exit."""
        env = os.environ if env is None else env
        desired = self.desired(root, env=env)
        session = EstateSession(desired.resources, catalog=desired.catalog)
        try:
            if providers is not None:
                session.providers = providers
            else:
                site = desired.catalog.estate.site
                # One at a time, so a later failure still closes the ones already connected.
                for name in enabled_providers(site, env):
                    session.providers.append(self.provider(name, site, env))
            session.compiled = desired.resources
            session.desired = in_scope(desired.resources, session.providers)
            yield session
        finally:
            session.close()
