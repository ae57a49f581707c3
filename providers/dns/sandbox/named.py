"""A real BIND named on loopback, configured from scratch in a work directory.

Used by the test-suite and by ``ispctl sandbox``: ``named -f -c <workdir>/named.conf`` (foreground,
logging as configured: to stderr, which the harness keeps in ``named.log``)
with a TSIG key for ispctl, a control channel on a second loopback port with its own rndc key,
``allow-new-zones`` and the (empty) catalog zone the DNS provider reads. Update and transfer
events are logged, so tests can count the update messages the server really received.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig

from ispctl.providers.dns.connection import DEFAULT_CATALOG
from ispctl.reconciler.harness.daemons import DaemonError, free_port, port_accepts, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

_HOST = "127.0.0.1"
_INSTALL_HINT = "bind9 bind9-utils dnsutils"
TSIG_KEY_NAME = "ispctl"
RNDC_KEY_NAME = "ispctl-rndc"
# One line per update message named accepts ("signer ... approved"), naming the client.
_APPROVED = re.compile(r"client @\S+ (?P<client>\S+)/key \S+: signer \"[^\"]+\" approved")
_UPDATING = re.compile(r"client @\S+ (?P<client>\S+)/key \S+: updating zone '(?P<zone>[^/]+)/IN'")


def key_statement(name: str, secret: str, algorithm: str = "hmac-sha256") -> str:
    return f'key "{name}" {{\n\talgorithm {algorithm};\n\tsecret "{secret}";\n}};\n'


def _new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class NamedBase(DaemonInstance):
    """What every named of the harness shares: ``named.conf`` in the work directory, one port."""

    daemon_name = "named"
    port: int

    @property
    def config_file(self) -> Path:
        return self.workdir / "named.conf"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def url(self) -> str:
        return f"dns://{_HOST}:{self.port}"

    def _common_options(self) -> str:
        """The options every harness named has: its files in its work directory, loopback only on
        its own port, authoritative only (no recursion, no validation)."""
        w = self.workdir
        return f"""    directory "{w}";
    pid-file none;
    session-keyfile "{w}/session.key";
    managed-keys-directory "{w}";
    listen-on port {self.port} {{ {_HOST}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
""".rstrip("\n")

    def _write_secret(self, path: Path, text: str) -> None:
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text, encoding="utf-8")


class NamedInstance(NamedBase):
    """One named with its config, keys, zone files and log under ``workdir``."""

    port_keys = ("port", "control_port")

    def __init__(self, workdir: Path, *, port: int | None = None, control_port: int | None = None,
                 tsig_secret: str | None = None, rndc_secret: str | None = None,
                 catalog: str = DEFAULT_CATALOG, notify_ports: tuple[int, ...] = ()) -> None:
        super().__init__(workdir)
        # Secondaries on this loopback address (their ports) told of every change by NOTIFY;
        # none: notify off (a single named has nobody to tell).
        self.notify_ports = tuple(notify_ports)
        self.port = port or free_port(_HOST)
        self.control_port = control_port or free_port(_HOST)
        while self.control_port == self.port:
            self.control_port = free_port(_HOST)
        self.tsig_secret = tsig_secret or _new_secret()
        self.rndc_secret = rndc_secret or _new_secret()
        self.catalog = catalog

    # -- locations ---------------------------------------------------------------------

    @property
    def tsig_file(self) -> Path:
        return self.workdir / "tsig.key"

    @property
    def rndc_key_file(self) -> Path:
        return self.workdir / "rndc.key"

    @property
    def zone_dir(self) -> Path:
        return self.workdir / "zones"

    def env(self) -> dict[str, str]:
        """What points ispctl's DNS provider at this named."""
        return {
            "ISPCTL_DNS_SERVER": f"{_HOST}:{self.port}",
            "ISPCTL_DNS_TSIG_NAME": TSIG_KEY_NAME,
            "ISPCTL_DNS_TSIG_FILE": str(self.tsig_file),
            "ISPCTL_DNS_TSIG_ALGORITHM": "hmac-sha256",
            "ISPCTL_RNDC_SERVER": f"{_HOST}:{self.control_port}",
            "ISPCTL_RNDC_KEY_FILE": str(self.rndc_key_file),
            "ISPCTL_DNS_CATALOG": self.catalog,
            "ISPCTL_DNS_ZONE_DIR": str(self.zone_dir),
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir), "port": self.port, "control_port": self.control_port,
            "tsig_secret": self.tsig_secret, "rndc_secret": self.rndc_secret, "catalog": self.catalog,
            "notify_ports": list(self.notify_ports),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NamedInstance:
        return cls(Path(state["workdir"]), port=state.get("port"), control_port=state.get("control_port"),
                   tsig_secret=state.get("tsig_secret"), rndc_secret=state.get("rndc_secret"),
                   catalog=state.get("catalog", DEFAULT_CATALOG),
                   notify_ports=tuple(state.get("notify_ports", ())))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        named = require_binary("named", "bind9", install=_INSTALL_HINT)
        require_binary("rndc", "bind9-utils", install=_INSTALL_HINT)
        if self.running():
            raise DaemonError(f"named in {self.workdir} is already running")
        if port_accepts(_HOST, self.control_port):
            raise DaemonError(f"named: control port {_HOST}:{self.control_port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.zone_dir.mkdir(exist_ok=True)
        self._write_secret(self.tsig_file, key_statement(TSIG_KEY_NAME, self.tsig_secret))
        self._write_secret(self.rndc_key_file, key_statement(RNDC_KEY_NAME, self.rndc_secret))
        catalog_file = self.workdir / "catalog.db"
        if not catalog_file.exists():  # a restarted sandbox keeps its catalog (and its zones)
            catalog_file.write_text(
                f"$ORIGIN {self.catalog}.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n"
                '@ NS invalid.\nversion TXT "2"\n', encoding="utf-8")
        self.config_file.write_text(self._config(), encoding="utf-8")
        mark = len(self.log_text())  # a restart appends to the same log
        # -f: foreground with the logging statement honoured (-g would log everything, unfiltered).
        argv = [named, "-f", "-c", str(self.config_file), "-n", "2"]
        self._run(argv, _HOST, self.port, detach)
        # named listens before it has loaded its zones (a transfer would get SERVFAIL) and opens
        # the control channel last: wait for both, and for its own "all zones loaded" (the zones
        # added with rndc addzone load after the catalog, and a restart once answered in between).
        deadline = time.monotonic() + 10
        while not (port_accepts(_HOST, self.control_port) and self._catalog_loaded()
                   and "general: all zones loaded" in self.log_text()[mark:]):
            if time.monotonic() > deadline:
                self.stop()
                raise DaemonError(f"named did not load its zones and open its control channel on "
                                  f"{_HOST}:{self.control_port} within 10 s; see {self.log_file}")
            time.sleep(0.02)

    def _catalog_loaded(self) -> bool:
        query = dns.message.make_query(self.catalog + ".", dns.rdatatype.SOA)
        query.use_tsig(dns.tsig.Key(TSIG_KEY_NAME, self.tsig_secret, "hmac-sha256"))
        try:
            response = dns.query.tcp(query, _HOST, port=self.port, timeout=2)
        except (dns.exception.DNSException, OSError):
            return False
        return response.rcode() == dns.rcode.NOERROR and bool(response.answer)

    def _config(self) -> str:
        w = self.workdir
        return f"""include "{self.tsig_file}";
include "{self.rndc_key_file}";
options {{
{self._common_options()}
    {self._notify()}
    allow-new-zones yes;
    new-zones-directory "{w}";
    allow-transfer {{ key "{TSIG_KEY_NAME}"; }};
}};
controls {{
    inet {_HOST} port {self.control_port} allow {{ {_HOST}; }} keys {{ "{RNDC_KEY_NAME}"; }};
}};
logging {{
    channel stderr_log {{ stderr; severity info; print-time yes; print-category yes; }};
    category default {{ stderr_log; }};
    category update {{ stderr_log; }};
    category update-security {{ stderr_log; }};
    category xfer-out {{ stderr_log; }};
    category lame-servers {{ null; }};
}};
zone "{self.catalog}" {{
    type primary;
    file "catalog.db";
    allow-update {{ key "{TSIG_KEY_NAME}"; }};
    allow-query {{ key "{TSIG_KEY_NAME}"; }};
}};
"""

    def _notify(self) -> str:
        if not self.notify_ports:
            return "notify no;"
        targets = " ".join(f"{_HOST} port {port};" for port in self.notify_ports)
        # notify-delay 0: at once (BIND waits 5 s by default to bundle changes).
        return f"notify explicit;\n    notify-delay 0;\n    also-notify {{ {targets} }};"

    # -- tools for tests and people ----------------------------------------------------

    def rndc(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real rndc against this instance's control channel."""
        conf = self.workdir / "rndc.conf"
        if not conf.exists():
            conf.write_text(f'include "{self.rndc_key_file}";\noptions {{ default-key "{RNDC_KEY_NAME}"; }};\n',
                            encoding="utf-8")
        argv = [require_binary("rndc", "bind9-utils", install=_INSTALL_HINT), "-c", str(conf),
                "-s", _HOST, "-p", str(self.control_port), *args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
                              timeout=30)

    def nsupdate(self, script: str) -> subprocess.CompletedProcess[str]:
        """The real nsupdate, TSIG-signed with ispctl's key; ``server`` and ``send`` are added."""
        argv = [require_binary("nsupdate", "bind9-dnsutils", install=_INSTALL_HINT), "-k", str(self.tsig_file)]
        text = f"server {_HOST} {self.port}\n{script.strip()}\nsend\n"
        return subprocess.run(argv, input=text, capture_output=True, text=True, check=False, timeout=30)

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def update_messages(self, zone: str, since: int = 0) -> int:
        """Update messages for ``zone`` that named approved, counted from its log after offset ``since``.

        named logs one "signer approved" line per update message and one "updating zone" line
        per record it changes, both naming the client's address and port (one TCP connection
        per message), which ties each message to its zone.
        """
        text = self.log_text()[since:]
        approved = [m["client"] for m in _APPROVED.finditer(text)]
        clients = {m["client"] for m in _UPDATING.finditer(text) if m["zone"] == zone}
        return sum(1 for client in approved if client in clients)
