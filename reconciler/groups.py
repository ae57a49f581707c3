"""Which top-level object each planned change belongs to, for per-tenant views of a plan.

Follows ``parent`` links (or, for an object without a parent, its first ``depends_on``)
through the desired and live resources up to an object with neither: a reseller for
everything in the tenant tree, a zone for DNS records.
"""

from __future__ import annotations

from collections.abc import Mapping

from .plan import Plan
from .resources import Resource

Index = Mapping[tuple[str, str], Resource]


def plan_groups(plan: Plan, desired: Index, live: Index) -> dict[str, str]:
    by_address = {r.address: r for r in live.values()}
    by_address.update({r.address: r for r in desired.values()})
    groups: dict[str, str] = {}
    for change in plan.changes:
        current = change.resource
        seen = {current.address}
        while True:
            up = current.parent or (current.depends_on[0] if current.depends_on else None)
            if up is None or up not in by_address or up in seen:
                break
            seen.add(up)
            current = by_address[up]
        groups[change.address] = current.address
    return groups
