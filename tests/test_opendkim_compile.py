"""The signing choice as desired state: which domains sign, with which selector, after which record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.providers.dns.dkim import create_key, start_rotation
from ispctl.reconciler.engine.resources import Resource


def estate(tmp_path: Path, dkim: bool = True) -> tuple[EstateBuilder, Path]:
    keys = tmp_path / "keys"
    dns: dict[str, Any] = {"ns": ["ns1.example.net."]}
    if dkim:
        dns["dkim"] = {"selector": "s1", "key_dir": str(keys), "bits": 1024}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    builder.domain("acme", "acme-alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme", "web.example", {"services": ["web", "dns"]})
    builder.domain("acme", "nodns.example", {"services": ["mail"]})
    if dkim:
        create_key(keys, "acme.example", "s1", 1024)
    return builder, keys


def signing(builder: EstateBuilder) -> dict[str, Resource]:
    return {key: r for (kind, key), r in builder.resources().items() if kind == "signing"}


@pytest.fixture(autouse=True)
def _no_machine_key_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISPCTL_DKIM_DIR", raising=False)


def test_only_domains_publishing_a_key_of_ours_sign_and_after_their_record(tmp_path: Path) -> None:
    builder, keys = estate(tmp_path)
    found = signing(builder)
    assert list(found) == ["acme.example"]  # no alias domain, no domain without mail or DNS
    chosen = found["acme.example"]
    assert chosen.attrs == {"key_file": str(keys / "acme.example" / "s1.private"), "selector": "s1"}
    assert chosen.depends_on == ("dns.acme.example/s1._domainkey/TXT",)
    assert ("dns", "acme.example/s1._domainkey/TXT") in builder.resources()
    assert chosen.source is not None and chosen.source.file.endswith("acme.example.yaml")


def test_during_a_rotation_the_new_selector_is_desired_after_its_own_record(tmp_path: Path) -> None:
    builder, keys = estate(tmp_path)
    start_rotation(keys, "acme.example", 1024)
    chosen = signing(builder)["acme.example"]
    assert chosen.attrs["selector"] == "s2"
    assert chosen.depends_on == ("dns.acme.example/s2._domainkey/TXT",)


def test_a_selector_published_by_hand_is_not_one_ispctl_signs_with(tmp_path: Path) -> None:
    builder, keys = estate(tmp_path)
    start_rotation(keys, "acme.example", 1024)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()},
                                            "dns": {"records": {"s2._domainkey": {"TXT": ["v=DKIM1; p=elsewhere"]}}}})
    assert signing(builder)["acme.example"].attrs["selector"] == "s1"


def test_an_estate_without_dkim_has_no_signing(tmp_path: Path) -> None:
    builder, _ = estate(tmp_path, dkim=False)
    assert signing(builder) == {}
