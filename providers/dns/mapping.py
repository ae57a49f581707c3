"""Live zones <-> resources, and the fingerprints stored inside each zone: pure functions.

A primary zone read by AXFR becomes one ``dns_zone`` resource (SOA without its serial, the
apex NS set, ``default_ttl`` = the TTL of the SOA record, which ispctl writes equal to the
zone's default TTL) and one ``dns`` resource per record set of the managed types, except:

* the apex SOA and NS (part of the zone resource);
* record sets matching a site ``dns.ignore`` rule (another tool owns them: never deleted);
* record types ispctl cannot express (DNSSEC records the server maintains, TLSA, ...):
  they are left alone rather than deleted, since the desired state could not keep them;
* the fingerprint record set (below).

Fingerprints: for every resource ispctl wrote, ``<key tag>._ispctl-fingerprint.<zone> TXT
"<value tag>"``, where the key tag is 8 base32 characters of SHA-256 over the address and the
value tag 10 over the address and the resource fingerprint. Keeping them in the zone means they
change in the same RFC 2136 message as the records they cover (atomic, never a second
request). One small record set per resource, rather than one set holding them all, because
named refuses record sets of more than 100 records (``max-records-per-type``, BIND 9.18.28+)
and because an entry can then be replaced without knowing the others; hashing keeps each
entry ~30 bytes on the wire and lists none of the zone's names to anyone who asks. A live
record set whose value tag is stored is unchanged since ispctl wrote it; a stored key tag with
another value tag means "changed outside ispctl"; no key tag means "created outside ispctl".
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ispctl.providers.dns.names import RESERVED_OWNER, is_reserved_owner
from ispctl.providers.dns.settings import IgnoreRule
from ispctl.reconciler.contract import DOMAIN, Resource, address_of

if TYPE_CHECKING:
    import dns.name
    import dns.rdata
    import dns.rdtypes.ANY.SOA
    import dns.zone

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

MANAGED_TYPES = frozenset({"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "PTR"})
FINGERPRINT_OWNER = RESERVED_OWNER
FINGERPRINT_TTL = 0  # never cached: a resolver has no use for it
KEY_TAG_LEN = 8
VALUE_TAG_LEN = 10


def ignore_rules(site_rules: Iterable[IgnoreRule]) -> tuple[IgnoreRule, ...]:
    """The site's ``dns.ignore`` rules, plus the fingerprint record set, which nobody may edit."""
    return (IgnoreRule(name=FINGERPRINT_OWNER), IgnoreRule(name=f"*.{FINGERPRINT_OWNER}"), *site_rules)


def ignored(owner: str, rdtype: str, rules: Iterable[IgnoreRule]) -> bool:
    return any(rule.matches(owner, rdtype) for rule in rules)


def int_attr(resource: Resource, name: str) -> int:
    value = resource.attrs.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{resource.address} needs an integer {name}")
    return value


def tuple_attr(resource: Resource, name: str) -> tuple[str, ...]:
    """A tuple attribute (normalised resources hold None for an empty one)."""
    value = resource.attrs.get(name)
    return value if isinstance(value, tuple) else ()


def zone_address(zone: str) -> str:
    return address_of("dns_zone", zone)


def rrset_key(zone: str, owner: str, rdtype: str) -> str:
    return f"{zone}/{owner}/{rdtype}"


def split_key(key: str) -> tuple[str, str, str]:
    """``zone/owner/TYPE`` -> its parts (an owner never contains '/': DNS names are escaped)."""
    zone, owner, rdtype = key.split("/")
    return zone, owner, rdtype


# --- fingerprints ---------------------------------------------------------------------

def _tag(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]


def key_tag(address: str) -> str:
    return _tag(address, KEY_TAG_LEN)


def value_tag(address: str, fingerprint: str) -> str:
    return _tag(f"{address}\n{fingerprint}", VALUE_TAG_LEN)


def entry_for(resource: Resource) -> tuple[str, str]:
    """The fingerprint entry (key tag, value tag) ispctl stores for a resource it wrote."""
    return key_tag(resource.address), value_tag(resource.address, resource.fingerprint())


