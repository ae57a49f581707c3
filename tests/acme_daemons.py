"""Fixtures for the certificate tests: a real pebble (Let's Encrypt's test CA) on loopback.

``pebble_factory(http_port=..., validity=...)`` starts one pebble per call, resolving names
through the test's own named (the ``named`` fixture in conftest.py) and fetching HTTP-01 tokens
from ``http_port`` (the test's Apache); every pebble started is stopped by PID afterwards.
Test modules load the fixture with ``pytest_plugins = ("acme_daemons",)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.web.sandbox.pebble import PebbleInstance
from ispctl.reconciler.harness.daemons import free_port

PebbleFactory = Callable[..., PebbleInstance]


@pytest.fixture
def pebble_factory(tmp_path: Path, named: NamedInstance) -> Iterator[PebbleFactory]:
    started: list[PebbleInstance] = []

    def start(*, http_port: int | None = None, validity: int | None = None) -> PebbleInstance:
        instance = PebbleInstance(tmp_path / f"pebble{len(started)}", http_port=http_port or free_port(),
                                  dns_port=named.port, validity=validity)
        started.append(instance)
        instance.start()
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
