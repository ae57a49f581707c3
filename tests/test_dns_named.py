"""The real named used by tests and the sandbox: start, stop, keys, restart, log counting."""

from __future__ import annotations

from pathlib import Path

import pytest
from dns_helpers import converge, provider_for, query, rrset, zone

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching

NS = ("ns1.example.org.",)


def test_start_serve_and_stop_leave_nothing_behind(tmp_path: Path) -> None:
    instance = NamedInstance(tmp_path / "named")
    instance.start()
    try:
        assert instance.running() and instance.pid in pids_matching(str(instance.config_file))
        for path in (instance.tsig_file, instance.rndc_key_file):
            assert path.stat().st_mode & 0o077 == 0  # secrets are private
        conn = DnsConnection.from_env(instance.env())
        assert conn.port == instance.port and conn.rndc_port == instance.control_port
        assert instance.rndc("status").returncode == 0
        with pytest.raises(DaemonError, match="already running"):
            instance.start()
    finally:
        instance.stop()
    assert not instance.running() and pids_matching(str(instance.config_file)) == []


def test_a_restart_keeps_zones_and_the_catalog(tmp_path: Path) -> None:
    instance = NamedInstance(tmp_path / "named")
    instance.start()
    try:
        desired = [zone("example.net", ns=NS), rrset("example.net", "www", "A", ["192.0.2.1"])]
        converge(provider_for(instance), desired)
        instance.stop()
        again = NamedInstance.from_state(instance.to_state())
        again.start()
        instance = again
        assert query(instance, "www.example.net.", "A")[1] == {"192.0.2.1"}
        provider = provider_for(instance)
        assert {r.address for r in provider.read().values()} == {"dns_zone.example.net", "dns.example.net/www/A"}
    finally:
        instance.stop()


def test_update_messages_are_counted_from_named_s_own_log(tmp_path: Path) -> None:
    instance = NamedInstance(tmp_path / "named")
    instance.start()
    try:
        converge(provider_for(instance), [zone("example.net", ns=NS)])
        mark = len(instance.log_text())
        for host in ("a", "b"):
            done = instance.nsupdate(f"update add {host}.example.net. 60 A 192.0.2.1")
            assert done.returncode == 0, done.stderr
        assert instance.update_messages("example.net", since=mark) == 2
        assert instance.update_messages("example.org", since=mark) == 0
    finally:
        instance.stop()


def test_a_taken_control_port_is_refused(tmp_path: Path) -> None:
    first = NamedInstance(tmp_path / "one")
    first.start()
    try:
        second = NamedInstance(tmp_path / "two", control_port=first.port)
        with pytest.raises(DaemonError, match="already in use"):
            second.start()
    finally:
        first.stop()
