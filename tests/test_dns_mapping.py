"""Live zones -> resources, fingerprint entries and ignore rules (pure: zones parsed from text)."""

from __future__ import annotations

import dns.zone
import pytest

from ispctl.providers.dns.mapping import (
    FINGERPRINT_OWNER,
    entry_for,
    entry_tag,
    group_entries,
    ignore_rules,
    is_fingerprint_owner,
    parse_soa,
    read_zone,
    recorded,
    zone_file_text,
)
from ispctl.providers.dns.settings import IgnoreRule
from ispctl.reconciler.engine.resources import Resource

Z = "example.net"
HEAD = ("$ORIGIN example.net.\n@ 3600 SOA ns1.example.net. hostmaster.example.net. 2024010101 10800 1800 604800 3600\n"
        "@ 3600 NS ns1.example.net.\n@ 3600 NS ns2.example.org.\n")


def parse(body: str) -> dns.zone.Zone:
    return dns.zone.from_text(HEAD + body, "example.net.")


def test_a_zone_becomes_its_zone_resource_and_record_sets() -> None:
    live = read_zone(Z, parse("ns1 300 A 192.0.2.1\n@ 60 MX 10 mail\nWWW 300 CNAME @\n"
                              "*.dev 300 A 192.0.2.7\n_sip._tcp 300 SRV 0 1 5060 sip.example.org.\n"
                              "x 300 SSHFP 1 1 0123456789abcdef0123456789abcdef01234567\n"), ())
    resources = {r.address: r for r in live.resources}
    assert resources["dns_zone.example.net"].attrs == {
        "default_ttl": 3600, "ns": ("ns1.example.net.", "ns2.example.org."), "primaries": None,
        "soa": "ns1.example.net. hostmaster.example.net. 10800 1800 604800 3600", "type": "primary"}
    assert {a: dict(r.attrs) for a, r in resources.items() if r.kind == "dns"} == {
        "dns.example.net/ns1/A": {"records": ("192.0.2.1",), "ttl": 300},
        "dns.example.net/@/MX": {"records": ("10 mail.example.net.",), "ttl": 60},
        "dns.example.net/www/CNAME": {"records": ("example.net.",), "ttl": 300},  # owner folded to lower case
        "dns.example.net/*.dev/A": {"records": ("192.0.2.7",), "ttl": 300},
        "dns.example.net/_sip._tcp/SRV": {"records": ("0 1 5060 sip.example.org.",), "ttl": 300},
    }  # SSHFP is not a type ispctl manages: left alone, not deleted
    assert all(r.parent == "dns_zone.example.net" for r in live.resources if r.kind == "dns")
    assert live.soa.serial == 2024010101 and live.entries == {}
    assert all(r.recorded_fingerprint is None for r in live.resources)


def test_ignored_and_fingerprint_record_sets_are_not_resources() -> None:
    rules = ignore_rules((IgnoreRule(name="_acme-challenge*", type="TXT"),))
    live = read_zone(Z, parse('_acme-challenge 60 TXT "a"\n_acme-challenge.www 60 TXT "b"\n'
                              "_acme-challenge 60 CAA 0 issue \"ca.example\"\n"
                              f'abcdefgh.{FINGERPRINT_OWNER} 0 TXT "0123456789"\n'), rules)
    assert [r.key for r in live.resources if r.kind == "dns"] == ["example.net/_acme-challenge/CAA"]
    assert live.entries == {"abcdefgh": {"0123456789"}}


def test_recorded_fingerprints_tell_unchanged_changed_and_foreign_apart() -> None:
    mine = Resource("dns", f"{Z}/www/A", {"ttl": 300, "records": ("192.0.2.1",)}, parent=f"dns_zone.{Z}")
    tag, value = entry_for(mine)
    assert len(tag) == 8 and len(value) == 10
    assert recorded(mine, group_entries([(tag, value)])) == mine.fingerprint()
    edited = Resource("dns", mine.key, {"ttl": 300, "records": ("192.0.2.2",)}, parent=mine.parent)
    edited = Resource(edited.kind, edited.key, edited.attrs, parent=edited.parent,
                      recorded_fingerprint=recorded(edited, group_entries([(tag, value)])))
    assert edited.drifted() == "changed outside ispctl"
    assert recorded(mine, {}) is None
    # The parent is covered: the same values in another zone's resource are another entry.
    assert entry_for(Resource("dns", mine.key, mine.attrs, parent="dns_zone.other"))[1] != value


def test_entry_owner_names() -> None:
    assert entry_tag(f"abcdefgh.{FINGERPRINT_OWNER}") == "abcdefgh"
    assert entry_tag(f"abc.{FINGERPRINT_OWNER}") is None and entry_tag("abcdefgh.www") is None
    assert is_fingerprint_owner(f"abcdefgh.{FINGERPRINT_OWNER}") and is_fingerprint_owner(FINGERPRINT_OWNER)
    assert not is_fingerprint_owner(f"{FINGERPRINT_OWNER}x") and not is_fingerprint_owner("www")


@pytest.mark.parametrize(("rule", "owner", "rdtype", "hit"), [
    (IgnoreRule(name="_acme-challenge*", type="TXT"), "_acme-challenge.www", "TXT", True),
    (IgnoreRule(name="_acme-challenge*", type="TXT"), "_acme-challenge", "CAA", False),
    (IgnoreRule(name="@", type=None), "@", "MX", True),
    (IgnoreRule(name="*.dev", type=None), "www", "A", False),
])
def test_ignore_rules(rule: IgnoreRule, owner: str, rdtype: str, hit: bool) -> None:
    assert rule.matches(owner, rdtype) is hit


def test_a_new_zone_file_carries_records_and_fingerprints_and_reads_back() -> None:
    zone = Resource("dns_zone", Z, {"type": "primary", "soa": "ns1.example.net. h.example.net. 1 2 3 4",
                                    "ns": ("ns1.example.net.",), "default_ttl": 600})
    www = Resource("dns", f"{Z}/www/TXT", {"ttl": 60, "records": ('"' + "x" * 255 + '" "y"',)}, parent=f"dns_zone.{Z}")
    text = zone_file_text(zone, 7, [www])
    live = read_zone(Z, dns.zone.from_text(text, "example.net."), ignore_rules(()))
    assert live.soa.serial == 7
    assert [(r.address, dict(r.attrs), r.drifted()) for r in live.resources] == [
        ("dns_zone.example.net", {"default_ttl": 600, "ns": ("ns1.example.net.",), "primaries": None,
                                  "soa": "ns1.example.net. h.example.net. 1 2 3 4", "type": "primary"}, None),
        ("dns.example.net/www/TXT", dict(www.attrs), None),
    ]
    with pytest.raises(ValueError, match="is not 'MNAME RNAME"):
        parse_soa("ns1. h. 1 2 3", 1)
