"""Which zones a narrowed plan needs (``Provider._read_within``): one AXFR per zone is the
cost of a DNS read, so a plan narrowed to a few domains transfers only their zones.

A zone is wanted when its domain is an anchor (everything below a domain, its zone too), or
the zone or one of its record sets is named, as an anchor or as an address. The engine
widens the anchors with every domain below a tenant anchor (``engine/narrow``), so a tenant's
zones are found through its domains, whichever side (git or the directory) knows them.
"""

from __future__ import annotations

from ispctl.reconciler.contract import DOMAIN, Within

ZONE, RRSET = "dns_zone", "dns"


def wanted_zones(within: Within) -> frozenset[str]:
    zones: set[str] = set()
    for address in within.anchors | within.addresses:
        kind, _, key = address.partition(".")
        if kind == ZONE:
            zones.add(key)
        elif kind == RRSET:
            zones.add(key.split("/", 1)[0])
    zones.update(a.partition(".")[2] for a in within.anchors if a.partition(".")[0] == DOMAIN)
    return frozenset(zones)
