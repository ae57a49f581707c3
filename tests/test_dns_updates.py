"""RFC 2136 messages: what each change writes, packing into few messages, and bulk changes on named."""

from __future__ import annotations

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import dns.zone
import pytest
from dns_helpers import (
    converge,
    plan_for,
    provider_for,
    query,
    rrset,
    zone,
)

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.mapping import LiveZone, read_zone
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.updates import MAX_MESSAGE, Unit, build, orphan_unit, pack, rrset_unit, unit_size, zone_unit
from ispctl.reconciler.engine.resources import Resource

Z = "example.net"
NS = ("ns1.example.org.",)  # outside the zone: no glue needed


def live_zone(text: str = "www 300 A 192.0.2.1\n") -> LiveZone:
    source = ("$ORIGIN example.net.\n@ 3600 SOA ns1.example.org. h.example.org. 41 1 1 1 1\n"
              "@ 3600 NS ns1.example.org.\n" + text)
    return read_zone(Z, dns.zone.from_text(source, "example.net."), ())


def ops(unit: Unit) -> list[str]:
    return [f"{op.kind} {op.name.relativize(dns.name.from_text(Z))} {dns.rdatatype.to_text(op.rdtype)}"
            + (f" {op.ttl} {op.rdata}" if op.kind == "add" else f" {op.rdata}" if op.rdata else "")
            for op in unit.ops if "_ispctl" not in str(op.name)]


def test_an_update_replaces_the_record_set_and_its_fingerprint_entry() -> None:
    live = live_zone()
    before = next(r for r in live.resources if r.kind == "dns")
    after = rrset(Z, "www", "A", ["192.0.2.2", "192.0.2.3"], ttl=60)
    unit = rrset_unit("update", before, after, live)
    assert ops(unit) == ["delete_rrset www A", "add www A 60 192.0.2.2", "add www A 60 192.0.2.3"]
    assert unit.removed == set() and len(unit.added) == 1  # the live one had no entry yet
    again = rrset_unit("delete", after, None, live_zone())
    assert ops(again) == ["delete_rrset www A"]


def test_apex_name_servers_are_added_before_old_ones_go_and_the_soa_gets_the_next_serial() -> None:
    live = live_zone()
    before = live.resources[0]
    after = zone(Z, soa="ns1.example.org. h.example.org. 2 2 2 2", ns=("ns2.example.org.",), ttl=3600)
    assert ops(zone_unit(before, after, live)) == [
        "add @ NS 3600 ns2.example.org.", "delete_rr @ NS ns1.example.org.",
        "add @ SOA 3600 ns1.example.org. h.example.org. 42 2 2 2 2"]
    same_soa = zone(Z, soa="ns1.example.org. h.example.org. 1 1 1 1", ns=NS, ttl=60)
    # A new default TTL rewrites the NS set and the SOA (it is their TTL).
    assert ops(zone_unit(before, same_soa, live)) == [
        "add @ NS 60 ns1.example.org.", "add @ SOA 60 ns1.example.org. h.example.org. 42 1 1 1 1"]


def test_entries_of_record_sets_gone_by_hand_are_cleaned_up() -> None:
    live = live_zone('aaaaaaaa._ispctl-fingerprint 0 TXT "bbbbbbbbbb"\n')
    unit = orphan_unit(live, ())
    assert unit is not None and unit.removed == {("aaaaaaaa", "bbbbbbbbbb")}
    assert orphan_unit(live_zone(), ()) is None


def test_packing_keeps_deletes_first_and_every_message_within_the_limit() -> None:
    live = live_zone("".join(f"old{i} 300 A 192.0.2.1\n" for i in range(50)))
    olds = [r for r in live.resources if r.kind == "dns"]
    units = [rrset_unit("create", None, rrset(Z, f"n{i}", "A", ["192.0.2.9"]), live) for i in range(50)]
    units += [rrset_unit("delete", r, None, live) for r in olds]
    parts = pack(units, live.origin, limit=2000)
    assert len(parts) > 1
    flat = [u for part in parts for u in part]
    assert [u.rank for u in flat] == sorted(u.rank for u in flat)
    assert {a for u in flat for a in u.addresses} == {a for u in units for a in u.addresses}
    for part in parts:
        estimate = sum(unit_size(u, live.origin, set())[0] for u in part)
        wire = len(build(live.origin, part, DnsConnection("127.0.0.1", 53, "k.", "AAAA", "hmac-sha256").tsig_key,
                         live.soa).to_wire())
        assert wire <= 2000 + 1024 and wire <= estimate + 1024  # the estimate is an upper bound
    assert len(pack(units, live.origin)) == 1  # 100 small changes fit one message


