"""A narrowed DNS read (``DnsProvider._read_within``) against a real named: only the zones of the
anchored domains (or of the zones and record sets named) are transferred, and a narrowed plan
is exactly the full plan filtered by its scope, drift included."""

from __future__ import annotations

from dataclasses import replace

from dns_helpers import converge, provider_for, rrset, secondary, zone

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.within import wanted_zones
from ispctl.reconciler.engine.provider import Within
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.views.text import plan_json

A, B, C, S = "a.example", "b.example", "c.example", "s.example"


def owned(resource: Resource) -> Resource:
    """Zones belong to their domains (the compiler says so): how scopes reach DNS."""
    return replace(resource, depends_on=(f"domain.{resource.key}",)) if resource.kind == "dns_zone" else resource


def estate() -> list[Resource]:
    out = []
    for name in (A, B, C):
        out += [zone(name), rrset(name, "@", "A", ["192.0.2.1"]), rrset(name, "www", "A", ["192.0.2.2"]),
                rrset(name, "@", "MX", ["10 mx1.example.net."])]
    return [owned(r) for r in [*out, secondary(S, ("192.0.2.53",))]]


def keys(found: dict[tuple[str, str], Resource]) -> set[str]:
    return {r.address for r in found.values()}


def test_which_zones_a_scope_wants() -> None:
    within = Within(frozenset({"domain.a.example", "tenant.x", "mailbox.m@c.example"}),
                    frozenset({"dns.b.example/www/A", "dns_zone.d.example", "domain.e.example"}))
    # A domain named only as an address wants its own entry, not what is below it.
    assert wanted_zones(within) == {A, B, "d.example"}


def test_a_narrowed_read_transfers_only_the_zones_it_needs(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    everything = provider.read()
    assert {r.key for r in everything.values() if r.kind == "dns_zone"} == {A, B, C, S}
    found = provider.read(within=Within(frozenset({"domain.a.example"})))
    assert keys(found) == {r.address for r in estate() if r.key.split("/")[0] == A}
    assert set(provider._zones) == {A}  # one zone transferred
    assert all(everything[ident] == resource for ident, resource in found.items())
    # A record set named by address brings its zone; a secondary zone is found by its domain.
    found = provider.read(within=Within(frozenset({"domain.s.example"}), frozenset({"dns.b.example/www/A"})))
    assert keys(found) == {r.address for r in estate() if r.key.split("/")[0] in (B, S)}
    assert set(provider._zones) == {B}  # a secondary has no records to transfer
    # Nothing named: the catalog alone is read (it says which zones exist, for creating one).
    assert provider.read(within=Within(frozenset({"tenant.nobody"}))) == {}
    assert set(provider._members) == {A, B, C, S}


def test_a_narrowed_plan_against_named_is_the_full_plan_filtered(named: NamedInstance) -> None:
    provider = provider_for(named)
    converge(provider, estate())
    for edit in ("update add rogue.a.example. 300 A 192.0.2.66\n",   # created by hand
                 "update delete www.b.example. A\n",                 # deleted by hand
                 "update add www.c.example. 300 A 192.0.2.3\n"):     # changed by hand
        done = named.nsupdate(edit)
        assert done.returncode == 0, done.stderr
    desired = [r for r in estate() if r.key != C and not r.key.startswith(f"{C}/")]  # zone c leaves git
    desired += [owned(zone("n.example")), rrset("n.example", "@", "A", ["192.0.2.9"])]  # a new one
    desired = [replace(r, attrs={**r.attrs, "ttl": 60}) if r.key == f"{A}/www/A" else r for r in desired]
    wanted = {r.identity: r for r in desired}
    domains = [f"domain.{name}" for name in (A, B, C, S, "n.example")]
    for anchors in [frozenset({d}) for d in domains] + [frozenset(domains[:2]), frozenset()]:
        scope = Scope(anchors=anchors, everything=False)
        full = Session(wanted, [provider_for(named)], compiled=wanted)
        expected = apply_scope(full.plan(), scope, wanted, full.live)
        narrowed = Session(wanted, [provider_for(named)], compiled=wanted)
        got = apply_scope(narrowed.plan(anchors=anchors), scope, wanted, narrowed.live)
        assert plan_json(got) == plan_json(expected), sorted(anchors)
        assert len(narrowed.live) < len(full.live) or anchors == frozenset(domains[:2])
    # The plans above were worth comparing: each domain's own changes and drift were there.
    full = Session(wanted, [provider_for(named)], compiled=wanted)
    plan = full.plan()
    assert {(c.address, c.action, c.drift) for c in plan.changes} >= {
        ("dns.a.example/rogue/A", "delete", "created outside ispctl"),
        ("dns.a.example/www/A", "update", None),
        ("dns.b.example/www/A", "create", None),
        ("dns.c.example/www/A", "delete", "changed outside ispctl"),
        ("dns_zone.c.example", "delete", None),
        ("dns_zone.n.example", "create", None),
    }
