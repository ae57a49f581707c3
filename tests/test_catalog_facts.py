"""The estate's own facts per file (estate.catalog_facts): every rule across files of
validate, delivery, limits and tenant_rename has a shared name or a need between its files.

That a narrowed run really refuses what a full run refuses with these facts is shown end to
end in tests/test_incremental.py; here each fact is pinned to the rule it stands for.
"""

from __future__ import annotations

from pathlib import Path

from estate_builder import EstateBuilder, mailbox

from ispctl.reconciler.estate.catalog_facts import catalog_facts
from ispctl.reconciler.estate.desired import check_desired, run_desired
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.placement import place_mailboxes, placed_facts, placed_key
from tests.wiring import SCHEMA

GIB = 1024**3


def facts_of(builder: EstateBuilder) -> dict[str, Facts]:
    desired, problems = check_desired(builder.root, SCHEMA)
    assert desired is not None and not problems, problems
    return catalog_facts(desired.catalog)


def two_tenants(tmp_path: Path) -> EstateBuilder:
    """Reseller acme with client shop; acme.example (anna, team) and shop.example (carl)."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.tenant("acme/shop")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quota="1 GiB")},
                                             "aliases": {"team": ["anna"]}})
    builder.domain("acme/shop", "shop.example", {"mailboxes": {"carl": mailbox(quota="2 GiB")}})
    return builder


def test_a_domain_file_declares_its_domain_and_addresses_and_counts_its_usage(tmp_path: Path) -> None:
    builder = two_tenants(tmp_path)
    facts = facts_of(builder)
    acme = facts[builder.display("tenants/acme/acme.example.yaml")]
    assert acme.names == {"domain:acme.example", "address:anna@acme.example", "address:team@acme.example"}
    # its alias's target is its own mailbox: declared here, so not needed from elsewhere
    assert acme.needs == frozenset()
    assert dict(acme.totals) == {"usage:acme:domains": 1, "usage:acme:mailboxes": 1, "usage:acme:aliases": 1,
                                 "usage:acme:quota": GIB}
    shop = facts[builder.display("tenants/acme/shop/shop.example.yaml")]
    assert dict(shop.totals) == {"usage:shop:domains": 1, "usage:shop:mailboxes": 1, "usage:shop:quota": 2 * GIB}
    assert facts[builder.display("tenants/acme/tenant.yaml")] == Facts(frozenset({"tenant:acme"}))
    assert facts[builder.display("tenants/acme/shop/tenant.yaml")].names == {"tenant:shop"}


def test_targets_in_another_file_are_needed_with_their_domain(tmp_path: Path) -> None:
    builder = two_tenants(tmp_path)
    builder.domain("acme/shop", "shop.example", {"mailboxes": {"carl": mailbox(
        forward={"to": ["anna@acme.example", "someone@elsewhere.example"]})},
        "aliases": {"sales": ["team@acme.example"]}, "mail": {"catch_all": "anna@acme.example"}})
    shop = facts_of(builder)[builder.display("tenants/acme/shop/shop.example.yaml")]
    assert shop.needs == {"address:anna@acme.example", "domain:acme.example", "address:team@acme.example",
                          "address:someone@elsewhere.example", "domain:elsewhere.example"}
    assert shop.needs <= shop.names


def test_a_target_in_an_alias_domain_also_needs_what_it_stands_for(tmp_path: Path) -> None:
    builder = two_tenants(tmp_path)
    builder.domain("acme", "acme.example.org", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme/shop", "shop.example", {"mailboxes": {"carl": mailbox(
        forward={"to": ["anna@acme.example.org"]})}})
    facts = facts_of(builder)
    assert facts[builder.display("tenants/acme/shop/shop.example.yaml")].needs == {
        "address:anna@acme.example.org", "domain:acme.example.org", "address:anna@acme.example",
        "domain:acme.example"}
    alias = facts[builder.display("tenants/acme/acme.example.org.yaml")]
    assert alias.names == {"domain:acme.example.org", "domain:acme.example"}
    assert alias.needs == {"domain:acme.example"}


def test_extra_addresses_are_declared_and_their_domain_needed(tmp_path: Path) -> None:
    builder = two_tenants(tmp_path)
    builder.domain("acme", "acme.example.net", {"mailboxes": {"bob": mailbox(aliases=["bobby@acme.example"])}})
    facts = facts_of(builder)
    net = facts[builder.display("tenants/acme/acme.example.net.yaml")]
    assert {"address:bobby@acme.example", "address:bob@acme.example.net"} <= net.names
    assert net.needs == {"domain:acme.example"}
    # extra addresses count as aliases of the tenant (check_limits)
    assert net.totals["usage:acme:aliases"] == 1


def test_previous_addresses_are_named_never_declared_or_needed(tmp_path: Path) -> None:
    """A rename claims its old address and looks at its old domain's tenant: both are shared
    names (a change of either file loads the other), yet the file declares neither, so a need
    of the same domain (a forward into it) is kept."""
    builder = two_tenants(tmp_path)
    builder.domain("acme", "acme.example.net", {"mailboxes": {"bob": mailbox(
        previous=["robert@acme.example"], forward={"to": ["anna@acme.example"]})}})
    net = facts_of(builder)[builder.display("tenants/acme/acme.example.net.yaml")]
    assert {"address:robert@acme.example", "domain:acme.example"} <= net.names
    assert net.needs == {"address:anna@acme.example", "domain:acme.example"}


def test_a_mailbox_forwarding_within_its_own_file_needs_nothing(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(forward={"to": ["bob"]}), "bob": mailbox()},
                                             "mail": {"catch_all": "bob"}})
    facts = facts_of(builder)[builder.display("tenants/acme/acme.example.yaml")]
    assert facts.needs == frozenset()
    assert facts.names == {"domain:acme.example", "address:anna@acme.example", "address:bob@acme.example"}


def test_facts_come_from_what_was_written_even_where_a_rule_refused_it(tmp_path: Path) -> None:
    """A narrowed run whose subset misses a file learns from the refused reference which file
    to add: the facts do not depend on the reference having resolved."""
    builder = two_tenants(tmp_path)
    builder.domain("acme", "acme.example.net", {"mailboxes": {"bob": mailbox(aliases=["bobby@acme.example"])}})
    net_file = builder.display("tenants/acme/acme.example.net.yaml")
    desired, problems = run_desired(builder.root, SCHEMA, None, only=frozenset({net_file}))
    assert desired is not None and "acme.example" not in desired.catalog.domains
    assert [p.message for p in problems] == [
        "bobby@acme.example: extra addresses must be in a domain of this estate"]
    net = catalog_facts(desired.catalog)[net_file]
    assert net.needs == {"domain:acme.example"}


def test_the_example_estate_every_file_has_facts(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "desired-state"
    desired, problems = check_desired(root, SCHEMA)
    assert desired is not None and not problems
    facts = catalog_facts(desired.catalog)
    files = {t.origin.doc.file for t in desired.catalog.tenants.values()}
    files |= {d.origin.doc.file for d in desired.catalog.domains.values()}
    assert set(facts) == files
    for found in facts.values():
        assert found.needs <= found.names


# -- totals of the files a narrowed run does not load (Catalog.outside) ----------------------

def _outside(builder: EstateBuilder, loaded: str) -> dict[str, int]:
    """The totals of every domain file but ``loaded``, as a full run's facts give them."""
    desired, problems = check_desired(builder.root, SCHEMA, facts=True)
    assert desired is not None and not problems and desired.facts is not None
    out: dict[str, int] = {}
    for file, facts in desired.facts.items():
        if file != loaded and not file.endswith("/tenant.yaml"):
            for key, value in facts.totals.items():
                out[key] = out.get(key, 0) + value
    return out


