"""RADIUS facts: a standalone access login is named as the address it must not be, so the file of a
mailbox or extra address that takes that address is loaded with it; nothing else crosses files
(profiles live in tenant files and ispctl.yaml, which every run loads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import HASH, SITE, EstateBuilder, mailbox

from ispctl.reconciler.estate.catalog_facts import catalog_facts
from ispctl.reconciler.estate.desired import run_desired
from ispctl.reconciler.estate.facts import Facts
from tests.service_facts_helpers import Narrowing, service_facts
from tests.wiring import SCHEMA, validate_estate

ACME = "desired-state/tenants/acme/acme.example.yaml"
NET = "desired-state/tenants/acme/acme.net.yaml"
DIAL: dict[str, Any] = {"services": ["mail", "dialup"], "radius": {"accounts": {"dsl-1": {"password": HASH}}}}


def _estate(tmp_path: Path, extra: list[str]) -> EstateBuilder:
    """acme.example with the standalone account dsl-1, acme.net (tenant acme too) with the mailbox
    anna and ``extra`` addresses; a dialup profile in acme's tenant file."""
    builder = EstateBuilder(tmp_path, site=SITE)
    builder.tenant("acme", {"name": "acme", "radius": {"profiles": {"dsl": {"session_timeout": "1d"}}}})
    builder.domain("acme", "acme.example", DIAL)
    net(builder, extra)
    return builder


def net(builder: EstateBuilder, extra: list[str]) -> None:
    builder.domain("acme", "acme.net", {"services": ["mail", "dialup"], "mailboxes": {"anna": mailbox(
        aliases=extra, services={"dialup": True}, radius={"profile": "dsl"})}})


def _taken(builder: EstateBuilder) -> str:
    """The problem of acme.example's account dsl-1 whose address another file claims."""
    line = builder.line_of("tenants/acme/acme.example.yaml", "dsl-1")
    return (f"{ACME}:{line}:5: radius.accounts.dsl-1: dsl-1@acme.example is also an address of the estate: a "
            "mailbox's access account is its radius: section, not a standalone account")


def test_a_standalone_login_that_another_file_takes_as_an_address(tmp_path: Path) -> None:
    builder = _estate(tmp_path, [])
    before, problems = service_facts(builder.root, "radius")
    assert problems == []
    # Only the standalone account: the mailbox's account is the mailbox's address (the estate's facts).
    assert before == {ACME: Facts(names=frozenset({"address:dsl-1@acme.example"}))}
    net(builder, ["dsl-1@acme.example"])
    taken = _taken(builder)
    after, problems = service_facts(builder.root, "radius")
    assert problems == [taken] and after == before
    # acme.net's extra address is its own fact (it claims the address): the two files share it.
    desired, _problems = run_desired(builder.root, SCHEMA, None)
    assert desired is not None
    assert "address:dsl-1@acme.example" in catalog_facts(desired.catalog)[NET].names & before[ACME].names


def test_the_shared_name_loads_the_address_with_a_changed_account(tmp_path: Path) -> None:
    builder = _estate(tmp_path, ["dsl-1@acme.example"])
    builder.domain("acme", "acme.example", {"services": ["mail", "dialup"]})
    validate_estate(builder.root)
    # acme.example now declares the account: alone it sees no clash (acme.example needs nothing
    # of acme.net); with acme.net, which its account's name brings in, it does.
    builder.domain("acme", "acme.example", DIAL)
    new, _problems = service_facts(builder.root, "radius")
    taken = _taken(builder)
    assert run_desired(builder.root, SCHEMA, None, only=frozenset({ACME}))[1] == []
    assert "address:dsl-1@acme.example" in new[ACME].names
    assert [str(p) for p in run_desired(builder.root, SCHEMA, None, only=frozenset({NET, ACME}))[1]] == [taken]


def test_without_standalone_accounts_there_is_nothing_to_share(tmp_path: Path) -> None:
    builder = _estate(tmp_path, [])
    builder.domain("acme", "acme.example", {"services": ["mail", "dialup"]})
    validate_estate(builder.root)
    assert service_facts(builder.root, "radius") == ({}, [])


def test_a_narrowed_run_of_the_changed_account_falls_back(tmp_path: Path) -> None:
    builder = _estate(tmp_path, ["dsl-1@acme.example"])
    builder.domain("acme", "acme.example", {"services": ["mail", "dialup"]})
    for n in range(4):
        builder.domain("acme", f"filler{n}.example", {"services": ["mail"]})
    runs = Narrowing(builder.root, tmp_path / "cache", "radius")
    builder.domain("acme", "acme.example", DIAL)
    assert runs.falls_back(builder.root / "tenants/acme/acme.example.yaml") == _taken(builder)