def test_a_thousand_new_record_sets_go_in_one_message(named: NamedInstance) -> None:
    provider = provider_for(named)
    base = [zone(Z, ns=NS)]
    converge(provider, base)
    desired = base + [rrset(Z, f"host{i:04d}", "A", [f"198.51.{i // 250}.{i % 250 + 1}"]) for i in range(1000)]
    mark = len(named.log_text())
    converge(provider, desired)
    assert provider.updates_sent[-1:] == [Z] and provider.updates_sent.count(Z) == 1
    assert named.update_messages(Z, since=mark) == 1  # what named itself saw
    assert plan_for(provider, desired).empty


def test_five_thousand_records_plan_and_apply_in_one_batch(named: NamedInstance) -> None:
    provider = provider_for(named)
    desired = [zone(Z, ns=NS)] + [rrset(Z, f"h{i:04d}", "A", [f"10.{i // 250}.{i % 250}.1"]) for i in range(5000)]
    converge(provider, desired)  # a new zone: written whole, no update message at all
    assert [z for z in provider.updates_sent if z == Z] == []
    moved = [rrset(Z, r.key.split("/")[1], "A", ["192.0.2.1"], ttl=60) if r.kind == "dns" else r for r in desired]
    mark, sent = len(named.log_text()), len(provider.updates_sent)
    plan = plan_for(provider, moved)
    assert plan.summary == {"add": 0, "change": 5000, "destroy": 0}
    converge(provider, moved)
    # One batch; a DNS message holds at most 64 KiB, so 5,000 replaced record sets need a few
    # messages, each filled as far as it goes, never one per record set.
    messages, sizes = provider.updates_sent[sent:], provider.update_bytes[sent:]
    assert messages == [Z] * len(messages) and max(sizes) <= MAX_MESSAGE
    assert len(messages) == -(-sum(sizes) // (MAX_MESSAGE - 1024)), sizes
    assert named.update_messages(Z, since=mark) == len(messages)
    assert query(named, "h4999.example.net.", "A")[1] == {"192.0.2.1"}
    assert plan_for(provider, moved).empty


def test_a_thousand_record_sets_fit_one_update_that_named_accepts(named: NamedInstance) -> None:
    # How much faster one such update is than a thousand single ones is measured by
    # tests/bench/dns_batch.py, never here.
    provider = provider_for(named)
    converge(provider, [zone(Z, ns=NS)])
    batch = dns.update.UpdateMessage(Z)
    for i in range(1000):
        batch.replace(f"batch{i}", 300, "A", "192.0.2.1")
    batch.use_tsig(DnsConnection.from_env(named.env()).tsig_key)
    assert len(batch.to_wire()) < MAX_MESSAGE
    assert dns.query.tcp(batch, "127.0.0.1", port=named.port, timeout=30).rcode() == dns.rcode.NOERROR
    assert query(named, f"batch999.{Z}.", "A") == (dns.rcode.NOERROR, {"192.0.2.1"})


def test_rrset_unit_refuses_records_it_cannot_parse() -> None:
    bad = Resource("dns", f"{Z}/x/MX", {"ttl": 60, "records": ("not an mx",)}, parent=f"dns_zone.{Z}")
    with pytest.raises(dns.exception.SyntaxError):
        rrset_unit("create", None, bad, live_zone())
    with pytest.raises(ValueError, match="belongs to the dns_zone resource"):
        rrset_unit("create", None, rrset(Z, "@", "NS", ["ns9.example.org."]), live_zone())
