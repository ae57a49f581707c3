"""Which top-level object each planned change belongs to, for per-tenant views of a plan.

Follows ``parent`` links (or, for an object without a parent, its first ``depends_on``)
through the desired and live resources up to an object with neither: a reseller for
everything in the tenant tree, a zone's domain's reseller for DNS records.
"""

from __future__ import annotations

from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Index, ancestors


def plan_groups(plan: Plan, desired: Index, live: Index) -> dict[str, str]:
    by_address = {r.address: r for r in live.values()}
    by_address.update({r.address: r for r in desired.values()})
    groups: dict[str, str] = {}
    for change in plan.changes:
        chain = ancestors(change.resource, by_address)
        # The walk names a missing address last (a removed parent): group by the last that exists.
        found = [address for address in chain if address in by_address] or chain[:1]
        groups[change.address] = found[-1]
    return groups
