"""A real BIND secondary on loopback that follows the primary's catalog zone (RFC 9432).

It is configured with nothing but the catalog: ``catalog-zones`` makes named add every member
zone the catalog lists as a secondary zone of its own (transferred from the primary, TSIG-signed
with ispctl's key in the sandbox; a production secondary gets a transfer key of its own) and
remove it when the catalog drops it. ispctl never writes to a secondary: it only asks for SOA
serials (``providers/dns/catalog_check.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from ispctl.providers.dns.connection import DEFAULT_CATALOG
from ispctl.providers.dns.sandbox.named import TSIG_KEY_NAME, NamedBase, key_statement
from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary

_HOST = "127.0.0.1"
_INSTALL_HINT = "bind9 bind9-utils dnsutils"


class SecondaryNamedInstance(NamedBase):
    """One secondary named under ``workdir``, following ``catalog`` from the primary at ``primary_port``."""

    def __init__(self, workdir: Path, *, primary_port: int, tsig_secret: str, port: int | None = None,
                 catalog: str = DEFAULT_CATALOG, min_update_interval: int = 1) -> None:
        super().__init__(workdir)
        self.primary_port = primary_port
        self.tsig_secret = tsig_secret
        self.port = port or free_port(_HOST)
        self.catalog = catalog
        # How soon named applies a changed catalog (seconds; BIND's default is 5).
        self.min_update_interval = min_update_interval

    @property
    def address(self) -> str:
        """Where it answers, as the cluster settings name a secondary (``host:port``)."""
        return f"{_HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {}  # ispctl is never pointed at a secondary to write

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "port": self.port, "primary_port": self.primary_port,
                "tsig_secret": self.tsig_secret, "catalog": self.catalog,
                "min_update_interval": self.min_update_interval}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SecondaryNamedInstance:
        return cls(Path(state["workdir"]), primary_port=int(state["primary_port"]), tsig_secret=state["tsig_secret"],
                   port=state.get("port"), catalog=state.get("catalog", DEFAULT_CATALOG),
                   min_update_interval=int(state.get("min_update_interval", 1)))

    def start(self, detach: bool = False) -> None:
        named = require_binary("named", "bind9", install=_INSTALL_HINT)
        if self.running():
            raise DaemonError(f"named in {self.workdir} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "catzones").mkdir(exist_ok=True)
        self._write_secret(self.workdir / "tsig.key", key_statement(TSIG_KEY_NAME, self.tsig_secret))
        self.config_file.write_text(self._config(), encoding="utf-8")
        self._run([named, "-f", "-c", str(self.config_file), "-n", "2"], _HOST, self.port, detach)
        deadline = time.monotonic() + 10
        while not self._serves(self.catalog):
            if time.monotonic() > deadline:
                self.stop()
                raise DaemonError(f"the secondary named did not transfer the catalog {self.catalog} from "
                                  f"{_HOST}:{self.primary_port} within 10 s; see {self.log_file}")
            time.sleep(0.05)

    def _serves(self, zone: str) -> bool:
        query = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
        try:
            response = dns.query.udp(query, _HOST, port=self.port, timeout=1)
        except (dns.exception.DNSException, OSError):
            return False
        return response.rcode() == dns.rcode.NOERROR and bool(response.answer)

    def _config(self) -> str:
        w = self.workdir
        primaries = f'{_HOST} port {self.primary_port} key "{TSIG_KEY_NAME}";'
        return f"""include "{w / "tsig.key"}";
options {{
{self._common_options()}
    notify no;
    # none: named would open a control channel on port 953 with /etc/bind/rndc.key
    catalog-zones {{
        zone "{self.catalog}" default-primaries {{ {primaries} }}
            in-memory no zone-directory "catzones" min-update-interval {self.min_update_interval};
    }};
}};
controls {{ }};
logging {{
    channel stderr_log {{ stderr; severity info; print-time yes; print-category yes; }};
    category default {{ stderr_log; }};
    category lame-servers {{ null; }};
}};
zone "{self.catalog}" {{
    type secondary;
    file "catalog.db";
    primaries {{ {primaries} }};
}};
"""
