"""Mail store facts: each file's mailboxes per mail_store host, the counts a host's capacity
bounds over the whole estate (``placed:mail_store:<host>``); nothing else is read across files."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

from estate_builder import EstateBuilder, mailbox

from tests.service_facts_helpers import Narrowing, service_facts

SITE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n" + textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 3}
        mx2.example.net: {roles: [mail_store, imap], capacity: 100}
    """)
ACME = "desired-state/tenants/acme/acme.example.yaml"
BAKERY = "desired-state/tenants/acme/bakery.example.yaml"
MX1, MX2 = "placed:mail_store:mx1.example.net", "placed:mail_store:mx2.example.net"


def _estate(tmp_path: Path, bakery: int) -> EstateBuilder:
    """acme.example with two mailboxes on mx1 and one on mx2 (pinned by mailbox, domain or
    default), bakery.example with ``bakery`` mailboxes on mx1 (its domain's placement)."""
    builder = EstateBuilder(tmp_path, site=SITE)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"placement": {"mail_store": "mx1.example.net"}, "mailboxes": {
        "anna": mailbox(), "ben": mailbox(), "cy": mailbox(placement={"mail_store": "mx2.example.net"})}})
    builder.domain("acme", "bakery.example", {"placement": {"mail_store": "mx1.example.net"},
                                              "mailboxes": {f"b{i}": mailbox() for i in range(bakery)}})
    return builder


def test_a_hosts_capacity_counts_the_mailboxes_of_every_file(tmp_path: Path) -> None:
    builder = _estate(tmp_path, bakery=2)
    facts, problems = service_facts(builder.root, "mailstore")
    line = builder.line_of("ispctl.yaml", "capacity: 3")
    assert problems == [f"desired-state/ispctl.yaml:{line}:50: mx1.example.net would store 4 mail_store objects, "
                        "more than its capacity 3: raise it, add a host or place objects elsewhere"]
    # Neither file alone is over: the rule's count is the two files' totals added up.
    assert facts[ACME].totals == {MX1: 2, MX2: 1} and facts[BAKERY].totals == {MX1: 2}
    assert not facts[ACME].names and not facts[BAKERY].names


def test_the_totals_are_what_placement_places_defaults_included(tmp_path: Path) -> None:
    builder = _estate(tmp_path, bakery=1)
    builder.domain("acme", "free.example", {"mailboxes": {f"f{i}": mailbox() for i in range(20)}})
    facts, problems = service_facts(builder.root, "mailstore")
    assert problems == []
    hosts = Counter(r.attrs["host"] for (kind, _), r in builder.resources().items() if kind == "maildir")
    summed: Counter[str] = Counter()
    for part in facts.values():
        summed.update(part.totals)
    assert summed == Counter({f"placed:mail_store:{host}": n for host, n in hosts.items()})
    assert sum(summed.values()) == 24


def test_without_a_cluster_nothing_is_counted(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    assert service_facts(builder.root, "mailstore") == ({}, [])


# -- narrowed runs -------------------------------------------------------------------------------

def _narrowable(tmp_path: Path) -> tuple[EstateBuilder, Narrowing]:
    """acme.example with two mailboxes on mx1, bakery.example with one (mx1 full at 3), five
    more files without mailboxes; primed."""
    builder = _estate(tmp_path, bakery=1)
    for index in range(5):
        builder.domain("acme", f"more{index}.example", {"services": ["mail"]})
    return builder, Narrowing(builder.root, tmp_path / "cache", "mailstore")


def test_a_mailbox_added_in_one_file_falls_back_on_the_capacity_the_other_fills(tmp_path: Path) -> None:
    builder, runs = _narrowable(tmp_path)
    # A benign change of the other file: narrowed to it, acme.example's two counted from outside.
    path = builder.domain("acme", "bakery.example", {"placement": {"mail_store": "mx1.example.net"},
                                                     "description": "bakery", "mailboxes": {"b0": mailbox()}})
    assert runs.same_as_full(builder.root / "tenants/acme/bakery.example.yaml").loaded == {path}

    runs = Narrowing(builder.root, tmp_path / "cache", "mailstore")
    builder.domain("acme", "bakery.example", {"placement": {"mail_store": "mx1.example.net"},
                                              "mailboxes": {"b0": mailbox(), "b1": mailbox()}})
    assert "mx1.example.net would store 4 mail_store objects" in runs.falls_back(
        builder.root / "tenants/acme/bakery.example.yaml")
