"""Tenant limits and quota pools, checked once the catalog holds every object.

A client's usage also counts against its reseller (``Catalog.tenant_chain``), so a reseller's
limits bound everything it sells. A catalog of part of the estate (``estate.incremental``) adds
the usage of the files it did not load, ``Catalog.outside``'s ``usage:<tenant>:<what>`` totals
(``estate.catalog_facts``), up each tenant's chain the same way. An unlimited mailbox (quota 0) cannot draw from a pool:
the pool would then bound nothing.
"""

from __future__ import annotations

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.catalog import Catalog, NMailbox, NTenant
from ispctl.reconciler.estate.catalog_facts import usage_key
from ispctl.reconciler.estate.units import format_size

_COUNTED = (
    ("max_domains", "domains", "domains"),
    ("max_mailboxes", "mailboxes", "mailboxes"),
    ("max_aliases", "aliases", "aliases and extra addresses"),
)


def check_limits(catalog: Catalog) -> list[Problem]:
    usage: dict[str, dict[str, int]] = {
        t: {"domains": 0, "mailboxes": 0, "aliases": 0, "quota": 0} for t in catalog.tenants}
    unlimited: dict[str, list[NMailbox]] = {t: [] for t in catalog.tenants}
    for domain in catalog.domains.values():
        for tenant in catalog.tenant_chain(domain.tenant):
            usage[tenant.name]["domains"] += 1
    for box in catalog.mailboxes.values():
        for tenant in catalog.tenant_chain(catalog.domains[box.domain].tenant):
            usage[tenant.name]["mailboxes"] += 1
            usage[tenant.name]["aliases"] += len(box.aliases)
            usage[tenant.name]["quota"] += box.quota
            if box.quota == 0:
                unlimited[tenant.name].append(box)
    for alias in catalog.aliases.values():
        for tenant in catalog.tenant_chain(catalog.domains[alias.domain].tenant):
            usage[tenant.name]["aliases"] += 1
    if catalog.outside:
        _add_outside(catalog, usage)
    problems: list[Problem] = []
    for name, tenant in sorted(catalog.tenants.items()):
        problems += _tenant_limits(tenant, usage[name], unlimited[name])
    return problems


def _add_outside(catalog: Catalog, usage: dict[str, dict[str, int]]) -> None:
    for name in catalog.tenants:
        for key in ("domains", "mailboxes", "aliases", "quota"):
            value = catalog.outside.get(usage_key(name, key), 0)
            if value:
                for tenant in catalog.tenant_chain(name):
                    usage[tenant.name][key] += value


def _tenant_limits(tenant: NTenant, used: dict[str, int], unlimited: list[NMailbox]) -> list[Problem]:
    lim, name, doc = tenant.limits, tenant.name, tenant.origin.doc
    scope = " (its clients included)" if tenant.kind == "reseller" else ""
    found = []
    for field_name, key, label in _COUNTED:
        limit = getattr(lim, field_name)
        if limit is not None and used[key] > limit:
            found.append(doc.problem(("limits", field_name),
                                     f"tenant {name} has {used[key]} {label}{scope}, over its limit of {limit}"))
    if lim.mail_quota_pool is not None:
        if used["quota"] > lim.mail_quota_pool:
            found.append(doc.problem(("limits", "mail_quota_pool"),
                                     f"mailbox quotas of tenant {name}{scope} add up to {format_size(used['quota'])}, "
                                     f"over its pool of {format_size(lim.mail_quota_pool)}"))
        for box in unlimited:
            found.append(box.origin.doc.problem(box.origin.path + ("quota",),
                                                "an unlimited mailbox (quota 0) cannot draw from tenant "
                                                f"{name}'s quota pool"))
    return found
