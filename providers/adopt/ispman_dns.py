"""ISPMan's DNS (``dNSZone`` leaves under ``ou=DNS``) as the ``dns:`` of ispctl's domain files.

Each leaf is one record: ``zoneName``, ``relativeDomainName`` (the owner, ``@`` for the apex)
and one record attribute. A CNAME leaf is stored inverted by DNSMan (its ``relativeDomainName``
is the alias, ``cNAMERecord`` the target), which is exactly an owner and its value, so it is
read as such. The SOA and the apex NS most zones share become the site's ``dns.soa``/``dns.ns``;
a zone that differs gets its own ``soa:``/``ns:``. Record values are copied as written
(relative names stay relative, ISPMan wrote FQDNs with their final dot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ispctl.providers.adopt.source import SourceEntry

# Record attributes ISPMan's readers know, by ispctl's type name (dnszone.schema / cosine).
RECORD_ATTRS = {"arecord": "A", "aaaarecord": "AAAA", "mxrecord": "MX", "nsrecord": "NS", "cnamerecord": "CNAME",
                "txtrecord": "TXT", "srvrecord": "SRV", "ptrrecord": "PTR", "soarecord": "SOA"}
SOA_FIELDS = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum")


@dataclass
class Zone:
    name: str
    soa: dict[str, str] | None = None
    ns: list[str] = field(default_factory=list)
    # owner -> type -> (values, ttl)
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    ttls: dict[tuple[str, str], int] = field(default_factory=dict)
    dns: list[str] = field(default_factory=list)


def _duration(text: str) -> str:
    # BIND's 3H/30M/1W/1D as ispctl writes durations; a bare number is seconds.
    return text.lower() if text[-1:].isalpha() else f"{text}s"


def _rname(text: str) -> str:
    # hostmaster.example.com. -> hostmaster@example.com (the first unescaped dot is the @).
    local, _, rest = text.partition(".")
    return f"{local}@{rest.rstrip('.')}" if rest else text


def read_zones(entries: Iterable[SourceEntry], problems: list[tuple[str, str]]) -> dict[str, Zone]:
    """Zones by (lower-case) name; ``problems`` gets (dn, detail) for leaves that are not records."""
    zones: dict[str, Zone] = {}
    for entry in entries:
        zone_name = (entry.get("zoneName") or "").lower().rstrip(".")
        owner = entry.get("relativeDomainName")
        found = [(RECORD_ATTRS[a], v) for a, vs in entry.attrs.items() if a in RECORD_ATTRS for v in vs]
        if not zone_name or owner is None or not found:
            problems.append((entry.dn, "dNSZone leaf without zoneName, relativeDomainName or a record"))
            continue
        zone = zones.setdefault(zone_name, Zone(zone_name))
        zone.dns.append(entry.dn)
        ttl = entry.get("dNSTTL")
        for rtype, value in found:
            if rtype == "SOA":
                parts = value.split()
                if len(parts) != 7:
                    problems.append((entry.dn, "SOA record without its seven fields"))
                    continue
                zone.soa = dict(zip(SOA_FIELDS, parts, strict=True))
                continue
            if rtype == "NS" and owner == "@":
                zone.ns.append(value)
                continue
            zone.records.setdefault(owner, {}).setdefault(rtype, []).append(value)
            if ttl is not None and ttl.isdigit():
                zone.ttls[(owner, rtype)] = min(int(ttl), zone.ttls.get((owner, rtype), int(ttl)))
    return zones


def site_dns(zones: Iterable[Zone]) -> CommentedMap:
    """The site's ``dns:``: the apex NS and SOA most zones share (ties: the first in name order)."""
    ordered = sorted(zones, key=lambda z: z.name)
    result = CommentedMap()
    ns_sets = Counter(tuple(sorted(z.ns)) for z in ordered if z.ns)
    if ns_sets:
        result["ns"] = list(ns_sets.most_common(1)[0][0])
    soas = Counter(tuple((k, v) for k, v in z.soa.items() if k != "serial") for z in ordered if z.soa)
    if soas:
        common = dict(soas.most_common(1)[0][0])
        result["soa"] = _soa(common)
        result.yaml_add_eol_comment("ISPMan's SOA (the serial is ispctl's own from now on)", "soa")
    # ISPMan published no SPF/DMARC/autoconfig/MTA-STS of its own: nothing is derived that the
    # zones did not have.
    result["mail"] = CommentedMap([("autoconfig", False), ("mta_sts", CommentedMap([("enabled", False)]))])
    return result


def _soa(fields: dict[str, str]) -> CommentedMap:
    return CommentedMap([("mname", fields["mname"]), ("rname", _rname(fields["rname"])),
                         ("refresh", _duration(fields["refresh"])), ("retry", _duration(fields["retry"])),
                         ("expire", _duration(fields["expire"])), ("minimum", _duration(fields["minimum"]))])


def _value(rtype: str, value: str) -> Any:
    if rtype == "MX":
        priority, _, host = value.partition(" ")
        if priority.isdigit() and host.strip():
            return CommentedMap([("priority", int(priority)), ("host", host.strip())])
    return value


def domain_dns(zone: Zone, site: CommentedMap) -> CommentedMap:
    """A domain file's ``dns:`` for ``zone``, given the site's (only what differs from it)."""
    result = CommentedMap()
    if zone.ns and sorted(zone.ns) != list(site.get("ns", [])):
        result["ns"] = sorted(zone.ns)
    if zone.soa is not None:
        own = _soa(zone.soa)
        shared = site.get("soa")
        if shared is not None and any(own[k] != shared[k] for k in own):
            result["soa"] = own
    records = CommentedMap()
    for owner in sorted(zone.records):
        sets = CommentedMap()
        for rtype in sorted(zone.records[owner]):
            values = [_value(rtype, v) for v in sorted(zone.records[owner][rtype])]
            ttl = zone.ttls.get((owner, rtype))
            if ttl is not None:
                sets[rtype] = CommentedMap([("ttl", f"{ttl}s"), ("values", values)])
            else:
                sets[rtype] = values[0] if len(values) == 1 else values
            if rtype == "CNAME":
                sets.yaml_add_eol_comment("ISPMan stored this CNAME inverted (owner in relativeDomainName)", rtype)
        records[owner] = sets
    if records:
        result["records"] = records
    return result
