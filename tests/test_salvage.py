"""What is left of a file without its faulty fields: used only to find more problems."""

from __future__ import annotations

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
