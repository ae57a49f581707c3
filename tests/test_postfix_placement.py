"""Postfix routes each mailbox to the LMTP server of the host storing it, read from the directory.

A real slapd holds the example estate with a two-host cluster (placement by domain, an
override on one mailbox, the rest by the default); ``ispctl render postfix`` writes one
transport table per mail_store host and ``postmap -q`` (Postfix's own LDAP client) answers
from the directory. A placement changed in git is a planned change of the mailbox's
``mail_host`` that names both hosts; after apply the same table answers the other host.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ldap_helpers import changes_by_address, copy_example, edit_yaml, ldap_ok, run_cli, search
from test_postfix import SERVICE_DN, binary, settle

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.providers.postfix.render import MAIN_CF
from ispctl.providers.postfix.transport import lmtp_nexthop

NORTHWIND = "tenants/northwind/northwind.example.yaml"
CLUSTER = textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 50, lmtp: "127.0.0.1:2401"}
        mx2.example.net: {roles: [mail_store, imap], capacity: 50, lmtp: "127.0.0.2:2402"}
    """)
ROUTE = {"mx1.example.net": "lmtp:[127.0.0.1]:2401", "mx2.example.net": "lmtp:[127.0.0.2]:2402"}
TABLES = {"mx1.example.net": "transport_host_mx1_example_net", "mx2.example.net": "transport_host_mx2_example_net"}


def _route(out: Path, config_dir: Path, address: str) -> set[str]:
    """Every host table's answer for ``address`` (exactly one must answer for a mailbox)."""
    found = set()
    for table in TABLES.values():
        proc = subprocess.run([binary("postmap"), "-c", str(config_dir), "-q", address, f"ldap:{out}/{table}.cf"],
                              capture_output=True, text=True, timeout=30, check=False)
        assert proc.stderr == "" and proc.returncode in (0, 1), proc.stderr
        if proc.returncode == 0:
            found.add(proc.stdout.strip())
    return found


def _central(slapd: SlapdInstance, estate: Path, *args: str) -> str:
    """The central run of a cluster: the directory, and the mailboxes' hosts in it (dovecot)."""
    result = run_cli(slapd, *args, "-d", str(estate), ISPCTL_PROVIDERS="ldap,dovecot",
                     ISPCTL_MOVE_JOURNAL=str(estate.parent / "moves"))
    assert result.exit_code == 0, result.output
    return result.stdout


