"""Shared helpers for the web provider's tests: site resources as the design's contract shapes
them (built here directly, not compiled from a domain file) and a layout below a temp dir."""

from __future__ import annotations

import base64
import datetime
import http.client
import shlex
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ispctl.providers.web.apply_config import Control
from ispctl.providers.web.render import SECRET, Layout
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.contract import Resource, Value

# Apache's $apr1$ (MD5) hash of "s3cret" for user alice, made with `htpasswd -nbm`.
ALICE_HASH = "$apr1$pjl0q13Z$q4M6Pj6hRbF1wCwKbzjyQ."


def layout(root: Path, *, http_port: int = 80, https_port: int = 443, run_dir: str | None = None,
           listen_owner: str = "www-data", listen_group: str = "www-data") -> Layout:
    return Layout(
        sites_dir=str(root / "sites"), pools_dir=str(root / "pools"), web_root=str(root / "www"),
        archive_dir=str(root / "archive"), certs_dir=str(root / "certs"), challenge_dir=str(root / "challenge"),
        run_dir=run_dir or str(root / "run"), http_port=http_port, https_port=https_port,
        listen_owner=listen_owner, listen_group=listen_group,
    )


def site(lay: Layout, host: str, tenant: str = "acme", **attrs: Value) -> Resource:
    """A site of ``tenant`` below the layout's web root, with the contract's attributes."""
    home = f"{lay.web_root}/{tenant}"
    values: dict[str, Value] = {
        "aliases": None, "docroot": f"{home}/{host}/htdocs", "home": home, "user": f"web-{tenant}",
        "uid": 20001, "gid": 20001, "redirects": None, "https": "off", "cert_file": None, "key_file": None,
        "hsts": None, "php": False, "php_max_children": None, "php_memory_limit": None, "protected": None,
        "status": "active", "quota": None,
    }
    values.update(attrs)
    domain = host.split(".", 1)[1] if host.count(".") > 1 else host
    return Resource("site", host, values, parent=f"domain.{domain}", sensitive=frozenset({SECRET}))


# -- the sandbox's Apache and php-fpm as the provider sees them ---------------------------------


@dataclass
class WebHost:
    """The provider's ``layout`` and ``control`` for the sandbox's daemons (``web`` fixture).

    Reloads go through a wrapper that appends the daemon's name to ``reload_log`` before running
    the sandbox's own reload command, so tests count the reload commands really run."""

    servers: WebServers
    reload_log: Path
    layout: Layout = field(init=False)
    control: Control = field(init=False)

    def __post_init__(self) -> None:
        apache, php, public = self.servers.apache, self.servers.php, self.servers.layout
        self.http_port = apache.port
        self.layout = Layout(
            sites_dir=str(apache.sites_dir), pools_dir=str(php.pools_dir), web_root=str(public.web_root),
            archive_dir=str(public.archive_dir), certs_dir=str(apache.certs_dir),
            challenge_dir=str(public.challenge_dir), run_dir=str(public.socket_dir),
            http_port=apache.port, https_port=apache.https_port)
        self.control = Control(
            apache_test=tuple(apache.test_argv()), apache_reload=self._counted("apache", apache.reload_argv()),
            php_test=tuple(php.test_argv()), php_reload=self._counted("php-fpm", php.reload_argv()),
            probe_timeout=10)

    def _counted(self, name: str, argv: list[str]) -> tuple[str, ...]:
        return ("sh", "-c", f'echo "$0" >> {shlex.quote(str(self.reload_log))}; exec "$@"', name, *argv)

    def reloads(self) -> list[str]:
        return self.reload_log.read_text().split() if self.reload_log.exists() else []

    def get(self, host: str, path: str = "/", auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """Status, headers and body of a plain HTTP request with ``host`` as Host header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        headers = {"Host": host}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            conn.close()


@contextmanager
def web_servers() -> Iterator[WebHost]:
    """A fresh Apache and php-fpm outside pytest (the benchmark), stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="ispctl-web-", dir="/var/tmp"))
    root.chmod(0o755)
    servers = WebServers(root / "servers", public=root / "public")
    try:
        servers.start()
        yield WebHost(servers, root / "reloads.log")
    finally:
        servers.stop()
        shutil.rmtree(root)


def self_signed(host: str, cert: Path, key: Path) -> None:
    """An operator's certificate for ``host`` (self-signed, one day) at ``cert``, its key at ``key``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    made = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256()))
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))


def https_get(port: int, host: str, cafile: Path, path: str = "/") -> tuple[int, str]:
    """Status and body of an HTTPS request to 127.0.0.1:``port`` for ``host`` (SNI and Host),
    the certificate verified against ``cafile`` and the name."""
    context = ssl.create_default_context(cafile=str(cafile))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = context.wrap_socket(sock, server_hostname=host)
    try:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    finally:
        conn.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()
