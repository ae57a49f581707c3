"""OpenDKIM facts: none. A domain signs with the newest key its own zone publishes, and that
record is its own file's (and the key store's, by the domain's name), whatever other files say."""

from __future__ import annotations

from pathlib import Path

import pytest
from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.providers.dns.dkim import create_key, start_rotation
from ispctl.reconciler.engine.resources import Resource
from tests.service_facts_helpers import service_facts


@pytest.fixture(autouse=True)
def _no_machine_key_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISPCTL_DKIM_DIR", raising=False)


def _signing(builder: EstateBuilder) -> dict[str, Resource]:
    return {key: r for (kind, key), r in builder.resources().items() if kind == "signing"}


def test_a_domains_signing_entry_is_its_own_files(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {"ns": ["ns1.example.net."], "dkim": {
        "selector": "s1", "key_dir": str(keys), "bits": 1024}}})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    create_key(keys, "acme.example", "s1", 1024)
    alone = _signing(builder)
    assert list(alone) == ["acme.example"]

    # An alias domain of it and a subdomain with a key of its own mid-rotation change nothing of
    # acme.example's (a file writes records in its own zone only: the DNS rules).
    builder.domain("acme", "acme-alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme", "sub.acme.example", {"mailboxes": {"bob": mailbox()}})
    create_key(keys, "sub.acme.example", "s1", 1024)
    start_rotation(keys, "sub.acme.example", 1024)
    found = _signing(builder)
    assert found["acme.example"] == alone["acme.example"]
    assert found["sub.acme.example"].attrs["selector"] == "s2"
    assert service_facts(builder.root, "opendkim") == ({}, [])
