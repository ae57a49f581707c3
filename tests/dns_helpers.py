"""Shared helpers for the tests that run the DNS provider against a real named.

Every test gets its own named (50-120 ms to start) in its pytest temp dir, so update counts
read from named's log belong to that test alone. What the server holds is checked with the
real tools (``nsupdate``, ``rndc``) or with plain DNS queries, not with the provider's reading code.
The ``named`` fixture itself is in conftest.py, so test modules need not import it.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.mapping import ignore_rules
from ispctl.providers.dns.provider import DnsProvider
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.settings import IgnoreRule
from ispctl.reconciler.engine.apply import ApplyResult, apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Resource

SOA = "ns1.example.net. hostmaster.example.net. 10800 1800 604800 3600"
NS = ("ns1.example.net.", "ns2.example.net.")


def provider_for(named: NamedInstance, ignore: Iterable[tuple[str, str | None]] = ()) -> DnsProvider:
    rules = ignore_rules(IgnoreRule(name=name, type=rdtype) for name, rdtype in ignore)
    return DnsProvider(DnsConnection.from_env(named.env()), rules)


def zone(name: str, *, soa: str = SOA, ns: tuple[str, ...] = NS, ttl: int = 3600) -> Resource:
    return Resource("dns_zone", name, {"type": "primary", "primaries": None, "soa": soa, "ns": ns,
                                       "default_ttl": ttl})


def secondary(name: str, primaries: tuple[str, ...]) -> Resource:
    return Resource("dns_zone", name, {"type": "secondary", "primaries": primaries, "soa": None, "ns": None,
                                       "default_ttl": None})


def rrset(zone_name: str, owner: str, rdtype: str, records: Iterable[str], ttl: int = 300) -> Resource:
    return Resource("dns", f"{zone_name}/{owner}/{rdtype}", {"ttl": ttl, "records": tuple(records)},
                    parent=f"dns_zone.{zone_name}")


Index = dict[tuple[str, str], Resource]


def index(resources: Iterable[Resource]) -> Index:
    return {r.identity: r for r in resources}


def plan_for(provider: DnsProvider, desired: Iterable[Resource]) -> Plan:
    return compute_plan(index(desired), provider.read())


def converge(provider: DnsProvider, desired: Iterable[Resource]) -> ApplyResult:
    """Plan and apply; every change must succeed."""
    result = apply_plan(plan_for(provider, desired), lambda kind: provider)
    assert result.ok, [(o.change.address, o.error) for o in result.failed][:3]
    return result


def query(named: NamedInstance, name: str, rdtype: str) -> tuple[int, set[str]]:
    """What a client gets: rcode and the answer's rdata texts (absolute names)."""
    q = dns.message.make_query(name, rdtype)
    response = dns.query.udp(q, "127.0.0.1", port=named.port, timeout=5)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(q, "127.0.0.1", port=named.port, timeout=5)
    wanted = dns.rdatatype.from_text(rdtype)
    texts = {r.to_text() for rrset in response.answer if rrset.rdtype == wanted for r in rrset}
    return response.rcode(), texts


def served(named: NamedInstance, zone_name: str) -> bool:
    """named answers authoritatively for the zone (REFUSED when it does not know it)."""
    rcode, texts = query(named, zone_name + ".", "SOA")
    return rcode == dns.rcode.NOERROR and bool(texts)