def _render(slapd: SlapdInstance, estate: Path, out: Path) -> None:
    """Tables binding as Postfix's read-only account (the sandbox's access rules apply to it)."""
    ldap_ok(slapd.ldapmodify(f"dn: {SERVICE_DN}\nchangetype: modify\nreplace: userPassword\n"
                             f"userPassword: {ssha('pf-ro-pw')}\n"))
    secret = out.parent / "postfix-ro.pw"
    secret.write_text("pf-ro-pw\n", encoding="utf-8")
    result = run_cli(slapd, "render", "postfix", "--out", str(out), "-d", str(estate),
                     "--bind-dn", SERVICE_DN, "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    settle(*out.iterdir())


def test_lmtp_nexthop_forms() -> None:
    assert lmtp_nexthop("127.0.0.1:24") == "lmtp:[127.0.0.1]:24"
    assert lmtp_nexthop("[2001:db8::25]:24") == "lmtp:[2001:db8::25]:24"
    assert lmtp_nexthop("mx1.example.net") == "lmtp:[mx1.example.net]"


def test_transport_follows_the_directory_and_a_placement_change_is_planned(slapd: SlapdInstance,
                                                                           tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    site = estate / "ispctl.yaml"
    site.write_text(site.read_text(encoding="utf-8") + "\n" + CLUSTER, encoding="utf-8")

    def pin(data: Any) -> None:
        data["placement"] = {"mail_store": "mx1.example.net"}
        data["mailboxes"]["support"]["placement"] = {"mail_store": "mx2.example.net"}

    edit_yaml(estate / NORTHWIND, pin)
    _central(slapd, estate, "apply", "--auto-approve")
    stored = {entry["mail"][0]: entry.get("mailhost", [None])[0]
              for entry in search(slapd, "(objectClass=ispctlMailUser)", "mail", "mailHost").values()}
    assert stored["noc@northwind.example"] == "mx1.example.net"
    assert stored["support@northwind.example"] == "mx2.example.net"
    assert set(stored.values()) <= set(ROUTE) and len(stored) > 5
    out, config_dir = tmp_path / "tables", tmp_path / "postfix-etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf")
    _render(slapd, estate, out)
    main_cf = (out / MAIN_CF).read_text(encoding="utf-8")
    assert f"{TABLES['mx1.example.net']}.cf" in main_cf and f"{TABLES['mx2.example.net']}.cf" in main_cf
    # Every active mailbox is routed by exactly one table, to the host its entry names.
    for address, host in stored.items():
        routes = _route(out, config_dir, address)
        assert routes in ({ROUTE[host]}, set()), (address, routes)
    assert _route(out, config_dir, "noc@northwind.example") == {ROUTE["mx1.example.net"]}
    assert _route(out, config_dir, "nobody@northwind.example") == set()

    assert "No changes." in _central(slapd, estate, "plan")

    # A move: git says support@ goes to mx1. The plan shows it as the mailbox's host changing
    # (the move itself, with real Dovecots, is test_dovecot_move's).
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"]["support"].__setitem__(
        "placement", {"mail_store": "mx1.example.net"}))
    changes = changes_by_address(json.loads(_central(slapd, estate, "plan", "--json")))
    assert list(changes) == ["mailhost.support@northwind.example"]
    change = changes["mailhost.support@northwind.example"]
    assert change["action"] == "update" and change["attributes"] == [
        {"name": "host", "before": "mx2.example.net", "after": "mx1.example.net", "sensitive": False}], change
    text = _central(slapd, estate, "plan")
    assert "moves the mail from mx2.example.net to mx1.example.net" in text


@pytest.mark.parametrize("key", ["*", "noc@northwind.example)(mail=*", "@northwind.example"])
def test_a_key_cannot_widen_a_host_table(slapd: SlapdInstance, tmp_path: Path, key: str) -> None:
    estate = copy_example(tmp_path)
    site = estate / "ispctl.yaml"
    site.write_text(site.read_text(encoding="utf-8") + "\n" + CLUSTER, encoding="utf-8")
    _central(slapd, estate, "apply", "--auto-approve")
    out, config_dir = tmp_path / "tables", tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf")
    _render(slapd, estate, out)
    assert _route(out, config_dir, key) == set()


def test_a_renamed_mailbox_keeps_its_host_and_its_route(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    site = estate / "ispctl.yaml"
    site.write_text(site.read_text(encoding="utf-8") + "\n" + CLUSTER, encoding="utf-8")
    edit_yaml(estate / NORTHWIND, lambda d: d.__setitem__("placement", {"mail_store": "mx2.example.net"}))
    _central(slapd, estate, "apply", "--auto-approve")

    def rename(data: Any) -> None:
        data["mailboxes"]["helpdesk"] = data["mailboxes"].pop("support")
        data["mailboxes"]["helpdesk"]["previous"] = ["support"]

    edit_yaml(estate / NORTHWIND, rename)
    changes = changes_by_address(json.loads(_central(slapd, estate, "plan", "--json")))
    host = changes["mailhost.helpdesk@northwind.example"]
    # One renamed object, no move: the host does not change.
    assert host["action"] == "update" and host["attributes"] == []
    assert "mailhost.support@northwind.example" not in changes
    assert "moves the mail" not in _central(slapd, estate, "plan")
    _central(slapd, estate, "apply", "--auto-approve")
    assert "No changes." in _central(slapd, estate, "plan")
    out, config_dir = tmp_path / "tables", tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf")
    _render(slapd, estate, out)
    assert _route(out, config_dir, "helpdesk@northwind.example") == {ROUTE["mx2.example.net"]}
    assert _route(out, config_dir, "support@northwind.example") == set()
