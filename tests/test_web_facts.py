"""Web facts: for each web rule across domain files, two files that conflict are refused by the
full validation and share a name in their facts (a narrowed plan loads them together), a file
needs the files its aliases and redirects reach, and the counts a rule bounds (tenants with sites
for the uid rule, sites per web host) are totals a narrowed run adds from the files it did not load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder

from ispctl.providers.web.users import derived_uid
from ispctl.reconciler.estate.desired import run_desired
from ispctl.reconciler.estate.facts import Facts
from tests.service_facts_helpers import Narrowing, service_facts, shared
from tests.wiring import SCHEMA

ACME = "desired-state/tenants/acme/acme.example.yaml"
NET = "desired-state/tenants/acme/acme.net.yaml"
OTHER = "desired-state/tenants/other/other.example.yaml"
ACME_REL, NET_REL, OTHER_REL = (name.removeprefix("desired-state/") for name in (ACME, NET, OTHER))


def _estate(tmp_path: Path, acme: str, net: str = "", other: str = "", **site: Any) -> EstateBuilder:
    """Tenant acme with acme.example and acme.net, tenant other with other.example, each a file
    with the web service and ``acme``/``net``/``other`` below its ``services:`` line."""
    builder = EstateBuilder(tmp_path, site={**SITE, "web": {"https": "off"}, **site})
    builder.tenant("acme")
    builder.tenant("other")
    write(builder, acme, net, other)
    return builder


def write(builder: EstateBuilder, acme: str, net: str = "", other: str = "", services: str = "[web]") -> None:
    builder.write(ACME_REL, f"domain: acme.example\nservices: {services}\n{acme}")
    builder.write(NET_REL, f"domain: acme.net\nservices: [web]\n{net}")
    builder.write(OTHER_REL, f"domain: other.example\nservices: [web]\n{other}")


def facts(builder: EstateBuilder, *problems: str) -> dict[str, Facts]:
    """The web facts of the estate as it is now, whose full validation reports ``problems``."""
    found, reported = service_facts(builder.root, "web")
    assert reported == list(problems)
    return found


def test_a_valid_estate_names_each_files_hosts_and_what_it_reaches(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {aliases: [www, shop.acme.net, "*.dev"], previous: [old], '
                                'redirects: [{from: /x, to: "https://other.example/y"}, {from: /z, to: /w}]}}}\n')
    found = facts(builder)
    assert found[ACME].names == {
        "host:acme.example", "host:www.acme.example", "host:shop.acme.net", "host:*.dev.acme.example",
        "host:old.acme.example",                                       # a former name: claimed
        "domain:www.acme.example", "domain:shop.acme.net", "domain:acme.net", "domain:dev.acme.example",
        "host:other.example",                                          # a redirect's target
    }
    # Needed: every domain an alias can be in (the alias is refused without it), and the redirect's
    # target (a chain of redirects is followed through every file it passes).
    assert found[ACME].needs == {"domain:www.acme.example", "domain:shop.acme.net", "domain:acme.net",
                                 "domain:dev.acme.example", "host:other.example"}
    assert found[ACME].totals == {"sites:acme": 1}
    # The default site (the apex answering www).
    assert found[OTHER] == Facts(frozenset({"host:other.example", "host:www.other.example",
                                            "domain:www.other.example"}),
                                 frozenset({"domain:www.other.example"}), {"sites:other": 1})


def test_a_host_claimed_in_two_files(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {aliases: [shop.acme.net]}}}\n')
    before = facts(builder)
    write(builder, 'web: {sites: {"@": {aliases: [shop.acme.net]}}}\n', "web: {sites: {shop: {}}}\n")
    after = facts(builder, f"{NET}:3:15: web.sites.shop: shop.acme.net is already claimed by the site at {ACME}:3:"
                           "31; a host name belongs to one site")
    assert "host:shop.acme.net" in before[ACME].names & after[NET].names
    assert "host:shop.acme.net" in shared(after, ACME, NET)


def test_a_site_inside_a_domain_that_has_a_file_of_its_own(tmp_path: Path) -> None:
    builder = _estate(tmp_path, "web: {sites: {www.eu.acme.example: {}}}\n")
    before = facts(builder)
    builder.write("tenants/acme/eu.acme.example.yaml", "domain: eu.acme.example\nservices: [mail]\n")
    facts(builder, f"{ACME}:3:15: web.sites['www.eu.acme.example']: www.eu.acme.example is in the domain "
                   "eu.acme.example (desired-state/tenants/acme/eu.acme.example.yaml:1:1); declare the site in "
                   "that domain's file")
    # The new file declares its domain (the estate's own facts); the site's file names it.
    assert "domain:eu.acme.example" in before[ACME].names
    assert "domain:eu.acme.example" not in before[ACME].needs


def test_an_alias_needs_the_file_of_its_domain(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {aliases: [shop.acme.net]}}}\n')
    before = facts(builder)
    assert "domain:acme.net" in before[ACME].needs  # loaded with it whenever it is loaded
    # Without acme.net's file (or with it in another tenant) the alias is refused.
    (builder.root / NET_REL).unlink()
    facts(builder, f"{ACME}:3:31: web.sites['@'].aliases[0]: shop.acme.net is in no domain of this estate; an alias "
                   "is a name in one of the tenant's domains (add the domain, type nodns if its DNS is elsewhere)")
    builder.write("tenants/other/acme.net.yaml", "domain: acme.net\nservices: [web]\n")
    facts(builder, f"{ACME}:3:31: web.sites['@'].aliases[0]: shop.acme.net is in the domain acme.net of tenant "
                   "other, not acme")


def test_a_former_name_another_file_claims(tmp_path: Path) -> None:
    builder = _estate(tmp_path, "web: {sites: {shop: {previous: [old]}}}\n")
    before = facts(builder)
    write(builder, "web: {sites: {shop: {previous: [old]}}}\n", 'web: {sites: {"@": {aliases: [old.acme.example]}}}\n')
    after = facts(builder, f"{ACME}:3:33: web.sites.shop.previous[0]: old.acme.example cannot be renamed into "
                           f"shop.acme.example: it is claimed at {NET}:3:31")
    assert "host:old.acme.example" in before[ACME].names & after[NET].names


def test_a_redirect_loop_through_two_files(tmp_path: Path) -> None:
    to_net = 'web: {sites: {"@": {redirects: [{from: "*", to: "http://acme.net/"}]}}}\n'
    builder = _estate(tmp_path, to_net)
    before = facts(builder)
    write(builder, to_net, 'web: {sites: {"@": {redirects: [{from: "*", to: "http://acme.example/"}]}}}\n')
    after = facts(builder, f"{ACME}:3:33: web.sites['@'].redirects[0]: redirect loop: * on acme.example -> "
                           f"acme.net ({NET}:3:33) -> back here")
    assert "host:acme.net" in before[ACME].names & after[NET].names
    # Each end needs the other: a chain is loaded whole, whichever file changed.
    assert "host:acme.net" in after[ACME].needs and "host:acme.example" in after[NET].needs


def test_a_redirect_into_a_wildcard_alias_needs_the_wildcard(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {redirects: [{from: "*", to: "http://x.dev.acme.net/"}]}}}\n',
                      'web: {sites: {"@": {aliases: ["*.dev"]}}}\n')
    found = facts(builder)
    assert {"host:x.dev.acme.net", "host:*.dev.acme.net", "host:*.acme.net"} <= found[ACME].needs
    assert "host:*.dev.acme.net" in found[NET].names - found[NET].needs  # the file declaring it


def test_a_derived_mail_site_and_a_site_of_another_file(tmp_path: Path) -> None:
    dns = {"dns": {"ns": ["ns1.isp.example."], "mail": {"mx": ["10 mx1.isp.example."], "imap": "imap.isp.example."}}}
    builder = _estate(tmp_path, "", 'web: {sites: {"@": {aliases: [autoconfig.acme.example]}}}\n', **dns)
    before = facts(builder)
    # acme.example takes mail: its derived autoconfig. site is the name acme.net's alias holds.
    write(builder, "", 'web: {sites: {"@": {aliases: [autoconfig.acme.example]}}}\n', services="[mail, web]")
    after = facts(builder, f"{NET}:3:15: web.sites: autoconfig.acme.example is derived for acme.example's mail "
                           "(client autoconfiguration / MTA-STS) and cannot also be a site or alias here; to serve "
                           "it yourself set dns.mail.autoconfig: false in ispctl.yaml")
    assert "host:autoconfig.acme.example" in before[NET].names & after[ACME].names
    assert "host:mta-sts.acme.example" in after[ACME].names


def test_two_tenants_on_one_uid_with_only_one_file_loaded(tmp_path: Path) -> None:
    acme_uid = derived_uid("acme", 100_000_000, 199_999_999)
    builder = _estate(tmp_path, "")
    builder.tenant("other", name="other", web={"uid": acme_uid})
    # other's file had no site: its pin was no one's business.
    builder.write(OTHER_REL, "domain: other.example\nservices: [mail]\n")
    before = facts(builder)
    assert before[ACME].totals == {"sites:acme": 1} and OTHER not in before
    builder.write(OTHER_REL, "domain: other.example\nservices: [web]\n")
    clash = (f"desired-state/tenants/other/tenant.yaml:3:3: web.uid: tenant other's web uid {acme_uid} (pinned) is "
             "also tenant acme's (desired-state/tenants/acme/tenant.yaml:1:1); pin another with web: {uid: N} in "
             "one of the two tenant files")
    facts(builder, clash)
    # A run that loads other.example only: acme's sites are in the totals of the files left out.
    outside: dict[str, int] = {}
    for name in (ACME, NET):
        for key, value in before[name].totals.items():
            outside[key] = outside.get(key, 0) + value
    _desired, problems = run_desired(builder.root, SCHEMA, None, only=frozenset({OTHER}), outside=outside)
    assert [str(p) for p in problems] == [clash]
    _desired, problems = run_desired(builder.root, SCHEMA, None, only=frozenset({OTHER}), outside={})
    assert problems == []  # what a narrowed run without the totals would have missed


def test_web_hosts_capacity_counts_every_files_sites(tmp_path: Path) -> None:
    cluster = {"cluster": {"hosts": {"w1.example.net": {"roles": ["web"], "capacity": 2}}}}
    builder = _estate(tmp_path, "", **cluster)
    builder.write(OTHER_REL, "domain: other.example\nservices: [mail]\n")
    before = facts(builder)
    assert before[ACME].totals == before[NET].totals == {"sites:acme": 1, "placed:web:w1.example.net": 1}
    write(builder, "web: {sites: {'@': {}, shop: {}}}\n")
    builder.write(OTHER_REL, "domain: other.example\nservices: [mail]\n")
    line = builder.line_of("ispctl.yaml", "capacity: 2")
    column = (builder.root / "ispctl.yaml").read_text().splitlines()[line - 1].index("capacity") + 1
    over = (f"desired-state/ispctl.yaml:{line}:{column}: w1.example.net would store 3 web objects, more than its "
            "capacity 2: raise it, add a host or place objects elsewhere")
    facts(builder, over)
    _desired, problems = run_desired(builder.root, SCHEMA, None, only=frozenset({ACME}),
                                     outside=dict(before[NET].totals))
    assert [str(p) for p in problems] == [over]


# -- narrowed runs (estate.incremental) with the web facts alone ---------------------------------

def _fillers(builder: EstateBuilder) -> None:
    """Files no rule ties to the others (one changed file must be few enough to be narrowed)."""
    for n in range(4):
        builder.write(f"tenants/other/filler{n}.example.yaml", f"domain: filler{n}.example\nservices: [mail]\n")


def test_a_redirect_loop_closed_by_one_file_of_three_falls_back(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {redirects: [{from: "*", to: "http://acme.net/"}]}}}\n',
                      'web: {sites: {"@": {redirects: [{from: "*", to: "http://other.example/"}]}}}\n')
    _fillers(builder)
    runs = Narrowing(builder.root, tmp_path / "cache", "web")
    # other.example now redirects to acme.example: acme.example -> acme.net -> other.example -> back.
    builder.write(OTHER_REL, 'domain: other.example\nservices: [web]\n'
                             'web: {sites: {"@": {redirects: [{from: "*", to: "http://acme.example/"}]}}}\n')
    assert "redirect loop: * on acme.example -> acme.net" in runs.falls_back(builder.root / OTHER_REL)


def test_a_change_no_rule_ties_to_another_file_takes_the_fast_path(tmp_path: Path) -> None:
    builder = _estate(tmp_path, 'web: {sites: {"@": {aliases: [shop.acme.net]}}}\n')
    _fillers(builder)
    runs = Narrowing(builder.root, tmp_path / "cache", "web")
    builder.write(OTHER_REL, "domain: other.example\nservices: [web]\nweb: {sites: {blog: {}}}\n")
    assert runs.same_as_full(builder.root / OTHER_REL).loaded == {OTHER}
    # acme.example's alias is in acme.net: loaded with it, so the alias is checked as in a full run.
    builder.write(ACME_REL, 'domain: acme.example\nservices: [web]\nweb: {sites: {"@": {aliases: [shop.acme.net, '
                            "www]}}}\n")
    assert runs.same_as_full(builder.root / ACME_REL).loaded == {ACME, NET}


def test_a_pin_on_the_uid_of_a_tenant_whose_files_are_not_loaded_falls_back(tmp_path: Path) -> None:
    builder = _estate(tmp_path, "")
    _fillers(builder)
    runs = Narrowing(builder.root, tmp_path / "cache", "web")
    builder.tenant("other", name="other", web={"uid": derived_uid("acme", 100_000_000, 199_999_999)})
    # Only other's files are loaded (its tenant file changed): acme's sites are counted outside.
    assert "is also tenant acme's" in runs.falls_back(builder.root / "tenants/other/tenant.yaml")


def _change(tmp_path: Path, before: dict[str, str], after: dict[str, str], **site: Any) -> str:
    """The reason a narrowed run falls back when only the files of ``after`` changed (relative
    path -> content) from the valid estate ``before`` (the same, written over ``_estate``'s)."""
    builder = _estate(tmp_path, "", **site)
    _fillers(builder)
    for rel, text in before.items():
        builder.write(rel, text)
    runs = Narrowing(builder.root, tmp_path / "cache", "web")
    for rel, text in after.items():
        builder.write(rel, text)
    return runs.falls_back(*(builder.root / rel for rel in after))


def test_one_changed_file_claiming_anothers_host_falls_back(tmp_path: Path) -> None:
    acme = 'domain: acme.example\nservices: [web]\nweb: {sites: {"@": {aliases: [shop.acme.net]}}}\n'
    reason = _change(tmp_path, {ACME_REL: acme}, {NET_REL: "domain: acme.net\nservices: [web]\n"
                                                           "web: {sites: {shop: {}}}\n"})
    assert "shop.acme.net is already claimed by the site at" in reason


def test_one_changed_file_claiming_anothers_former_name_falls_back(tmp_path: Path) -> None:
    acme = "domain: acme.example\nservices: [web]\nweb: {sites: {shop: {previous: [old]}}}\n"
    reason = _change(tmp_path, {ACME_REL: acme}, {NET_REL: 'domain: acme.net\nservices: [web]\n'
                                                           'web: {sites: {"@": {aliases: [old.acme.example]}}}\n'})
    assert "old.acme.example cannot be renamed into shop.acme.example" in reason


def test_a_domain_file_added_under_anothers_site_falls_back(tmp_path: Path) -> None:
    acme = "domain: acme.example\nservices: [web]\nweb: {sites: {www.eu.acme.example: {}}}\n"
    reason = _change(tmp_path, {ACME_REL: acme}, {"tenants/acme/eu.acme.example.yaml": "domain: eu.acme.example\n"
                                                                                      "services: [mail]\n"})
    assert "www.eu.acme.example is in the domain eu.acme.example" in reason


def test_mail_turned_on_under_anothers_alias_at_the_derived_name_falls_back(tmp_path: Path) -> None:
    net = 'domain: acme.net\nservices: [web]\nweb: {sites: {"@": {aliases: [autoconfig.acme.example]}}}\n'
    reason = _change(tmp_path, {NET_REL: net}, {ACME_REL: "domain: acme.example\nservices: [mail, web]\n"},
                     dns={"ns": ["ns1.isp.example."], "mail": {"mx": ["10 mx1.isp.example."],
                                                               "imap": "imap.isp.example."}})
    assert "autoconfig.acme.example is derived for acme.example's mail" in reason
