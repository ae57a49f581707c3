"""Sticky default placement against a real slapd: a default host is written at creation and
is the directory's afterwards; a pinned host is compared (a change is one planned move).

The example estate in a two-host cluster, no pins: the central run (``ldap,dovecot``) writes
every mailbox's mailHost. A third host joins with most of the capacity: the plan moves
nothing (the rendezvous default of many mailboxes is now the new host, the directory keeps
where they are), a mailbox created afterwards may land on it. Pinning one mailbox to another
host is exactly one planned move; removing the pin again leaves it where the directory says.
A host's own mail store run keeps the maildirs the directory places on it, not the ones the
default would place there now.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from ldap_helpers import HASH, changes_by_address, copy_example, edit_yaml, run_cli, search

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.placement import default_host

NORTHWIND = "tenants/northwind/northwind.example.yaml"
TWO = textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 100}
        mx2.example.net: {roles: [mail_store, imap], capacity: 100}
    """)
THREE = TWO + "    mx3.example.net: {roles: [mail_store, imap], capacity: 10000}\n"


def _run(slapd: SlapdInstance, estate: Path, *args: str, **env: str) -> str:
    result = run_cli(slapd, *args, "-d", str(estate), ISPCTL_MOVE_JOURNAL=str(estate.parent / "moves"),
                     **({"ISPCTL_PROVIDERS": "ldap,dovecot"} | env))
    assert result.exit_code == 0, result.output
    return result.stdout


def _stored(slapd: SlapdInstance) -> dict[str, str]:
    return {entry["mail"][0]: entry["mailhost"][0]
            for entry in search(slapd, "(&(objectClass=ispctlMailUser)(mailHost=*))", "mail", "mailHost").values()}


def _with_cluster(estate: Path, cluster: str) -> None:
    site = estate / "ispctl.yaml"
    text = site.read_text(encoding="utf-8").split("\ncluster:\n")[0]
    site.write_text(text + "\n" + cluster, encoding="utf-8")


def test_a_new_host_moves_nothing_and_a_pin_is_one_move(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    _with_cluster(estate, TWO)
    _run(slapd, estate, "apply", "--auto-approve")
    before = _stored(slapd)
    assert len(before) > 5 and set(before.values()) == {"mx1.example.net", "mx2.example.net"}
    assert "No changes." in _run(slapd, estate, "plan")

    _with_cluster(estate, THREE)
    weights = {"mx1.example.net": 100, "mx2.example.net": 100, "mx3.example.net": 10000}
    # The default would now put most mailboxes on mx3 (the test means something only then) ...
    assert sum(default_host(a, weights) == "mx3.example.net" for a in before) > len(before) // 2
    # ... yet nothing that exists moves: the directory owns a default host once written.
    assert "No changes." in _run(slapd, estate, "plan")
    assert changes_by_address(json.loads(_run(slapd, estate, "plan", "--json"))) == {}

    # A mailbox created now gets its default host among all three, shown in the plan.
    new = "newcomer@northwind.example"
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"].__setitem__("newcomer", {"password": HASH}))
    created = changes_by_address(json.loads(_run(slapd, estate, "plan", "--json")))[f"mailhost.{new}"]
    assert created["action"] == "create"
    assert {a["name"]: a["after"] for a in created["attributes"]}["host"] == default_host(new, weights)
    _run(slapd, estate, "apply", "--auto-approve")
    assert _stored(slapd) == {**before, new: default_host(new, weights)}

    # Pin one mailbox to the host it is not on: exactly one planned move, naming both hosts.
    address = "support@northwind.example"
    there = before[address]
    other = "mx1.example.net" if there == "mx2.example.net" else "mx2.example.net"
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"]["support"].__setitem__("placement",
                                                                                  {"mail_store": other}))
    changes = changes_by_address(json.loads(_run(slapd, estate, "plan", "--json")))
    assert list(changes) == [f"mailhost.{address}"]
    assert changes[f"mailhost.{address}"]["attributes"] == [
        {"name": "host", "before": there, "after": other, "sensitive": False}]
    assert f"moves the mail from {there} to {other}" in _run(slapd, estate, "plan")
    # Pinned where it already is: compared, equal, nothing to do. Unpinned: stays put.
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"]["support"].__setitem__("placement",
                                                                                  {"mail_store": there}))
    assert "No changes." in _run(slapd, estate, "plan")
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"]["support"].pop("placement"))
    assert "No changes." in _run(slapd, estate, "plan")


def test_a_host_run_keeps_what_the_directory_places_on_it(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    _with_cluster(estate, TWO)
    _run(slapd, estate, "apply", "--auto-approve")
    stored = _stored(slapd)
    _with_cluster(estate, THREE)
    plans: dict[str, set[str]] = {}
    for host in ("mx1.example.net", "mx2.example.net", "mx3.example.net"):
        root = tmp_path / f"vmail-{host}"
        root.mkdir()
        data: Any = json.loads(_run(slapd, estate, "plan", "--json", ISPCTL_PROVIDERS="mailstore",
                                    ISPCTL_HOST=host, ISPCTL_MAIL_ROOT=str(root)))
        plans[host] = {c["address"].removeprefix("maildir.") for c in data["changes"] if c["action"] == "create"}
    # Each existing mailbox's home is made on the host the directory names, on no other; the
    # new host (the default of most of them now) makes none.
    assert plans["mx3.example.net"] == set()
    for host in ("mx1.example.net", "mx2.example.net"):
        assert plans[host] == {a for a, h in stored.items() if h == host}

