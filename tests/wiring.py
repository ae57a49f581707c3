"""The services the tests run with: the registry the command line wires, and its helpers.

Tests that drive the estate or a session below the command line use these, so they see the
same composed models (every registered service's sections) as ``ispctl`` itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ispctl.providers.registry import services
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.engine.errors import ValidationFailed
from ispctl.reconciler.engine.provider import Provider
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.estate import loader, settings
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.desired import EstateSession
from ispctl.reconciler.estate.model import SiteFile

REGISTRY = services()
SCHEMA = REGISTRY.schema
FILES = SCHEMA.files
WIRING = Wiring(REGISTRY)


def site(**sections: Any) -> SiteFile:
    """Site settings with the registered services' sections (``directory=...``, ``mail=...``)."""
    return FILES.site(**sections)


def load_estate(root: Path) -> tuple[loader.Estate | None, list[Any]]:
    return loader.load_estate(root, FILES)


def load_or_fail(root: Path) -> loader.Estate:
    return loader.load_or_fail(root, FILES)


def validate_estate(root: Path, tolerate: Collection[str] = ()) -> Catalog:
    """The catalog of a valid estate; ValidationFailed with every problem otherwise."""
    return WIRING.desired(root, tolerate).catalog


def problems_of(root: Path) -> list[Any]:
    """Every problem of the estate, sorted (empty when it is valid)."""
    try:
        WIRING.desired(root)
    except ValidationFailed as exc:
        return sorted(exc.problems)
    return []


def load_desired(root: Path, env: Mapping[str, str] | None = None) -> tuple[Catalog, dict[tuple[str, str], Resource]]:
    desired = WIRING.desired(root, env=env)
    return desired.catalog, desired.resources


@contextmanager
def open_session(root: Path, env: Mapping[str, str] | None = None,
                 providers: list[Provider] | None = None) -> Iterator[EstateSession]:
    with WIRING.session(root, env, providers) as session:
        yield session


def resources_of(root: Path, env: Mapping[str, str] | None = None) -> dict[tuple[str, str], Resource]:
    """Everything a valid estate compiles to: its own kinds and every service's."""
    return WIRING.desired(root, env=env).resources


def with_overrides(site_settings: SiteFile, env: Mapping[str, str]) -> SiteFile:
    """The site settings with the registered services' environment overrides applied."""
    return settings.with_overrides(site_settings, SCHEMA.overrides, env)
