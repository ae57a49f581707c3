"""What a file with problems leaves unknown is not reported again; everything else is."""

from __future__ import annotations

from pathlib import Path

from estate_builder import EstateBuilder, mailbox


def paths(builder: EstateBuilder) -> list[tuple[str, str]]:
    return [(p.location.file.rsplit("/", 1)[-1], p.path) for p in builder.problems()]


def test_a_cut_mailbox_is_not_a_missing_target_but_other_tenants_are_still_checked(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    # carl's entry is refused whole, so carl is not in the estate: the alias to him is not "missing".
    builder.domain("acme", "acme.example", {"mailboxes": {"carl": ["not", "a", "mailbox"], "anna": mailbox()},
                                            "aliases": {"team": ["carl", "anna"]}})
    builder.tenant("beta")
    builder.domain("beta", "beta.example", {"mailboxes": {"bob": mailbox()}, "aliases": {"x": ["nobody"]}})
    assert paths(builder) == [("acme.example.yaml", "mailboxes.carl"), ("beta.example.yaml", "aliases.x.to[0]")]


def test_a_field_that_declares_no_address_leaves_the_tenant_checked(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quota="lots")}, "aliases": {"x": ["nobody"]}})
    assert paths(builder) == [("acme.example.yaml", "mailboxes.anna.quota"), ("acme.example.yaml", "aliases.x.to[0]")]


def test_a_catch_all_into_a_file_that_did_not_load_is_no_relay(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mail": {"catch_all": "all@broken.example"}})
    builder.domain("acme", "other.example", {"mail": {"catch_all": "all@elsewhere.example"}})
    builder.write("tenants/acme/broken.example.yaml", "domain: broken.example\nmailboxes: [\n  all:\n")
    found = paths(builder)
    assert found[0] == ("broken.example.yaml", "")
    # broken.example's own file declares it: its address may be internal. elsewhere.example's cannot be.
    assert found[1:] == [("other.example.yaml", "mail.catch_all")]
    # Where a file that did not load does not even say its domain, any address may be its.
    builder.write("tenants/acme/broken.example.yaml", "- not: [a domain file\n")
    assert [f for f in paths(builder) if f[1] == "mail.catch_all"] == []


def test_a_source_that_could_not_be_read_leaves_every_external_address_in_doubt(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.errors import Location, Problem
    from ispctl.reconciler.estate.uncertain import Uncertain
    from tests.wiring import load_estate

    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    estate, problems = load_estate(builder.root)
    assert estate is not None and problems == []
    site = estate.site_doc.file
    unreadable = Problem(Location(site, 3, 3), "sources.northwind", "source northwind: cannot fetch ...")
    assert Uncertain.of(estate, [unreadable]).maybe_internal("all@anywhere.example")
    other = Problem(Location(site, 3, 3), "mail.rooot", "unknown field")
    assert Uncertain.of(estate, [other]) == Uncertain()
