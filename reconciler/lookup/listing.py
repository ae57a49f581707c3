"""``ispctl list KINDS [--tenant T] [--domain D]``: one row per object of a kind.

The estate's own kinds have the columns a helpdesk asks about (a mailbox's name, quota and
status; a domain's type and counts; a tenant's parent and contact; an alias's targets); a
service's kind has its key and status. Every row names its tenant and file:line. Connected,
each row also says whether the object is live, which of its attributes differ (never a secret's
value, nor one the live side owns after creation), and the services' usage figures for it.
``--tenant`` keeps a tenant and everything in it (its clients' too, as ``plan --tenant``);
``--domain`` keeps what belongs to that domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.resources import Index, Resource
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX, TENANT
from ispctl.reconciler.lookup.kinds import shown_address
from ispctl.reconciler.lookup.objects import Used
from ispctl.reconciler.lookup.tree import Tree

# The table's columns per kind (the JSON rows have these and ``key``, ``file``, ``line``).
COLUMNS: dict[str, tuple[str, ...]] = {
    MAILBOX: ("address", "name", "quota", "status", "tenant"),
    DOMAIN: ("domain", "type", "services", "status", "mailboxes", "aliases", "tenant"),
    TENANT: ("tenant", "kind", "parent", "name", "status", "contact"),
    ALIAS: ("address", "type", "targets", "status", "tenant"),
}
OTHER = ("name", "status", "domain", "tenant")
LIVE = ("live", "differs")
SIZES = frozenset({"quota"})


def _where(resource: Resource) -> dict[str, Any]:
    where = resource.source
    return {"file": where.file if where else None, "line": where.line if where else None}


def _own(kind: str, resource: Resource, catalog: Catalog, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    attrs = resource.attrs
    if kind == MAILBOX:
        return {"address": shown_address(resource.key), "name": attrs.get("display_name"),
                "quota": attrs.get("quota"), "status": attrs.get("status")}
    if kind == DOMAIN:
        mine = counts.get(resource.address, {})
        return {"domain": catalog.domains[resource.key].display if resource.key in catalog.domains else resource.key,
                "type": attrs.get("type"), "services": list(_strings(attrs.get("services"))),
                "status": attrs.get("status"), "mailboxes": mine.get(MAILBOX, 0), "aliases": mine.get(ALIAS, 0)}
    if kind == TENANT:
        tenant = catalog.tenants.get(resource.key)
        return {"tenant": resource.key, "kind": attrs.get("kind"), "parent": tenant.parent if tenant else None,
                "name": attrs.get("display_name"), "status": attrs.get("status"),
                "contact": _shown(_text(attrs.get("contact")))}
    if kind == ALIAS:
        targets = list(_strings(attrs.get("targets")))
        return {"address": shown_address(resource.key), "type": "list" if len(targets) > 1 else "alias",
                "targets": [shown_address(t) for t in targets], "status": attrs.get("status")}
    name = resource.key if "/" in resource.key else shown_address(resource.key)
    return {"name": name, "status": attrs.get("status")}


def _strings(value: object) -> Iterable[str]:
    return value if isinstance(value, tuple) else ()


def _children(compiled: Index) -> dict[str, dict[str, int]]:
    """Objects directly below each address, by kind (a domain's mailboxes and aliases)."""
    counts: dict[str, dict[str, int]] = {}
    for resource in compiled.values():
        if resource.parent is not None:
            per = counts.setdefault(resource.parent, {})
            per[resource.kind] = per.get(resource.kind, 0) + 1
    return counts


def _differs(desired: Resource, found: Resource) -> list[str]:
    """The attributes that differ live (names only: a secret's value is never compared aloud)."""
    return sorted(name for name in set(desired.attrs) | set(found.attrs)
                  if name not in desired.create_only and desired.attrs.get(name) != found.attrs.get(name))


def selector(tree: Tree, catalog: Catalog, tenant: str | None, domain: str | None) -> Callable[[Resource], bool]:
    """Whether an object is in ``--tenant`` (with its clients) and ``--domain``."""
    if tenant is not None and tenant not in catalog.tenants:
        raise IspctlError(f"--tenant {tenant}: no such tenant (known: {', '.join(sorted(catalog.tenants))})")
    if domain is not None and domain not in catalog.domains:
        raise IspctlError(f"--domain {shown_address(domain)}: no such domain in the desired state")

    def keep(resource: Resource) -> bool:
        if domain is not None and tree.domain(resource) != domain:
            return False
        if tenant is None:
            return True
        found = tree.tenant(resource)
        return found is not None and any(t.name == tenant for t in catalog.tenant_chain(found))

    return keep


def list_rows(kind: str, compiled: Index, catalog: Catalog, *, tenant: str | None = None, domain: str | None = None,
              live: Index | None = None, used: Used | None = None) -> list[dict[str, Any]]:
    """The rows of ``kind``, sorted by key; with ``live`` also the live columns."""
    tree = Tree(compiled)
    keep = selector(tree, catalog, tenant, domain)
    counts = _children(compiled) if kind == DOMAIN else {}
    rows = []
    for (found_kind, key), resource in sorted(compiled.items()):
        if found_kind != kind or not keep(resource):
            continue
        row: dict[str, Any] = {"key": key, **_own(kind, resource, catalog, counts)}
        row.setdefault("domain", _shown(tree.domain(resource)))
        row.setdefault("tenant", tree.tenant(resource))
        row.update(_where(resource))
        if live is not None:
            other = live.get(resource.identity)
            row["live"] = other is not None
            row["differs"] = _differs(resource, other) if other is not None else []
            for column, per in sorted((used or {}).items()):
                row[column] = per.get(resource.address)
        rows.append(row)
    return rows


def _shown(name: str | None) -> str | None:
    return shown_address(name) if name is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def columns(kind: str, connected: bool, used: Used | None = None) -> tuple[str, ...]:
    """The table's columns for ``kind``."""
    base = COLUMNS.get(kind, OTHER)
    return base + (LIVE + tuple(sorted(used or {})) if connected else ())
