"""Sieve facts: none. A mailbox's script is made from its own sections and lives in its own home;
the addresses it forwards to or answers for are written as they are, looked up nowhere."""

from __future__ import annotations

from pathlib import Path

from estate_builder import EstateBuilder, mailbox

from tests.service_facts_helpers import service_facts

BAKERY = "tenants/acme/bakery.example.yaml"


def _script(builder: EstateBuilder) -> dict[str, object]:
    return dict(builder.resources()[("sieve", "anna@acme.example")].attrs)


def test_a_script_naming_another_files_addresses_does_not_read_that_file(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(
        vacation={"subject": "Away", "text": "Back soon", "addresses": ["anna@bakery.example"]},
        filters=[{"header": "List-Id", "contains": "news", "forward": "bob@bakery.example"}])}})
    builder.domain("acme", "bakery.example", {"mailboxes": {"bob": mailbox()},
                                              "aliases": {"anna": {"to": ["anna@acme.example"]}}})
    before = _script(builder)
    assert 'redirect :copy "bob@bakery.example";' in str(before["script"])
    assert service_facts(builder.root, "sieve") == ({}, [])

    # The other file without those addresses: the same script, still valid.
    builder.write(BAKERY, {"domain": "bakery.example"})
    assert _script(builder) == before
