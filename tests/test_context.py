"""The command line's wiring (reconciler/cli/context.py): the registry is built on first use,
with the cyclic collector paused while every service's classes are made, and restored after."""

from __future__ import annotations

import gc

import pytest

from ispctl.providers import registry
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.contract import Registry


@pytest.mark.parametrize("enabled", [True, False])
def test_the_registry_is_built_once_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    seen: list[bool] = []
    built = registry.services()

    def services() -> Registry:
        seen.append(gc.isenabled())
        return built

    monkeypatch.setattr(registry, "services", services)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        wiring = Wiring()
        assert wiring.registry is built and wiring.registry is built
        assert gc.isenabled() is enabled  # as it was before
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [False]


def test_a_given_registry_is_used_as_it_is() -> None:
    given = registry.services()
    assert Wiring(given).registry is given
