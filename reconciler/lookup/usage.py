"""``ispctl report usage``: per tenant, what it has and uses, its limits beside (for billing).

Counted from the compiled estate, the way the limits count (``estate.limits``): a reseller's
figures include its clients', so each figure sits beside the limit it is held to. ``aliases``
counts alias entries plus mailboxes' extra addresses (as ``max_aliases`` does); ``quota`` is
the sum of its mailboxes' quotas (what ``mail_quota_pool`` bounds). Services add columns
(``UsagePart``): kinds counted per tenant (``site``, ``ftp_login``, ``access_account``) and,
when connected, what their objects use live (``mail_used``: bytes of mail in the maildirs,
``ftp_used``: bytes in FTP homes), summed per tenant from one bulk read. A live object git no
longer has belongs to no tenant here (the next apply removes or archives it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ispctl.reconciler.engine.resources import Index
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX
from ispctl.reconciler.lookup.kinds import plural
from ispctl.reconciler.lookup.objects import Used
from ispctl.reconciler.lookup.table import cell, size_text
from ispctl.reconciler.lookup.tree import Tree

CORE_COUNTS = {DOMAIN: "domains", MAILBOX: "mailboxes", ALIAS: "aliases"}
LIMITS = (("domains", "max_domains"), ("mailboxes", "max_mailboxes"), ("aliases", "max_aliases"),
          ("quota", "quota_pool"))


def usage_rows(compiled: Index, catalog: Catalog, counted: Sequence[str], used: Used | None,
               tenant: str | None = None) -> list[dict[str, Any]]:
    """One row per tenant (``tenant``: it and its clients), sorted by name; ``used`` None: not connected."""
    tree = Tree(compiled)
    names = {kind: kind if kind in CORE_COUNTS.values() else plural(kind) for kind in counted}
    rows: dict[str, dict[str, Any]] = {}
    for name, found in sorted(catalog.tenants.items()):
        if tenant is not None and all(t.name != tenant for t in catalog.tenant_chain(name)):
            continue
        limits = found.limits
        row: dict[str, Any] = {"tenant": name, "kind": found.kind, "parent": found.parent,
                               "status": str(found.status), "domains": 0, "mailboxes": 0, "aliases": 0, "quota": 0,
                               "max_domains": limits.max_domains, "max_mailboxes": limits.max_mailboxes,
                               "max_aliases": limits.max_aliases, "quota_pool": limits.mail_quota_pool}
        row.update(dict.fromkeys(names.values(), 0))
        if used is not None:
            row.update(dict.fromkeys(sorted(used), 0))
        rows[name] = row
    owners: dict[str, list[dict[str, Any]]] = {}  # object address -> rows its figures add to
    for resource in compiled.values():
        if resource.kind not in CORE_COUNTS and resource.kind not in names:
            continue
        found_tenant = tree.tenant(resource)
        if found_tenant is None:
            continue
        targets = [rows[t.name] for t in catalog.tenant_chain(found_tenant) if t.name in rows]
        owners[resource.address] = targets
        extra = _extra_addresses(resource.attrs.get("aliases")) if resource.kind == MAILBOX else 0
        quota = resource.attrs.get("quota") if resource.kind == MAILBOX else 0
        for row in targets:
            column = CORE_COUNTS.get(resource.kind) or names[resource.kind]
            row[column] += 1
            row["aliases"] += extra
            row["quota"] += quota if isinstance(quota, int) else 0
    for column, per in sorted((used or {}).items()):
        for address, amount in per.items():
            for row in owners.get(address, ()):
                row[column] += amount
    return list(rows.values())


def _extra_addresses(value: object) -> int:
    return len(value) if isinstance(value, tuple) else 0


def columns(counted: Sequence[str], used: Mapping[str, object] | None) -> list[str]:
    """The CSV's (and the JSON rows') columns, in a stable order."""
    core = ["tenant", "kind", "parent", "status", "domains", "max_domains", "mailboxes", "max_mailboxes",
            "aliases", "max_aliases", "quota", "quota_pool"]
    return core + [plural(k) for k in counted] + sorted(used or {})


def table_rows(rows: Sequence[Mapping[str, Any]], counted: Sequence[str],
               used: Mapping[str, object] | None) -> tuple[list[dict[str, str]], list[str]]:
    """The rows for people: each figure beside its limit (``4/10``, ``8 GiB/20 GiB``, ``-`` = no limit)."""
    heads = ["tenant", "kind", "domains", "mailboxes", "aliases", "quota"] + [plural(k) for k in counted] + \
        sorted(used or {})
    shown = []
    for row in rows:
        line = {"tenant": row["tenant"], "kind": row["kind"]}
        for figure, limit in LIMITS:
            sizes = frozenset({figure, limit}) if figure == "quota" else frozenset()
            line[figure] = f"{cell(figure, row[figure], sizes)}/{cell(limit, row[limit], sizes)}"
        for column in heads[6:]:
            line[column] = size_text(row[column]) if column in (used or {}) else str(row[column])
        shown.append(line)
    return shown, heads
