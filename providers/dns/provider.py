"""The DNS provider: zones and record sets on an RFC 2136 primary (tested with BIND 9).

Reading: one AXFR of the catalog zone (``catalog``) lists the zones ispctl owns, then one
TSIG-signed AXFR per zone gives all its record sets (``mapping``); a narrowed plan transfers
only the zones it needs (``within``). Secondary zones are known
from the catalog, and one SOA query each says whether named has them. Where the catalog and
named disagree (an interrupted apply), the zone is read with a ``named`` attribute saying
how, which the desired zone lacks: the plan shows the repair and apply makes it.

Writing is batched per zone (``Provider.batch_key``): every change of a zone is staged, and
``commit`` sends them together:

* a new primary zone: catalog entry first (a zone named serves but no catalog lists would be
  nobody's), then a complete zone file (records and their fingerprints included) and
  ``rndc addzone``: the zone is never served half-filled, and name servers inside the zone
  have their addresses when named loads it. A zone named already has but the catalog does not
  list is refused (it is someone else's); a failed addzone takes the catalog entry back
  (``zones``: every zone-level step, and why it is safe to interrupt).
* an existing primary zone: ONE RFC 2136 update carrying every record-set change, guarded by
  the SOA read at plan time (value-dependent prerequisite): if anyone changed the zone since,
  named refuses it and the plan is reported stale. Only a batch larger than a DNS message
  (64 KiB) is split; each further part is guarded by the SOA the previous part left.
* a secondary zone: ``rndc addzone``/``modzone`` with its primaries, and its catalog entry.
* a deleted zone: its data archived, ``rndc delzone`` and removal from the catalog; its record
  sets go with it, without an update of their own. A zone turning from primary to secondary
  (or back) is switched in one step, the old zone added back if named refuses the new one.

The SOA serial is the server's business: named increments it on every update; only a change
of the SOA timers writes an SOA, with the next serial.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from ispctl.reconciler.contract import BatchError, Provider, ProviderError, Resource, Within

if TYPE_CHECKING:
    import dns.update

    from ispctl.providers.dns import catalog as cat
    from ispctl.providers.dns.connection import DnsConnection
    from ispctl.providers.dns.mapping import LiveZone
    from ispctl.providers.dns.rndc import Rndc
    from ispctl.providers.dns.settings import IgnoreRule
    from ispctl.providers.dns.updates import Unit
    from ispctl.providers.dns.zones import ZoneLife

# dnspython, and this service's reads (axfr, catalog, mapping, query) and writes (updates,
# zones, rndc), are imported by the functions that use them, not with the module: the registry
# imports the DNS service for every command, and an estate without DNS must not pay for it; a
# plan with DNS loads the writes only when it applies (issue 11).


@dataclass
class _Staged:
    action: str
    before: Resource | None
    after: Resource | None

    @property
    def resource(self) -> Resource:
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found


@dataclass
class _ZoneBatch:
    zone: str
    zone_change: _Staged | None = None
    rrsets: list[_Staged] = field(default_factory=list)

    @property
    def addresses(self) -> frozenset[str]:
        changes = self.rrsets + ([self.zone_change] if self.zone_change else [])
        return frozenset(c.resource.address for c in changes)


class DnsProvider(Provider):
    name: ClassVar[str] = "dns"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"dns_zone", "dns"})

    def __init__(self, conn: DnsConnection, rules: Iterable[IgnoreRule] = ()) -> None:
        self.conn = conn
        self.rules = tuple(rules)
        self._zones: dict[str, LiveZone] = {}
        self._members: dict[str, cat.Member] = {}
        self._staged: dict[str, _ZoneBatch] = {}
        self._rndc: Rndc | None = None
        self._unreachable: str | None = None  # why later batches of this run are not tried
        # Zone and size of every update message named accepted, in order: tests and benchmarks
        # count them.
        self.updates_sent: list[str] = []
        self.update_bytes: list[int] = []

    # -- reading -----------------------------------------------------------------------

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        return self._read_zones(None)

    def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
        from ispctl.providers.dns.within import wanted_zones

        return self._read_zones(wanted_zones(within))

    def _read_zones(self, wanted: frozenset[str] | None) -> list[Resource]:
        """The catalog (always whole: a new zone must know whether it is listed), then the
        zones it lists: all of them, or those ``wanted``."""
        import dns.rcode

        from ispctl.providers.dns import catalog as cat
        from ispctl.providers.dns.axfr import ZoneNotServed, transfer
        from ispctl.providers.dns.mapping import read_zone, zone_owner
        from ispctl.providers.dns.query import zone_rcode
        from ispctl.providers.dns.zones import NOT_SERVED, UNFINISHED

        try:
            catalog = transfer(self.conn, self.conn.catalog)
        except ZoneNotServed:
            raise ProviderError(
                f"dns: {self.conn.host}:{self.conn.port} does not serve the catalog zone {self.conn.catalog}, "
                "which lists the zones ispctl owns; create it (see providers/dns/__init__.py) or set ISPCTL_DNS_CATALOG"
            ) from None
        self._members = cat.read_catalog(catalog)
        self._zones = {}
        found: list[Resource] = []
        for zone, member in sorted(self._members.items()):
            if wanted is not None and zone not in wanted:
                continue
            # Where named and the catalog disagree (an apply stopped between the two, or a hand
            # on rndc), the zone is read with a "named" attribute saying so: the desired zone
            # has none, so the plan shows the repair (or the delete) and apply makes it.
            if member.secondary:
                resource = cat.secondary_resource(member)
                if zone_rcode(self.conn, zone) in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
                    resource = _disagreeing(resource, NOT_SERVED)
                elif member.fingerprint is None:
                    resource = _disagreeing(resource, UNFINISHED)
                found.append(resource)
                continue
            try:
                live = transfer(self.conn, zone)
            except ZoneNotServed:
                found.append(_disagreeing(Resource("dns_zone", zone, {
                    "type": "primary", "primaries": None, "soa": None, "ns": None, "default_ttl": None,
                }, depends_on=zone_owner(zone)), NOT_SERVED))
                continue
            try:
                self._zones[zone] = read_zone(zone, live, self.rules)
            except ValueError as exc:
                raise ProviderError(f"dns: {exc}") from None
            found.extend(self._zones[zone].resources)
        return found

    # -- staging -----------------------------------------------------------------------

    def batch_key(self, resource: Resource) -> str | None:
        from ispctl.providers.dns.mapping import split_key

        return resource.key if resource.kind == "dns_zone" else split_key(resource.key)[0]

    def _create(self, resource: Resource) -> None:
        self._stage(_Staged("create", None, resource))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._stage(_Staged("update", before, after))

    def _delete(self, resource: Resource) -> None:
        self._stage(_Staged("delete", resource, None))

    def _stage(self, change: _Staged) -> None:
        import dns.exception

        from ispctl.providers.dns.mapping import int_attr, parse_rdata, split_key, tuple_attr
        from ispctl.providers.dns.rndc import check_zone_name

        resource = change.resource
        zone = self.batch_key(resource)
        assert zone is not None
        # Check what can be checked now, so a bad value fails its own change only.
        try:
            check_zone_name(zone)
            if resource.kind == "dns_zone" and change.after is not None:
                self._check_zone(change.after)
            elif resource.kind == "dns" and change.after is not None:
                _, owner, rdtype = split_key(resource.key)
                if owner == "@" and rdtype in ("SOA", "NS"):
                    raise ValueError(f"the apex {rdtype} belongs to dns_zone.{zone}")
                int_attr(change.after, "ttl")
                for text in tuple_attr(change.after, "records"):
                    parse_rdata(rdtype, text)
        except (ValueError, dns.exception.DNSException) as exc:
            raise ProviderError(f"{resource.address}: {exc}") from None
        batch = self._staged.setdefault(zone, _ZoneBatch(zone))
        if resource.kind == "dns_zone":
            batch.zone_change = change
        else:
            batch.rrsets.append(change)

    def _check_zone(self, zone: Resource) -> None:
        from ispctl.providers.dns.mapping import int_attr, parse_rdata, parse_soa, tuple_attr
        from ispctl.providers.dns.names import primary_address

        kind = zone.attrs.get("type")
        if kind == "primary":
            parse_soa(str(zone.attrs.get("soa")), 1)
            int_attr(zone, "default_ttl")
            if not tuple_attr(zone, "ns"):
                raise ValueError("a primary zone needs at least one ns")
            for target in tuple_attr(zone, "ns"):
                parse_rdata("NS", target)
        elif kind == "secondary":
            if not tuple_attr(zone, "primaries"):
                raise ValueError("a secondary zone needs primaries")
            for address in tuple_attr(zone, "primaries"):
                primary_address(address)
        else:
            raise ValueError(f"zone type must be primary or secondary, not {kind!r}")

    def close(self) -> None:
        self._staged.clear()
        self._unreachable = None

    # -- committing --------------------------------------------------------------------

    def commit(self, batch: str) -> None:
        """Send one zone's batch; once named stops answering, the run's later batches are not tried."""
        if self._unreachable is not None:
            self._staged.pop(batch, None)
            raise ProviderError(f"dns: not tried: {self._unreachable}")
        try:
            self._commit(batch)
        except BatchError as exc:
            raise BatchError(self._explain(batch, exc), exc.applied) from None
        except ProviderError as exc:
            raise ProviderError(self._explain(batch, exc)) from None

    def _explain(self, batch: str, exc: ProviderError) -> str:
        from ispctl.providers.dns.connection import Unreachable

        if not isinstance(exc, Unreachable) and not isinstance(exc.__cause__ or exc.__context__, Unreachable):
            return str(exc)
        where = f"{self.conn.host}:{self.conn.port}"
        self._unreachable = (f"named ({where}, control {self.conn.rndc_host}:{self.conn.rndc_port}) stopped "
                             f"answering during this apply, at zone {batch}; run 'ispctl apply' again once it "
                             "answers: a plain re-run finishes the work")
        return (f"{exc}; named stopped or is restarting: this zone's changes may be half made: run 'ispctl apply' "
                "again once named answers; a plain re-run finishes the work")

    def _commit(self, batch: str) -> None:
        from ispctl.providers.dns.zones import NAMED_ATTR

        staged = self._staged.pop(batch)
        change = staged.zone_change
        if change is not None and change.action == "delete":
            # The zone goes, and every record set in it with it.
            self._delete_zone(change.resource)
            return
        if change is not None and change.action == "create":
            self._create_zone(change.resource, staged.rrsets)
            return
        units: list[Unit] = []
        if change is not None:
            before, after = change.before, change.after
            assert before is not None and after is not None
            if before.attrs.get("type") != after.attrs.get("type") or before.attrs.get(NAMED_ATTR):
                self._replace_zone(before, after, staged)
                return
            if after.attrs.get("type") == "secondary":
                self._life.make_secondary(after, listed=True)
                if not staged.rrsets:
                    return
            else:
                units.append(self._unit(change))
        self._update_zone(staged, units)

    def _replace_zone(self, before: Resource, after: Resource, staged: _ZoneBatch) -> None:
        """A domain turned from primary to secondary or back, or a zone named and the catalog
        disagree on: named switches in one modzone (``zones``), so a failure leaves the old zone
        serving; the record sets of a former primary go with it (archived)."""
        self._zones.pop(before.key, None)
        self._create_zone(after, [c for c in staged.rrsets if c.action != "delete"],
                          was_secondary=before.attrs.get("type") == "secondary")

    def _unit(self, change: _Staged) -> Unit:
        """The update operations of one change; a value named cannot take fails that change's batch."""
        import dns.exception

        from ispctl.providers.dns.updates import rrset_unit, zone_unit

        live = self._live(change.resource)
        try:
            if change.resource.kind == "dns_zone":
                assert change.before is not None and change.after is not None
                return zone_unit(change.before, change.after, live)
            return rrset_unit(change.action, change.before, change.after, live)
        except (ValueError, dns.exception.DNSException) as exc:
            raise ProviderError(f"{change.resource.address}: {exc}") from None

    def _live(self, resource: Resource) -> LiveZone:
        zone = self.batch_key(resource)
        assert zone is not None
        live = self._zones.get(zone)
        if live is None:
            raise ProviderError(f"{resource.address}: zone {zone} was not read from the server in this run; plan again")
        return live

    def _update_zone(self, staged: _ZoneBatch, units: list[Unit]) -> None:
        from ispctl.providers.dns.mapping import key_tag
        from ispctl.providers.dns.query import query_soa
        from ispctl.providers.dns.updates import build, orphan_unit, pack

        units += [self._unit(change) for change in staged.rrsets]
        live = self._zones[staged.zone]
        housekeeping = orphan_unit(live, (key_tag(a) for u in units for a in u.addresses))
        if housekeeping is not None:
            units.append(housekeeping)
        applied: set[str] = set()
        soa = live.soa
        for index, part in enumerate(pack(units, live.origin)):
            try:
                if index:  # guarded by what the previous part left
                    soa = query_soa(self.conn, staged.zone)
                stale = (f"zone {staged.zone} changed on the server since the plan was read (its SOA serial is "
                         f"no longer {soa.serial}); the plan is stale")
                self._send(staged.zone, build(live.origin, part, self.conn.tsig_key, soa), stale)
            except ProviderError as exc:
                raise BatchError(str(exc), frozenset(applied)) from None
            for unit in part:
                applied.update(unit.addresses)
                for tag, value in unit.removed:
                    live.entries.get(tag, set()).discard(value)
                for tag, value in unit.added:
                    live.entries.setdefault(tag, set()).add(value)
        # A later batch of this zone in the same run (rare) must be guarded by the new serial;
        # if it cannot be read, such a batch is refused ("plan again"), this one stands.
        try:
            live.soa = query_soa(self.conn, staged.zone)
        except ProviderError:
            del self._zones[staged.zone]

    def _send(self, zone: str, message: dns.update.UpdateMessage, stale: str) -> None:
        """Send one update; ``stale`` says what a failed prerequisite means for this message."""
        import dns.exception
        import dns.rcode

        from ispctl.providers.dns.connection import Unreachable
        from ispctl.providers.dns.query import exchange

        where = f"{self.conn.host}:{self.conn.port}"
        try:
            response, size = exchange(self.conn, message)
        except dns.exception.TooBig:
            raise ProviderError(f"dns: a change to zone {zone} is larger than one DNS message can carry") from None
        except (dns.exception.Timeout, OSError, EOFError) as exc:
            raise Unreachable(f"dns: update of zone {zone} at {where} got no answer: "
                              f"{exc or type(exc).__name__}") from None
        except dns.exception.DNSException as exc:
            raise ProviderError(f"dns: update of zone {zone} at {where} failed: {exc or type(exc).__name__}") from None
        rcode = response.rcode()
        if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):  # stale
            raise ProviderError(f"dns: {stale}; nothing of this update was written: run plan again")
        if rcode != dns.rcode.NOERROR:
            raise ProviderError(f"dns: {where} refused the update of zone {zone}: {dns.rcode.to_text(rcode)}")
        self.updates_sent.append(zone)
        self.update_bytes.append(size)

    def _send_catalog(self, message: dns.update.UpdateMessage) -> None:
        self._send(self.conn.catalog, message,
                   f"the catalog {self.conn.catalog} changed since the plan was read (a zone was listed or "
                   "removed meanwhile); the plan is stale")

    # -- zones -------------------------------------------------------------------------

    @property
    def _life(self) -> ZoneLife:
        from ispctl.providers.dns.zones import ZoneLife

        return ZoneLife(self.conn, self._rndc_client, self._send_catalog)

    def _rndc_client(self) -> Rndc:
        from ispctl.providers.dns.rndc import Rndc

        if self._rndc is None:
            if self.conn.rndc_host is None or self.conn.rndc_key_file is None:
                raise ProviderError("dns: creating and deleting zones needs named's control channel: "
                                    "set ISPCTL_RNDC_SERVER and ISPCTL_RNDC_KEY_FILE")
            self._rndc = Rndc(self.conn.rndc_host, self.conn.rndc_port, self.conn.rndc_key_file,
                              self.conn.timeout)
        return self._rndc

    def _create_zone(self, zone: Resource, changes: list[_Staged], was_secondary: bool = False) -> None:
        import dns.exception
        import dns.name

        from ispctl.providers.dns import catalog as cat
        from ispctl.providers.dns.mapping import (
            LiveZone,
            entry_for,
            group_entries,
            int_attr,
            parse_soa,
            tuple_attr,
            zone_file_text,
        )

        if any(c.action != "create" for c in changes):
            raise ProviderError(f"{zone.address}: only new record sets can go into a new zone")
        listed = zone.key in self._members
        if zone.attrs.get("type") == "secondary":
            if changes:
                raise ProviderError(f"{zone.address}: a secondary zone has no record sets of its own")
            self._life.make_secondary(zone, listed)
            self._members[zone.key] = cat.Member(zone.key, cat.member_id(zone.key))
            self._zones.pop(zone.key, None)
            return
        rrsets = [c.resource for c in changes]
        serial = int(time.time()) % 2**32 or 1
        try:
            text = zone_file_text(zone, serial, rrsets)
        except (ValueError, dns.exception.DNSException) as exc:
            raise ProviderError(f"{zone.address}: {exc}") from None
        self._life.make_primary(zone, text, listed, was_secondary)
        self._members[zone.key] = cat.Member(zone.key, cat.member_id(zone.key))
        # What a read would now find, so a later batch of this zone in the same run works.
        live = LiveZone(zone.key, dns.name.from_text(zone.key), parse_soa(str(zone.attrs.get("soa")), serial),
                        int_attr(zone, "default_ttl"), tuple_attr(zone, "ns"), resources=[zone, *rrsets])
        live.entries = group_entries(entry_for(r) for r in live.resources)
        self._zones[zone.key] = live

    def _delete_zone(self, zone: Resource) -> None:
        self._life.delete(zone.key)
        self._zones.pop(zone.key, None)
        self._members.pop(zone.key, None)


def _disagreeing(resource: Resource, why: str) -> Resource:
    """The live zone with the reason named and the catalog disagree (not drift: ispctl's own doing)."""
    from ispctl.providers.dns.zones import NAMED_ATTR

    found = Resource(resource.kind, resource.key, {**resource.attrs, NAMED_ATTR: why}, depends_on=resource.depends_on)
    return replace(found, recorded_fingerprint=found.fingerprint())
