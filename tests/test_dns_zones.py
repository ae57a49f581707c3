"""A zone's life on a real named (providers/dns/zones.py): archives, files set aside, configs.

The steps' behaviour under faults is in test_faults_dns.py; here each step alone.
"""

from __future__ import annotations

import pytest
from dns_helpers import converge, provider_for, query, rrset, secondary, served, zone

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.provider import DnsProvider
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.zones import ZoneLife
from ispctl.reconciler.engine.errors import ProviderError

Z = "example.net"


def life(provider: DnsProvider) -> ZoneLife:
    return provider._life


def test_a_snapshot_is_a_zone_file_named_serves_again_as_is(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, [zone(Z), rrset(Z, "ns1", "A", ["192.0.2.1"]), rrset(Z, "ns2", "A", ["192.0.2.2"]),
                        rrset(Z, "www", "TXT", ['"a\\010b"'])])
    # An update after the zone file was written lives in the journal only: the snapshot has it.
    assert named.nsupdate(f"update add late.{Z}. 60 A 192.0.2.99").returncode == 0
    first, second = life(provider).snapshot(Z), life(provider).snapshot(Z)
    assert first is not None and second is not None and first != second  # never overwritten
    assert first.parent == named.zone_dir / "archive" and first.name.startswith(f"{Z}.")
    text = first.read_text(encoding="utf-8")
    assert "late 60 IN A 192.0.2.99" in text and '"a\\010b"' in text
    # Restoring is one addzone of the archived file.
    assert named.rndc("delzone", "-clean", Z).returncode == 0 and not served(named, Z)
    restored = named.rndc("addzone", Z, f'{{ type primary; file "{first}"; }};')
    assert restored.returncode == 0, restored.stderr
    assert query(named, f"late.{Z}.", "A")[1] == {"192.0.2.99"}
    assert query(named, f"www.{Z}.", "TXT")[1] == {'"a\\010b"'}


def test_a_file_a_new_zone_replaces_goes_to_the_archive_with_its_journal(named: NamedInstance) -> None:
    zones = life(provider_for(named))
    old = named.zone_dir / f"{Z}.db"
    old.write_text("old data\n", encoding="utf-8")
    (named.zone_dir / f"{Z}.db.jnl").write_bytes(b"journal")
    zones.set_aside(old)
    assert not old.exists() and not (named.zone_dir / f"{Z}.db.jnl").exists()
    kept = sorted((named.zone_dir / "archive").iterdir())
    assert [p.read_bytes() for p in kept] == [b"old data\n", b"journal"]
    assert kept[1].name == kept[0].name + ".jnl"


def test_a_secondary_never_shares_a_primarys_file(named: NamedInstance) -> None:
    zones = life(provider_for(named))
    assert zones.config(secondary(Z, ("192.0.2.53",))) == (
        f'{{ type secondary; primaries {{ 192.0.2.53; }}; file "{named.zone_dir}/{Z}.secondary.db"; }};')
    assert f'file "{named.zone_dir}/{Z}.db";' in zones.config(zone(Z))
    with pytest.raises(ProviderError, match="not a plain IP address"):
        zones.config(secondary(Z, ("fe80::1%eth0",)))


def test_without_a_zone_dir_a_primary_cannot_turn_secondary(named: NamedInstance) -> None:
    converge(provider_for(named), [zone(Z), rrset(Z, "ns1", "A", ["192.0.2.1"]),
                                   rrset(Z, "ns2", "A", ["192.0.2.2"])])
    env = {k: v for k, v in named.env().items() if k != "ISPCTL_DNS_ZONE_DIR"}
    provider = DnsProvider(DnsConnection.from_env(env))
    with pytest.raises(AssertionError, match="set ISPCTL_DNS_ZONE_DIR so the zone's data can be archived"):
        converge(provider, [secondary(Z, ("192.0.2.53",))])
    assert "type primary;" in named.rndc("showzone", Z).stdout


def test_archives_are_kept_apart_from_zone_files(named: NamedInstance) -> None:
    zones = life(provider_for(named))
    path = zones.archive_path(Z)
    assert path.parent.name == "archive" and path.suffix == ".db" and not path.exists()
