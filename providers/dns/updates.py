"""RFC 2136 update messages for one zone: what each change writes, and how it is packed.

Each change becomes a *unit*: the operations on its record set plus the matching changes of
the zone's fingerprint entries, so a record set and its fingerprint always travel in one
message. Units are packed into as few messages as possible: one, unless the batch exceeds
what a DNS message can carry over TCP (65,535 bytes, about 1,000 new A record sets with
their fingerprints); then each further message is guarded by the serial the previous one
left. Deletes go first, so a name can change from A to CNAME within one apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ispctl.providers.dns.mapping import (
    FINGERPRINT_TTL,
    LiveZone,
    entry_for,
    entry_owner,
    int_attr,
    key_tag,
    owner_name,
    parse_rdata,
    parse_soa,
    split_key,
    tuple_attr,
    txt_rdata,
)
from ispctl.reconciler.contract import Resource

if TYPE_CHECKING:
    import dns.name
    import dns.rdata
    import dns.rdatatype
    import dns.tsig
    import dns.update

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

MAX_MESSAGE = 65535
# Header, zone section, the SOA prerequisite and the TSIG record, with room to spare.
_OVERHEAD = 1024
_POINTER_LIMIT = 0x4000
OpKind = Literal["delete_rrset", "delete_rr", "add"]
_RANK = {"delete": 0, "update": 1, "create": 2}


@dataclass(frozen=True)
class Op:
    kind: OpKind
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    ttl: int = 0
    rdata: dns.rdata.Rdata | None = None


@dataclass
class Unit:
    """The operations of one change (``addresses``; empty for housekeeping)."""

    addresses: tuple[str, ...]
    rank: int
    ops: list[Op] = field(default_factory=list)
    removed: set[tuple[str, str]] = field(default_factory=set)  # fingerprint entries it deletes
    added: set[tuple[str, str]] = field(default_factory=set)  # and adds

    def forget(self, live: LiveZone, tag: str) -> None:
        """Delete the stored entries under key tag ``tag`` (by value: a shared tag keeps the others)."""
        import dns.rdatatype

        owner = owner_name(entry_owner(tag), live.origin)
        for value in sorted(live.entries.get(tag, ())):
            self.ops.append(Op("delete_rr", owner, dns.rdatatype.TXT, rdata=txt_rdata(value)))
            self.removed.add((tag, value))

    def remember(self, live: LiveZone, resource: Resource) -> None:
        import dns.rdatatype

        tag, value = entry_for(resource)
        self.ops.append(Op("add", owner_name(entry_owner(tag), live.origin), dns.rdatatype.TXT,
                           FINGERPRINT_TTL, txt_rdata(value)))
        self.added.add((tag, value))


def _records(resource: Resource, rdtype: str) -> tuple[int, list[dns.rdata.Rdata]]:
    records = tuple_attr(resource, "records")
    if not records:
        raise ValueError(f"{resource.address} needs at least one record")
    return int_attr(resource, "ttl"), [parse_rdata(rdtype, text) for text in records]


def rrset_unit(action: str, before: Resource | None, after: Resource | None, live: LiveZone) -> Unit:
    """The unit of one ``dns`` change (records are parsed here: a bad one fails this change only)."""
    import dns.rdatatype

    resource = after if after is not None else before
    assert resource is not None
    unit = Unit((resource.address,), _RANK[action])
    _, owner, rdtype = split_key(resource.key)
    if owner == "@" and rdtype in ("SOA", "NS"):
        raise ValueError(f"{resource.address}: the apex {rdtype} belongs to the dns_zone resource")
    name = owner_name(owner, live.origin)
    if before is not None:
        unit.ops.append(Op("delete_rrset", name, dns.rdatatype.from_text(rdtype)))
    unit.forget(live, key_tag(resource.address))
    if after is not None:
        ttl, rdatas = _records(after, rdtype)
        unit.ops += [Op("add", name, rdata.rdtype, ttl, rdata) for rdata in rdatas]
        unit.remember(live, after)
    return unit


def zone_unit(before: Resource, after: Resource, live: LiveZone) -> Unit:
    """SOA timers, apex NS and default TTL of an existing primary zone, in place."""
    import dns.rdatatype

    unit = Unit((after.address,), _RANK["update"])
    ttl, ns = int_attr(after, "default_ttl"), tuple_attr(after, "ns")
    if not ns:
        raise ValueError(f"{after.address} needs at least one ns")
    origin = live.origin
    old_ns, new_ns = set(tuple_attr(before, "ns")), set(ns)
    ttl_changed = before.attrs.get("default_ttl") != ttl
    # New name servers are added before old ones go: an apex without NS is never possible.
    for target in sorted(new_ns if ttl_changed else new_ns - old_ns):
        unit.ops.append(Op("add", origin, dns.rdatatype.NS, ttl, parse_rdata("NS", target)))
    for target in sorted(old_ns - new_ns):
        unit.ops.append(Op("delete_rr", origin, dns.rdatatype.NS, rdata=parse_rdata("NS", target)))
    if ttl_changed or before.attrs.get("soa") != after.attrs.get("soa"):
        # named ignores an SOA whose serial does not grow; the next serial is the current + 1.
        serial = (live.soa.serial + 1) % 2**32
        unit.ops.append(Op("add", origin, dns.rdatatype.SOA, ttl, parse_soa(str(after.attrs.get("soa")), serial)))
    unit.forget(live, key_tag(after.address))
    unit.remember(live, after)
    return unit


def orphan_unit(live: LiveZone, keep: Iterable[str]) -> Unit | None:
    """Deletes fingerprint entries of record sets that are gone (e.g. removed by hand)."""
    keep = set(keep) | live.tags
    unit = Unit((), _RANK["delete"])
    for tag in sorted(set(live.entries) - keep):
        unit.forget(live, tag)
    return unit if unit.ops else None


def unit_size(unit: Unit, origin: dns.name.Name, seen: set[dns.name.Name],
              offset: int = 0) -> tuple[int, set[dns.name.Name]]:
    """Bytes the unit adds at ``offset`` to a message already holding the names ``seen``.

    Returns the size and the names it writes that later names may point to. An upper bound,
    following dnspython's compression: labels up to the longest suffix already written (or the
    zone, written in the zone section), then a 2-byte pointer; only names written in the first
    16 KiB can be pointed to (pointers have 14 bits); names inside rdata count uncompressed.
    """
    size = 0
    new: set[dns.name.Name] = set()
    for op in unit.ops:
        name = op.name
        while name != origin and name not in seen and name not in new and len(name) > len(origin):
            if offset + size < _POINTER_LIMIT:
                new.add(name)
            size += len(name.labels[0]) + 1
            name = name.parent()
        size += 2 + 10  # pointer; type, class, TTL, rdata length
        if op.rdata is not None:
            wire = op.rdata.to_wire()
            size += len(wire) if wire is not None else 0
    return size, new


def pack(units: Iterable[Unit], origin: dns.name.Name, limit: int = MAX_MESSAGE - _OVERHEAD) -> list[list[Unit]]:
    """Units in message order (deletes, updates, creates), cut into messages below ``limit``."""
    messages: list[list[Unit]] = []
    current: list[Unit] = []
    seen: set[dns.name.Name] = set()
    used = 0
    for unit in sorted(units, key=lambda u: (u.rank, u.addresses)):
        size, new = unit_size(unit, origin, seen, used + _OVERHEAD)
        if current and used + size > limit:
            messages.append(current)
            current, used, seen = [], 0, set()
            size, new = unit_size(unit, origin, seen, _OVERHEAD)
        current.append(unit)
        used += size
        seen |= new
    if current:
        messages.append(current)
    return messages


def build(origin: dns.name.Name, units: Iterable[Unit], key: dns.tsig.Key,
          soa: dns.rdata.Rdata) -> dns.update.UpdateMessage:
    """One signed update, valid only while the zone's SOA is exactly ``soa``."""
    import dns.update

    message = dns.update.UpdateMessage(origin)
    # RRset exists (value dependent): any change since the plan was read bumps the serial.
    message.present(origin, soa)
    for unit in units:
        for op in unit.ops:
            if op.kind == "delete_rrset":
                message.delete(op.name, op.rdtype)
            elif op.kind == "delete_rr":
                assert op.rdata is not None
                message.delete(op.name, op.rdata)
            else:
                assert op.rdata is not None
                message.add(op.name, op.ttl, op.rdata)
    message.use_tsig(key)
    return message
