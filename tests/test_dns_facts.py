"""DNS facts: every way a zone reads another domain file is a name both files share.

Each rule across files is shown twice: the full run (every file loaded) gets a value or a
problem from the other file, and the two files' facts share a name, so a plan narrowed to one
of them loads the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.reconciler.estate.facts import Facts
from tests.service_facts_helpers import Narrowing, loaded_with, service_facts, shared
from tests.wiring import resources_of

DNS: dict[str, Any] = {
    "ns": ["ns1.example.net.", "ns2.example.net."],
    "mail": {"mx": [{"host": "mx1.example.net.", "priority": 10}]},
    "web": {"a": ["192.0.2.80"]},
}
ACME = "desired-state/tenants/acme/acme.example.yaml"
NET = "desired-state/tenants/acme/acme.net.yaml"
SUB = "desired-state/tenants/acme/sub.acme.example.yaml"
ALIAS = "desired-state/tenants/acme/acme-alias.example.yaml"


def _estate(tmp_path: Path, *domains: dict[str, Any], dns: dict[str, Any] | None = None) -> EstateBuilder:
    """Tenant acme with ``domains`` (each a domain file's content, ``domain:`` first)."""
    builder = EstateBuilder(tmp_path, site={**SITE, **({"dns": DNS if dns is None else dns} if dns != {} else {})})
    builder.tenant("acme")
    for spec in domains:
        builder.domain("acme", spec["domain"], {k: v for k, v in spec.items() if k != "domain"})
    return builder


def _dns(builder: EstateBuilder) -> dict[str, object]:
    """Zone/owner/TYPE -> records of every record set the full run compiles."""
    return {key: r.attrs["records"] for (kind, key), r in resources_of(builder.root).items() if kind == "dns"}


def _facts(builder: EstateBuilder) -> dict[str, Facts]:
    facts, problems = service_facts(builder.root, "dns")
    assert problems == []
    return facts


def _net(*aliases: str) -> dict[str, Any]:
    """acme.net, whose apex site answers at ``aliases`` too."""
    site = {"aliases": list(aliases), "https": "off"}
    return {"domain": "acme.net", "services": ["web", "dns"], "web": {"sites": {"@": site}}}


def test_a_site_alias_is_published_in_the_zone_of_another_file(tmp_path: Path) -> None:
    builder = _estate(tmp_path, _net("www", "shop.acme.example"), {"domain": "acme.example", "services": ["dns"]})
    assert _dns(builder)["acme.example/shop/A"] == ("192.0.2.80",)
    facts = _facts(builder)
    assert shared(facts, NET, ACME) == {"dnsname:acme.example", "zone:acme.example"}
    # acme.net needs the domain its alias lands in, acme.example's zone needs every file
    # publishing in it: loading either loads the other.
    assert facts[NET].needs == {"zone:acme.net", "dnsname:acme.example"}
    assert facts[ACME].needs == {"zone:acme.example"}
    assert loaded_with(facts, NET) == {ACME} and loaded_with(facts, ACME) == {NET}

    # Without the alias the zone has no such record: the value is the other file's.
    builder.domain("acme", "acme.net", {k: v for k, v in _net("www").items() if k != "domain"})
    assert "acme.example/shop/A" not in _dns(builder)
    facts = _facts(builder)
    assert shared(facts, NET, ACME) == set() and loaded_with(facts, ACME) == set()


def test_hosts_in_their_own_zone_need_no_other_file(tmp_path: Path) -> None:
    builder = _estate(tmp_path, _net("www", "*.dev"), {"domain": "acme.example", "services": ["dns"]})
    assert {"acme.net/www/A", "acme.net/*.dev/A", "acme.net/@/A"} <= set(_dns(builder))
    facts = _facts(builder)
    # The names on the way up (one of them could become a domain of its own), and its own zone.
    assert facts[NET] == Facts(frozenset({"dnsname:acme.net", "dnsname:www.acme.net", "dnsname:dev.acme.net",
                                          "zone:acme.net"}), frozenset({"zone:acme.net"}))
    assert shared(facts, NET, ACME) == set() and loaded_with(facts, NET) == set()


def test_a_subdomain_file_takes_the_hosts_below_it_and_its_removal_gives_them_back(tmp_path: Path) -> None:
    parent = {"domain": "acme.example", "services": ["dns"]}
    sub = {"domain": "sub.acme.example", "services": ["dns"]}
    builder = _estate(tmp_path, _net("shop.sub.acme.example"), parent, sub)
    records = _dns(builder)
    assert "sub.acme.example/shop/A" in records and "acme.example/shop.sub/A" not in records
    facts = _facts(builder)
    assert shared(facts, NET, SUB) == {"dnsname:sub.acme.example", "zone:sub.acme.example"}
    # If the subdomain's file goes, the next zone up takes the host: acme.net needs it too.
    assert {"dnsname:sub.acme.example", "dnsname:acme.example"} <= facts[NET].needs
    assert loaded_with(facts, NET) == {SUB, ACME} and loaded_with(facts, SUB) == {NET, ACME}

    (builder.root / "tenants/acme/sub.acme.example.yaml").unlink()
    records = _dns(builder)
    assert "acme.example/shop.sub/A" in records and not [k for k in records if k.startswith("sub.acme.example/")]
    # Without the subdomain's file, acme.net still names it: adding it back shares a name.
    assert "dnsname:sub.acme.example" in _facts(builder)[NET].names


def test_an_alias_domain_follows_its_targets_mx_and_its_zone_rules_see_it(tmp_path: Path) -> None:
    target = {"domain": "acme.example", "services": ["mail", "dns"], "mailboxes": {"anna": mailbox()},
              "dns": {"records": {"@": {"MX": "10 mail.acme-alias.example."}}}}
    alias = {"domain": "acme-alias.example", "type": "alias", "alias_of": "acme.example", "services": ["mail", "dns"],
             "dns": {"records": {"mail": {"CNAME": "relay.example.net."}}}}
    builder = _estate(tmp_path, target, alias)
    facts, problems = service_facts(builder.root, "dns")
    line = builder.line_of("tenants/acme/acme-alias.example.yaml", "domain:")
    assert problems == [f"{ALIAS}:{line}:1: domain: derived MX target mail.acme-alias.example. is a CNAME (at 'mail'); "
                        "MX records must point at a name with address records (RFC 2181 10.3)"]
    assert shared(facts, ALIAS, ACME) == {"dnsname:acme.example"}
    assert loaded_with(facts, ALIAS) == {ACME}


def test_an_estate_without_dns_has_no_dns_facts(tmp_path: Path) -> None:
    builder = _estate(tmp_path, _net("www", "shop.acme.example"), {"domain": "acme.example", "services": ["mail"]},
                      dns={})
    assert _facts(builder) == {}


# -- narrowed runs -------------------------------------------------------------------------------

def _more(builder: EstateBuilder) -> EstateBuilder:
    """Five more domain files, none related to the others: a narrowed run leaves them out."""
    for index in range(5):
        builder.domain("acme", f"more{index}.example", {"services": ["dns"]})
    return builder


def test_a_target_whose_mx_moves_onto_its_alias_domains_cname_falls_back(tmp_path: Path) -> None:
    target = {"domain": "acme.example", "services": ["mail", "dns"], "mailboxes": {"anna": mailbox()}}
    alias = {"domain": "acme-alias.example", "type": "alias", "alias_of": "acme.example", "services": ["mail", "dns"],
             "dns": {"records": {"mail": {"CNAME": "relay.example.net."}}}}
    builder = _more(_estate(tmp_path, target, alias))
    runs = Narrowing(builder.root, tmp_path / "cache", "dns")
    # Only the target's file changes; the problem is in the alias domain's, which is not.
    path = builder.root / "tenants/acme/acme.example.yaml"
    builder.domain("acme", "acme.example", {**{k: v for k, v in target.items() if k != "domain"},
                                            "dns": {"records": {"@": {"MX": "10 mail.acme-alias.example."}}}})
    assert "derived MX target mail.acme-alias.example. is a CNAME" in runs.falls_back(path)


def test_a_narrowed_run_publishes_a_site_alias_in_the_zone_of_another_file(tmp_path: Path) -> None:
    alias = {"domain": "acme-alias.example", "type": "alias", "alias_of": "acme.example", "services": ["dns"]}
    builder = _more(_estate(tmp_path, _net("www"), {"domain": "acme.example", "services": ["dns"]}, alias))
    runs = Narrowing(builder.root, tmp_path / "cache", "dns")
    path = builder.root / "tenants/acme/acme.net.yaml"
    builder.domain("acme", "acme.net", {k: v for k, v in _net("www", "shop.acme.example").items() if k != "domain"})
    # (The alias domain uses acme.example's name too, so it comes along; the others do not.)
    assert runs.same_as_full(path).loaded == {NET, ACME, ALIAS}

    # The zone's file loaded unchanged (an alias domain of it changed): the file publishing in
    # the zone is loaded with it, so the zone keeps the site alias's record.
    runs = Narrowing(builder.root, tmp_path / "cache", "dns")
    path = builder.root / "tenants/acme/acme-alias.example.yaml"
    builder.domain("acme", "acme-alias.example", {**{k: v for k, v in alias.items() if k != "domain"},
                                                  "dns": {"ttl": "5m"}})
    assert runs.same_as_full(path).loaded == {ALIAS, ACME, NET}


def test_a_narrowed_run_gives_a_removed_subdomains_hosts_to_the_zone_above(tmp_path: Path) -> None:
    builder = _more(_estate(tmp_path, _net("shop.sub.acme.example"), {"domain": "acme.example", "services": ["dns"]},
                            {"domain": "sub.acme.example", "services": ["dns"]}))
    runs = Narrowing(builder.root, tmp_path / "cache", "dns")
    path = builder.root / "tenants/acme/sub.acme.example.yaml"
    path.unlink()
    assert runs.same_as_full(path).loaded == {NET, ACME}
