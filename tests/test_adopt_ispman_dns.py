"""ISPMan's dNSZone leaves as domain files' dns: sections (inverted CNAMEs, shared SOA and NS), and the
imported zones served by a real named with an empty plan after the apply."""

from __future__ import annotations

from pathlib import Path

import dns.rcode
from dns_helpers import query
from ispman_helpers import import_ldif
from ldap_helpers import run_cli

from ispctl.providers.adopt.ispman_dns import domain_dns, read_zones, site_dns
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.dns.sandbox.named import NamedInstance

SOA = "ns1.isp.example. hostmaster.isp.example. 1104537600 3H 30M 1W 1D"


def leaf(zone: str, owner: str, attr: str, value: str, ttl: str | None = None) -> SourceEntry:
    attrs = {"objectclass": ["top", "dNSZone"], "zonename": [zone], "relativedomainname": [owner],
             attr.lower(): [value]}
    if ttl is not None:
        attrs["dnsttl"] = [ttl]
    return SourceEntry(f"relativeDomainName={owner},{attr}={value},ou={attr},dc=x,ou=DNS,o=ispman", attrs)


def zone_of(*leaves: SourceEntry) -> tuple[dict[str, object], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    zones = read_zones(leaves, problems)
    site = site_dns(zones.values())
    return {name: domain_dns(z, site) for name, z in zones.items()} | {"site": site}, problems


def test_a_cname_leaf_is_owner_and_target_as_written() -> None:
    # DNSMan::make_ldif_cNAMERecord($domain, 'www', 'portal'): relativeDomainName portal, cNAMERecord www.
    found, _ = zone_of(leaf("a.example", "@", "sOARecord", SOA), leaf("a.example", "portal", "cNAMERecord", "www"),
                       leaf("a.example", "status", "cNAMERecord", "status-host.example."))
    records = found["a.example"]["records"]  # type: ignore[index]
    assert records["portal"] == {"CNAME": "www"}
    assert records["status"] == {"CNAME": "status-host.example."}


def test_soa_and_apex_ns_most_zones_share_go_to_the_site_and_a_different_zone_keeps_its_own() -> None:
    other = "ns9.elsewhere.example. dns.elsewhere.example. 1 1H 15M 2W 5M"
    found, _ = zone_of(*(leaf(z, "@", "sOARecord", SOA) for z in ("a.example", "b.example")),
                       leaf("c.example", "@", "sOARecord", other),
                       *(leaf(z, "@", "nSRecord", ns) for z in ("a.example", "b.example", "c.example")
                         for ns in ("ns1.isp.example.", "ns2.isp.example.")))
    site = found["site"]
    assert site["ns"] == ["ns1.isp.example.", "ns2.isp.example."]  # type: ignore[index]
    assert dict(site["soa"]) == {"mname": "ns1.isp.example.", "rname": "hostmaster@isp.example",  # type: ignore[index]
                                 "refresh": "3h", "retry": "30m", "expire": "1w", "minimum": "1d"}
    assert found["a.example"] == {}
    assert dict(found["c.example"]["soa"]) == {  # type: ignore[index]
        "mname": "ns9.elsewhere.example.", "rname": "dns@elsewhere.example", "refresh": "1h", "retry": "15m",
        "expire": "2w", "minimum": "5m"}


def test_mx_values_ttls_and_several_values() -> None:
    found, _ = zone_of(leaf("a.example", "@", "mXRecord", "20 mx2.isp.example."),
                       leaf("a.example", "@", "mXRecord", "10 mx1.isp.example."),
                       leaf("a.example", "vpn", "aRecord", "198.51.100.7", ttl="300"),
                       leaf("a.example", "www", "aRecord", "192.0.2.1"),
                       leaf("a.example", "www", "aRecord", "192.0.2.2"))
    records = found["a.example"]["records"]  # type: ignore[index]
    assert [dict(v) for v in records["@"]["MX"]] == [{"priority": 10, "host": "mx1.isp.example."},
                                                     {"priority": 20, "host": "mx2.isp.example."}]
    assert dict(records["vpn"]["A"]) == {"ttl": "300s", "values": ["198.51.100.7"]}
    assert records["www"]["A"] == ["192.0.2.1", "192.0.2.2"]


def test_a_leaf_without_a_record_or_a_broken_soa_is_reported_by_dn() -> None:
    empty = SourceEntry("relativeDomainName=x,ou=aRecord,dc=x,ou=DNS,o=ispman",
                        {"objectclass": ["dNSZone"], "zonename": ["a.example"], "relativedomainname": ["x"]})
    _, problems = zone_of(empty, leaf("a.example", "@", "sOARecord", "ns1. hostmaster. 1"))
    assert [p[1] for p in problems] == ["dNSZone leaf without zoneName, relativeDomainName or a record",
                                        "SOA record without its seven fields"]
    assert problems[0][0] == empty.dn


def test_the_imported_zones_are_served_by_a_real_named_as_ispman_had_them(named: NamedInstance,
                                                                          tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    import_ldif(estate)
    env = {**named.env(), "ISPCTL_PROVIDERS": "dns"}
    applied = run_cli(None, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    plan = run_cli(None, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert plan.exit_code == 0 and "No changes." in plan.stdout, plan.output
    # Every record of ISPMan's dNSZone leaves, as a resolver gets it (relative names absolute).
    for name, rdtype, values in (
        ("portal.northwind.example.", "CNAME", {"www.northwind.example."}),
        ("status.northwind.example.", "CNAME", {"northwind.status-host.example."}),
        ("northwind.example.", "MX", {"10 mx1.example.com.", "20 mx2.example.com."}),
        ("northwind.example.", "NS", {"ns1.example.com.", "ns2.example.com."}),
        ("northwind.example.", "TXT", {'"v=spf1 mx -all"'}),
        ("northwind.example.", "A", {"192.0.2.80"}),
        ("www.northwind.example.", "AAAA", {"2001:db8::80"}),
        ("vpn.northwind.example.", "A", {"198.51.100.7"}),
        ("baeckerei.example.", "MX", {"10 mx1.example.com.", "20 mx2.example.com."}),
    ):
        assert query(named, name, rdtype) == (dns.rcode.NOERROR, values), (name, rdtype)
    rcode, soa = query(named, "northwind.example.", "SOA")
    (fields,) = (s.split() for s in soa)
    assert fields[:2] == ["ns1.example.com.", "hostmaster.example.com."]
    assert fields[3:] == ["10800", "1800", "604800", "86400"]  # ISPMan's 3H 30M 1W 1D
