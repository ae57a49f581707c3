"""Pebble, Let's Encrypt's test ACME CA (Debian package ``pebble``), on loopback from a work directory.

Used by the tests and ``ispctl sandbox``: ``pebble -config <workdir>/pebble-config.json
-dnsserver 127.0.0.1:<named port>``. Pebble resolves every name it validates through that
named (the sandbox's, which holds the sites' A records and takes ispctl's DNS-01 TXT records)
and fetches HTTP-01 tokens from port ``http_port`` of the address it finds: the sandbox's
Apache. Debian ships no TLS certificate for pebble's own listeners, so the instance makes a
small CA and a certificate for 127.0.0.1 (``ca_file`` verifies the ACME directory).

Certificates pebble issues chain to a root it makes at every start (pebble 2.4 cannot load one):
``root_pem`` fetches it from the management API (``/roots/0``), and each start adds it to
``roots_file`` (``<workdir>/roots.pem``), so a client verifying with that file still trusts the
certificates issued before a restart of the same sandbox (they stay valid for years).

``LoopbackResolver`` (Debian's ``pebble-challtestsrv``, DNS only) answers every A query with
127.0.0.1 and AAAA with nothing: the sandbox's pebble resolves through it, so HTTP-01 reaches
the sandbox's Apache whatever addresses the estate's zones hold (the example's are
documentation addresses) and whether or not ispctl has created the zones yet in this apply.

For deterministic tests: ``PEBBLE_VA_NOSLEEP=1`` (no random validation delay),
``PEBBLE_WFE_NONCEREJECT=0`` (no random bad-nonce rejections), ``PEBBLE_AUTHZREUSE=0`` (every
order proves control again, so a name that stops answering fails its next order).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.reconciler.harness.daemons import DaemonError, free_port, port_accepts, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

_HOST = "127.0.0.1"
_DETERMINISTIC = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}


class PebbleInstance(DaemonInstance):
    """One pebble with its config, TLS files and log under ``workdir``.

    ``http_port``: where pebble fetches HTTP-01 tokens (the web server's HTTP port);
    ``dns_port``: the loopback named pebble resolves names with; ``validity``: seconds a
    certificate it issues is valid (None: pebble's default, about five years).
    """

    daemon_name = "pebble"
    port_keys = ("port", "management_port")

    def __init__(self, workdir: Path, *, http_port: int, dns_port: int, port: int | None = None,
                 management_port: int | None = None, tls_port: int | None = None,
                 validity: int | None = None) -> None:
        super().__init__(workdir)
        self.http_port = http_port
        self.dns_port = dns_port
        self.port = port or free_port(_HOST)
        self.management_port = management_port or free_port(_HOST)
        while self.management_port == self.port:
            self.management_port = free_port(_HOST)
        # TLS-ALPN-01 is not used; pebble still wants a port to dial for it.
        self.tls_port = tls_port or free_port(_HOST)
        self.validity = validity

    # -- locations ---------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / "pebble-config.json"

    @property
    def ca_file(self) -> Path:
        """The CA that signed pebble's own TLS certificate (verifies the ACME server)."""
        return self.workdir / "tls-ca.pem"

    @property
    def _cert_file(self) -> Path:
        return self.workdir / "tls-cert.pem"

    @property
    def _key_file(self) -> Path:
        return self.workdir / "tls-key.pem"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def directory_url(self) -> str:
        return f"https://{_HOST}:{self.port}/dir"

    @property
    def url(self) -> str:
        return self.directory_url

    def env(self) -> dict[str, str]:
        """What points ispctl's ACME client at this pebble, and people at the roots its certificates
        chain to (``ISPCTL_PEBBLE_ROOTS``: e.g. ``curl --cacert``)."""
        return {"ISPCTL_WEB_ACME_DIRECTORY": self.directory_url, "ISPCTL_WEB_ACME_CA_BUNDLE": str(self.ca_file),
                "ISPCTL_PEBBLE_ROOTS": str(self.roots_file)}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "port": self.port, "management_port": self.management_port,
                "tls_port": self.tls_port, "http_port": self.http_port, "dns_port": self.dns_port,
                "validity": self.validity}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PebbleInstance:
        return cls(Path(state["workdir"]), http_port=int(state["http_port"]), dns_port=int(state["dns_port"]),
                   port=state.get("port"), management_port=state.get("management_port"),
                   tls_port=state.get("tls_port"), validity=state.get("validity"))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        pebble = require_binary("pebble", "pebble")
        if self.running():
            raise DaemonError(f"pebble in {self.workdir} is already running")
        if port_accepts(_HOST, self.management_port):
            raise DaemonError(f"pebble: management port {_HOST}:{self.management_port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_tls()
        config: dict[str, Any] = {
            "listenAddress": f"{_HOST}:{self.port}",
            "managementListenAddress": f"{_HOST}:{self.management_port}",
            "certificate": str(self._cert_file),
            "privateKey": str(self._key_file),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.validity is not None:
            config["certificateValidityPeriod"] = self.validity
        self.config_file.write_text(json.dumps({"pebble": config}, indent=2) + "\n", encoding="utf-8")
        argv = [pebble, "-config", str(self.config_file), "-dnsserver", f"{_HOST}:{self.dns_port}"]
        env = {**os.environ, **_DETERMINISTIC}
        self._run(argv, _HOST, self.port, detach, env=env)
        if not _wait_port(self.management_port):
            self.stop()
            raise DaemonError(f"pebble did not open its management API on {_HOST}:{self.management_port}; "
                              f"see {self.log_file}")
        self._keep_root()

    @property
    def roots_file(self) -> Path:
        """Every root this instance has made, one per start (see the module docstring)."""
        return self.workdir / "roots.pem"

    def _keep_root(self) -> None:
        root = self.root_pem()
        kept = self.roots_file.read_text(encoding="ascii") if self.roots_file.exists() else ""
        if root.strip() not in kept:
            self.roots_file.write_text(kept + root.strip() + "\n", encoding="ascii")

    def _write_tls(self) -> None:
        """A CA and a certificate for 127.0.0.1/localhost signed by it (kept across restarts)."""
        if self.ca_file.exists() and self._cert_file.exists() and self._key_file.exists():
            return
        from cryptography import x509  # here, as in apache.self_signed
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=3650)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ispctl sandbox pebble TLS CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _HOST)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(_HOST))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        self._key_file.touch(mode=0o600)
        self._key_file.chmod(0o600)
        self._key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        self._cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    # -- tools for tests and people ----------------------------------------------------

    def _management(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        url = f"https://{_HOST}:{self.management_port}{path}"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            body: bytes = response.read()
        return body.decode("ascii")

    def root_pem(self) -> str:
        """The root certificate every certificate this pebble issues chains to (PEM)."""
        return self._management("/roots/0")

    def intermediate_pem(self) -> str:
        return self._management("/intermediates/0")

    def write_root(self, path: Path) -> Path:
        """Save the issuing root, e.g. as the CA file of an HTTPS client that checks a site."""
        path.write_text(self.root_pem(), encoding="ascii")
        return path


def _wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_accepts(_HOST, port):
            return True
        time.sleep(0.02)
    return False


class LoopbackResolver(DaemonInstance):
    """``pebble-challtestsrv`` as a DNS server only: every name is 127.0.0.1 (IPv4 only)."""

    daemon_name = "pebble-challtestsrv"
    port_keys = ("port", "management_port")

    def __init__(self, workdir: Path, *, port: int | None = None, management_port: int | None = None) -> None:
        super().__init__(workdir)
        self.port = port or free_port(_HOST)
        self.management_port = management_port or free_port(_HOST)
        while self.management_port == self.port:
            self.management_port = free_port(_HOST)

    @property
    def marker(self) -> str:
        # It takes no config file: its work directory, as a trailing argument it ignores, marks it.
        return str(self.workdir)

    @property
    def url(self) -> str:
        return f"dns://{_HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "port": self.port, "management_port": self.management_port}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LoopbackResolver:
        return cls(Path(state["workdir"]), port=state.get("port"), management_port=state.get("management_port"))

    def start(self, detach: bool = False) -> None:
        binary = require_binary("pebble-challtestsrv", "pebble")
        if self.running():
            raise DaemonError(f"pebble-challtestsrv in {self.workdir} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "-dns01", f"{_HOST}:{self.port}", "-management", f"{_HOST}:{self.management_port}",
                "-defaultIPv4", _HOST, "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "",
                self.marker]
        self._run(argv, _HOST, self.port, detach)
