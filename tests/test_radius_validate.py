"""RADIUS rules: every problem of an estate's profiles and access accounts at once, each with
file:line:column and field, and the accounts and profiles validation resolves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.radius.validate import check_radius
from ispctl.reconciler.engine.errors import ValidationFailed
from tests.estate_builder import HASH, SITE, EstateBuilder, mailbox, problem_at
from tests.wiring import load_desired

NT = "D4C619CB16D4632B275658316A7E657E"


def builder(tmp_path: Path, site_radius: dict[str, Any] | None = None, tenant: dict[str, Any] | None = None,
            **domain: Any) -> EstateBuilder:
    site = {**SITE, "radius": site_radius or {"profiles": {"dsl": {"session_timeout": "1d"}}}}
    estate = EstateBuilder(tmp_path, site=site)
    estate.tenant("acme", {"name": "acme", **({"radius": tenant} if tenant else {})})
    estate.domain("acme", "acme.example", {"services": ["mail", "dialup"], **domain})
    return estate


def test_a_good_estate_resolves_profiles_nearest_tenant_first(tmp_path: Path) -> None:
    estate = builder(tmp_path, tenant={"profiles": {"dsl": {"session_timeout": "2h"}}},
                     mailboxes={"anna": mailbox(services={"dialup": True}, radius={"profile": "dsl"}),
                                "bert": mailbox()},
                     radius={"accounts": {"dsl-1": {"password": HASH, "profile": "dsl"},
                                          "vpn-1": {"auth": ["mschap"], "nt_hash": NT.lower()}}})
    found, problems = check_radius(estate.catalog())
    assert problems == []
    assert set(found.profiles) == {"dsl", "acme/dsl"}
    assert set(found.accounts) == {"anna@acme.example", "dsl-1@acme.example", "vpn-1@acme.example"}
    anna = found.accounts["anna@acme.example"]
    assert anna.mailbox and anna.access and anna.profile is not None and anna.profile.key == "acme/dsl"
    assert found.accounts["vpn-1@acme.example"].spec.nt_hash == NT  # stored in one spelling


def test_every_problem_at_once_with_file_line_and_field(tmp_path: Path) -> None:
    estate = builder(
        tmp_path,
        site_radius={"profiles": {"dsl": {"reply": ["Framed-Pool := x", "Sesion-Timeout := 5"]}}},
        mailboxes={"anna": mailbox(services={"dialup": True}, radius={"auth": ["pap", "chap"], "profile": "nope"})},
        radius={"accounts": {
            "bad": {"auth": ["mschap"], "reply": ["Session-Timeout := soon", "Framed-IP-Address = 10.0.0.999",
                                                  "Reply-Message == 'x'"]},
            "nopass": {},
        }})
    problems = estate.problems()
    domain = estate.display(estate.domain_rel("acme", "acme.example"))
    rel = estate.domain_rel("acme", "acme.example")
    chap = problem_at(problems, "mailboxes.anna.radius.auth")
    assert "CHAP needs the cleartext password" in chap.message and chap.location.file == domain
    assert chap.location.line == estate.line_of(rel, "auth:")
    assert "no profile 'nope'" in problem_at(problems, "mailboxes.anna.radius.profile").message
    assert "MS-CHAP needs the NT hash" in problem_at(problems, "radius.accounts.bad.auth").message
    assert "not a number" in problem_at(problems, "radius.accounts.bad.reply[0]").message
    assert "not an ipaddr" in problem_at(problems, "radius.accounts.bad.reply[1]").message
    assert "operator '=='" in problem_at(problems, "radius.accounts.bad.reply[2]").message
    assert "PAP needs a credential" in problem_at(problems, "radius.accounts.nopass.auth").message
    misspelt = problem_at(problems, "radius.profiles.dsl.reply[1]")
    assert "'Sesion-Timeout' is not an attribute" in misspelt.message
    assert misspelt.location.file == estate.display("ispctl.yaml")
    assert len(problems) == 8


def test_the_models_refuse_bad_values_without_echoing_secrets(tmp_path: Path) -> None:
    secret = "hunter2-not-a-hash"
    estate = builder(tmp_path, radius={"accounts": {"x": {
        "password": secret, "nt_hash": "zz" + secret, "auth": ["pap", "eap"], "framed_ip": "10.1.2",
        "routes": ["10.0.0.0/33"]}}})
    problems = estate.problems()
    text = "\n".join(str(p) for p in problems)
    assert secret not in text
    paths = {p.path for p in problems}
    assert {"radius.accounts.x.password", "radius.accounts.x.nt_hash", "radius.accounts.x.framed_ip"} <= paths
    assert any(p.startswith("radius.accounts.x.auth") for p in paths)
    assert any(p.startswith("radius.accounts.x.routes") for p in paths)


def test_standalone_accounts_need_the_dialup_service_and_a_login_of_their_own(tmp_path: Path) -> None:
    estate = EstateBuilder(tmp_path)
    estate.tenant("acme")
    estate.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(radius={"auth": "pap"})},
                                           "radius": {"accounts": {"dsl-1": {"password": HASH}}}})
    estate.domain("acme", "dial.example", {"services": ["mail", "dialup"], "mailboxes": {"anna": mailbox()},
                                           "radius": {"accounts": {"anna": {"password": HASH}}}})
    problems = estate.problems()
    assert "does not enable the dialup service" in problem_at(problems, "radius").message
    assert "does not enable the dialup service" in problem_at(problems, "mailboxes.anna.radius").message
    assert "also an address of the estate" in problem_at(problems, "radius.accounts.anna").message


def test_a_mailbox_flag_without_the_domains_dialup_service_is_the_estates_own_rule(tmp_path: Path) -> None:
    estate = EstateBuilder(tmp_path)
    estate.tenant("acme")
    estate.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(services={"dialup": True})}})
    assert "does not enable the dialup service" in estate.only_problem().message


def test_suspension_and_the_dialup_flag_decide_access(tmp_path: Path) -> None:
    estate = builder(tmp_path, status="suspended",
                     mailboxes={"anna": mailbox(services={"dialup": True}),
                                "off": mailbox(radius={"profile": "dsl"})},
                     radius={"accounts": {"dsl-1": {"password": HASH}, "dsl-2": {"password": HASH, "enabled": False}}})
    found, problems = check_radius(estate.catalog())
    assert problems == []
    assert {login: a.access for login, a in found.accounts.items()} == {
        "anna@acme.example": False, "off@acme.example": False, "dsl-1@acme.example": False,
        "dsl-2@acme.example": False}
    assert found.accounts["dsl-1@acme.example"].status == "suspended"


def test_credentials_kept_on_the_live_side_count_for_the_methods_but_need_credentials_user(tmp_path: Path) -> None:
    accounts = {"vpn-1": {"auth": ["mschap"], "live_credentials": "nt_hash"},
                "chap-1": {"auth": ["chap"], "live_credentials": ["nt_hash"]},
                "git-1": {"auth": ["mschap"], "live_credentials": ["nt_hash"], "credentials": "git"}}
    problems = builder(tmp_path, radius={"accounts": accounts}).problems()
    assert "CHAP needs the cleartext" in problem_at(problems, "radius.accounts.chap-1.auth").message
    assert "need credentials: user" in problem_at(problems, "radius.accounts.git-1.live_credentials").message
    assert len(problems) == 2  # vpn-1 is fine: its NT hash is set in the directory


def test_the_dictionary_is_this_machines_and_a_missing_one_is_one_problem(tmp_path: Path) -> None:
    estate = builder(tmp_path, radius={"accounts": {"a": {"password": HASH, "reply": ["Only-Here := 1"]},
                                                   "b": {"password": HASH, "reply": ["Framed-Pool := x"]}}})
    own = tmp_path / "dictionary"
    own.write_text("ATTRIBUTE\tOnly-Here\t1\tinteger\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as failed:
        load_desired(estate.root, {"ISPCTL_RADIUS_DICTIONARY": str(own)})
    assert [p.path for p in failed.value.problems] == ["radius.accounts.b.reply[0]"]  # Framed-Pool: not in it
    with pytest.raises(ValidationFailed) as failed:
        load_desired(estate.root, {"ISPCTL_RADIUS_DICTIONARY": str(tmp_path / "absent")})
    (missing,) = failed.value.problems
    assert missing.path == "radius.dictionary" and "cannot read" in missing.message
