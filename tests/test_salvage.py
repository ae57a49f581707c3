"""What is left of a file without its faulty fields: used only to find more problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ispctl.reconciler.estate.salvage import salvage


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str
    quota: int = 0
    aliases: list[int] = Field(default_factory=list)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ns: list[str]


class File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str
    mailboxes: dict[str, Box] = Field(default_factory=dict)
    dns: Section | None = None


def test_faulty_fields_go_and_the_rest_stays() -> None:
    data: dict[str, Any] = {"domain": "x", "colour": 1, "mailboxes": {
        "anna": {"password": "p", "quota": "lots", "typo": 1},
        "karl": {"password": "p", "aliases": [1, "two", 3, "four"]},
        "eve": {"quota": 5},                                   # lacks a required field: goes whole
    }}
    found = salvage(File, data)
    assert found is not None and found.domain == "x"
    assert set(found.mailboxes) == {"anna", "karl"}
    assert found.mailboxes["anna"].quota == 0
    assert found.mailboxes["karl"].aliases == [1, 3]  # two bad items of one list, indices kept apart
    assert data["colour"] == 1 and data["mailboxes"]["anna"]["quota"] == "lots"  # the input is not touched


def test_nothing_usable_is_none() -> None:
    assert salvage(File, {"mailboxes": {}}) is None                     # the file lacks its name
    assert salvage(File, ["a", "list"]) is None
    # A section lacking what it needs cannot go (no dns: would mean something else).
    assert salvage(File, {"domain": "x", "dns": {"soa": 1}}) is None
    assert salvage(File, {"domain": "x", "dns": {"ns": ["a"], "soa": 1}}) == File(domain="x", dns=Section(ns=["a"]))


def test_a_valid_file_is_itself() -> None:
    assert salvage(File, {"domain": "x"}) == File(domain="x")


def test_fields_that_decide_how_a_file_reads_are_never_defaulted(tmp_path: Path) -> None:
    from estate_builder import EstateBuilder, mailbox

    site = {"directory": {"base_dn": "dc=x"}, "dns": {"ns": ["ns1.example.net."]}}
    cases = ({"type": "alais", "alias_of": "acme.example"}, {"type": "slav", "primaries": ["192.0.2.1"]},
             {"services": ["mail", "dsn"], "dns": {"records": {"www": {"A": "192.0.2.1"}}}},
             {"services": ["mial"], "mailboxes": {"a": mailbox()}})
    for index, written in enumerate(cases):
        (tmp_path / str(index)).mkdir()
        builder = EstateBuilder(tmp_path / str(index), site=site)
        builder.tenant("acme")
        builder.domain("acme", "acme.example", {"mailboxes": {"a": mailbox()}})
        builder.domain("acme", "b.example", written)
        # Only the refused field: not "alias_of is only allowed with type: alias (this domain is
        # primary)" or "this domain does not enable the dns service", which the default would say.
        (problem,) = builder.problems()
        assert problem.path.split("[")[0] in ("type", "services"), problem
    assert salvage(File, {"domain": "x", "colour": 1}) == File(domain="x")
