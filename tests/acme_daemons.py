"""Fixtures for the certificate tests: a real pebble (Let's Encrypt's test CA) on loopback,
resolving through the test's own named, and a web server that answers HTTP-01 for some names.

``pebble_factory(http_port=..., validity=...)`` starts one pebble per call (stopped by PID
afterwards); ``acme_env`` is the whole set-up of the issue: named holding ``example.net``
(through ispctl's DNS provider) whose web names point at 127.0.0.1, a web server serving the
challenge directory for the names listed in ``served``, and pebble pointed at both.
Test modules load the fixtures with ``pytest_plugins = ("acme_daemons",)``.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dns_helpers import converge, provider_for, rrset, zone

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.web.certs import AcmeSettings
from ispctl.providers.web.sandbox.pebble import PebbleInstance
from ispctl.reconciler.harness.daemons import free_port

PebbleFactory = Callable[..., PebbleInstance]
ZONE = "example.net"
# Names in the zone and where they point: 127.0.0.2 answers nothing on the web server's port,
# so a challenge for "elsewhere" fails at the CA though the local pre-check passes.
ADDRESSES = {"@": "127.0.0.1", "www": "127.0.0.1", "shop": "127.0.0.1", "blog": "127.0.0.1",
             "elsewhere": "127.0.0.2", "ns1": "127.0.0.1", "ns2": "127.0.0.1"}


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


@dataclass
class AcmeEnv:
    named: NamedInstance
    http_port: int
    challenge_dir: Path
    certs_dir: Path
    served: set[str] = field(default_factory=set)
    start_pebble: PebbleFactory | None = None

    def pebble(self, validity: int | None = None) -> PebbleInstance:
        assert self.start_pebble is not None
        return self.start_pebble(http_port=self.http_port, validity=validity)

    def settings(self, pebble: PebbleInstance, **overrides: Any) -> AcmeSettings:
        base = AcmeSettings(directory_url=pebble.directory_url, account_dir=self.certs_dir, ca_file=pebble.ca_file,
                            http_address=("127.0.0.1", self.http_port),
                            dns=DnsConnection.from_env(self.named.env()), timeout=60.0)
        return dataclasses.replace(base, **overrides)


@pytest.fixture
def acme_env(tmp_path: Path, named: NamedInstance, pebble_factory: PebbleFactory) -> Iterator[AcmeEnv]:
    converge(provider_for(named), [zone(ZONE)] + [
        rrset(ZONE, owner, "A", [address]) for owner, address in ADDRESSES.items()])
    env = AcmeEnv(named, free_port(), tmp_path / "challenge", tmp_path / "certs", start_pebble=pebble_factory)
    env.challenge_dir.mkdir()
    server = _challenge_server(env)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield env
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _challenge_server(env: AcmeEnv) -> http.server.ThreadingHTTPServer:
    """Serves ``/.well-known/acme-challenge/<file>`` from the challenge dir to served names only."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = self.headers.get("Host", "").split(":")[0].lower()
            prefix = "/.well-known/acme-challenge/"
            path = env.challenge_dir / self.path[len(prefix):]
            if host not in env.served or not self.path.startswith(prefix) or "/" in self.path[len(prefix):] \
                    or not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", env.http_port), Handler)
