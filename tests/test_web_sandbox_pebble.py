"""Pebble from Debian on loopback: its directory over TLS we can verify, its roots, stop by PID."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

from ispctl.providers.web.sandbox.pebble import PebbleInstance
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching

if TYPE_CHECKING:
    from acme_daemons import PebbleFactory

pytest_plugins = ("acme_daemons",)  # the pebble_factory fixture


def _get(url: str, cafile: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        body: bytes = response.read()
    return body


def test_directory_is_served_over_tls_that_the_ca_file_verifies(pebble_factory: PebbleFactory) -> None:
    pebble = pebble_factory(validity=7200)
    directory = json.loads(_get(pebble.directory_url, pebble.ca_file))
    assert {"newAccount", "newNonce", "newOrder"} <= set(directory)
    assert directory["newOrder"].startswith(f"https://127.0.0.1:{pebble.port}/")
    # Not trusted by the system's CAs (a client without the CA file refuses it).
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(pebble.directory_url, timeout=10)
    config = json.loads(pebble.config_file.read_text())["pebble"]
    assert config["certificateValidityPeriod"] == 7200
    assert config["httpPort"] == pebble.http_port
    assert oct(pebble.workdir.joinpath("tls-key.pem").stat().st_mode & 0o777) == "0o600"


def test_roots_come_from_the_management_api(pebble_factory: PebbleFactory) -> None:
    pebble = pebble_factory()
    root = x509.load_pem_x509_certificate(pebble.root_pem().encode())
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem().encode())
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)
    saved = pebble.write_root(pebble.workdir / "root.pem")
    assert x509.load_pem_x509_certificate(saved.read_bytes()) == root


def test_stop_leaves_nothing_and_state_round_trips(tmp_path: Path, pebble_factory: PebbleFactory) -> None:
    pebble = pebble_factory(http_port=5002)
    assert pids_matching(str(pebble.config_file)) == [pebble.pid]
    again = PebbleInstance.from_state(json.loads(json.dumps(pebble.to_state())))
    assert (again.port, again.management_port, again.http_port, again.dns_port) == (
        pebble.port, pebble.management_port, 5002, pebble.dns_port)
    assert again.running()
    with pytest.raises(DaemonError, match="already running"):
        again.start()
    again.stop()  # through the pidfile, as a later process would
    assert not pebble.running()
    assert pids_matching(str(pebble.config_file)) == []
