"""Dovecot facts: none. A mailbox's host is its own file's, its tenants' or its address's
choice; the capacity of a host is counted once, by the mail store (test_mailstore_facts)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from estate_builder import EstateBuilder, mailbox

from tests.service_facts_helpers import every_service_facts, service_facts

SITE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n" + textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 100}
        mx2.example.net: {roles: [mail_store, imap], capacity: 300}
    """)
BAKERY = "tenants/acme/bakery.example.yaml"


def _estate(tmp_path: Path) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site=SITE)
    builder.tenant("acme", placement={"mail_store": "mx2.example.net"})
    builder.domain("acme", "acme.example", {"mailboxes": {f"a{i}": mailbox() for i in range(6)}})
    builder.domain("acme", "own.example", {"placement": {"mail_store": "mx1.example.net"},
                                           "mailboxes": {"ben": mailbox()}})
    builder.domain("acme", "bakery.example", {"mailboxes": {"bob": mailbox()}})
    return builder


def _hosts(builder: EstateBuilder) -> dict[str, object]:
    return {key: r.attrs["host"] for (kind, key), r in builder.resources().items() if kind == "mailhost"}


def test_a_mailboxs_host_does_not_change_with_another_file(tmp_path: Path) -> None:
    builder = _estate(tmp_path)
    before = _hosts(builder)
    assert before["ben@own.example"] == "mx1.example.net" and before["a0@acme.example"] == "mx2.example.net"
    # Another file pins, adds and places mailboxes: every other file's mailbox stays where it was.
    builder.write(BAKERY, {"domain": "bakery.example", "placement": {"mail_store": "mx1.example.net"},
                           "mailboxes": {f"b{i}": mailbox() for i in range(40)}})
    after = _hosts(builder)
    assert {k: v for k, v in after.items() if not k.endswith("@bakery.example")} == {
        k: v for k, v in before.items() if not k.endswith("@bakery.example")}
    assert after["b0@bakery.example"] == "mx1.example.net"
    assert service_facts(builder.root, "dovecot") == ({}, [])


def test_each_mailbox_is_counted_once_in_the_estates_facts(tmp_path: Path) -> None:
    builder = _estate(tmp_path)
    facts = every_service_facts(builder.root)
    counted = {file: {k: n for k, n in f.totals.items() if k.startswith("placed:mail_store:")}
               for file, f in facts.items()}
    assert counted["desired-state/tenants/acme/acme.example.yaml"] == {"placed:mail_store:mx2.example.net": 6}
    assert counted["desired-state/tenants/acme/own.example.yaml"] == {"placed:mail_store:mx1.example.net": 1}
    assert sum(n for part in counted.values() for n in part.values()) == 8
