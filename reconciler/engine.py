"""The public flow: validate -> compile -> read live -> diff -> plan -> apply.

Providers are found through a registry of dotted paths (``package:function``) so the
engine imports no service code; each factory takes the site settings and the process
environment and returns a ``Provider``. Kinds are routed to the single provider that
declares them in ``SUPPORTS``. A session plans only the desired resources of the kinds its
providers own (``in_scope``); a hand-built ``Session`` still refuses a desired kind with no
owner.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .apply import ApplyResult, Listener, apply_plan
from .catalog import Catalog
from .compile import compile_catalog
from .diff import compute_plan
from .errors import ConfigError
from .model import SiteFile
from .plan import Plan
from .provider import Provider
from .resources import Resource
from .settings import enabled_providers, with_overrides
from .validate import validate_estate

Index = Mapping[tuple[str, str], Resource]

PROVIDERS: dict[str, str] = {
    "ldap": "providers.ldap:build",
    "mailstore": "providers.mailstore:build",
    "dns": "providers.dns:build",
}


def load_provider(name: str, site: SiteFile, env: Mapping[str, str] | None) -> Provider:
    target = PROVIDERS.get(name)
    if target is None:
        raise ConfigError(f"unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    module, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    provider = factory(site, env)
    assert isinstance(provider, Provider)
    return provider


@dataclass
class Session:
    """Desired state plus the providers that hold the live state, for one run."""

    catalog: Catalog
    desired: dict[tuple[str, str], Resource]
    providers: list[Provider] = field(default_factory=list)
    live: dict[tuple[str, str], Resource] = field(default_factory=dict)  # from the last plan
    # Everything the estate compiles to, also kinds no provider here owns: how a DNS record
    # belongs to a domain and a tenant, for scopes and per-tenant views.
    compiled: dict[tuple[str, str], Resource] = field(default_factory=dict)

    def route(self, kind: str) -> Provider:
        owners = [p for p in self.providers if kind in p.SUPPORTS]
        if len(owners) != 1:
            raise ConfigError(f"resource kind {kind!r} is supported by {len(owners)} providers; exactly one must own it")
        return owners[0]

    def read_live(self) -> dict[tuple[str, str], Resource]:
        live: dict[tuple[str, str], Resource] = {}
        for provider in self.providers:
            live.update(provider.read())
        return live

    def plan(self, prune: bool = True) -> Plan:
        # Every desired kind needs an owner, and no kind any provider claims may have two
        # (live objects of such a kind would be read twice and could not be deleted):
        # refuse before reading anything.
        kinds = {kind for kind, _ in self.desired}
        for provider in self.providers:
            kinds |= provider.SUPPORTS
        for kind in sorted(kinds):
            self.route(kind)
        # Kinds whose delete a provider carries out by archiving (the mail store): the plan
        # says "archived", never "destroyed", for them.
        archives = frozenset().union(*(p.ARCHIVES for p in self.providers))
        self.live = self.read_live()
        return compute_plan(self.desired, self.live, prune=prune, archives=archives)

    def apply(self, plan: Plan, on_outcome: Listener | None = None) -> ApplyResult:
        return apply_plan(plan, self.route, on_outcome)


def load_desired(root: Path, env: Mapping[str, str] | None = None) -> tuple[Catalog, dict[tuple[str, str], Resource]]:
    catalog = validate_estate(root)
    catalog.estate.site = with_overrides(catalog.estate.site, env)
    return catalog, compile_catalog(catalog)


def in_scope(desired: dict[tuple[str, str], Resource], providers: list[Provider]) -> dict[tuple[str, str], Resource]:
    """The desired resources of the kinds these providers own.

    The desired state describes every service; a machine reconciles only the services it
    enables (``providers`` / ``ISPCTL_PROVIDERS``): a CI runner that reaches the directory
    but not the mail store plans no maildirs, and the mail host plans them.
    """
    kinds = frozenset().union(*(p.SUPPORTS for p in providers))
    return {ident: r for ident, r in desired.items() if ident[0] in kinds}


@contextmanager
def open_session(root: Path, env: Mapping[str, str] | None = None, providers: list[Provider] | None = None) -> Iterator[Session]:
    """Validate the estate and connect its providers; connections close on exit."""
    catalog, desired = load_desired(root, env)
    session = Session(catalog, desired)
    try:
        if providers is not None:
            session.providers = providers
        else:
            # One at a time, so a later failure still closes the ones already connected.
            for name in enabled_providers(catalog.estate.site, env):
                session.providers.append(load_provider(name, catalog.estate.site, env))
        session.compiled = desired
        session.desired = in_scope(desired, session.providers)
        yield session
    finally:
        for provider in session.providers:
            provider.close()
