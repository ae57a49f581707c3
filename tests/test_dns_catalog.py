"""The catalog zone (RFC 9432): members, secondary properties, guarded updates against named."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode
import dns.zone
from dns_helpers import secondary, zone

from ispctl.providers.dns import catalog as cat
from ispctl.providers.dns.axfr import transfer
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance

CATALOG = "catalog.ispctl.invalid"


def test_member_ids_are_stable_sha1_of_the_wire_name() -> None:
    assert cat.member_id("example.net") == cat.member_id("EXAMPLE.NET.")
    # SHA-1 over b"\x07example\x03net\x00", as in BIND's catalog zone documentation.
    assert cat.member_id("example.net") == "48e653aefebde8759b6cc3eb35c664b53255e671"
    assert cat.member_id("example.net") != cat.member_id("example.org")


def test_reading_members_and_their_properties() -> None:
    mid = cat.member_id("example.org")
    text = (f"$ORIGIN {CATALOG}.\n@ 0 SOA invalid. invalid. 1 1 1 1 1\n@ 0 NS invalid.\nversion 0 TXT \"2\"\n"
            f"{mid}.zones 0 PTR example.org.\nabc.zones 0 PTR Example.NET.\n"
            f"primaries.ext.{mid}.zones 0 A 192.0.2.53\nprimaries.ext.{mid}.zones 0 AAAA 2001:db8::53\n"
            f'ispctl-fingerprint.ext.{mid}.zones 0 TXT "sha256:00"\n')
    members = cat.read_catalog(dns.zone.from_text(text, CATALOG + "."))
    assert members == {
        "example.org": cat.Member("example.org", mid, ("192.0.2.53", "2001:db8::53"), "sha256:00"),
        "example.net": cat.Member("example.net", "abc"),
    }
    resource = cat.secondary_resource(members["example.org"])
    assert resource.attrs == secondary("example.org", ("192.0.2.53", "2001:db8::53")).attrs
    assert resource.recorded_fingerprint == "sha256:00" and not members["example.net"].secondary


def test_listing_is_refused_when_someone_listed_the_zone_first(named: NamedInstance) -> None:
    conn = DnsConnection.from_env(named.env())
    wanted = secondary("example.org", ("192.0.2.53",))

    def send(message: dns.message.Message) -> int:
        return dns.query.tcp(message, "127.0.0.1", port=named.port, timeout=10).rcode()

    assert send(cat.add_member(CATALOG, wanted, conn.tsig_key)) == dns.rcode.NOERROR
    assert send(cat.add_member(CATALOG, zone("example.org"), conn.tsig_key)) == dns.rcode.YXDOMAIN
    members = cat.read_catalog(transfer(conn, CATALOG))
    assert members["example.org"].primaries == ("192.0.2.53",)
    assert members["example.org"].fingerprint == wanted.fingerprint()
    moved = secondary("example.org", ("198.51.100.1", "2001:db8::1"))
    assert send(cat.change_member(CATALOG, moved, conn.tsig_key)) == dns.rcode.NOERROR
    assert cat.read_catalog(transfer(conn, CATALOG))["example.org"].primaries == ("198.51.100.1", "2001:db8::1")
    assert send(cat.remove_member(CATALOG, "example.org", conn.tsig_key)) == dns.rcode.NOERROR
    after = transfer(conn, CATALOG)
    assert cat.read_catalog(after) == {}
    assert sorted(n.to_text() for n in after.nodes) == ["@", "version"]  # no property left behind
    # A changed member that is not listed is refused rather than created half-way.
    assert send(cat.change_member(CATALOG, moved, conn.tsig_key)) == dns.rcode.NXRRSET
