"""A real FreeRADIUS 3.2 on loopback, from a copy of Debian's stock raddb in a work directory.

Used by the tests and by ``ispctl sandbox``. The copy gets exactly what ``ispctl render
freeradius`` tells an operator to change (its two files, ``mods-enabled/ldap`` and
``sites-enabled/ispctl`` linked, ``sites-enabled/default`` removed) plus what makes it a private
throwaway: its own log/run dirs, no user/group switch, one client (127.0.0.1, a random
secret), ``inner-tunnel``'s test listener moved off the fixed port 18120 (two instances would
clash). It runs as ``freeradius -f -l stdout -d <raddb>``; it is ready when it answers a
Status-Server packet on its auth port (answered only once modules and listeners are up).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.radius.render import SITE_NAME, render, write_files
from ispctl.reconciler.harness.daemons import Daemon, DaemonError, log_tail, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
STOCK_RADDB = Path("/etc/freeradius/3.0")
_INSTALL_HINT = "freeradius freeradius-ldap freeradius-utils"
_STATUS_SERVER, _ACCESS_ACCEPT, _MESSAGE_AUTHENTICATOR = 12, 2, 80


def status_server(host: str, port: int, secret: str, timeout: float = 0.2) -> bool:
    """True when a RADIUS server answers Status-Server (RFC 5997) with Access-Accept.

    The request carries the Message-Authenticator RFC 5997 requires (HMAC-MD5 over the packet
    with that field zeroed); an answer signed with another secret is not counted.
    """
    ident = secrets.randbelow(256)
    authenticator = secrets.token_bytes(16)
    length = 20 + 18
    zeroed = struct.pack("!BBH", _STATUS_SERVER, ident, length) + authenticator + bytes([_MESSAGE_AUTHENTICATOR, 18])
    mac = hmac.new(secret.encode(), zeroed + bytes(16), hashlib.md5).digest()
    packet = zeroed + mac
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (host, port))
            answer = sock.recv(4096)
        except OSError:  # timeout, or ICMP port unreachable before the listener exists
            return False
    if len(answer) < 20 or answer[0] != _ACCESS_ACCEPT or answer[1] != ident:
        return False
    # Response Authenticator: MD5(code+id+length+request authenticator+attributes+secret).
    expected = hashlib.md5(answer[:4] + authenticator + answer[20:] + secret.encode()).digest()
    return hmac.compare_digest(expected, answer[4:20])


def udp_port_free(port: int, host: str = HOST) -> bool:
    """True when nothing is bound to UDP ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class _RadiusDaemon(Daemon):
    """A daemon whose readiness is a Status-Server answer on its UDP auth port."""

    def __init__(self, *args: Any, secret: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secret = secret

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise DaemonError(f"{self.name} exited with status {code} before answering on {self.host}:{self.port}"
                                  f"; last lines of {self.log_file}:\n{log_tail(self.log_file, 40)}")
            if status_server(self.host, self.port, self.secret):
                return
        raise DaemonError(f"{self.name} did not answer Status-Server on {self.host}:{self.port} within {timeout:g} s;"
                          f" last lines of {self.log_file}:\n{log_tail(self.log_file, 40)}")


class RadiusdInstance(DaemonInstance):
    """One FreeRADIUS with its raddb, run dir and log under ``workdir``."""

    daemon_name = "freeradius"
    port_keys = ("auth_port", "acct_port", "inner_port")

    def __init__(self, workdir: Path, ldap_env: Mapping[str, str], *, auth_port: int | None = None,
                 acct_port: int | None = None, inner_port: int | None = None, secret: str | None = None,
                 base_dn: str | None = None) -> None:
        super().__init__(workdir)
        self.ldap_env = dict(ldap_env)
        self.base_dn = base_dn or self.ldap_env.get("ISPCTL_LDAP_BASE_DN", "")
        if not self.base_dn:
            raise ValueError("base_dn is needed (or ISPCTL_LDAP_BASE_DN in ldap_env)")
        ports: set[int] = set()
        self.auth_port = auth_port or self._distinct(ports)
        ports.add(self.auth_port)
        self.acct_port = acct_port or self._distinct(ports)
        ports.add(self.acct_port)
        self.inner_port = inner_port or self._distinct(ports)
        # Hex: a secret starting with '-' was read by radtest/radclient as an option.
        self.secret = secret or secrets.token_hex(16)

    @staticmethod
    def _distinct(taken: set[int]) -> int:
        while True:
            # The kernel picks a UDP port free right now (RADIUS listens on UDP only).
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((HOST, 0))
                port = int(sock.getsockname()[1])
            if port not in taken:
                return port

    @property
    def raddb(self) -> Path:
        return self.workdir / "raddb"

    @property
    def marker(self) -> str:
        return str(self.raddb)

    @property
    def url(self) -> str:
        return f"radius://{HOST}:{self.auth_port}"

    def env(self) -> dict[str, str]:
        """Where people (and the README's demo) find this server: radtest's address and secret."""
        return {"ISPCTL_RADIUS_SERVER": f"{HOST}:{self.auth_port}", "ISPCTL_RADIUS_SECRET": self.secret}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "ldap_env": self.ldap_env, "base_dn": self.base_dn,
                "auth_port": self.auth_port, "acct_port": self.acct_port, "inner_port": self.inner_port,
                "secret": self.secret}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RadiusdInstance:
        return cls(Path(state["workdir"]), state.get("ldap_env", {}), auth_port=state.get("auth_port"),
                   acct_port=state.get("acct_port"), inner_port=state.get("inner_port"),
                   secret=state.get("secret"), base_dn=state.get("base_dn"))

    # -- configuration ---------------------------------------------------------------------

    def write_config(self) -> None:
        """A fresh copy of the stock raddb with the rendered files and the throwaway's edits."""
        if not (STOCK_RADDB / "radiusd.conf").exists():
            raise DaemonError(f'{STOCK_RADDB} is missing: run "apt-get install {_INSTALL_HINT}"')
        shutil.rmtree(self.raddb, ignore_errors=True)
        # Relative symlinks (mods-enabled/x -> ../mods-available/x) keep working in the copy.
        shutil.copytree(STOCK_RADDB, self.raddb, symlinks=True)
        write_files(render(LdapSettings.from_env(self.ldap_env), self.base_dn, HOST, self.auth_port, self.acct_port),
                    self.raddb)
        (self.raddb / "mods-enabled" / "ldap").symlink_to("../mods-available/ldap")
        (self.raddb / "sites-enabled" / "default").unlink()
        (self.raddb / "sites-enabled" / SITE_NAME).symlink_to(f"../sites-available/{SITE_NAME}")
        run_dir = self.workdir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        conf = (self.raddb / "radiusd.conf").read_text(encoding="utf-8")
        conf = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {self.raddb}", conf)
        conf = re.sub(r"(?m)^logdir = .*$", f"logdir = {self.workdir}", conf)
        conf = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {run_dir}", conf)
        # Runs as whoever starts it (the test session): no switch to freerad.
        conf = re.sub(r"(?m)^(\s*)(user|group) = ", r"\1#\2 = ", conf)
        # A refused login answers at once instead of after a second (the outcome is the same).
        conf = re.sub(r"(?m)^(\s*)reject_delay = .*$", r"\1reject_delay = 0", conf)
        (self.raddb / "radiusd.conf").write_text(conf, encoding="utf-8")
        inner = self.raddb / "sites-available" / "inner-tunnel"
        inner.write_text(re.sub(r"port = 18120\b", f"port = {self.inner_port}", inner.read_text(encoding="utf-8")),
                         encoding="utf-8")
        # No real NAS to ask whether a session in radutmp is still up (checkrad): trust radutmp,
        # so Simultaneous-Use is decided by the accounting this instance saw.
        radutmp = self.raddb / "mods-available" / "radutmp"
        radutmp.write_text(re.sub(r"check_with_nas = yes", "check_with_nas = no", radutmp.read_text(encoding="utf-8")),
                           encoding="utf-8")
        clients = (f"client ispctl-sandbox {{\n\tipaddr = {HOST}\n\tsecret = {self.secret}\n"
                   "\trequire_message_authenticator = no\n}\n")
        path = self.raddb / "clients.conf"
        path.write_text(clients, encoding="utf-8")
        path.chmod(0o600)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        radiusd = require_binary("freeradius", "freeradius", install=_INSTALL_HINT)
        if not Path("/usr/lib/freeradius/rlm_ldap.so").exists():
            raise DaemonError(f'FreeRADIUS has no LDAP module: run "apt-get install {_INSTALL_HINT}"')
        if self.running():
            raise DaemonError(f"freeradius in {self.workdir} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        argv = [radiusd, "-f", "-l", "stdout", "-d", str(self.raddb)]
        self._daemon = _RadiusDaemon(self.daemon_name, argv, self.workdir, HOST, self.auth_port,
                                     marker=self.marker, secret=self.secret)
        self._daemon.start(detach=detach, timeout=20.0)

    # -- tools -----------------------------------------------------------------------------

    def radclient(self, request: Mapping[str, str], code: str = "auth") -> subprocess.CompletedProcess[str]:
        """The real radclient against this server (``acct``: its accounting port): ``request`` is
        attribute -> value (quoted here); the answer's attributes are in stdout. Returned, not checked."""
        lines = "".join(f'{name} = "{value}"\n' for name, value in request.items())
        argv = [require_binary("radclient", "freeradius-utils", install=_INSTALL_HINT), "-x", "-r", "1", "-t", "5",
                f"{HOST}:{self.acct_port if code == 'acct' else self.auth_port}", code, self.secret]
        return subprocess.run(argv, input=lines, capture_output=True, text=True, check=False, timeout=30,
                              env={**os.environ, "LC_ALL": "C"})

    def radtest(self, user: str, password: str, method: str = "pap") -> subprocess.CompletedProcess[str]:
        """The real radtest (``-t pap|chap|mschap``) against this server; returned, not checked."""
        argv = [require_binary("radtest", "freeradius-utils", install=_INSTALL_HINT), "-t", method, user, password,
                f"{HOST}:{self.auth_port}", "0", self.secret]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30,
                              env={**os.environ, "LC_ALL": "C"})
