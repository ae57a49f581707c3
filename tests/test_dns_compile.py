"""Zones and record sets as resources: the example estate, derived records, overrides."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.providers.dns.compile import split_txt, txt_text
from ispctl.providers.registry import BUILTIN
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.contract import Registry
from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import resources_of

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
NW = "desired-state/tenants/northwind/northwind.example.yaml"
DNS: dict[str, Any] = {
    "ns": ["ns2.example.net.", "ns1.example.net."],
    "soa": {"rname": "hostmaster@example.net", "minimum": "1h"},
    "mail": {
        "mx": [{"host": "mx1.example.net.", "priority": 10}, "20 mx2.example.net."],
        "spf": "v=spf1 mx -all", "dmarc": "v=DMARC1; p=none",
        "imap": "imap.example.net.", "submission": "smtp.example.net.",
    },
    "web": {"a": ["192.0.2.80"], "aaaa": ["2001:db8::80"]},
    "ignore": [{"name": "_acme-challenge*", "type": "TXT"}],
}


def sts_txt(*mx: str) -> str:
    """The _mta-sts record for the default policy (testing, a week) naming ``mx`` (RFC 8461)."""
    policy = "".join(f"{line}\r\n" for line in ("version: STSv1", "mode: testing", *(f"mx: {h}" for h in mx),
                                                "max_age: 604800"))
    return f'"v=STSv1; id={hashlib.sha256(policy.encode()).hexdigest()[:32]}"'


@pytest.fixture(scope="module")
def example() -> dict[str, Resource]:
    return {r.address: r for r in resources_of(EXAMPLE).values()}


def compiled(
    tmp_path: Path, domain: dict[str, Any], dns: dict[str, Any] | None = None, *others: dict[str, Any]
) -> dict[str, Resource]:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": DNS if dns is None else dns})
    builder.tenant("acme")
    for spec in (domain, *others):
        builder.domain("acme", spec["domain"], {k: v for k, v in spec.items() if k != "domain"})
    return {r.address: r for r in builder.resources().values()}


def records(resources: dict[str, Resource], zone: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """``{"owner/TYPE": (ttl, records)}`` of one zone."""
    prefix = f"dns.{zone}/"
    found = {}
    for address, res in resources.items():
        if address.startswith(prefix):
            ttl, recs = res.attrs["ttl"], res.attrs["records"]
            assert isinstance(ttl, int) and isinstance(recs, tuple)
            found[address[len(prefix):]] = (ttl, recs)
    return found


def test_the_example_estate_has_one_zone_per_domain_with_dns(example: dict[str, Resource]) -> None:
    zones = {a: r.attrs for a, r in example.items() if r.kind == "dns_zone"}
    primary = {
        "type": "primary", "primaries": None, "default_ttl": 3600,
        "soa": "ns1.example.net. hostmaster.example.net. 10800 1800 604800 3600",
        "ns": ("ns1.example.net.", "ns2.example.net."),
    }
    assert zones == {
        "dns_zone.northwind.example": primary,
        "dns_zone.southbay.example": primary,
        "dns_zone.baeckerei-mueller.example": primary,
        "dns_zone.xn--bckerei-mller-bfb28a.example": {**primary, "default_ttl": 1800},
        "dns_zone.hartcole.example": {"type": "secondary", "primaries": ("192.0.2.53", "2001:db8::53"),
                                      "soa": None, "ns": None, "default_ttl": None},
    }
    assert "dns_zone.riverside-school.example" not in example  # nodns
    assert not any(a.startswith("dns.hartcole.example/") for a in example)  # a secondary has no records of ours


def test_the_example_records_with_their_sources(example: dict[str, Resource]) -> None:
    www = example["dns.northwind.example/www/A"]
    assert (www.key, www.parent, dict(www.attrs)) == (
        "northwind.example/www/A", "dns_zone.northwind.example", {"records": ("192.0.2.80",), "ttl": 3600})
    assert www.source == Location(NW, 3, 1)  # derived: from the domain's services
    portal = example["dns.northwind.example/portal/CNAME"]
    assert portal.attrs["records"] == ("www.northwind.example.",)
    assert portal.source == Location(NW, 47, 14)
    assert example["dns.northwind.example/lab/NS"].attrs["records"] == (
        "ns1.lab.northwind.example.", "ns2.example.net."
    )
    assert example["dns.northwind.example/*.dev/A"].attrs["records"] == ("198.51.100.20",)
    assert example["dns.northwind.example/_github-challenge-northwind/TXT"].attrs == {
        "records": ('"f3a9c1e07d"',), "ttl": 300
    }
    assert example["dns.northwind.example/@/CAA"].attrs["records"] == (
        '0 iodef "mailto:noc@northwind.example"', '0 issue "letsencrypt.org"'
    )
    idn = "dns.xn--bckerei-mller-bfb28a.example"
    assert example[f"{idn}/xn--filiale-sd-ieb/A"].attrs == {"records": ("203.0.113.40",), "ttl": 1800}
    assert example[f"{idn}/_dmarc/TXT"].attrs["records"] == (
        '"v=DMARC1; p=reject; rua=mailto:anna@xn--bckerei-mller-bfb28a.example"',
    )
    south = records(example, "southbay.example")
    assert south["@/TXT"][1] == (
        '"google-site-verification=2bM1sQx8YtQ0fQJ7"', '"v=spf1 include:_spf.example.net ip4:198.51.100.0/24 -all"'
    )
    assert south["dialup/CNAME"] == (3600, ("radius.southbay.example.",))


def test_the_alias_domain_zone_gets_the_mail_records_of_its_target(example: dict[str, Resource]) -> None:
    alias = records(example, "baeckerei-mueller.example")
    # The addresses: the bakery's site answers baeckerei-mueller.example and its www as aliases.
    assert set(alias) == {"@/MX", "@/TXT", "_dmarc/TXT", "_imaps._tcp/SRV", "_submission._tcp/SRV",
                          "@/A", "@/AAAA", "www/A", "www/AAAA"}
    assert alias["@/MX"] == (3600, ("10 mx1.example.net.", "20 mx2.example.net."))
    assert alias["www/A"] == (3600, ("192.0.2.80",))


def test_derived_records_for_mail_and_web(tmp_path: Path) -> None:
    found = records(compiled(tmp_path, {"domain": "acme.example", "services": ["mail", "web", "dns"]}), "acme.example")
    assert found == {
        "@/MX": (3600, ("10 mx1.example.net.", "20 mx2.example.net.")),
        "@/TXT": (3600, ('"v=spf1 mx -all"',)),
        "_dmarc/TXT": (3600, ('"v=DMARC1; p=none"',)),
        "_imaps._tcp/SRV": (3600, ("0 1 993 imap.example.net.",)),
        "_submission._tcp/SRV": (3600, ("0 1 587 smtp.example.net.",)),
        "@/A": (3600, ("192.0.2.80",)), "@/AAAA": (3600, ("2001:db8::80",)),
        "www/A": (3600, ("192.0.2.80",)), "www/AAAA": (3600, ("2001:db8::80",)),
        # mail and web: the web service's autoconfig and MTA-STS sites, and the policy's id
        "autoconfig/A": (3600, ("192.0.2.80",)), "autoconfig/AAAA": (3600, ("2001:db8::80",)),
        "mta-sts/A": (3600, ("192.0.2.80",)), "mta-sts/AAAA": (3600, ("2001:db8::80",)),
        "_mta-sts/TXT": (3600, (sts_txt("mx1.example.net", "mx2.example.net"),)),
    }


def test_only_the_enabled_services_derive_records(tmp_path: Path) -> None:
    web_only = records(compiled(tmp_path, {"domain": "acme.example", "services": ["web", "dns"]}), "acme.example")
    assert set(web_only) == {"@/A", "@/AAAA", "www/A", "www/AAAA"}


def addresses(resources: dict[str, Resource], zone: str) -> set[str]:
    """The owners of a zone's derived A records (the web sites' names)."""
    return {k.split("/")[0] for k in records(resources, zone) if k.endswith("/A")}


def test_address_records_follow_the_sites(tmp_path: Path) -> None:
    web = {"sites": {"@": {}, "shop": {"aliases": ["*.dev", "Shop-Old"], "https": "off"}, "blog.acme.example": {}}}
    found = compiled(tmp_path, {"domain": "acme.example", "services": ["web", "dns"], "web": web})
    # no www: no site answers it
    assert addresses(found, "acme.example") == {"@", "shop", "*.dev", "shop-old", "blog"}
    assert records(found, "acme.example")["*.dev/AAAA"] == (3600, ("2001:db8::80",))


def test_an_alias_in_another_domain_of_the_tenant_gets_that_zones_records(tmp_path: Path) -> None:
    main = {"domain": "acme.example", "services": ["web", "dns"],
            "web": {"sites": {"www": {"aliases": ["acme.net", "www.acme.net", "www.legacy.acme.example"]}}}}
    other = {"domain": "acme.net", "services": ["mail", "dns"]}  # no web service of its own
    legacy = {"domain": "legacy.acme.example", "type": "nodns", "services": ["mail"]}  # its DNS is elsewhere
    found = compiled(tmp_path, main, None, other, legacy)
    assert addresses(found, "acme.net") == {"@", "www"}
    assert addresses(found, "acme.example") == {"www"}  # not www.legacy: that name is in the legacy domain


def test_a_site_name_with_an_explicit_cname_keeps_the_cname(tmp_path: Path) -> None:
    found = records(compiled(tmp_path, {"domain": "acme.example", "services": ["web", "dns"],
                                        "web": {"sites": {"shop": {}}},
                                        "dns": {"records": {"shop": {"CNAME": "shops.example."}}}}), "acme.example")
    assert found == {"shop/CNAME": (3600, ("shops.example.",))}


def test_without_the_web_service_a_web_domain_has_the_apex_and_www(tmp_path: Path) -> None:
    # DNS reads the sites through the domain's web: section; a registry without the web
    # service has none, and DNS derives what it did before sites existed.
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": DNS})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"services": ["web", "dns"]})
    alone = Wiring(Registry(tuple(s for s in BUILTIN if s.name != "web")))
    found = {r.address: r for r in alone.desired(builder.root).resources.values()}
    assert addresses(found, "acme.example") == {"@", "www"}
    assert not any(r.kind == "site" for r in found.values())


def test_explicit_records_override_derived_ones(tmp_path: Path) -> None:
    found = records(compiled(tmp_path, {"domain": "acme.example", "services": ["mail", "web", "dns"], "dns": {
        "ttl": "10m",
        "records": {
            "@": {"MX": {"ttl": 60, "values": [{"priority": 5, "host": "filter.example."}]}, "AAAA": None},
            "www": {"CNAME": "@"},
            "_dmarc": {"TXT": []},
            "_imaps._tcp": {"SRV": "0 0 0 ."},
        },
    }}), "acme.example")
    assert found == {
        "@/MX": (60, ("5 filter.example.",)),
        "@/TXT": (600, ('"v=spf1 mx -all"',)),
        "@/A": (600, ("192.0.2.80",)),
        "www/CNAME": (600, ("acme.example.",)),          # replaces the derived www A and AAAA
        "_imaps._tcp/SRV": (600, ("0 0 0 .",)),           # RFC 6186: the service is not offered
        "_submission._tcp/SRV": (600, ("0 1 587 smtp.example.net.",)),
        "autoconfig/A": (600, ("192.0.2.80",)), "autoconfig/AAAA": (600, ("2001:db8::80",)),
        "mta-sts/A": (600, ("192.0.2.80",)), "mta-sts/AAAA": (600, ("2001:db8::80",)),
        "_mta-sts/TXT": (600, (sts_txt("filter.example"),)),  # the policy names the zone's MX
    }


def test_an_alias_domain_follows_its_targets_mx_override(tmp_path: Path) -> None:
    target = {"domain": "acme.example", "mailboxes": {"anna": mailbox()},
              "dns": {"records": {"@": {"MX": ["10 in1.filter.example.", "20 in2.filter.example."]}}}}
    alias = {"domain": "acme-alias.example", "type": "alias", "alias_of": "acme.example"}
    found = compiled(tmp_path, alias, None, target)
    assert found["dns.acme-alias.example/@/MX"].attrs["records"] == ("10 in1.filter.example.", "20 in2.filter.example.")


def test_ignore_rules_skip_derived_records(tmp_path: Path) -> None:
    dns = {**DNS, "ignore": [{"name": "_dmarc"}, {"name": "_*._tcp", "type": "SRV"}]}
    found = records(compiled(tmp_path, {"domain": "acme.example"}, dns), "acme.example")
    assert set(found) == {"@/MX", "@/TXT"}


def test_long_txt_values_are_split_into_255_byte_strings(tmp_path: Path) -> None:
    long = "k" * 600
    umlauts = "ä" * 200  # 400 bytes: split by bytes, not characters
    found = records(compiled(tmp_path, {"domain": "acme.example", "services": ["dns"], "dns": {"records": {
        "long": {"TXT": long}, "utf": {"TXT": umlauts}, "explicit": {"TXT": [["a" * 255, "b"], "short"]},
    }}}), "acme.example")
    assert found["long/TXT"][1] == (f'"{"k" * 255}" "{"k" * 255}" "{"k" * 90}"',)
    assert [len(s) for s in split_txt(umlauts)] == [255, 145]
    assert found["utf/TXT"][1] == (txt_text(split_txt(umlauts)),)
    assert found["explicit/TXT"][1] == (f'"{"a" * 255}" "b"', '"short"')


def test_names_are_qualified_like_a_zone_file(tmp_path: Path) -> None:
    found = records(compiled(tmp_path, {"domain": "acme.example", "services": ["dns"], "dns": {"records": {
        "mail": {"A": "192.0.2.25"},
        "@": {"MX": "10 mail"},
        "docs": {"CNAME": "Docs.Host.Example."},
        "_xmpp._tcp": {"SRV": "5 0 5222 mail"},
        "Bücher": {"A": "192.0.2.26"},
        "*.Dev": {"AAAA": "2001:DB8:0:0::1"},
    }}}), "acme.example")
    assert found["@/MX"][1] == ("10 mail.acme.example.",)
    assert found["docs/CNAME"][1] == ("docs.host.example.",)
    assert found["_xmpp._tcp/SRV"][1] == ("5 0 5222 mail.acme.example.",)
    assert found["xn--bcher-kva/A"][1] == ("192.0.2.26",)
    assert found["*.dev/AAAA"][1] == ("2001:db8::1",)


def test_zone_settings_from_the_domain_override_the_site(tmp_path: Path) -> None:
    res = compiled(tmp_path, {"domain": "acme.example", "services": ["dns"], "dns": {
        "ttl": 300, "ns": ["ns1", "ns.other.example."],
        "soa": {"mname": "ns1", "rname": "dns.admin@acme.example", "refresh": "1h", "expire": "2w"},
    }})
    zone = res["dns_zone.acme.example"]
    assert dict(zone.attrs) == {
        "default_ttl": 300, "ns": ("ns.other.example.", "ns1.acme.example."), "type": "primary", "primaries": None,
        "soa": "ns1.acme.example. dns\\.admin.acme.example. 3600 1800 1209600 3600",
    }


def test_without_site_dns_settings_no_zone_is_compiled(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"services": ["mail", "web", "dns"], "mailboxes": {"anna": mailbox()}})
    kinds = {r.kind for r in builder.resources().values()}
    assert kinds == {"tenant", "domain", "mailbox", "maildir", "site"}  # the web service's site, no DNS
