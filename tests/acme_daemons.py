"""Fixtures for the certificate tests: a real pebble (Let's Encrypt's test CA) on loopback,
resolving through the test's own named, and the sandbox's real Apache answering HTTP-01.

``pebble_factory(http_port=..., validity=...)`` starts one pebble per call (stopped by PID
afterwards); ``acme_env`` is the whole set-up of the issue: named holding ``example.net``
(through ispctl's DNS provider) whose web names point at 127.0.0.1, Apache (``apache`` from
web_daemons.py) serving the challenge directory for the names given to ``serve``, and pebble
pointed at both.
Test modules load the fixtures with ``pytest_plugins = ("acme_daemons",)``.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from dns_helpers import converge, provider_for, rrset, zone

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.web.certs import AcmeSettings
from ispctl.providers.web.sandbox.apache import ApacheInstance
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
    apache: ApacheInstance
    challenge_dir: Path
    certs_dir: Path
    start_pebble: PebbleFactory
    served: tuple[str, ...] = ()

    @property
    def http_port(self) -> int:
        return self.apache.port

    def serve(self, *names: str) -> None:
        """Apache serves the challenge dir at /.well-known/acme-challenge/ for exactly ``names``
        (as ispctl's rendered sites do); other names get the default virtual host's 404."""
        site = self.apache.sites_dir / "acme-test.conf"
        if names:
            site.write_text(
                f"<VirtualHost *:{self.apache.port}>\n    ServerName {names[0]}\n"
                + (f"    ServerAlias {' '.join(names[1:])}\n" if names[1:] else "")
                + f'    Alias "/.well-known/acme-challenge/" "{self.challenge_dir}/"\n'
                f'    <Directory "{self.challenge_dir}">\n        Require all granted\n    </Directory>\n'
                "</VirtualHost>\n", encoding="utf-8")
        else:
            site.unlink(missing_ok=True)
        self.apache.graceful()
        self.served = names

    def serve_https(self, names: tuple[str, ...], cert_dir: Path) -> None:
        """Apache serves ``names`` over HTTPS with the certificate in ``cert_dir``."""
        (self.apache.sites_dir / "acme-test-tls.conf").write_text(
            f"<VirtualHost *:{self.apache.https_port}>\n    ServerName {names[0]}\n"
            + (f"    ServerAlias {' '.join(names[1:])}\n" if names[1:] else "")
            + f'    SSLEngine on\n    SSLCertificateFile "{cert_dir}/fullchain.pem"\n'
            f'    SSLCertificateKeyFile "{cert_dir}/privkey.pem"\n'
            f'    Alias "/" "{self.challenge_dir}/"\n'
            f'    <Directory "{self.challenge_dir}">\n        Require all granted\n    </Directory>\n'
            "</VirtualHost>\n", encoding="utf-8")
        self.apache.graceful()

    def https_serial(self, name: str, root: Path | None) -> int:
        """The serial of the certificate Apache presents for ``name`` (SNI), verified against
        ``root`` (None: the system's CAs) and checked for ``name`` as a browser would; raises
        ssl.SSLCertVerificationError otherwise."""
        context = ssl.create_default_context(cafile=str(root) if root is not None else None)
        with socket.create_connection(("127.0.0.1", self.apache.https_port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    def pebble(self, validity: int | None = None) -> PebbleInstance:
        return self.start_pebble(http_port=self.http_port, validity=validity)

    def settings(self, pebble: PebbleInstance, **overrides: Any) -> AcmeSettings:
        base = AcmeSettings(directory_url=pebble.directory_url, account_dir=self.certs_dir, ca_file=pebble.ca_file,
                            http_address=("127.0.0.1", self.http_port),
                            dns=DnsConnection.from_env(self.named.env()), timeout=60.0)
        return dataclasses.replace(base, **overrides)


@pytest.fixture
def acme_env(named: NamedInstance, apache: ApacheInstance, pebble_factory: PebbleFactory) -> AcmeEnv:
    """named with example.net (through ispctl's DNS provider), a real Apache, pebble on demand."""
    converge(provider_for(named), [zone(ZONE)] + [
        rrset(ZONE, owner, "A", [address]) for owner, address in ADDRESSES.items()])
    # Apache's workers (www-data) read the tokens: the sandbox keeps them in its public dir.
    return AcmeEnv(named, apache, apache.layout.challenge_dir, apache.certs_dir, pebble_factory)
