"""Which changes a run may make: --target, --exclude, --tenant and --changed-since.

A scope never changes what is compared, only which of the resulting changes are kept, and
it keeps a plan applicable: a targeted change brings along the changes it needs (creating
its parent, moving it), and an excluded change takes along the changes that need it.
Validation always covers the whole estate; only planning is narrowed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .apply import prerequisites
from .catalog import Catalog
from .errors import IspctlError
from .loader import SITE_FILE, TENANT_FILE
from .plan import Change, Plan
from .resources import Resource

Index = Mapping[tuple[str, str], Resource]


@dataclass(frozen=True)
class Scope:
    targets: tuple[str, ...] = ()      # address globs; empty = everything
    excludes: tuple[str, ...] = ()     # address globs
    anchors: frozenset[str] = field(default_factory=frozenset)  # keep changes at or below these
    everything: bool = True             # False once --tenant/--changed-since narrowed it

    @property
    def narrowed(self) -> bool:
        return bool(self.targets or self.excludes) or not self.everything

    def describe(self) -> dict[str, object]:
        return {"targets": list(self.targets), "excludes": list(self.excludes),
                "anchors": sorted(self.anchors) if not self.everything else None}


def ancestry(resource: Resource, index: Mapping[str, Resource]) -> list[str]:
    """The resource's address and those above it (parents, or the first dependency)."""
    chain = [resource.address]
    current = resource
    while True:
        up = current.parent or (current.depends_on[0] if current.depends_on else None)
        if up is None or up in chain:
            return chain
        chain.append(up)  # named even when it is gone: a removed domain still anchors its zone
        if up not in index:
            return chain
        current = index[up]


def tenant_scope(names: Iterable[str], catalog: Catalog) -> Scope:
    anchors = set()
    for name in names:
        if name not in catalog.tenants:
            known = ", ".join(sorted(catalog.tenants))
            raise IspctlError(f"--tenant {name}: no such tenant (known: {known})")
        anchors.add(f"tenant.{name}")
    return Scope(anchors=frozenset(anchors), everything=False)


def changed_scope(files: Sequence[Path], catalog: Catalog,
                  former_domain: Callable[[Path], str | None] = lambda path: None) -> Scope:
    """Anchors for the objects whose files changed; the site file widens to everything.

    A domain file maps to its domain; a tenant file, or a domain file that no longer
    parses or exists (deleted, renamed), maps to the tenant of its folder, which is wider
    but never misses a change. ``former_domain`` names the domain a file declared at the
    reference (from git), so a removed domain also anchors what only it links to.
    """
    root = catalog.estate.root.resolve()
    domain_files: dict[str, str] = {}
    for domain in catalog.domains.values():
        domain_files[str((root.parent / domain.origin.doc.file).resolve())] = domain.name
    anchors: set[str] = set()
    for path in files:
        resolved = path.resolve()
        if resolved == root / SITE_FILE:
            return Scope()
        try:
            parts = resolved.relative_to(root).parts
        except ValueError:
            continue
        if len(parts) < 2 or parts[0] != "tenants":
            continue
        domain_name = domain_files.get(str(resolved))
        if domain_name is not None and resolved.name != TENANT_FILE:
            anchors.add(f"domain.{domain_name}")
            continue
        former = former_domain(path) if resolved.name != TENANT_FILE else None
        if former:
            anchors.add(f"domain.{former}")
        # The tenant folder the file is in: tenants/<reseller>[/<client>]/<file>.
        folders = parts[1:-1]
        if folders:
            anchors.add(f"tenant.{folders[-1]}")
    return Scope(anchors=frozenset(anchors), everything=False)


def apply_scope(plan: Plan, scope: Scope, desired: Index, live: Index) -> Plan:
    """The changes of ``plan`` the scope allows, closed over what they need."""
    if not scope.narrowed:
        return plan
    index = {r.address: r for r in live.values()}
    index.update({r.address: r for r in desired.values()})
    kept: set[str] = set()
    for change in plan.changes:
        chain = ancestry(change.resource, index)
        if change.before is not None and change.after is not None:
            chain += ancestry(change.before, index)  # a moved object belongs to both places
        in_anchor = scope.everything or any(a in scope.anchors for a in chain)
        targeted = not scope.targets or any(fnmatch.fnmatchcase(change.address, t) for t in scope.targets)
        if in_anchor and targeted:
            kept.add(change.address)
    needs = prerequisites(plan)
    # Bring along what kept changes need (creating a parent before its child) ...
    stack = list(kept)
    while stack:
        for dep in needs[stack.pop()]:
            if dep not in kept:
                kept.add(dep)
                stack.append(dep)
    # ... and drop excluded changes together with everything that needs them.
    dropped = {c.address for c in plan.changes if any(fnmatch.fnmatchcase(c.address, e) for e in scope.excludes)}
    grew = True
    while grew:
        grew = False
        for address in list(kept - dropped):
            if needs[address] & dropped:
                dropped.add(address)
                grew = True
    changes: tuple[Change, ...] = tuple(c for c in plan.changes if c.address in kept and c.address not in dropped)
    return replace(plan, changes=changes)
