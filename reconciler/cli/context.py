"""Where the command line wires the registry's services into the engine, the estate and the sandbox.

``Wiring`` is the ``CommandContext`` every command gets: the estate's language composed from
the registered services' sections, providers built by the services' factories for the ones
this machine enables, and the sandbox's components. Nothing below this layer names a service.

The registry, the engine and the estate are imported when a command first needs them, not
with this module: the command line's start stays light (``app``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.reconciler.cli.handler import run_command

if TYPE_CHECKING:
    from ispctl.reconciler.contract import QuotaReport, Registry
    from ispctl.reconciler.engine.errors import Problem
    from ispctl.reconciler.engine.provider import Provider
    from ispctl.reconciler.estate.desired import Desired, EstateSession
    from ispctl.reconciler.estate.model import SiteFile


class Wiring:
    """The services of one run, wired into every layer (a ``contract.CommandContext``)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self._registry = registry

    @property
    def registry(self) -> Registry:
        """The given registry, else the installed services (imported on first use)."""
        if self._registry is None:
            from ispctl.reconciler.engine.heap import collector_paused

            # Importing every service builds thousands of classes and models that live as long
            # as the process: the cyclic collector walking them again and again while they are
            # made was a tenth of a plan's start (~0.04 s of 0.42).
            with collector_paused():
                from ispctl.providers.registry import services

                self._registry = services()
        return self._registry

    @registry.setter
    def registry(self, value: Registry) -> None:
        self._registry = value

    def run(self, body: Callable[[], int]) -> None:
        run_command(body)

    def root(self, value: Path | None) -> Path:
        from ispctl.reconciler.estate.settings import desired_root

        return value if value is not None else desired_root()

    def site(self, root: Path, env: Mapping[str, str] | None = None) -> SiteFile:
        from ispctl.reconciler.estate.settings import load_site

        schema = self.registry.schema
        return load_site(root, schema.files.site, schema.overrides, env)

    def desired(self, root: Path, tolerate: Collection[str] = (), env: Mapping[str, str] | None = None,
                facts: bool = False) -> Desired:
        """The valid estate (``ValidationFailed`` otherwise); with ``facts``, each file's facts too
        (``Desired.facts``: what a snapshot for ``--changed-since`` keeps)."""
        if not facts:
            from ispctl.reconciler.estate.desired import load_desired

            return load_desired(root, self.registry.schema, env, tolerate)
        from ispctl.reconciler.engine.errors import ValidationFailed
        from ispctl.reconciler.estate.desired import check_desired

        desired, problems = check_desired(root, self.registry.schema, env, facts=True)
        problems = [p for p in problems if not (p.code and p.code in tolerate)]
        if problems or desired is None:
            raise ValidationFailed(sorted(set(problems)))
        return desired

    def check(self, root: Path) -> tuple[Desired | None, list[Problem]]:
        from ispctl.reconciler.estate.desired import check_desired

        return check_desired(root, self.registry.schema)

    def estate(self, root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """What the audit trail records as this estate (for the services' commands, ``ispctl passwd``)."""
        from ispctl.reconciler.cli.identity import estate_identity

        return estate_identity(self, root, env)

    def quota_reports(self) -> dict[str, QuotaReport]:
        return {s.name: s.quota for s in self.registry if s.quota is not None}

    def provider(self, name: str, site: SiteFile, env: Mapping[str, str]) -> Provider:
        from ispctl.reconciler.engine.errors import ConfigError

        service = self.registry.get(name)
        if service is None or service.build is None:
            known = sorted(s.name for s in self.registry if s.build is not None)
            raise ConfigError(f"unknown provider {name!r}; known: {', '.join(known)}")
        return service.build(site, env)

    @contextmanager
    def session(self, root: Path, env: Mapping[str, str] | None = None, providers: list[Provider] | None = None,
                desired: Desired | None = None) -> Iterator[EstateSession]:
        """Validate the estate (unless ``desired`` is given) and connect this machine's providers;
        connections close on exit."""
        from ispctl.reconciler.estate.desired import EstateSession
        from ispctl.reconciler.estate.settings import enabled_providers

        env = os.environ if env is None else env
        if desired is None:
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
            self.use(session, desired)
            yield session
        finally:
            session.close()

    def use(self, session: EstateSession, desired: Desired) -> None:
        """Plan ``desired`` in ``session`` from now on (its providers' kinds), with its catalog."""
        from ispctl.reconciler.engine.session import in_scope

        session.catalog = desired.catalog
        session.compiled = desired.resources
        session.desired = in_scope(desired.resources, session.providers)
