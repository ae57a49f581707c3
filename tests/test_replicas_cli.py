"""The issue's proof with real daemons: apply writes the provider and the DNS primary only, then
waits for the consumer slapd and the catalog-following secondary named; with the consumer down
apply reports it (exit 3) and ``ispctl status`` too, and once restarted it catches up by itself."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from estate_builder import EstateBuilder, mailbox
from ldap_helpers import run_cli
from replica_helpers import PATIENCE, Cluster, eventually, running_cluster

SITE = ("directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n"
        "dns:\n  ns: [ns1.example.net., ns2.example.net.]\n")


def _estate(tmp_path: Path, cluster: Cluster, wait: str) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site=SITE + cluster.cluster_yaml(wait))
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    return builder


def _dig(cluster: Cluster, name: str, rdtype: str) -> tuple[str, str]:
    """(status, answer) from the secondary, asked with the real dig."""
    done = subprocess.run(["dig", "+norec", "+noall", "+comments", "+answer", "-p", str(cluster.secondary.port),
                           "@127.0.0.1", name, rdtype], capture_output=True, text=True, check=True, timeout=30)
    status = next((line.split("status: ")[1].split(",")[0] for line in done.stdout.splitlines() if "status: " in line),
                  "?")
    answer = " ".join(line for line in done.stdout.splitlines() if line and not line.startswith(";"))
    return status, answer


def _on_consumer(cluster: Cluster, uid: str) -> bool:
    return bool(cluster.consumer.ldapsearch(cluster.consumer.suffix, f"(uid={uid})", "1.1"))


def _replicas_lines(audit: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line.get("type") == "replicas"]


def test_the_replicas_get_every_apply_and_a_stopped_consumer_is_reported_then_catches_up(
        tmp_path: Path, _audit_log_in_tmp: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        estate = _estate(tmp_path, cluster, "1m")
        env = cluster.env()
        first = run_cli(None, "apply", "--auto-approve", "-d", str(estate.root), **env)
        assert first.exit_code == 0, first.stdout + first.stderr
        assert "Replicas: all 2 in sync" in first.stdout, first.stdout
        # The replicas answer what apply wrote to the primaries only.
        assert _on_consumer(cluster, "anna@acme.example")
        assert _dig(cluster, "acme.example.", "SOA")[0] == "NOERROR"
        assert "mx1" in _dig(cluster, "acme.example.", "MX")[1] or _dig(cluster, "acme.example.", "NS")[1]

        cluster.consumer.stop()
        estate.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(), "bert": mailbox()}})
        estate.domain("acme", "second.example", {"mailboxes": {"carl": mailbox()}})
        estate.write("ispctl.yaml", SITE + cluster.cluster_yaml("2s"))
        second = run_cli(None, "apply", "--auto-approve", "-d", str(estate.root), **env)
        assert second.exit_code == 3, second.stdout + second.stderr
        assert "Apply complete!" in second.stdout
        assert " of 2 NOT in sync after" in second.stderr
        assert f"replica1.example.net (directory replica, {cluster.consumer.url}): NOT REACHED" in second.stderr
        # The secondary may or may not have had the new zone within the 2 s (catalog, then transfer):
        # in sync at once, caught up during the wait (saying what it lacked), or behind on exactly that zone.
        dns_line = next(line for line in (second.stdout + second.stderr).splitlines() if "(dns secondary" in line)
        assert (dns_line.endswith(": in sync") or "1 zone(s) not served yet: second.example" in dns_line), dns_line
        # The new zone reaches the secondary through the catalog while the consumer is down.
        eventually(lambda: _dig(cluster, "second.example.", "SOA")[0] == "NOERROR", "the secondary serves the new zone")
        recorded = _replicas_lines(_audit_log_in_tmp)[-1]
        assert recorded["in_sync"] is False
        down = [r for r in recorded["replicas"] if r["service"] == "ldap"]
        assert len(down) == 1 and down[0]["error"] and down[0]["host"] == "replica1.example.net"

        while_down = run_cli(None, "status", "--json", "-d", str(estate.root), **env)
        assert while_down.exit_code == 3, while_down.stdout + while_down.stderr
        shown = json.loads(while_down.stdout)
        assert shown["hosts"] == [{"name": "replica1.example.net", "roles": ["directory_replica", "dns_secondary",
                                                                             "imap"],
                                   "directory": cluster.consumer.url, "dns": cluster.secondary.address,
                                   "objects": {}}]  # nothing placed on it (ispctl status's objects per host)
        assert {(r["service"], r["in_sync"]) for r in shown["replicas"]} == {("ldap", False), ("dns", True)}
        assert shown["in_sync"] is False
        assert shown["last_apply"]["summary"]["added"] >= 3
        assert shown["last_apply_replicas"]["in_sync"] is False

        cluster.consumer.start()
        eventually(lambda: _on_consumer(cluster, "bert@acme.example") and _on_consumer(cluster, "carl@second.example"),
                   "the restarted consumer has the mailboxes applied while it was down")
        after = run_cli(None, "status", "--json", "-d", str(estate.root), **env)
        assert after.exit_code == 0, after.stdout + after.stderr
        caught_up = json.loads(after.stdout)
        assert caught_up["in_sync"] is True
        assert all(r["in_sync"] and r["error"] is None for r in caught_up["replicas"])
        # The record of that apply still says the consumer was behind.
        assert caught_up["last_apply_replicas"]["behind_at_first_poll"][0]["service"] == "ldap"
        text = run_cli(None, "status", "-d", str(estate.root), **env)
        assert text.exit_code == 0
        assert "replica1.example.net: directory replica, dns secondary, imap" in text.stdout
        assert "Replication: 2 of 2 replicas in sync" in text.stdout
        assert "its replica check: NOT all in sync" in text.stdout


def test_a_consumer_restarted_while_apply_waits_is_reported_as_caught_up(tmp_path: Path,
                                                                         _audit_log_in_tmp: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        estate = _estate(tmp_path, cluster, "1m")
        env = cluster.env()
        assert run_cli(None, "apply", "--auto-approve", "-d", str(estate.root), **env).exit_code == 0
        cluster.consumer.stop()
        estate.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(), "dora": mailbox()}})

        # Deterministic order, not timing: a stand-in on the consumer's port takes the check's first
        # connection and drops it (the consumer is down), then the real consumer starts there.
        ready = threading.Event()

        def stand_in_then_restart() -> None:
            with socket.socket() as listener:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", cluster.consumer.port))
                listener.listen()
                listener.settimeout(PATIENCE)
                ready.set()
                first, _ = listener.accept()
                first.close()
            cluster.consumer.start()

        helper = threading.Thread(target=stand_in_then_restart)
        helper.start()
        ready.wait(PATIENCE)
        try:
            result = run_cli(None, "apply", "--auto-approve", "-d", str(estate.root), **env)
        finally:
            helper.join()
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "Replicas: all 2 in sync" in result.stdout
        line = next(line for line in result.stdout.splitlines() if "(directory replica" in line)
        assert "in sync (caught up during the wait; right after the apply: NOT REACHED" in line, line
        assert _on_consumer(cluster, "dora@acme.example")
        recorded = _replicas_lines(_audit_log_in_tmp)[-1]
        assert recorded["in_sync"] is True and recorded["behind_at_first_poll"][0]["service"] == "ldap"


def test_status_of_a_single_host_estate(tmp_path: Path) -> None:
    estate = EstateBuilder(tmp_path, site=SITE)
    shown = run_cli(None, "status", "-d", str(estate.root), ISPCTL_PROVIDERS="ldap")
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "No cluster hosts declared" in shown.stdout and "Last apply: none recorded" in shown.stdout
    data = json.loads(run_cli(None, "status", "--json", "-d", str(estate.root), ISPCTL_PROVIDERS="ldap").stdout)
    assert data == {"hosts": [], "objects": {}, "in_sync": True, "replicas": [], "last_apply": None,
                    "last_apply_replicas": None}
