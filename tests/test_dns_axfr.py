"""Zone transfers from a real named: whole zones, missing zones, bad keys, the import source."""

from __future__ import annotations

import base64

import dns.rdatatype
import pytest
from dns_helpers import converge, provider_for, rrset, zone

from ispctl.providers.dns.axfr import ZoneNotServed, axfr_source, transfer
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.harness.daemons import free_port

NS = ("ns1.example.org.",)


def test_a_transfer_returns_the_whole_zone(named: NamedInstance) -> None:
    converge(provider_for(named), [zone("example.net", ns=NS), rrset("example.net", "www", "A", ["192.0.2.1"]),
                                   rrset("example.net", "@", "MX", ["10 mx.example.org."])])
    live = axfr_source("Example.NET.", named.env())
    assert live.origin is not None and live.origin.to_text() == "example.net."
    assert [r.to_text() for r in live.get_rdataset("www", "A")] == ["192.0.2.1"]
    assert [r.to_text() for r in live.get_rdataset("@", "MX")] == ["10 mx.example.org."]
    assert live.get_rdataset("@", "SOA") is not None
    owners = {name.to_text() for name in live.nodes}
    assert {"@", "www"} <= owners  # plus the fingerprint entries ispctl keeps in the zone


def test_a_zone_named_does_not_serve_is_not_served(named: NamedInstance) -> None:
    with pytest.raises(ZoneNotServed, match="does not serve zone nowhere.example"):
        transfer(DnsConnection.from_env(named.env()), "nowhere.example")


def test_a_wrong_key_or_no_server_is_a_provider_error(named: NamedInstance) -> None:
    wrong = {**named.env(), "ISPCTL_DNS_TSIG_FILE": "",
             "ISPCTL_DNS_TSIG_SECRET": base64.b64encode(b"\x01" * 32).decode()}
    with pytest.raises(ProviderError, match="zone transfer of catalog.ispctl.invalid from 127.0.0.1"):
        transfer(DnsConnection.from_env(wrong), "catalog.ispctl.invalid")
    nobody = {**named.env(), "ISPCTL_DNS_SERVER": f"127.0.0.1:{free_port()}"}
    with pytest.raises(ProviderError, match="failed"):
        transfer(DnsConnection.from_env(nobody), "catalog.ispctl.invalid")


def test_the_catalog_is_transferred_with_the_key_only(named: NamedInstance) -> None:
    catalog = transfer(DnsConnection.from_env(named.env()), "catalog.ispctl.invalid")
    assert [r.to_text() for r in catalog.get_rdataset("version", dns.rdatatype.TXT)] == ['"2"']


def test_a_zone_closed_to_transfers_names_the_key(named: NamedInstance) -> None:
    (named.workdir / "closed.db").write_text("$TTL 60\n@ SOA ns.other. h.other. 1 1 1 1 1\n@ NS ns.other.\n",
                                             encoding="utf-8")
    added = named.rndc("addzone", "closed.example", '{ type primary; file "closed.db"; allow-transfer { none; }; };')
    assert added.returncode == 0, added.stderr
    with pytest.raises(ProviderError, match=r"refused \(REFUSED\); does the server allow transfers to key ispctl\."):
        transfer(DnsConnection.from_env(named.env()), "closed.example")