def test_limits_count_the_files_not_loaded_up_the_tenant_chain(tmp_path: Path) -> None:
    builder = two_tenants(tmp_path)
    shop = builder.display("tenants/acme/shop/shop.example.yaml")
    outside = _outside(builder, shop)
    assert outside == {"usage:acme:domains": 1, "usage:acme:mailboxes": 1, "usage:acme:aliases": 1,
                       "usage:acme:quota": GIB}
    builder.tenant("acme", limits={"max_mailboxes": 1, "mail_quota_pool": "2 GiB"})
    full, problems = check_desired(builder.root, SCHEMA)
    expected = sorted(p.message for p in problems)
    assert expected == ["mailbox quotas of tenant acme (its clients included) add up to 3 GiB, over its pool of 2 GiB",
                        "tenant acme has 2 mailboxes (its clients included), over its limit of 1"]
    _, narrowed = run_desired(builder.root, SCHEMA, None, only=frozenset({shop}), outside=outside)
    assert sorted(p.message for p in narrowed) == expected
    # without them, the reseller's usage is only its client's
    _, blind = run_desired(builder.root, SCHEMA, None, only=frozenset({shop}))
    assert [p.message for p in blind] == []


CLUSTER = {"directory": {"base_dn": "ou=ispctl,dc=example,dc=net"}, "cluster": {"hosts": {
    "mx1.example.net": {"roles": ["mail_store", "imap"], "capacity": 3}}}}


def test_placement_capacity_counts_the_files_not_loaded(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site=CLUSTER)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(), "ben": mailbox()}})
    builder.domain("acme", "acme.example.net", {"mailboxes": {"cy": mailbox()}})
    desired, problems = check_desired(builder.root, SCHEMA)
    assert desired is not None and not problems
    placement = place_mailboxes(desired.catalog)
    facts = placed_facts(placement, lambda key: desired.catalog.mailboxes[key].origin.doc.file)
    net = builder.display("tenants/acme/acme.example.net.yaml")
    assert {file: dict(f.totals) for file, f in facts.items()} == {
        builder.display("tenants/acme/acme.example.yaml"): {placed_key("mail_store", "mx1.example.net"): 2},
        net: {placed_key("mail_store", "mx1.example.net"): 1}}
    builder.domain("acme", "acme.example.net", {"mailboxes": {"cy": mailbox(), "dora": mailbox()}})
    _, narrowed = run_desired(builder.root, SCHEMA, None, only=frozenset({net}),
                              outside=dict(facts[builder.display("tenants/acme/acme.example.yaml")].totals))
    assert [p.message for p in narrowed] == [
        "mx1.example.net would store 4 mail_store objects, more than its capacity 3: raise it, add a host or place "
        "objects elsewhere"]
    _, blind = run_desired(builder.root, SCHEMA, None, only=frozenset({net}))
    assert [p.message for p in blind] == []