def entry_owner(tag: str) -> str:
    return f"{tag}.{FINGERPRINT_OWNER}"


def entry_tag(owner: str) -> str | None:
    """The key tag an owner name holds an entry for, or None for any other name."""
    tag, sep, rest = owner.partition(".")
    return tag if sep and rest == FINGERPRINT_OWNER and len(tag) == KEY_TAG_LEN else None


def zone_owner(zone: str) -> tuple[str, ...]:
    """Every zone ispctl manages is a domain's (the compiler says so too): live zones carry
    the link, so a plan that removes a domain's zone is scoped and grouped with the domain."""
    return (address_of(DOMAIN, zone),)


def is_fingerprint_owner(owner: str) -> bool:
    """True for the names (relative to the zone) that hold ispctl's fingerprints: never records."""
    # One rule for the provider, validation and import alike.
    return is_reserved_owner(owner)


def group_entries(entries: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """``{key tag: {value tag, ...}}`` (more than one only if two addresses share a key tag)."""
    grouped: dict[str, set[str]] = {}
    for tag, value in entries:
        grouped.setdefault(tag, set()).add(value)
    return grouped


def recorded(resource: Resource, entries: dict[str, set[str]]) -> str | None:
    """What to put in ``recorded_fingerprint`` for a live resource, from the stored entries.

    The entries hold tags, not whole fingerprints: a matching tag stands for the resource's
    own fingerprint; a key tag with other value tags for a different one, kept recognisable.
    """
    tag, value = entry_for(resource)
    mine = entries.get(tag)
    if not mine:
        return None
    if value in mine:
        return resource.fingerprint()
    return "tag:" + ",".join(sorted(mine))


# --- reading --------------------------------------------------------------------------

def absolute_text(rdata: dns.rdata.Rdata, origin: dns.name.Name) -> str:
    """dnspython's canonical text with absolute names, the form resources hold."""
    return rdata.to_text(origin=origin, relativize=False)


def soa_text(soa: dns.rdtypes.ANY.SOA.SOA, origin: dns.name.Name) -> str:
    """The zone resource's ``soa``: everything but the serial, which is the server's business."""
    mname = soa.mname.derelativize(origin).to_text()
    rname = soa.rname.derelativize(origin).to_text()
    return f"{mname} {rname} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum}"


def owner_text(name: dns.name.Name, origin: dns.name.Name) -> str:
    relative = name.relativize(origin) if name.is_absolute() else name
    return relative.to_text().lower()


@dataclass
class LiveZone:
    """A primary zone as read, with what a later write needs to know about it."""

    zone: str
    origin: dns.name.Name
    soa: dns.rdtypes.ANY.SOA.SOA  # with the serial: the stale-plan guard
    soa_ttl: int
    ns: tuple[str, ...]
    entries: dict[str, set[str]] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)

    @property
    def tags(self) -> set[str]:
        """Key tags of the resources ispctl owns in this zone right now."""
        return {key_tag(r.address) for r in self.resources}


