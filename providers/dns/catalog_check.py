"""The DNS secondaries: does every secondary serve every zone of the catalog at the primary's serial?

Secondaries follow the catalog zone ispctl keeps on the primary (RFC 9432; BIND's
``catalog-zones``): a zone ispctl creates is listed there and every secondary adds it by itself,
then NOTIFY and IXFR carry each change. The watch reads the catalog and the SOA serial of the
catalog and of each primary zone it lists once, right after the apply (TSIG-signed, from the
primary); then it asks each ``dns_secondary`` host of the cluster for the same SOAs (plain
queries, as any resolver would). A secondary is in sync when it answers authoritatively for
every one of them with a serial not behind the primary's (RFC 1982 serial arithmetic: a
secondary already ahead, because the zone changed again since, is not behind). Zones the
catalog lists as secondaries on the primary are left out: their serials are their own
primaries' business.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import replace

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from dns.rdtypes.ANY.SOA import SOA

from ispctl.providers.dns.axfr import transfer
from ispctl.providers.dns.catalog import read_catalog
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.query import query_soa
from ispctl.reconciler.contract import CLUSTER, ProviderError, ReplicaState, SiteFile

ROLE = "dns_secondary"
SERVICE = "dns"
TIMEOUT = 2.0
_SHOWN = 5  # zones named in a summary line; the JSON has them all


def behind(primary: int, secondary: int) -> bool:
    """RFC 1982: the secondary's serial is older than the primary's."""
    return secondary != primary and ((primary - secondary) % 2**32) < 2**31


def address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, or a bare host: port 53) as an address dnspython sends to."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ProviderError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    return str(found[0][4][0]), port


def secondary_serial(where: tuple[str, int], zone: str) -> int | None:
    """The serial the server serves authoritatively for ``zone``; None when it does not serve it."""
    query = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
    response = dns.query.udp(query, where[0], port=where[1], timeout=TIMEOUT)
    if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and isinstance(rrset[0], SOA):
            return int(rrset[0].serial)
    return None


class Secondaries:
    """The primary's serials right after the apply, and each secondary's compared with them."""

    def __init__(self, conn: DnsConnection, secondaries: list[tuple[str, str]]) -> None:
        self.conn = conn
        self.secondaries = secondaries  # (host, host:port)
        members = read_catalog(transfer(conn, conn.catalog))
        zones = [conn.catalog] + sorted(zone for zone, member in members.items() if not member.secondary)
        self.target = {zone: int(query_soa(conn, zone).serial) for zone in zones}

    def poll(self) -> list[ReplicaState]:
        return [self._one(host, where) for host, where in self.secondaries]

    def _one(self, host: str, where: str) -> ReplicaState:
        state = ReplicaState(SERVICE, host, ROLE, where, in_sync=False)
        missing: list[str] = []
        older: dict[str, list[int]] = {}
        try:
            target = address(where)
            for zone, serial in self.target.items():
                mine = secondary_serial(target, zone)
                if mine is None:
                    missing.append(zone)
                elif behind(serial, mine):
                    older[zone] = [mine, serial]
        except (ProviderError, dns.exception.DNSException, OSError) as exc:
            return replace(state, behind=len(self.target), error=f"{where}: {exc or type(exc).__name__}")
        lagging = missing + sorted(older)
        parts = []
        if missing:
            parts.append(f"{len(missing)} zone(s) not served yet: {', '.join(missing[:_SHOWN])}"
                         + (", ..." if len(missing) > _SHOWN else ""))
        if older:
            shown = ", ".join(f"{z} {s[0]} < {s[1]}" for z, s in sorted(older.items())[:_SHOWN])
            parts.append(f"{len(older)} zone(s) at an older serial: {shown}" + (", ..." if len(older) > _SHOWN else ""))
        detail = {"zones": len(self.target), "not_served": missing,
                  "older": {z: {"secondary": s[0], "primary": s[1]} for z, s in older.items()},
                  "summary": "; ".join(parts)}
        return replace(state, in_sync=not lagging, behind=len(lagging), detail=detail)

    def close(self) -> None:
        """Nothing held: every question is one UDP datagram."""


def replicas(site: SiteFile, env: Mapping[str, str]) -> Secondaries | None:
    """``Service.replicas`` of DNS: None when the cluster names no secondary."""
    cluster = site.section(CLUSTER)
    hosts = [(name, cluster.dns_address(name)) for name, _host in cluster.with_role(ROLE)]
    if not hosts:
        return None
    return Secondaries(DnsConnection.from_env(env), hosts)
