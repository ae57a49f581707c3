"""Shared helpers for the web provider's tests: site resources as the design's contract shapes
them (built here directly, not compiled from a domain file) and a layout below a temp dir."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ispctl.providers.web.apply_config import Control
from ispctl.providers.web.render import SECRET, Layout
from ispctl.reconciler.contract import Resource, Value
from ispctl.reconciler.harness.daemons import free_port, port_accepts

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


# -- a real Apache and php-fpm on loopback (until the sandbox's fixtures replace it) -------------

APACHE_MODULES = ("mpm_event", "authz_core", "authz_host", "authz_user", "authn_core", "authn_file", "auth_basic",
                  "alias", "dir", "mime", "headers", "proxy", "proxy_fcgi", "ssl")


@dataclass
class WebHost:
    """Apache and php-fpm from a temp dir: ``layout`` and ``control`` point ispctl at them.

    Reloads go through a wrapper that appends a line to ``reload_log`` first, so tests count
    the real reload commands run. The temp dir is 0755 (Apache's workers, www-data, read the
    sites below it) with a short path (pool sockets are limited to 107 bytes)."""

    root: Path
    layout: Layout = field(init=False)
    control: Control = field(init=False)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http_port, self.https_port = free_port(), free_port()
        self.layout = layout(self.root, http_port=self.http_port, https_port=self.https_port,
                             run_dir=str(self.root / "run"))
        for name in ("sites", "pools", "run", "logs", "challenge", "www", "certs"):
            (self.root / name).mkdir(exist_ok=True)
        apache = self.root / "apache.conf"
        loads = "".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n" for m in APACHE_MODULES)
        apache.write_text(
            f"ServerRoot {self.root}\nPidFile {self.root}/run/apache.pid\nErrorLog {self.root}/logs/error.log\n"
            f"Listen 127.0.0.1:{self.http_port}\nListen 127.0.0.1:{self.https_port}\nServerName localhost\n"
            f"User www-data\nGroup www-data\n{loads}TypesConfig /etc/mime.types\n"
            f"IncludeOptional {self.root}/sites/*.conf\n")
        fpm = self.root / "fpm.conf"
        fpm.write_text(
            f"[global]\npid = {self.root}/run/fpm.pid\nerror_log = {self.root}/logs/fpm.log\ndaemonize = no\n"
            f"include={self.root}/pools/*.conf\n[base]\nuser = www-data\ngroup = www-data\n"
            f"listen = {self.root}/run/base.sock\npm = ondemand\npm.max_children = 1\n")
        self.reload_log = self.root / "reloads.log"
        count = f"echo $0 >> {self.reload_log}; "
        self.control = Control(
            apache_test=("apache2", "-f", str(apache), "-t"),
            apache_reload=("sh", "-c", count + f"exec apache2 -f {apache} -k graceful", "apache"),
            php_test=("php-fpm8.2", "-y", str(fpm), "-t"),
            php_reload=("sh", "-c", count + f"exec kill -USR2 $(cat {self.root}/run/fpm.pid)", "php-fpm"),
            probe_timeout=10)

    def start(self) -> None:
        for argv in (["php-fpm8.2", "-F", "-y", str(self.root / "fpm.conf")],
                     ["apache2", "-f", str(self.root / "apache.conf"), "-DFOREGROUND"]):
            self.procs.append(subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not (port_accepts("127.0.0.1", self.http_port) and (self.root / "run/base.sock").exists()):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"Apache or php-fpm did not start: {(self.root / 'logs/error.log').read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        self.procs.clear()

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
def web_host() -> Iterator[WebHost]:
    root = Path(tempfile.mkdtemp(prefix="ispctl-web-", dir="/tmp"))
    root.chmod(0o755)
    host = WebHost(root)
    try:
        host.start()
        yield host
    finally:
        host.stop()
        shutil.rmtree(root)
