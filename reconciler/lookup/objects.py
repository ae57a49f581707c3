"""``ispctl show KIND NAME``: one object as git has it and, when connected, as it is live.

The object is a resource of the compiled estate (its attributes are the plan's), with the
objects that share its key and hang below it (a mailbox's maildir and Sieve script), the
tenant chain above it, its file:line, what it directly contains (a domain's mailboxes), and
the services' usage figures for it (``UsagePart``: mail and FTP bytes used). Secrets are
masked on both sides: a ``sensitive`` attribute shows only whether it is set, never its value.
An attribute the live side owns after creation (``create_only``: a password its user changed)
is never marked as differing; one with a value on neither side is left out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ispctl.reconciler.engine.errors import IspctlError, Location
from ispctl.reconciler.engine.resources import Index, Resource, Value, address_of
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import DOMAIN, TENANT
from ispctl.reconciler.lookup.kinds import known_nouns, plural, shown_address
from ispctl.reconciler.lookup.table import size_text
from ispctl.reconciler.lookup.tree import Tree

Used = Mapping[str, Mapping[str, int]]  # column -> object address -> bytes (``contract.UsageReport``)


def masked(name: str, value: Value, sensitive: frozenset[str], side: str) -> Any:
    """What may be shown of an attribute: a secret only as set or not."""
    if name not in sensitive or value is None:
        return list(value) if isinstance(value, tuple) else value
    if side == "live":
        return "(set)"
    return "(hash in git)" if "password" in name or "hash" in name else "(secret in git)"


@dataclass(frozen=True)
class Row:
    name: str
    git: Any
    live: Any
    differs: bool

    def to_dict(self, connected: bool) -> dict[str, Any]:
        found = {"name": self.name, "git": self.git}
        if connected:
            found.update(live=self.live, differs=self.differs)
        return found


@dataclass
class Shown:
    kind: str
    key: str
    source: Location | None
    in_git: bool
    live: bool | None  # None: not connected (nothing live was read)
    rows: list[Row]
    tenants: list[str] = field(default_factory=list)  # nearest first
    contains: dict[str, int] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    related: list[Shown] = field(default_factory=list)

    @property
    def address(self) -> str:
        return address_of(self.kind, self.key)

    def to_dict(self) -> dict[str, Any]:
        connected = self.live is not None
        where = self.source
        return {
            "kind": self.kind, "key": self.key, "name": shown_address(self.key) if "@" in self.key else self.key,
            "file": where.file if where else None, "line": where.line if where else None,
            "in_git": self.in_git, "live": self.live, "tenants": self.tenants, "contains": self.contains,
            "used": self.used, "attributes": [r.to_dict(connected) for r in self.rows],
            "related": [r.to_dict() for r in self.related],
        }


def _tenants(resource: Resource, compiled: Index, catalog: Catalog) -> list[str]:
    """The tenant chain above an object, nearest first."""
    tenant = Tree(compiled).tenant(resource)
    chain = [t.name for t in catalog.tenant_chain(tenant)] if tenant is not None else []
    return chain[1:] if resource.kind == TENANT else chain  # a tenant's own: the ones above it


def describe(kind: str, key: str, compiled: Index, catalog: Catalog, live: Index | None, used: Used,
             read: Collection[str] | None = None) -> Shown:
    """The object ``kind.key`` (raises naming what exists when neither side has it). ``read``: the
    kinds the live read covered (None: all); a related object of another kind is shown unconnected."""
    ident = (kind, key)
    desired, found = compiled.get(ident), (live or {}).get(ident)
    if desired is None and found is None:
        where = "in git" if live is None else "in git or live"
        raise IspctlError(f"no {kind.replace('_', '-')} {key} {where}"
                          + ("" if any(k == kind for k, _ in compiled) else
                             f" (the estate has: {known_nouns({k for k, _ in compiled})})"))
    shown = _one(kind, key, desired, found, live is not None, used)
    if desired is not None:
        shown.tenants = _tenants(desired, compiled, catalog)
        shown.contains = _contains(shown.address, compiled)
        shown.related = [_one(r.kind, r.key, r, (live or {}).get(r.identity),
                              live is not None and (read is None or r.kind in read), used)
                         for r in _below(desired, compiled)]
    return shown


def _one(kind: str, key: str, desired: Resource | None, found: Resource | None, connected: bool, used: Used) -> Shown:
    names = sorted(set(desired.attrs if desired else ()) | set(found.attrs if found else ()))
    owned_live = desired.create_only if desired is not None else frozenset()
    # Secret on either side is secret on both: a live read that does not mark an attribute
    # sensitive must not show what git's side masks (and the reverse).
    sensitive = (desired.sensitive if desired else frozenset()) | (found.sensitive if found else frozenset())
    rows = []
    for name in names:
        git_value = desired.attrs.get(name) if desired else None
        live_value = found.attrs.get(name) if found else None
        if git_value is None and live_value is None:
            continue  # set nowhere (a service's attributes the object does not use)
        differs = connected and desired is not None and found is not None and name not in owned_live \
            and git_value != live_value
        rows.append(Row(name, masked(name, git_value, sensitive, "git"), masked(name, live_value, sensitive, "live"),
                        differs))
    address = address_of(kind, key)
    figures = {column: per[address] for column, per in sorted(used.items()) if address in per}
    return Shown(kind, key, desired.source if desired else None, desired is not None,
                 (found is not None) if connected else None, rows, used=figures)


def _below(resource: Resource, compiled: Index) -> list[Resource]:
    """Objects of other kinds with the same key hanging below it (maildir, then its Sieve script)."""
    chain, seen = [], {resource.address}
    frontier = [resource.address]
    while frontier:
        up = frontier.pop()
        for other in compiled.values():
            if other.key == resource.key and other.address not in seen and up in (other.parent, *other.depends_on):
                seen.add(other.address)
                chain.append(other)
                frontier.append(other.address)
    return chain


def _contains(address: str, compiled: Index) -> dict[str, int]:
    """How many objects of each kind hang directly below ``address`` (a tenant's clients and
    domains, a domain's mailboxes, aliases, sites)."""
    counts: dict[str, int] = {}
    for other in compiled.values():
        up = other.parent or (other.depends_on[0] if other.depends_on else None)
        if up == address and other.key != address.split(".", 1)[1]:
            counts[other.kind] = counts.get(other.kind, 0) + 1
    return dict(sorted(counts.items()))


SIZES = ("quota", "default_quota", "quota_pool")


def _text(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and (name in SIZES or name.endswith("_used")):
        return size_text(value) if value else "0 (none)"
    if isinstance(value, list):
        return ", ".join(_text(name, shown_address(v) if "@" in v and "\n" not in v else v) for v in value) or "-"
    text = str(value)
    return (text.splitlines()[0] + " …") if "\n" in text else text  # a whole file: its first line


def lines(shown: Shown, indent: str = "") -> list[str]:
    """The object for people: a heading, then one line per attribute (git | live when connected)."""
    title = shown_address(shown.key) if "@" in shown.key or shown.kind == DOMAIN else shown.key
    out = [f"{indent}{shown.kind.replace('_', '-')} {title}"]
    facts = []
    if shown.source is not None:
        facts.append(f"file {shown.source}")
    if shown.tenants:
        facts.append(("within " if shown.kind == TENANT else "tenant ") + " < ".join(shown.tenants))
    if not shown.in_git:
        facts.append("NOT IN GIT (live only)")
    if shown.live is False:
        facts.append("NOT LIVE (apply creates it)")
    if facts:
        out.append(f"{indent}  " + "; ".join(facts))
    if shown.contains:
        counted = (f"{n} {(k if n == 1 else plural(k)).replace('_', '-')}" for k, n in shown.contains.items())
        out.append(f"{indent}  contains " + ", ".join(counted))
    connected = shown.live is not None
    width = max((len(r.name) for r in shown.rows), default=0)
    pairs = [(_text(r.name, r.git), _text(r.name, r.live)) for r in shown.rows]
    git_width = max((len(g) for g, _ in pairs), default=0)
    if connected:
        out.append(f"{indent}  {'FIELD'.ljust(width)}  {'GIT'.ljust(git_width)}  LIVE")
    for row, (git_text, live_text) in zip(shown.rows, pairs, strict=True):
        if connected:
            mark = "  (differs)" if row.differs else ""
            out.append(f"{indent}  {row.name.ljust(width)}  {git_text.ljust(git_width)}  {live_text}{mark}")
        else:
            out.append(f"{indent}  {row.name.ljust(width)}  {git_text}")
    for column, value in shown.used.items():
        out.append(f"{indent}  {column.ljust(width)}  {_text(column, value)} (live)")
    for other in shown.related:
        out.extend(lines(other, indent + "  "))
    return out
