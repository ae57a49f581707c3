"""``ispctl find ADDRESS``: every object of the estate that holds an address or points to it.

Holding: a mailbox's own address, a mailbox's extra address, an alias or list, an address a
mailbox had before (``previous:``, a planned rename), an address of an alias domain (mail to
``x@alias`` is ``x@target``'s) and a domain's catch-all for an address nothing else holds.
Pointing to: an alias or list that has it among its targets, a mailbox that forwards to it, a
domain whose catch-all delivers to it, a tenant whose contact it is, and any attribute of a
service's object that names it. Each finding carries the file:line of what says so.

``live_findings`` adds what the live services say and git does not (an alias made by hand, a
forward git no longer has but apply has not removed yet), from the same attributes as the plan
compares; those have no file:line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ispctl.reconciler.engine.errors import IspctlError, Location
from ispctl.reconciler.engine.resources import Index, Resource, address_of
from ispctl.reconciler.estate.catalog import Catalog, NMailbox, Origin
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX, TENANT
from ispctl.reconciler.estate.names import InvalidName, normalise_address
from ispctl.reconciler.estate.yamlload import FieldPath
from ispctl.reconciler.lookup.kinds import CORE, shown_address


@dataclass(frozen=True)
class Finding:
    role: str           # mailbox, extra-address, alias, list, previous-address, alias-domain, catch-all,
                        # alias-target, list-member, forward, catch-all-target, contact, attribute
    object: str         # the address of the object that holds or points to it: mailbox.anna@example.net
    detail: str         # one line for people
    location: Location | None
    live_only: bool = False  # found in the live services, not in git (``live_findings``)

    def to_dict(self) -> dict[str, Any]:
        where = self.location
        return {"role": self.role, "object": self.object, "detail": self.detail,
                "file": where.file if where else None, "line": where.line if where else None,
                "column": where.column if where else None, "live_only": self.live_only}


def _at(origin: Origin, *path: str | int) -> Location:
    return origin.doc.location(origin.path + path)


def _position(raw: Sequence[str], domain: str, address: str) -> int | None:
    """Where ``address`` is written in a list of local parts or addresses of ``domain``."""
    for index, entry in enumerate(raw):
        try:
            if normalise_address(entry if "@" in entry else f"{entry}@{domain}") == address:
                return index
        except InvalidName:
            continue
    return None


def _listed(box: NMailbox, field_name: str, raw: Sequence[str], address: str) -> Location:
    index = _position(raw, box.domain, address)
    return _at(box.origin, field_name, index) if index is not None else _at(box.origin, field_name)


def _written(origin: Origin, path: FieldPath | None) -> Location:
    return origin.doc.location(path) if path is not None else origin.location()


def find(query: str, catalog: Catalog, compiled: Index) -> tuple[str, list[Finding]]:
    """The normalised address and everything that holds or points to it, in a stable order."""
    try:
        address = normalise_address(query.strip())
    except InvalidName as exc:
        raise IspctlError(f"find {query!r}: {exc}") from None
    return address, list(_holders(address, catalog)) + list(_pointers(address, catalog, compiled))


def _holders(address: str, catalog: Catalog) -> Iterator[Finding]:
    local, domain = address.rsplit("@", 1)
    box = catalog.mailboxes.get(address)
    if box is not None:
        yield Finding(MAILBOX, address_of(MAILBOX, address), f"mailbox of {box.display}", box.origin.location())
    for other in catalog.mailboxes.values():
        if address in other.aliases:
            yield Finding("extra-address", address_of(MAILBOX, other.address),
                          f"extra address of mailbox {shown_address(other.address)}",
                          _listed(other, "aliases", other.spec.aliases, address))
        if address in other.previous:
            yield Finding("previous-address", address_of(MAILBOX, other.address),
                          f"former address of mailbox {shown_address(other.address)} (renamed; its mail moved)",
                          _listed(other, "previous", other.spec.previous, address))
    alias = catalog.aliases.get(address)
    if alias is not None:
        role = "list" if len(alias.targets) > 1 else ALIAS
        targets = ", ".join(shown_address(t) for t in alias.targets)
        yield Finding(role, address_of(ALIAS, address), f"{role} to {targets}", alias.origin.location())
    owner = catalog.domains.get(domain)
    if owner is not None and owner.alias_of is not None:
        target = f"{local}@{owner.alias_of}"
        yield Finding("alias-domain", address_of(DOMAIN, domain),
                      f"domain {owner.display} is an alias of {shown_address(owner.alias_of)}: mail goes to "
                      f"{shown_address(target)}", _at(owner.origin, "alias_of"))
    if owner is not None and owner.catch_all is not None and address not in catalog.addresses:
        yield Finding("catch-all", address_of(DOMAIN, domain),
                      f"no object has this address: the catch-all of {owner.display} takes it "
                      f"({shown_address(owner.catch_all)})", _at(owner.origin, "mail", "catch_all"))


def _pointers(address: str, catalog: Catalog, compiled: Index) -> Iterator[Finding]:
    for alias in catalog.aliases.values():
        if address in alias.targets:
            role = "list-member" if len(alias.targets) > 1 else "alias-target"
            word = "list" if len(alias.targets) > 1 else "alias"
            yield Finding(role, address_of(ALIAS, alias.address), f"{word} {shown_address(alias.address)} delivers "
                          "to it", _written(alias.origin, alias.written.get(address)))
    for box in catalog.mailboxes.values():
        if address in box.forward:
            copy = " (keeps a copy)" if box.keep_copy else ""
            yield Finding("forward", address_of(MAILBOX, box.address),
                          f"mailbox {shown_address(box.address)} forwards to it{copy}",
                          _written(box.origin, box.written.get(address)))
    for domain in catalog.domains.values():
        if domain.catch_all == address:
            yield Finding("catch-all-target", address_of(DOMAIN, domain.name),
                          f"catch-all of domain {domain.display}", _at(domain.origin, "mail", "catch_all"))
    for tenant in catalog.tenants.values():
        if tenant.contact is not None and _same(tenant.contact, address):
            yield Finding("contact", address_of(TENANT, tenant.name), f"contact of tenant {tenant.name}",
                          _at(tenant.origin, "contact"))
    yield from _attributes(address, compiled)


def _same(text: str, address: str) -> bool:
    try:
        return normalise_address(text) == address
    except InvalidName:
        return False


def _attributes(address: str, compiled: Index) -> Iterator[Finding]:
    """A service's object that names the address in one of its attributes (the estate's own
    kinds are covered above, with their own words; derived copies such as a maildir's path
    never hold an address as a whole value)."""
    local = address.split("@", 1)[0]
    for (kind, key), resource in sorted(compiled.items()):
        if kind in CORE:
            continue
        for name, value in resource.attrs.items():
            if name in resource.sensitive:
                continue
            values = value if isinstance(value, tuple) else (value,)
            # A cheap test first: the local part is ASCII-folded the same way on both sides.
            if any(isinstance(v, str) and "@" in v and local in v.lower() and _same(v, address) for v in values):
                yield Finding("attribute", resource.address, f"{kind} {key}: {name}", resource.source)


# The estate's own kinds: which live attribute holding the address plays which part.
_LIVE_ROLES = {(MAILBOX, "aliases"): "extra-address", (MAILBOX, "forward"): "forward",
               (ALIAS, "targets"): "alias-target", (DOMAIN, "catch_all"): "catch-all-target"}


def live_findings(address: str, live: Index, known: Sequence[Finding]) -> list[Finding]:
    """What the live objects say about ``address`` beyond the findings git gave (``known``)."""
    seen = {(f.role, f.object) for f in known}
    found: list[Finding] = []

    def add(role: str, resource: Resource, what: str) -> None:
        if (role, resource.address) not in seen:
            seen.add((role, resource.address))
            found.append(Finding(role, resource.address, f"{what} (live only, not in git)", None, live_only=True))

    for (kind, key), resource in sorted(live.items()):
        if key == address and kind in (MAILBOX, ALIAS):
            targets = _values(resource.attrs.get("targets"))
            role = MAILBOX if kind == MAILBOX else ("list" if len(targets) > 1 else ALIAS)
            add(role, resource, f"{role} {shown_address(key)}")
        for (owner, name), role in _LIVE_ROLES.items():
            values = _values(resource.attrs.get(name))
            if kind == owner and address in values:
                if role == "alias-target" and len(values) > 1:
                    role = "list-member"
                add(role, resource, f"{kind} {shown_address(key)}: {name}")
    for finding in _attributes(address, live):
        if (finding.role, finding.object) not in seen:
            seen.add((finding.role, finding.object))
            found.append(Finding(finding.role, finding.object, f"{finding.detail} (live only, not in git)", None,
                                 live_only=True))
    return found


def _values(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    return (value,) if isinstance(value, str) else ()
