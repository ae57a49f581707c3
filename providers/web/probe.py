"""After a reload: does every changed site answer with its new configuration?

Each rendered vhost answers ``/.well-known/ispctl-probe/`` with ``X-Ispctl-Probe: <token>``, a
digest of the file's content (``render``). A graceful reload lands asynchronously, so the probe
asks every pending site again until each answers with its own token (over HTTP with its Host
header, and over HTTPS with its name as SNI when it serves HTTPS) and, for a PHP site, its
pool's socket is there; what is still pending at the deadline failed, with the last answer.
The certificate is not verified here: this checks which configuration answers, not the chain.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
import time
from dataclasses import dataclass

from ispctl.providers.web.render import PROBE_HEADER, PROBE_PATH


@dataclass(frozen=True)
class Target:
    host: str
    token: str
    tls: bool
    socket: str | None  # the PHP pool's socket, when the site runs PHP


def fetch_header(address: str, port: int, host: str, tls: bool, timeout: float = 2.0) -> str | None:
    """The probe header a request with ``host`` gets (None if absent); raises OSError when no answer."""
    raw = socket.create_connection((address, port), timeout=timeout)
    try:
        conn: socket.socket = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = context.wrap_socket(raw, server_hostname=host)
        conn.sendall(f"GET {PROBE_PATH} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        raw.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == PROBE_HEADER.lower():
            return value.strip()
    return None


def _check(target: Target, address: str, http_port: int, https_port: int) -> str | None:
    """Why ``target`` does not answer as it should yet, or None."""
    for tls, port in ((False, http_port), *(((True, https_port),) if target.tls else ())):
        scheme = "https" if tls else "http"
        try:
            seen = fetch_header(address, port, target.host, tls)
        except (OSError, ssl.SSLError) as exc:
            return f"{scheme}://{target.host} at {address}:{port}: {exc.strerror or exc}" if isinstance(
                exc, OSError) and exc.strerror else f"{scheme}://{target.host} at {address}:{port}: {exc}"
        if seen != target.token:
            what = "another configuration (not this site's vhost?)" if seen is None else "an older configuration"
            return f"{scheme}://{target.host} at {address}:{port} answers with {what}"
    if target.socket is not None:
        try:
            if not stat.S_ISSOCK(os.stat(target.socket).st_mode):
                return f"{target.socket} is not a socket"
        except OSError:
            return f"the PHP pool's socket {target.socket} is not there"
    return None


def probe(targets: list[Target], address: str, http_port: int, https_port: int, timeout: float,
          parallel: int = 16) -> dict[str, str]:
    """host -> why it failed, for the targets that did not answer correctly before ``timeout``.

    Up to ``parallel`` sites are asked at once: Apache answers many connections together, and a
    thousand changed sites asked one by one would wait for a thousand round trips."""
    from concurrent.futures import ThreadPoolExecutor  # an apply's, not every command's (issue 11)

    pending = {t.host: t for t in targets}
    why: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(pending)))) as pool:
        while pending:
            hosts = list(pending)
            answers = pool.map(lambda h: _check(pending[h], address, http_port, https_port), hosts)
            for host, reason in zip(hosts, answers, strict=True):
                if reason is None:
                    del pending[host]
                    why.pop(host, None)
                else:
                    why[host] = reason
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    return {host: f"probe: {why[host]} ({timeout:g} s after the reload)" for host in pending}