def read_zone(zone: str, live: dns.zone.Zone, rules: Iterable[IgnoreRule]) -> LiveZone:
    """Resources of one transferred primary zone (see the module docstring)."""
    import dns.rdataclass
    import dns.rdatatype

    rules = tuple(rules)
    origin = live.origin
    assert origin is not None
    soa_set = live.get_rdataset("@", "SOA")
    if soa_set is None:
        raise ValueError(f"zone {zone} has no SOA record")
    ns_set = live.get_rdataset("@", "NS")
    ns = tuple(sorted(absolute_text(r, origin) for r in ns_set)) if ns_set is not None else ()
    soa = soa_set[0]
    found: list[tuple[str, str]] = []
    for name, node in live.nodes.items():
        tag = entry_tag(owner_text(name, origin))
        txt = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT) if tag else None
        if tag is not None and txt is not None:
            found += [(tag, b"".join(r.strings).decode("ascii", "replace")) for r in txt]
    entries = group_entries(found)
    result = LiveZone(zone, origin, soa, soa_set.ttl, ns, entries)
    zone_res = Resource("dns_zone", zone, {
        "type": "primary", "primaries": None, "soa": soa_text(soa, origin), "ns": ns,
        "default_ttl": soa_set.ttl,
    }, depends_on=zone_owner(zone))
    result.resources.append(_with_recorded(zone_res, entries))
    parent = zone_address(zone)
    for name, node in live.nodes.items():
        owner = owner_text(name, origin)
        for rdataset in node.rdatasets:
            rdtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rdtype not in MANAGED_TYPES or (owner == "@" and rdtype in ("SOA", "NS")):
                continue
            if ignored(owner, rdtype, rules):
                continue
            records = tuple(absolute_text(r, origin) for r in rdataset)
            res = Resource("dns", rrset_key(zone, owner, rdtype), {"ttl": rdataset.ttl, "records": records},
                           parent=parent)
            result.resources.append(_with_recorded(res, entries))
    return result


def _with_recorded(resource: Resource, entries: dict[str, set[str]]) -> Resource:
    return dataclasses.replace(resource, recorded_fingerprint=recorded(resource, entries))


# --- writing --------------------------------------------------------------------------

def parse_rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    """One desired record; names are absolute (relative ones are taken as under the root)."""
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text,
                               origin=dns.name.root, relativize=False)


def parse_soa(text: str, serial: int) -> dns.rdtypes.ANY.SOA.SOA:
    """A zone resource's ``soa`` with the serial put back in where it belongs."""
    import dns.rdtypes.ANY.SOA

    parts = str(text).split()
    if len(parts) != 6:
        raise ValueError(f"soa {text!r} is not 'MNAME RNAME REFRESH RETRY EXPIRE MINIMUM'")
    mname, rname, *timers = parts
    soa = parse_rdata("SOA", " ".join([mname, rname, str(serial), *timers]))
    assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)  # parsed as type SOA
    return soa


def txt_rdata(text: str) -> dns.rdata.Rdata:
    """A one-string TXT record (built directly: parsing text costs more, thousands of times over)."""
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.TXT

    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [text.encode("ascii")])


def owner_name(owner: str, origin: dns.name.Name) -> dns.name.Name:
    """A relative owner (``@``, ``www``) as an absolute name in the zone."""
    import dns.name

    return origin if owner == "@" else dns.name.from_text(owner, origin)


def zone_file_text(zone: Resource, serial: int, rrsets: Iterable[Resource]) -> str:
    """A complete zone file for a new primary zone, written by dnspython from parsed records.

    It carries the fingerprints of the zone and of every record set in it, like an update would.
    """
    import dns.name
    import dns.rdataset
    import dns.zone

    origin = dns.name.from_text(zone.key)
    ttl, ns = int_attr(zone, "default_ttl"), tuple_attr(zone, "ns")
    if not ns:
        raise ValueError(f"{zone.address} needs at least one ns to be created")
    built = dns.zone.Zone(origin, relativize=False)
    entries = [entry_for(zone)]
    with built.writer() as txn:
        txn.add(origin, dns.rdataset.from_rdata(ttl, parse_soa(str(zone.attrs.get("soa")), serial)))
        txn.add(origin, dns.rdataset.from_rdata_list(ttl, [parse_rdata("NS", n) for n in ns]))
        for res in rrsets:
            _, owner, rdtype = split_key(res.key)
            rdatas = [parse_rdata(rdtype, t) for t in tuple_attr(res, "records")]
            txn.add(owner_name(owner, origin), dns.rdataset.from_rdata_list(int_attr(res, "ttl"), rdatas))
            entries.append(entry_for(res))
        for tag, values in group_entries(entries).items():
            rdataset = dns.rdataset.from_rdata_list(FINGERPRINT_TTL, [txt_rdata(v) for v in sorted(values)])
            txn.add(owner_name(entry_owner(tag), origin), rdataset)
    return built.to_text(sorted=True, relativize=False, want_origin=True)
