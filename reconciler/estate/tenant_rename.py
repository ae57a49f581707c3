"""A tenant's ``previous:`` names, checked once the catalog holds every tenant.

A tenant's name is its folder and the directory entry everything of it hangs from; renaming
the folder alone would make the plan destroy that entry and create another. ``previous:``
in ``tenant.yaml`` says it is the same tenant under a new name (a planned rename, like a
mailbox's ``previous:``): the plan renames the live entry, and what is below it moves along.
An earlier name must therefore name no tenant of the estate (that one would be taken) and be
claimed by one tenant only. Whether it names a live tenant of another reseller can only be
told at plan time, against the live tree (``engine.diff.match_renames``).
"""

from __future__ import annotations

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.catalog import Catalog, NTenant


def check_tenant_renames(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    claimed: dict[str, tuple[NTenant, int]] = {}
    for tenant in sorted(catalog.tenants.values(), key=lambda t: t.name):
        for index, old in enumerate(tenant.spec.previous):
            path = ("previous", index)
            if old == tenant.name:
                problems.append(tenant.origin.doc.problem(path, f"{old} is this tenant's own name; list only the "
                                                                "names it had before"))
            elif old in catalog.tenants:
                other = catalog.tenants[old]
                problems.append(tenant.origin.doc.problem(
                    path, f"{old} is a tenant of the estate ({other.origin.doc.location(())}); a tenant can only be "
                          "renamed from a name no tenant has"))
            elif old in claimed:
                first, at = claimed[old]
                problems.append(tenant.origin.doc.problem(
                    path, f"{old} is already named as the previous name of tenant {first.name} at "
                          f"{first.origin.doc.location(('previous', at))}"))
            else:
                claimed[old] = (tenant, index)
    return problems
