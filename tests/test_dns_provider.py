"""The DNS provider against a real named: zones, every record type, drift, ownership, staleness."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from dns_helpers import (
    converge,
    index,
    plan_for,
    provider_for,
    query,
    rrset,
    secondary,
    served,
    zone,
)

import ispctl.providers.dns.catalog as cat
from ispctl.providers.dns.axfr import transfer
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.resources import Resource

Z, REV = "example.net", "2.0.192.in-addr.arpa"
LONG_TXT = '"' + "a" * 255 + '" "' + "b" * 45 + '"'


def estate() -> list[Resource]:
    """A forward zone with every record type ispctl manages, and a reverse zone."""
    return [
        zone(Z), zone(REV),
        rrset(Z, "ns1", "A", ["192.0.2.1"]), rrset(Z, "ns2", "A", ["192.0.2.2"]),
        rrset(Z, "@", "A", ["192.0.2.10"]), rrset(Z, "@", "AAAA", ["2001:db8::10"]),
        rrset(Z, "@", "MX", ["10 mx1.example.net.", "20 mx2.example.org."], ttl=3600),
        rrset(Z, "@", "CAA", ['0 issue "letsencrypt.org"']),
        rrset(Z, "@", "TXT", ['"v=spf1 mx -all"']),
        rrset(Z, "mx1", "A", ["192.0.2.25"]), rrset(Z, "old", "A", ["192.0.2.99"]),
        rrset(Z, "www", "CNAME", ["example.net."]),
        rrset(Z, "_dmarc", "TXT", ['"v=DMARC1; p=quarantine"']),
        rrset(Z, "sel._domainkey", "TXT", [LONG_TXT]),
        rrset(Z, "_imaps._tcp", "SRV", ["0 1 993 mx1.example.net."]),
        rrset(Z, "*.dev", "A", ["192.0.2.77"]),
        rrset(Z, "lab", "NS", ["ns1.lab.example.net.", "ns2.example.net."]),
        rrset(Z, "ns1.lab", "A", ["198.51.100.53"]),
        rrset(REV, "10", "PTR", ["example.net."]), rrset(REV, "25", "PTR", ["mx1.example.net."]),
    ]


def fingerprint_count(named: NamedInstance, zone_name: str) -> int:
    """Fingerprint entries in the zone, from a plain dnspython AXFR (not the provider's reader)."""
    key = DnsConnection.from_env(named.env()).tsig_key
    names = {rrset.name.to_text() for message in dns.query.xfr("127.0.0.1", zone_name, port=named.port,
                                                               keyring={key.name: key}, keyname=key.name)
             for rrset in message.answer if rrset.rdtype == dns.rdatatype.TXT}
    return sum(1 for name in names if name.endswith("._ispctl-fingerprint"))


def test_zones_are_created_from_empty_and_every_record_type_round_trips(named: NamedInstance) -> None:
    provider = provider_for(named)
    assert provider.read() == {}
    plan = plan_for(provider, estate())
    assert plan.summary == {"add": len(estate()), "change": 0, "destroy": 0}
    converge(provider, estate())
    # New zones are written whole and added with rndc: no update message was needed for them.
    assert provider.updates_sent == ["catalog.ispctl.invalid"] * 2  # one catalog entry per zone
    live = provider.read()
    assert {ident: r.attrs for ident, r in live.items()} == {ident: r.attrs for ident, r in index(estate()).items()}
    assert all(r.drifted() is None for r in live.values())
    assert plan_for(provider, estate()).empty
    assert fingerprint_count(named, Z) == sum(1 for r in estate() if Z in (r.key, r.key.split("/")[0]))


def test_a_client_gets_exactly_the_records(named: NamedInstance) -> None:
    converge(provider_for(named), estate())
    for res in estate():
        if res.kind != "dns" or res.key.split("/")[1] in ("lab", "ns1.lab"):
            continue  # the delegation and its glue are answered with a referral, below
        zone_name, owner, rdtype = res.key.split("/")
        name = zone_name + "." if owner == "@" else f"{owner.replace('*', 'any')}.{zone_name}."
        assert query(named, name, rdtype) == (dns.rcode.NOERROR, set(res.attrs["records"])), res.address
    rcode, answer = query(named, "nothing.example.net.", "A")
    assert rcode == dns.rcode.NXDOMAIN and answer == set()
    referral = dns.query.udp(dns.message.make_query("host.lab.example.net.", "A"), "127.0.0.1", port=named.port)
    assert {r.to_text() for rrset in referral.authority for r in rrset} == {"ns1.lab.example.net.", "ns2.example.net."}


def test_a_hand_made_change_is_drift_and_is_repaired(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    done = named.nsupdate("update delete _dmarc.example.net. TXT\n"
                          'update add _dmarc.example.net. 300 TXT "v=DMARC1; p=none"\n'
                          "update add rogue.example.net. 300 A 192.0.2.66\n"
                          "update delete mx1.example.net. A\n"
                          "update delete old.example.net. A\n")
    assert done.returncode == 0, done.stderr
    desired = [r for r in estate() if r.key != f"{Z}/old/A"]
    plan = plan_for(provider, desired)
    assert {(c.address, c.action, c.drift) for c in plan.changes} == {
        ("dns.example.net/_dmarc/TXT", "update", "changed outside ispctl"),
        ("dns.example.net/rogue/A", "delete", "created outside ispctl"),
        ("dns.example.net/mx1/A", "create", None),
    }
    converge(provider, desired)
    assert plan_for(provider, desired).empty
    assert query(named, "_dmarc.example.net.", "TXT")[1] == {'"v=DMARC1; p=quarantine"'}
    assert query(named, "rogue.example.net.", "A")[0] == dns.rcode.NXDOMAIN
    # The entry of the record set deleted by hand (and from the desired state) was cleaned up.
    assert fingerprint_count(named, Z) == sum(1 for r in desired if Z in (r.key, r.key.split("/")[0]))


def test_ignored_record_sets_are_never_read_or_deleted(named: NamedInstance) -> None:
    provider = provider_for(named, ignore=[("_acme-challenge*", "TXT")])
    converge(provider, estate())
    done = named.nsupdate('update add _acme-challenge.example.net. 60 TXT "token-apex"\n'
                          'update add _acme-challenge.www.example.net. 60 TXT "token-www"\n'
                          'update add _acme-challenge.example.net. 60 CAA 0 issue "ca.example"\n')
    assert done.returncode == 0, done.stderr
    desired = [*estate(), rrset(Z, "new", "A", ["192.0.2.50"])]
    plan = plan_for(provider, desired)
    # Only the CAA record is ispctl's to remove: the rule names TXT.
    assert {(c.address, c.action) for c in plan.changes} == {
        ("dns.example.net/_acme-challenge/CAA", "delete"), ("dns.example.net/new/A", "create")}
    converge(provider, desired)
    assert query(named, "_acme-challenge.example.net.", "TXT")[1] == {'"token-apex"'}
    assert query(named, "_acme-challenge.www.example.net.", "TXT")[1] == {'"token-www"'}
    assert query(named, "_acme-challenge.example.net.", "CAA")[1] == set()
    assert plan_for(provider, desired).empty


def test_a_change_made_between_plan_and_apply_makes_the_zone_refuse(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    desired = [*estate(), rrset(Z, "new", "A", ["192.0.2.50"]), rrset(REV, "50", "PTR", ["new.example.net."])]
    desired = [rrset(Z, "www", "A", ["192.0.2.80"]) if r.key == f"{Z}/www/CNAME" else r for r in desired]
    plan = plan_for(provider, desired)
    assert len(plan.changes) == 4  # www CNAME -> A (delete + create), new/A, and the PTR
    done = named.nsupdate("update add hand.example.net. 300 A 192.0.2.60\n")
    assert done.returncode == 0, done.stderr
    result = apply_plan(plan, lambda kind: provider)
    status = {o.change.address: o.status for o in result.outcomes}
    assert status == {"dns.example.net/new/A": "failed", "dns.example.net/www/A": "failed",
                      "dns.example.net/www/CNAME": "failed", "dns.2.0.192.in-addr.arpa/50/PTR": "ok"}
    assert all("the plan is stale" in (o.error or "") for o in result.failed)
    # Nothing of the refused zone was written; the concurrent change is intact.
    assert query(named, "new.example.net.", "A")[0] == dns.rcode.NXDOMAIN
    assert query(named, "www.example.net.", "CNAME")[1] == {"example.net."}
    assert query(named, "hand.example.net.", "A")[1] == {"192.0.2.60"}
    again = plan_for(provider, desired)
    assert {c.address for c in again.changes} == {"dns.example.net/new/A", "dns.example.net/www/A",
                                                  "dns.example.net/www/CNAME", "dns.example.net/hand/A"}


def test_a_name_changes_from_a_to_cname_in_one_update(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    before = len(provider.updates_sent)
    desired = [rrset(Z, "old", "CNAME", ["www.example.net."]) if r.key == f"{Z}/old/A" else r for r in estate()]
    converge(provider, desired)
    assert provider.updates_sent[before:] == [Z]
    assert query(named, "old.example.net.", "CNAME")[1] == {"www.example.net."}
    assert plan_for(provider, desired).empty


def test_soa_ns_and_default_ttl_change_in_place(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    serial = int(next(iter(query(named, "example.net.", "SOA")[1])).split()[2])
    changed = zone(Z, soa="ns2.example.net. dns.example.net. 7200 900 1209600 300", ns=("ns2.example.net.",),
                   ttl=600)
    desired = [changed if r.key == Z else r for r in estate()]
    assert [c.address for c in plan_for(provider, desired).changes] == ["dns_zone.example.net"]
    converge(provider, desired)
    soa = next(iter(query(named, "example.net.", "SOA")[1])).split()
    assert soa[:2] == ["ns2.example.net.", "dns.example.net."] and soa[3:] == ["7200", "900", "1209600", "300"]
    assert int(soa[2]) > serial
    assert query(named, "example.net.", "NS")[1] == {"ns2.example.net."}
    live = provider.read()[("dns_zone", Z)]
    assert live.attrs == changed.attrs and live.drifted() is None
    assert plan_for(provider, desired).empty


def test_deleting_a_zone_removes_it_from_named_and_the_catalog(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    zone_file = named.zone_dir / f"{REV}.db"
    assert served(named, REV) and zone_file.exists()
    desired = [r for r in estate() if REV not in r.key]
    plan = plan_for(provider, desired)
    assert {c.action for c in plan.changes} == {"delete"} and len(plan.changes) == 3
    sent = len(provider.updates_sent)
    converge(provider, desired)
    # One delzone and one catalog update; the record sets go with the zone, no update of their own.
    assert provider.updates_sent[sent:] == ["catalog.ispctl.invalid"]
    assert not served(named, REV) and not zone_file.exists()
    members = cat.read_catalog(transfer(DnsConnection.from_env(named.env()), "catalog.ispctl.invalid"))
    assert set(members) == {Z}
    assert plan_for(provider, desired).empty


def test_secondary_zones_get_their_primaries(named: NamedInstance) -> None:
    provider = provider_for(named)
    desired = [secondary("example.org", ("192.0.2.53", "2001:db8::53"))]
    converge(provider, desired)
    shown = named.rndc("showzone", "example.org")
    assert shown.returncode == 0, shown.stderr
    assert "type secondary;" in shown.stdout and "192.0.2.53;" in shown.stdout and "2001:db8::53;" in shown.stdout
    assert plan_for(provider, desired).empty
    moved = [secondary("example.org", ("198.51.100.1",))]
    assert [(a.name, a.after) for a in plan_for(provider, moved).changes[0].attrs] == [
        ("primaries", ("198.51.100.1",))]
    converge(provider, moved)
    shown = named.rndc("showzone", "example.org").stdout
    assert "198.51.100.1;" in shown and "192.0.2.53" not in shown
    assert plan_for(provider, moved).empty
    converge(provider, [])
    assert named.rndc("showzone", "example.org").returncode != 0


def test_zones_outside_the_catalog_are_not_ispctls(named: NamedInstance) -> None:
    (named.workdir / "foreign.db").write_text(
        "$TTL 300\n@ SOA ns.foreign.example. h.foreign.example. 7 1 1 1 1\n@ NS ns.other.example.\n"
        "www A 192.0.2.9\n", encoding="utf-8")
    added = named.rndc("addzone", "foreign.example", '{ type primary; file "foreign.db"; };')
    assert added.returncode == 0, added.stderr
    provider = provider_for(named)
    assert provider.read() == {}
    desired = [zone("foreign.example"), rrset("foreign.example", "www", "A", ["192.0.2.1"])]
    result = apply_plan(plan_for(provider, desired), lambda kind: provider)
    assert {o.change.address: o.status for o in result.outcomes} == {
        "dns_zone.foreign.example": "failed", "dns.foreign.example/www/A": "failed"}
    assert "not ispctl's" in (result.failed[0].error or "")
    assert query(named, "www.foreign.example.", "A")[1] == {"192.0.2.9"}
    assert provider.read() == {}


def test_a_bad_record_fails_its_own_change_only(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    desired = [*estate(), rrset(Z, "bad", "A", ["not-an-address"]), rrset(Z, "good", "A", ["192.0.2.51"])]
    result = apply_plan(plan_for(provider, desired), lambda kind: provider)
    status = {o.change.address: o.status for o in result.outcomes}
    assert status == {"dns.example.net/bad/A": "failed", "dns.example.net/good/A": "ok"}
    assert query(named, "good.example.net.", "A")[1] == {"192.0.2.51"}


def test_apex_ns_is_not_a_record_set(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    result = apply_plan(plan_for(provider, [*estate(), rrset(Z, "@", "NS", ["ns9.example.org."])]),
                        lambda kind: provider)
    assert [(o.status, "belongs to dns_zone.example.net" in (o.error or "")) for o in result.outcomes] == [
        ("failed", True)]


def test_a_zone_named_refuses_to_load_leaves_no_catalog_entry(named: NamedInstance) -> None:
    provider = provider_for(named)
    # ns1.example.net. is inside the zone but has no address: named refuses such a zone.
    desired = [zone(Z), rrset(Z, "ns2", "A", ["192.0.2.2"])]
    result = apply_plan(plan_for(provider, desired), lambda kind: provider)
    assert [o.status for o in result.outcomes] == ["failed", "failed"]
    assert "addzone failed" in (result.failed[0].error or "")
    members = cat.read_catalog(transfer(DnsConnection.from_env(named.env()), "catalog.ispctl.invalid"))
    assert members == {} and not served(named, Z)
    assert not (named.zone_dir / f"{Z}.db").exists()


def test_a_listed_zone_deleted_by_hand_is_created_again(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    assert named.rndc("delzone", REV).returncode == 0
    plan = plan_for(provider, estate())
    # The catalog still lists it: the plan says named does not serve it, and repairs that.
    assert {(c.address, c.action) for c in plan.changes} == {
        (f"dns_zone.{REV}", "update"), (f"dns.{REV}/10/PTR", "create"), (f"dns.{REV}/25/PTR", "create")}
    zone_change = next(c for c in plan.changes if c.kind == "dns_zone")
    assert ("named", "not served, though the catalog lists it", None) in [
        (a.name, a.before, a.after) for a in zone_change.attrs]
    converge(provider, estate())
    assert query(named, f"25.{REV}.", "PTR")[1] == {"mx1.example.net."}
    assert plan_for(provider, estate()).empty


def test_a_zone_turning_secondary_and_back_is_made_anew(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    slave = [secondary(REV, ("192.0.2.53",)), *(r for r in estate() if REV not in r.key)]
    plan = plan_for(provider, slave)
    assert {(c.address, c.action) for c in plan.changes} == {
        (f"dns_zone.{REV}", "update"), (f"dns.{REV}/10/PTR", "delete"), (f"dns.{REV}/25/PTR", "delete")}
    converge(provider, slave)
    assert "type secondary;" in named.rndc("showzone", REV).stdout
    assert plan_for(provider, slave).empty
    converge(provider, estate())
    assert query(named, f"10.{REV}.", "PTR")[1] == {"example.net."}
    assert plan_for(provider, estate()).empty
