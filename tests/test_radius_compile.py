"""Profiles and access accounts compiled: resources, a mailbox's attributes, secrets marked
sensitive (and the user's after creation unless ``credentials: git``), and kept out of plans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.radius.directory import SCHEMAS
from tests.estate_builder import HASH, SITE, EstateBuilder, mailbox
from tests.ldap_helpers import run_cli

NT = "D4C619CB16D4632B275658316A7E657E"
CLEAR = "chap-Secret-42"


def estate(tmp_path: Path, lifecycle: str = "user") -> EstateBuilder:
    built = EstateBuilder(tmp_path, site={**SITE, "lifecycle": {"credentials": lifecycle}, "radius": {"profiles": {
        "dsl": {"session_timeout": "1d", "idle_timeout": "30m", "simultaneous_use": 1, "framed_pool": "dsl-pool",
                "reply": ["Reply-Message := hi"]}}}})
    built.tenant("acme")
    built.tenant("acme/shop", {"name": "shop", "radius": {"profiles": {"vpn": {"session_timeout": "8h"}}}})
    built.domain("acme/shop", "shop.example", {
        "services": ["mail", "dialup"],
        "mailboxes": {"anna": mailbox(services={"dialup": True},
                                      radius={"profile": "vpn", "auth": ["mschap", "pap"], "nt_hash": NT,
                                              "routes": "192.0.2.0/28"}),
                      "bert": mailbox()},
        "radius": {"accounts": {"dsl-1": {"profile": "dsl", "auth": ["chap", "pap"], "cleartext": CLEAR,
                                          "password": HASH, "framed_ip": "10.1.0.1", "description": "line 1"},
                                "git-1": {"password": HASH, "credentials": "git", "enabled": False}}}})
    return built


def test_profiles_accounts_and_a_mailboxs_attributes(tmp_path: Path) -> None:
    resources = estate(tmp_path).resources()
    dsl = resources[("radius_profile", "dsl")]
    assert dsl.parent is None and dict(dsl.attrs) == {
        "session_timeout": 86400, "idle_timeout": 1800, "simultaneous_use": 1,
        "reply": ('Framed-Pool := "dsl-pool"', "Reply-Message := hi")}
    vpn = resources[("radius_profile", "shop/vpn")]
    assert vpn.parent == "tenant.shop" and vpn.attrs["session_timeout"] == 28800
    account = resources[("access_account", "dsl-1@shop.example")]
    assert account.parent == "domain.shop.example" and account.depends_on == ("radius_profile.dsl",)
    assert account.attrs["profile"] == "cn=dsl,ou=ispctl,dc=example,dc=net"
    assert (account.attrs["access"], account.attrs["status"], account.attrs["methods"]) == ("TRUE", "active",
                                                                                            ("chap", "pap"))
    assert (account.attrs["framed_ip"], account.attrs["description"]) == ("10.1.0.1", "line 1")
    assert resources[("access_account", "git-1@shop.example")].attrs["access"] == "FALSE"
    anna = resources[("mailbox", "anna@shop.example")]
    # The profile's DN is where the directory puts it: below the client tenant, below its reseller.
    assert anna.attrs["radius_profile"] == "cn=shop/vpn,o=shop,o=acme,ou=ispctl,dc=example,dc=net"
    assert anna.attrs["radius_methods"] == ("mschap", "pap") and anna.attrs["radius_nt_hash"] == NT
    assert anna.attrs["radius_routes"] == ("192.0.2.0/28",) and anna.attrs["radius_access"] == "TRUE"
    assert "radius_access" not in resources[("mailbox", "bert@shop.example")].attrs  # no dialup, no section


@pytest.mark.parametrize("lifecycle", ["user", "git"])
def test_credentials_are_sensitive_and_the_users_unless_kept_in_git(tmp_path: Path, lifecycle: str) -> None:
    resources = estate(tmp_path, lifecycle).resources()
    account = resources[("access_account", "dsl-1@shop.example")]
    assert {"password", "nt_hash", "cleartext"} <= account.sensitive
    owned = {"password", "cleartext"} if lifecycle == "user" else set()
    assert account.create_only == owned
    assert resources[("access_account", "git-1@shop.example")].create_only == frozenset()  # credentials: git
    anna = resources[("mailbox", "anna@shop.example")]
    assert {"radius_nt_hash", "radius_cleartext"} <= anna.sensitive
    assert ("radius_nt_hash" in anna.create_only) == (lifecycle == "user")


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SlapdInstance]:
    instance = SlapdInstance(tmp_path / "slapd", schemas=tuple(str(p) for p in SCHEMAS))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_plans_and_the_audit_trail_never_show_an_nt_hash_cleartext_or_hash(
        tmp_path: Path, directory: SlapdInstance, _audit_log_in_tmp: Path) -> None:
    root = estate(tmp_path).root
    shown = run_cli(directory, "plan", "-d", str(root))
    as_json = run_cli(directory, "plan", "--json", "-d", str(root))
    as_markdown = run_cli(directory, "plan", "--format", "markdown", "-d", str(root))
    assert shown.exit_code == 0 and as_json.exit_code == 0, shown.output + as_json.output
    assert as_markdown.exit_code == 0 and "radius_profile" in as_markdown.stdout, as_markdown.output
    for text in (shown.output, as_json.output, as_markdown.output):
        assert NT not in text and NT.lower() not in text and CLEAR not in text and HASH not in text
    changes: dict[str, Any] = {c["address"]: c for c in json.loads(as_json.stdout)["changes"]}
    assert "access_account.dsl-1@shop.example" in changes and "radius_profile.shop/vpn" in changes
    assert "session_timeout" in shown.stdout and "radius_profile" in shown.stdout
    applied = run_cli(directory, "apply", "--auto-approve", "-d", str(root))
    assert applied.exit_code == 0, applied.output
    trail = _audit_log_in_tmp.read_text(encoding="utf-8")
    assert "access_account.dsl-1@shop.example" in trail
    for text in (applied.output, trail):
        assert NT not in text and CLEAR not in text and HASH not in text
