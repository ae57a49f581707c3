"""The catalog zone (RFC 9432) that lists the zones ispctl owns on the primary.

Ownership needs a list of zones that one request can fetch: an AXFR of the catalog gives it,
and the ISP's secondaries can consume the same catalog to follow zone additions and removals
without any configuration of their own. Layout (``$CATZ`` = the catalog's name)::

    $CATZ                                   SOA, NS invalid.
    version.$CATZ                           TXT "2"
    <id>.zones.$CATZ                        PTR <member zone>.      (id = SHA-1 of the zone name
                                                                     in wire form, as BIND's docs do)
    primaries.ext.<id>.zones.$CATZ          A / AAAA                secondary zones only: where
                                                                     they transfer from (BIND
                                                                     consumers honour this property)
    ispctl-fingerprint.ext.<id>.zones.$CATZ TXT                     secondary zones only: the
                                                                     fingerprint of the zone resource

A primary zone's own fingerprint lives in the zone (``mapping``), next to its SOA and NS, so it
changes in the same update; a secondary zone cannot be written, so its fingerprint is here.
Zones on the server that the catalog does not list are not ispctl's and are never touched.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ispctl.providers.dns.mapping import parse_rdata, txt_rdata, zone_owner
from ispctl.providers.dns.names import primary_address
from ispctl.reconciler.contract import Resource

if TYPE_CHECKING:
    import dns.name
    import dns.rdata
    import dns.tsig
    import dns.update
    import dns.zone

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

FINGERPRINT_PROPERTY = "ispctl-fingerprint"
PRIMARIES_PROPERTY = "primaries"


@dataclass(frozen=True)
class Member:
    zone: str
    id: str
    primaries: tuple[str, ...] = ()
    fingerprint: str | None = None

    @property
    def secondary(self) -> bool:
        return bool(self.primaries)


def member_id(zone: str) -> str:
    import dns.name

    wire = dns.name.from_text(zone).canonicalize().to_wire()
    assert wire is not None  # to_wire() without a file returns the bytes
    return hashlib.sha1(wire).hexdigest()


def member_name(catalog: dns.name.Name, mid: str, prop: str | None = None) -> dns.name.Name:
    import dns.name

    labels = f"{prop}.ext.{mid}.zones" if prop else f"{mid}.zones"
    return dns.name.from_text(labels, catalog)


def read_catalog(live: dns.zone.Zone) -> dict[str, Member]:
    """``{zone: Member}`` from a transferred catalog zone."""
    import dns.rdataclass
    import dns.rdatatype
    from dns.rdtypes.ANY.TXT import TXT
    from dns.rdtypes.IN.A import A
    from dns.rdtypes.IN.AAAA import AAAA

    found: dict[str, str] = {}  # id -> zone
    props: dict[tuple[str, str], list[dns.rdata.Rdata]] = {}
    for name, node in live.nodes.items():
        labels = [label.decode("ascii").lower() for label in name.labels]
        if len(labels) == 2 and labels[1] == "zones":
            ptr = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.PTR)
            if ptr is not None and len(ptr) == 1:
                found[labels[0]] = ptr[0].target.to_text(omit_final_dot=True).lower()
        elif len(labels) == 4 and labels[1] == "ext" and labels[3] == "zones":
            for rdataset in node.rdatasets:
                props.setdefault((labels[2], labels[0]), []).extend(rdataset)
    members: dict[str, Member] = {}
    for mid, zone in found.items():
        primaries = tuple(sorted(r.address for r in props.get((mid, PRIMARIES_PROPERTY), [])
                                 if isinstance(r, (A, AAAA))))
        fps = [b"".join(r.strings).decode("ascii", "replace")
               for r in props.get((mid, FINGERPRINT_PROPERTY), []) if isinstance(r, TXT)]
        members[zone] = Member(zone, mid, primaries, fps[0] if len(fps) == 1 else None)
    return members


def secondary_resource(member: Member) -> Resource:
    return Resource("dns_zone", member.zone, {
        "type": "secondary", "primaries": member.primaries, "soa": None, "ns": None, "default_ttl": None,
    }, depends_on=zone_owner(member.zone), recorded_fingerprint=member.fingerprint)


def _primary_rdata(address: str) -> dns.rdata.Rdata:
    plain = primary_address(address)  # the writer's own check: no zone id, nothing but an address
    return parse_rdata("AAAA" if ipaddress.ip_address(plain).version == 6 else "A", plain)


def add_member(catalog: str, zone: Resource, key: dns.tsig.Key, finished: bool = True) -> dns.update.UpdateMessage:
    """List a new zone; refused (YXDOMAIN) if someone listed it since the catalog was read."""
    import dns.name
    import dns.update

    origin = dns.name.from_text(catalog)
    mid = member_id(zone.key)
    message = dns.update.UpdateMessage(origin)
    message.absent(member_name(origin, mid))
    message.add(member_name(origin, mid), 0, parse_rdata("PTR", zone.key + "."))
    _secondary_properties(message, origin, mid, zone, finished)
    message.use_tsig(key)
    return message


def change_member(catalog: str, zone: Resource, key: dns.tsig.Key, finished: bool = True) -> dns.update.UpdateMessage:
    """Rewrite a listed zone's properties (a primary has none).

    ``finished=False`` leaves a secondary's fingerprint out: the mark of a switch that named has
    not completed yet (providers/dns/zones.py).
    """
    import dns.name
    import dns.update

    origin = dns.name.from_text(catalog)
    mid = member_id(zone.key)
    message = dns.update.UpdateMessage(origin)
    message.present(member_name(origin, mid), parse_rdata("PTR", zone.key + "."))
    for prop in (PRIMARIES_PROPERTY, FINGERPRINT_PROPERTY):
        message.delete(member_name(origin, mid, prop))
    _secondary_properties(message, origin, mid, zone, finished)
    message.use_tsig(key)
    return message


def remove_member(catalog: str, zone: str, key: dns.tsig.Key) -> dns.update.UpdateMessage:
    import dns.name
    import dns.update

    origin = dns.name.from_text(catalog)
    mid = member_id(zone)
    message = dns.update.UpdateMessage(origin)
    for prop in (PRIMARIES_PROPERTY, FINGERPRINT_PROPERTY, None):
        message.delete(member_name(origin, mid, prop))
    message.use_tsig(key)
    return message


def _secondary_properties(message: dns.update.UpdateMessage, origin: dns.name.Name, mid: str,
                          zone: Resource, finished: bool) -> None:
    if zone.attrs.get("type") != "secondary":
        return
    primaries = zone.attrs.get("primaries")
    for address in primaries if isinstance(primaries, tuple) else ():
        message.add(member_name(origin, mid, PRIMARIES_PROPERTY), 0, _primary_rdata(str(address)))
    if finished:
        message.add(member_name(origin, mid, FINGERPRINT_PROPERTY), 0, txt_rdata(zone.fingerprint()))
