"""Which top-level object each planned change belongs to, for per-tenant views of a plan.

Follows ``parent`` links (or, for an object without a parent, its first ``depends_on``)
through the desired and live resources up to an object with neither: a reseller for
everything in the tenant tree, a zone's domain's reseller for DNS records.
"""

from __future__ import annotations

from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Index, Resource, ancestors


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


def _top(resource: Resource | None, by_address: dict[str, Resource]) -> str | None:
    if resource is None:
        return None
    chain = ancestors(resource, by_address)
    # Only a walk that reaches the top says where an object lives; one that ends at an address
    # this side does not hold (a maildir whose entry was renamed already) says nothing.
    return chain[-1] if chain[-1] in by_address else None


def plan_crossings(plan: Plan, desired: Index, live: Index) -> dict[str, list[str]]:
    """Moves and renames that take an object from under one top-level object to another
    (for the estate: from one reseller to another), as ``address -> [from, to]``.

    Such a change is the business of both sides, so every view names it and the Markdown
    view lists it in both sides' sections: each reseller's reviewers see what leaves them.
    """
    live_by = {r.address: r for r in live.values()}
    desired_by = {r.address: r for r in desired.values()}
    crossings: dict[str, list[str]] = {}
    for change in plan.changes:
        if change.action != "update" or not (change.is_move or change.renamed_from):
            continue
        old, new = _top(change.before, live_by), _top(change.after, desired_by)
        if old is not None and new is not None and old != new:
            crossings[change.address] = [old, new]
    return crossings
