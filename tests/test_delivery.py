"""The delivery graph: loops and open relays are refused with the path, whatever they run through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import EstateBuilder, mailbox

ACME = "tenants/acme/acme.example.yaml"


def estate(tmp_path: Path, acme: dict[str, Any], **others: dict[str, Any]) -> EstateBuilder:
    """Tenant acme with acme.example (``acme``), plus further domains of acme (name -> spec)."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", acme)
    for name, spec in others.items():
        builder.domain("acme", name.replace("_", "."), spec)
    return builder


LOOPS: list[tuple[str, dict[str, Any], dict[str, dict[str, Any]], str]] = [
    ("two aliases", {"aliases": {"a": "b", "b": "a"}}, {},
     "a@acme.example → b@acme.example → a@acme.example"),
    ("three aliases", {"aliases": {"a": "b", "b": "c", "c": "a"}}, {},
     "a@acme.example → b@acme.example → c@acme.example → a@acme.example"),
    ("alias and forward", {"aliases": {"a": "anna"},
                           "mailboxes": {"anna": mailbox(forward={"to": ["a"]})}}, {},
     "a@acme.example → anna@acme.example → a@acme.example"),
    ("forwards with kept copies", {"mailboxes": {"anna": mailbox(forward={"to": ["bob"], "keep_copy": True}),
                                                 "bob": mailbox(forward={"to": ["anna"], "keep_copy": True})}}, {},
     "anna@acme.example → bob@acme.example → anna@acme.example"),
    ("through an alias domain", {"aliases": {"a": "a@other.example"}},
     {"other_example": {"type": "alias", "alias_of": "acme.example"}},
     "a@acme.example → a@other.example = a@acme.example"),
    ("forward to self through an alias domain",
     {"mailboxes": {"anna": mailbox(forward={"to": ["anna@other.example"]})}},
     {"other_example": {"type": "alias", "alias_of": "acme.example"}},
     "anna@acme.example → anna@other.example = anna@acme.example"),
    ("catch-alls pointing at each other", {"mailboxes": {"anna": mailbox()}, "mail": {"catch_all": "x@shop.example"}},
     {"shop_example": {"mailboxes": {"bob": mailbox()}, "mail": {"catch_all": "y@acme.example"}}},
     "*@acme.example → x@shop.example = *@shop.example → y@acme.example = *@acme.example"),
    ("catch-all into an alias that comes back", {"aliases": {"info": "nobody"}, "mail": {"catch_all": "info"}}, {},
     "*@acme.example → info@acme.example → nobody@acme.example = *@acme.example"),
]


@pytest.mark.parametrize(("case", "acme", "others", "path"), LOOPS, ids=[c[0] for c in LOOPS])
def test_loops_are_refused_with_their_path(tmp_path: Path, case: str, acme: dict[str, Any],
                                           others: dict[str, dict[str, Any]], path: str) -> None:
    builder = estate(tmp_path, acme, **others)
    messages = [str(p) for p in builder.problems()]
    loops = [m for m in messages if "mail loops" in m]
    assert len(loops) == 1, messages
    assert path in loops[0]
    assert loops[0].startswith("desired-state/tenants/acme/")


def test_a_loop_points_at_the_line_of_a_hop(tmp_path: Path) -> None:
    builder = estate(tmp_path, {"aliases": {"a": "b", "b": "a"}})
    problem = builder.only_problem()
    assert problem.path == "aliases.a.to[0]"
    assert problem.location.line == builder.line_of(ACME, "a: b")


RELAYS: list[tuple[str, dict[str, Any], str]] = [
    ("straight out", {"mailboxes": {"anna": mailbox()}, "mail": {"catch_all": "spam@elsewhere.example"}},
     "*@acme.example → spam@elsewhere.example"),
    ("through an alias", {"aliases": {"all": "spam@elsewhere.example"}, "mail": {"catch_all": "all"}},
     "*@acme.example → all@acme.example → spam@elsewhere.example"),
    ("through a forwarding mailbox", {"mailboxes": {"anna": mailbox(forward={"to": ["x@elsewhere.example"]})},
                                      "mail": {"catch_all": "anna"}},
     "*@acme.example → anna@acme.example → x@elsewhere.example"),
]


@pytest.mark.parametrize(("case", "acme", "path"), RELAYS, ids=[c[0] for c in RELAYS])
def test_a_catch_all_that_leaves_the_estate_is_an_open_relay(tmp_path: Path, case: str, acme: dict[str, Any],
                                                              path: str) -> None:
    problem = estate(tmp_path, acme).only_problem()
    assert problem.path == "mail.catch_all"
    assert "open relay" in problem.message and path in problem.message


def test_ordinary_delivery_is_accepted(tmp_path: Path) -> None:
    builder = estate(tmp_path, {
        "mailboxes": {"anna": mailbox(),
                      "bob": mailbox(forward={"to": ["anna"]}),
                      "carl": mailbox(forward={"to": ["carl@elsewhere.example"], "keep_copy": True})},
        "aliases": {"team": ["anna", "bob", "carol@elsewhere.example"], "all": ["team", "bob"]},
        "mail": {"catch_all": "bob"},  # bob forwards inside the estate only: no relay
    }, other_example={"type": "alias", "alias_of": "acme.example"})
    catalog = builder.catalog()
    assert catalog.domains["acme.example"].catch_all == "bob@acme.example"


def test_a_big_chain_is_walked_without_recursion(tmp_path: Path) -> None:
    chain = {f"a{i}": f"a{i + 1}" for i in range(5000)}
    chain["a5000"] = "a0"
    builder = estate(tmp_path, {"aliases": chain})
    loops = [p for p in builder.problems() if "mail loops" in p.message]
    assert len(loops) == 1
    assert loops[0].message.count("→") == 5001
