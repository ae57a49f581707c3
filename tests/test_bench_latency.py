"""The benchmark's latency relay passes LDAP through unchanged, keeps pipelining, and stops by PID."""

from __future__ import annotations

import socket
import subprocess
import threading
from typing import Any

import ldap
import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.directory import managed_entries, refresh_peer, tool_argv
from tests.bench.latency import Relay
from tests.ldap_helpers import apply_example


def _search(slapd: SlapdInstance, url: str) -> str:
    argv = tool_argv(slapd, "ldapsearch", "-LLL", "-E", "pr=2/noprompt", "-b", slapd.suffix, "(objectClass=*)",
                     url=url)
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_paged_search_through_the_relay_returns_what_slapd_returns(slapd: SlapdInstance) -> None:
    with Relay(("127.0.0.1", slapd.port), rtt_ms=2) as relay:
        far = _search(slapd, f"ldap://127.0.0.1:{relay.port}")
    near = _search(slapd, slapd.url)
    assert far == near
    assert near.count("dn: ") >= 3  # pages of 2: several requests and answers went through


def test_many_requests_in_flight_on_one_connection_come_back_each_with_its_own_answer(slapd: SlapdInstance) -> None:
    bases = [slapd.suffix, slapd.managed_base, slapd.foreign_base] * 20
    with Relay(("127.0.0.1", slapd.port), rtt_ms=4) as relay:
        conn: Any = ldap.initialize(f"ldap://127.0.0.1:{relay.port}")
        conn.simple_bind_s(slapd.bind_dn, slapd.password)
        try:
            # All sent before any answer is read: the relay must queue, not serialise or drop.
            ids = [conn.search_ext(base, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"]) for base in bases]
            answers = [conn.result3(msgid) for msgid in ids]
        finally:
            conn.unbind_s()
    assert [[dn for dn, _ in data] for _, data, _, _ in answers] == [[base] for base in bases]


def test_the_refresh_peer_reads_every_managed_entry_through_the_relay(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dns = managed_entries(slapd)
    assert len(dns) > 10
    with Relay(("127.0.0.1", slapd.port), rtt_ms=2) as relay:
        assert refresh_peer(slapd, dns, parallelism=4, url=f"ldap://127.0.0.1:{relay.port}") == len(dns)


def test_the_relay_stops_with_its_owner_and_refuses_connections_after(slapd: SlapdInstance) -> None:
    relay = Relay(("127.0.0.1", slapd.port), rtt_ms=2)
    with relay:
        process = relay._process
        assert process is not None and process.poll() is None
        port = relay.port
    assert process.returncode is not None
    with pytest.raises(ldap.SERVER_DOWN):
        conn: Any = ldap.initialize(f"ldap://127.0.0.1:{port}")
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        conn.simple_bind_s(slapd.bind_dn, slapd.password)


def test_a_closed_upstream_closes_the_client_side_instead_of_hanging() -> None:
    # Nothing listens upstream: the relay accepts, fails to connect on, and closes.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with Relay(("127.0.0.1", dead_port), rtt_ms=2) as relay:
        done = threading.Event()

        def connect() -> None:
            with socket.create_connection(("127.0.0.1", relay.port)) as conn:
                conn.settimeout(30)
                assert conn.recv(1) == b""
            done.set()

        worker = threading.Thread(target=connect)
        worker.start()
        worker.join(60)
        assert done.is_set()


def test_stopping_with_a_connection_open_is_quiet(slapd: SlapdInstance) -> None:
    relay = Relay(("127.0.0.1", slapd.port), rtt_ms=2)
    with relay:
        conn: Any = ldap.initialize(f"ldap://127.0.0.1:{relay.port}")
        conn.simple_bind_s(slapd.bind_dn, slapd.password)
        relay.stop()  # the client is still bound
        assert relay.errors() == ""
