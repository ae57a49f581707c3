"""``ispctl show KIND NAME`` (``lookup.objects``): git's values and, with --live, the real
directory's and mail store's beside them; secrets masked on both sides."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.lookup.objects import describe, lines
from tests.ldap_helpers import BASE, EXAMPLE, HASH, ldap_ok, run_cli
from tests.lookup_helpers import small_estate
from tests.wiring import WIRING

DOMAIN_FILE = "est/tenants/acme/acme.example.yaml"
ANNA_DN = f"uid=anna@acme.example,associatedDomain=acme.example,o=acme,{BASE}"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")


def test_a_mailbox_from_git_with_its_maildir_and_the_hash_masked(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    done = run_cli(None, "show", "mailbox", "ANNA@acme.example", "-d", str(estate))
    assert done.exit_code == 0, done.output
    assert HASH not in done.stdout
    assert done.stdout.splitlines() == [
        "mailbox anna@acme.example",
        f"  file {DOMAIN_FILE}:5:3; tenant acme",
        "  address       anna@acme.example",
        "  aliases       a.smith@acme.example",
        "  display_name  Anna Smith",
        "  gid_number    5000",
        "  home          /var/vmail/acme.example/anna",
        "  password      (hash in git)",
        "  quota         1 GiB",
        "  services      imap, pop3, smtp",
        "  status        active",
        "  uid_number    5000",
        "  maildir anna@acme.example",
        f"    file {DOMAIN_FILE}:5:3",
        "    gid   5000",
        "    path  /var/vmail/acme.example/anna",
        "    uid   5000",
    ]


def test_tenants_domains_and_aliases(tmp_path: Path) -> None:
    desired = WIRING.desired(small_estate(tmp_path))
    client = describe("tenant", "shop", desired.resources, desired.catalog, None, {})
    assert lines(client)[:3] == ["tenant shop", "  file est/tenants/acme/shop/tenant.yaml:1:1; within acme",
                                 "  contains 1 domain"]
    domain = describe("domain", "acme.example", desired.resources, desired.catalog, None, {})
    assert domain.contains == {"alias": 2, "mailbox": 2} and domain.tenants == ["acme"]
    alias = describe("alias", "team@acme.example", desired.resources, desired.catalog, None, {}).to_dict()
    assert {r["name"]: r["git"] for r in alias["attributes"]} == {
        "status": "active", "targets": ["anna@acme.example", "boss@acme.example"]}
    assert alias["tenants"] == ["acme"] and alias["live"] is None and alias["line"] == 18


def test_unknown_objects_and_kinds_are_errors(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    desired = WIRING.desired(estate)
    with pytest.raises(IspctlError, match="no mailbox nobody@acme.example in git"):
        describe("mailbox", "nobody@acme.example", desired.resources, desired.catalog, None, {})
    wrong = run_cli(None, "show", "mailboxx", "anna@acme.example", "-d", str(estate))
    assert wrong.exit_code == 1 and "show mailboxx: not a kind of object (known: alias, domain," in wrong.stderr
    which = run_cli(None, "show", "mailbox", "-d", str(estate))
    assert which.exit_code == 1 and "show mailbox: which one? `ispctl show mailbox NAME`" in which.stderr
    plan = run_cli(None, "show", str(tmp_path / "missing.json"))
    assert plan.exit_code == 1 and "missing.json" in plan.stderr  # still a saved plan's command


def test_a_service_object_by_its_kind_with_secrets_masked() -> None:
    done = run_cli(None, "show", "site", "northwind.example", "--json", "-d", str(EXAMPLE))
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    values = {r["name"]: r["git"] for r in shown["attributes"]}
    assert values["htpasswd"] == "(secret in git)" and values["user"] == "web-northwind"
    assert "$apr1$" not in done.stdout and "{SSHA}" not in done.stdout and "$2y$" not in done.stdout


def live_env(root: Path) -> dict[str, str]:
    return {"ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(root)}


def rows(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in shown["attributes"]}


@needs_root
def test_live_values_beside_git_from_the_real_directory_and_mail_store(slapd: SlapdInstance, tmp_path: Path,
                                                                      mail_root: Path) -> None:
    estate = small_estate(tmp_path)
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **live_env(mail_root))
    assert applied.exit_code == 0, applied.output
    mail = mail_root / "acme.example" / "anna" / "Maildir" / "new" / "1.eml"
    mail.write_bytes(b"x" * 3000)
    # By hand: a quota change (drift) and a new password (the user's own, never drift).
    ldap_ok(slapd.ldapmodify(f"dn: {ANNA_DN}\nchangetype: modify\nreplace: ispctlMailQuota\n"
                             f"ispctlMailQuota: 2147483648\n-\nreplace: userPassword\nuserPassword: {HASH}x\n"))
    done = run_cli(slapd, "show", "mailbox", "anna@acme.example", "--live", "--json", "-d", str(estate),
                   **live_env(mail_root))
    assert done.exit_code == 0, done.output
    assert HASH not in done.stdout
    shown = json.loads(done.stdout)
    assert shown["live"] is True and shown["used"] == {"mail_used": 3000}
    found = rows(shown)
    assert found["quota"] == {"name": "quota", "git": 1073741824, "live": 2147483648, "differs": True}
    assert found["password"] == {"name": "password", "git": "(hash in git)", "live": "(set)", "differs": False}
    assert found["display_name"] == {"name": "display_name", "git": "Anna Smith", "live": "Anna Smith",
                                     "differs": False}
    assert [(r["kind"], r["live"]) for r in shown["related"]] == [("maildir", True)]

    text = run_cli(slapd, "show", "mailbox", "anna@acme.example", "--live", "-d", str(estate), **live_env(mail_root))
    assert HASH not in text.stdout
    shown_lines = text.stdout.splitlines()
    assert shown_lines[2].split() == ["FIELD", "GIT", "LIVE"]
    quota = next(line for line in shown_lines if line.startswith("  quota "))
    assert quota.split() == ["quota", "1", "GiB", "2", "GiB", "(differs)"]
    assert "  mail_used     2.9 KiB (live)" in shown_lines
    assert not any(line.split()[0].startswith(("ftp_", "radius_")) for line in shown_lines[3:])  # set nowhere


@needs_root
def test_an_object_git_has_and_the_services_do_not_yet(slapd: SlapdInstance, tmp_path: Path,
                                                       mail_root: Path) -> None:
    estate = small_estate(tmp_path)
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **live_env(mail_root)).exit_code == 0
    path = estate / "tenants" / "acme" / "shop" / "shop.example.yaml"
    path.write_text(path.read_text() + "  carl:\n    quota: 1 GiB\n")
    done = run_cli(slapd, "show", "mailbox", "carl@shop.example", "--live", "-d", str(estate), **live_env(mail_root))
    assert done.exit_code == 0, done.output
    assert "NOT LIVE (apply creates it)" in done.stdout.splitlines()[1]
    shown = json.loads(run_cli(slapd, "show", "mailbox", "carl@shop.example", "--live", "--json", "-d", str(estate),
                               **live_env(mail_root)).stdout)
    assert shown["live"] is False and shown["used"] == {}
    assert rows(shown)["quota"]["live"] is None and rows(shown)["quota"]["differs"] is False


def test_a_secret_on_either_side_is_masked_on_both(tmp_path: Path) -> None:
    """Live state whose reader did not mark the password sensitive still never shows it."""
    desired = WIRING.desired(small_estate(tmp_path))
    mine = desired.resources[("mailbox", "anna@acme.example")]
    unmarked = replace(mine, sensitive=frozenset(), attrs={**mine.attrs, "password": HASH + "live"})
    shown = describe("mailbox", "anna@acme.example", desired.resources, desired.catalog,
                     {unmarked.identity: unmarked}, {})
    assert HASH not in json.dumps(shown.to_dict()) and HASH not in "\n".join(lines(shown))
    assert rows(shown.to_dict())["password"] == {"name": "password", "git": "(hash in git)", "live": "(set)",
                                                 "differs": False}


@needs_root
def test_an_object_only_the_services_still_have(slapd: SlapdInstance, tmp_path: Path, mail_root: Path) -> None:
    """Removed from git, not applied yet: shown from the live side alone, still masked."""
    estate = small_estate(tmp_path)
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **live_env(mail_root)).exit_code == 0
    path = estate / "tenants" / "acme" / "acme.example.yaml"
    path.write_text(path.read_text().replace("  team: [anna, boss]\n", "  team: [anna]\n")
                    .replace("  boss:\n    quota: 2 GiB\n    forward:\n      to: [boss@home.example]\n"
                             "      keep_copy: true\n", ""))
    (estate / "tenants" / "acme" / "tenant.yaml").write_text("name: Acme\nlimits:\n  max_mailboxes: 5\n")
    done = run_cli(slapd, "show", "mailbox", "boss@acme.example", "--live", "--json", "-d", str(estate),
                   **live_env(mail_root))
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    assert (shown["in_git"], shown["live"], shown["file"]) == (False, True, None)
    assert rows(shown)["quota"] == {"name": "quota", "git": None, "live": 2147483648, "differs": False}
    gone = run_cli(slapd, "show", "mailbox", "nobody@acme.example", "--live", "-d", str(estate), **live_env(mail_root))
    assert gone.exit_code == 1 and "no mailbox nobody@acme.example in git or live" in gone.stderr


def test_live_says_what_this_machine_cannot_read(slapd: SlapdInstance, tmp_path: Path) -> None:
    """With only the directory here: a maildir is shown unconnected (not "not live"), and a kind no
    enabled provider reads is an error naming it, not a column of objects called missing."""
    estate = small_estate(tmp_path)
    env = {"ISPCTL_PROVIDERS": "ldap"}
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    shown = json.loads(run_cli(slapd, "show", "mailbox", "anna@acme.example", "--live", "--json", "-d", str(estate),
                               **env).stdout)
    assert shown["live"] is True and [(r["kind"], r["live"]) for r in shown["related"]] == [("maildir", None)]
    refused = run_cli(slapd, "show", "maildir", "anna@acme.example", "--live", "-d", str(estate), **env)
    assert refused.exit_code == 1
    assert "--live: no provider enabled on this machine reads maildir (providers: ldap" in refused.stderr
    listed = run_cli(slapd, "list", "maildirs", "--live", "-d", str(estate), **env)
    assert listed.exit_code == 1 and "reads maildir" in listed.stderr
