"""The DNS secondaries check, with a real primary and a real secondary following its catalog zone:
zones ispctl creates reach the secondary by themselves, removed ones leave it, and the check says
which zone a secondary lacks or that it cannot be reached."""

from __future__ import annotations

from pathlib import Path

import dns.rcode
from dns_helpers import converge, provider_for, rrset, secondary, zone
from replica_helpers import eventually

from ispctl.providers.dns.catalog_check import Secondaries, address, behind
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.sandbox.secondary import SecondaryNamedInstance
from ispctl.reconciler.harness.daemons import free_port


def test_serials_compare_in_sequence_space() -> None:
    assert behind(5, 4) and not behind(5, 5) and not behind(5, 6)
    assert behind(1, 2**32 - 1)  # the primary wrapped around: the secondary is behind
    assert not behind(2**32 - 1, 1)
    assert address("127.0.0.1:5300") == ("127.0.0.1", 5300)
    assert address("[::1]:53") == ("::1", 53) and address("127.0.0.1") == ("127.0.0.1", 53)


def _rcode(instance: SecondaryNamedInstance, name: str) -> int:
    import dns.message
    import dns.query

    response = dns.query.udp(dns.message.make_query(name + ".", "SOA"), "127.0.0.1", port=instance.port, timeout=5)
    return int(response.rcode())


def test_zones_reach_and_leave_the_secondary_through_the_catalog(tmp_path: Path) -> None:
    port = free_port()
    primary = NamedInstance(tmp_path / "primary", notify_ports=(port,))
    primary.start()
    follower = SecondaryNamedInstance(tmp_path / "secondary", primary_port=primary.port,
                                      tsig_secret=primary.tsig_secret, port=port)
    try:
        follower.start()
        provider = provider_for(primary)
        desired = [zone("one.example"), zone("two.example"), rrset("one.example", "www", "A", ["192.0.2.1"]),
                   secondary("elsewhere.example", ("192.0.2.53",))]
        converge(provider, desired)
        conn = DnsConnection.from_env(primary.env())
        watch = Secondaries(conn, [("ns2", follower.address)])
        # The catalog and the two primary zones; the secondary zone's serial is its own primary's.
        assert sorted(watch.target) == [conn.catalog, "one.example", "two.example"]
        eventually(lambda: watch.poll()[0].in_sync, "the secondary serves both zones at the primary's serials")
        assert _rcode(follower, "www.one.example") == dns.rcode.NOERROR

        converge(provider, [zone("one.example"), rrset("one.example", "www", "A", ["192.0.2.2"]),
                            zone("three.example")])
        watch = Secondaries(conn, [("ns2", follower.address)])
        assert sorted(watch.target) == [conn.catalog, "one.example", "three.example"]
        eventually(lambda: watch.poll()[0].in_sync, "the secondary follows a change, an addition and a removal")
        eventually(lambda: _rcode(follower, "two.example") == dns.rcode.REFUSED,
                   "a zone removed from the catalog is no longer served by the secondary")

        follower.stop()
        [down] = watch.poll()
        assert not down.in_sync and down.error and down.behind == 3
        assert down.describe().startswith(f"ns2 (dns secondary, {follower.address}): NOT REACHED")
    finally:
        if follower.running():
            follower.stop()
        primary.stop()


def test_a_zone_the_secondary_does_not_serve_is_named(tmp_path: Path) -> None:
    primary = NamedInstance(tmp_path / "primary")  # notifies nobody: the secondary learns late
    primary.start()
    follower = SecondaryNamedInstance(tmp_path / "secondary", primary_port=primary.port,
                                      tsig_secret=primary.tsig_secret)
    try:
        follower.start()
        converge(provider_for(primary), [zone("late.example")])
        watch = Secondaries(DnsConnection.from_env(primary.env()), [("ns2", follower.address)])
        [state] = watch.poll()
        # Without NOTIFY the secondary refreshes the catalog only after its SOA refresh (an hour).
        assert not state.in_sync and state.error is None
        assert state.detail["not_served"] == ["late.example"]
        assert "1 zone(s) not served yet: late.example" in state.detail["summary"]
        assert "catalog.ispctl.invalid" in state.detail["older"]
    finally:
        follower.stop()
        primary.stop()
