"""``ispctl find ADDRESS`` (``lookup.find``): every object that holds or points to an address, at file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.lookup.find import find
from tests.ldap_helpers import EXAMPLE, run_cli
from tests.lookup_helpers import small_estate
from tests.wiring import WIRING

DOMAIN_FILE = "est/tenants/acme/acme.example.yaml"


def findings(root: Path, query: str) -> tuple[str, list[tuple[str, str, str]]]:
    desired = WIRING.desired(root)
    address, found = find(query, desired.catalog, desired.resources)
    return address, [(f.role, f.object, str(f.location)) for f in found]


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    return small_estate(tmp_path)


def test_a_mailbox_and_what_points_to_it(estate: Path) -> None:
    assert findings(estate, "Anna@ACME.example") == ("anna@acme.example", [
        ("mailbox", "mailbox.anna@acme.example", f"{DOMAIN_FILE}:5:3"),
        ("alias-target", "alias.info@acme.example", f"{DOMAIN_FILE}:17:10"),
        ("list-member", "alias.team@acme.example", f"{DOMAIN_FILE}:18:10"),
    ])
    assert findings(estate, "boss@acme.example")[1] == [
        ("mailbox", "mailbox.boss@acme.example", f"{DOMAIN_FILE}:11:3"),
        ("list-member", "alias.team@acme.example", f"{DOMAIN_FILE}:18:16"),
        ("contact", "tenant.acme", "est/tenants/acme/tenant.yaml:2:1"),
    ]


def test_extra_and_former_addresses_aliases_forwards_and_the_catch_all(estate: Path) -> None:
    assert findings(estate, "a.smith@acme.example")[1] == [
        ("extra-address", "mailbox.anna@acme.example", f"{DOMAIN_FILE}:9:15")]
    # A former address (a planned rename) is no longer delivered: the catch-all takes it.
    assert findings(estate, "annie@acme.example")[1] == [
        ("previous-address", "mailbox.anna@acme.example", f"{DOMAIN_FILE}:10:16"),
        ("catch-all", "domain.acme.example", f"{DOMAIN_FILE}:3:3"),
    ]
    assert findings(estate, "info@acme.example")[1] == [
        ("alias", "alias.info@acme.example", f"{DOMAIN_FILE}:17:3"),
        ("catch-all-target", "domain.acme.example", f"{DOMAIN_FILE}:3:3"),
    ]
    assert findings(estate, "team@acme.example")[1] == [("list", "alias.team@acme.example", f"{DOMAIN_FILE}:18:3")]
    assert findings(estate, "boss@home.example")[1] == [
        ("forward", "mailbox.boss@acme.example", f"{DOMAIN_FILE}:14:12")]
    assert findings(estate, "x@acme.test")[1] == [
        ("alias-domain", "domain.acme.test", "est/tenants/acme/acme.test.yaml:3:1")]
    assert findings(estate, "nobody@shop.example")[1] == []  # no catch-all there


def test_an_idn_address_is_found_in_either_form() -> None:
    unicode_form = findings(EXAMPLE, "anna@bäckerei-müller.example")
    assert unicode_form == findings(EXAMPLE, "anna@xn--bckerei-mller-bfb28a.example")
    assert unicode_form[0] == "anna@xn--bckerei-mller-bfb28a.example"
    assert [role for role, _, _ in unicode_form[1]] == ["mailbox", "list-member", "contact"]


def test_not_an_address_is_an_error(estate: Path) -> None:
    with pytest.raises(IspctlError, match="not an e-mail address"):
        findings(estate, "acme.example")


def test_the_command_prints_each_finding_and_exits_1_when_nothing_matches(estate: Path) -> None:
    done = run_cli(None, "find", "info@acme.example", "-d", str(estate))
    assert done.exit_code == 0
    assert done.stdout.splitlines() == [
        "info@acme.example:",
        f"  alias             alias to anna@acme.example  [{DOMAIN_FILE}:17:3]",
        f"  catch-all-target  catch-all of domain acme.example  [{DOMAIN_FILE}:3:3]",
    ]
    missing = run_cli(None, "find", "nobody@shop.example", "-d", str(estate), "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout) == {"address": "nobody@shop.example", "display": "nobody@shop.example",
                                          "found": []}
    assert "Nothing in the desired state holds or points to nobody@shop.example." in missing.stderr
    shown = json.loads(run_cli(None, "find", "a.smith@acme.example", "-d", str(estate), "--json").stdout)
    assert shown["found"] == [{"role": "extra-address", "object": "mailbox.anna@acme.example",
                               "detail": "extra address of mailbox anna@acme.example", "file": DOMAIN_FILE,
                               "line": 9, "column": 15, "live_only": False}]


def test_live_adds_what_only_the_services_still_say(slapd: SlapdInstance, tmp_path: Path) -> None:
    """Against the real directory: a forward and a list git no longer has, not applied yet."""
    estate = small_estate(tmp_path)
    env = {"ISPCTL_PROVIDERS": "ldap"}
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    path = estate / "tenants" / "acme" / "acme.example.yaml"
    path.write_text(path.read_text().replace("    forward:\n      to: [boss@home.example]\n      keep_copy: true\n", "")
                    .replace("  team: [anna, boss]\n", ""))
    assert run_cli(slapd, "find", "boss@home.example", "-d", str(estate), **env).exit_code == 1
    done = run_cli(slapd, "find", "boss@home.example", "--live", "-d", str(estate), **env)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "boss@home.example:",
        "  forward  mailbox boss@acme.example: forward (live only, not in git)  [live]",
    ]
    found = json.loads(run_cli(slapd, "find", "anna@acme.example", "--live", "--json", "-d", str(estate),
                               **env).stdout)["found"]
    assert [(f["role"], f["object"], f["live_only"], f["line"]) for f in found] == [
        ("mailbox", "mailbox.anna@acme.example", False, 5),
        ("alias-target", "alias.info@acme.example", False, 14),  # three lines of forward gone
        ("list-member", "alias.team@acme.example", True, None),
    ]
