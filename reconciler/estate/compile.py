"""Turn a valid catalog into resources with stable, readable addresses.

The estate's own kinds: ``tenant.<name>``, ``domain.<ascii name>``, ``mailbox.<address>``,
``alias.<address>``. Values are service-neutral (bytes, flags, addresses); each provider
maps them to its own representation. Effective values are compiled in: a mailbox of a
suspended domain or tenant is itself suspended, because consumers such as Dovecot and
Postfix look at one entry and cannot walk up the tree.

Services compile their own sections in a hook (``Extension``) that returns a ``Compiled``:
their own resources (``dns.<zone>/<owner>/<TYPE>``, ``maildir.<address>``), their problems,
and attributes they add to the estate's resources (a mailbox's ``home`` is the mail store's
layout). An attribute is added once: a service setting one the estate or another service
already sets is a programming error, refused.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ispctl.reconciler.engine.errors import ConfigError, Problem
from ispctl.reconciler.engine.resources import Resource, Value, address_of
from ispctl.reconciler.estate.catalog import Catalog, NTenant
from ispctl.reconciler.estate.model import Credentials, Lifecycle

TENANT, DOMAIN, MAILBOX, ALIAS = "tenant", "domain", "mailbox", "alias"
SENSITIVE_ATTRS = frozenset({"password"})
# The attributes the estate compiles for its own kinds (services may add more: ``Compiled.attrs``).
ATTRIBUTES: dict[str, frozenset[str]] = {
    TENANT: frozenset({"kind", "display_name", "contact", "status", "max_domains", "max_mailboxes", "max_aliases",
                       "quota_pool", "protected"}),
    DOMAIN: frozenset({"type", "display_name", "services", "status", "default_quota", "catch_all", "alias_of",
                       "description", "protected"}),
    MAILBOX: frozenset({"address", "display_name", "password", "quota", "status", "services", "aliases", "forward"}),
    ALIAS: frozenset({"targets", "status", "description"}),
}
# Credentials: attributes a person sets for themselves. Unless an object (or the site) says
# ``credentials: git``, they are written when the object is created and belong to their user
# afterwards (``Resource.create_only``). A later credential (an FTP or RADIUS password) is one
# more name here, or, added by a service, named in its ``Compiled.credentials``.
CREDENTIALS: dict[str, frozenset[str]] = {MAILBOX: frozenset({"password"})}


@dataclass
class Compiled:
    """What a service's compile hook contributes to the desired state."""

    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # address of an estate resource -> attributes the service adds to it
    attrs: dict[str, dict[str, Value]] = field(default_factory=dict)
    # address of an estate resource -> which of those attributes are credentials (see CREDENTIALS)
    credentials: dict[str, frozenset[str]] = field(default_factory=dict)


Extension = Callable[[Catalog], Compiled]


def effective_status(own: str, chain: list[NTenant], *more: str) -> str:
    statuses = [own, *more, *(t.status for t in chain)]
    return "suspended" if "suspended" in statuses else "active"


@dataclass
class _Draft:
    """A resource's parts before the services' attributes are merged in."""

    kind: str
    key: str
    attrs: dict[str, Value]
    more: dict[str, Any]
    credentials: Credentials | None = None  # the object's own lifecycle settings
    ignore: tuple[str, ...] = ()

    def build(self, lifecycle: Lifecycle, credentials: frozenset[str], shared: dict[frozenset[str], frozenset[str]]
              ) -> Resource:
        """The resource, with what belongs to the live side once it exists as ``create_only``.

        ``shared`` holds one copy of each set of names: nearly every mailbox has the same ones,
        and a set per resource was a tenth of the memory the estate's resources take."""
        owned = set(self.ignore) | set(lifecycle.ignore_changes.get(self.kind, ()))
        if (self.credentials or lifecycle.credentials) == "user":
            owned |= credentials
        more = dict(self.more)
        if credentials:
            sensitive = more.get("sensitive", frozenset()) | credentials
            more["sensitive"] = shared.setdefault(sensitive, sensitive)
        create_only = frozenset(owned & self.attrs.keys())
        return Resource(self.kind, self.key, self.attrs, create_only=shared.setdefault(create_only, create_only),
                        **more)


def _tenants(catalog: Catalog) -> Iterator[_Draft]:
    for tenant in catalog.tenants.values():
        lim = tenant.limits
        yield _Draft(TENANT, tenant.name, {
            "kind": tenant.kind,
            "display_name": tenant.display,
            "contact": tenant.contact,
            "status": effective_status(tenant.status, catalog.tenant_chain(tenant.name)),
            "max_domains": lim.max_domains,
            "max_mailboxes": lim.max_mailboxes,
            "max_aliases": lim.max_aliases,
            "quota_pool": lim.mail_quota_pool,
            "protected": True if tenant.protect else None,
        }, {"parent": address_of(TENANT, tenant.parent) if tenant.parent else None,
            "source": tenant.origin.location()}, ignore=tuple(tenant.spec.ignore_changes))


def _domains(catalog: Catalog) -> Iterator[_Draft]:
    for domain in catalog.domains.values():
        yield _Draft(DOMAIN, domain.name, {
            "type": domain.type,
            "display_name": domain.display,
            "services": domain.services,
            "status": effective_status(domain.status, catalog.tenant_chain(domain.tenant)),
            "default_quota": domain.default_quota,
            "catch_all": domain.catch_all,
            "alias_of": domain.alias_of,
            "description": domain.description,
            "protected": True if domain.protect else None,
        }, {"parent": address_of(TENANT, domain.tenant),
            "depends_on": (address_of(DOMAIN, domain.alias_of),) if domain.alias_of else (),
            "source": domain.origin.doc.location(("domain",))}, ignore=tuple(domain.spec.ignore_changes))


def _parents(catalog: Catalog) -> dict[str, str]:
    """Each domain's address, one string per domain that its mailboxes and aliases share as
    their ``parent`` (rather than one copy each: 130,000 strings at 100,000 mailboxes)."""
    return {name: address_of(DOMAIN, name) for name in catalog.domains}


def _mailboxes(catalog: Catalog) -> Iterator[_Draft]:
    parents = _parents(catalog)
    for box in catalog.mailboxes.values():
        domain = catalog.domains[box.domain]
        forward = set(box.forward)
        if forward and box.keep_copy:
            forward.add(box.address)  # the convention Postfix/iRedMail use for "keep a copy"
        yield _Draft(MAILBOX, box.address, {
            "address": box.address,
            "display_name": box.display,
            "password": box.password,
            "quota": box.quota,
            "status": effective_status(box.status, catalog.tenant_chain(domain.tenant), domain.status),
            "services": tuple(sorted(f for f, on in box.services.items() if on)),
            "aliases": box.aliases,
            "forward": tuple(sorted(forward)),
        }, {"parent": parents[box.domain], "previous": box.previous,
            "sensitive": SENSITIVE_ATTRS, "source": box.origin.location()},
            box.spec.credentials, tuple(box.spec.ignore_changes))


def _aliases(catalog: Catalog) -> Iterator[_Draft]:
    parents = _parents(catalog)
    for alias in catalog.aliases.values():
        domain = catalog.domains[alias.domain]
        yield _Draft(ALIAS, alias.address, {
            "targets": alias.targets,
            "status": effective_status(alias.status, catalog.tenant_chain(domain.tenant), domain.status),
            "description": alias.description,
        }, {"parent": parents[alias.domain], "source": alias.origin.location()},
            ignore=tuple(alias.spec.ignore_changes))


def _merge(drafts: list[_Draft], contributions: Iterable[Compiled], out: list[Resource]) -> dict[str, frozenset[str]]:
    """Merge the services' attributes into the drafts, their resources into ``out``; returns the
    credentials they add per address. Nothing of a part is held here once the next is taken."""
    by_address = {address_of(d.kind, d.key): d for d in drafts}
    added_credentials: dict[str, frozenset[str]] = {}
    for part in contributions:
        for address, names in part.credentials.items():
            added_credentials[address] = added_credentials.get(address, frozenset()) | names
        for address, attrs in part.attrs.items():
            draft = by_address.get(address)
            if draft is None:
                raise ConfigError(f"a service adds attributes to {address}, which the estate does not compile")
            clash = sorted(set(attrs) & set(draft.attrs))
            if clash:
                raise ConfigError(f"two sources set {', '.join(clash)} of {address}")
            draft.attrs.update(attrs)
        out.extend(part.resources)
    return added_credentials


def compile_catalog(catalog: Catalog, contributions: Iterable[Compiled] = ()) -> dict[tuple[str, str], Resource]:
    """Every resource of the estate: its own kinds, with the services' attributes merged in,
    and the services' own resources."""
    drafts = [*_tenants(catalog), *_domains(catalog), *_mailboxes(catalog), *_aliases(catalog)]
    out: list[Resource] = []
    added_credentials = _merge(drafts, contributions, out)
    lifecycle = catalog.estate.site.lifecycle
    shared: dict[frozenset[str], frozenset[str]] = {}
    # Each draft is let go once its resource exists (a resource keeps its own canonical copy
    # of the attributes): at 100,000 mailboxes the drafts alone are over 100 MB.
    queue = deque(drafts)
    del drafts
    while queue:
        d = queue.popleft()
        address = address_of(d.kind, d.key)
        credentials = CREDENTIALS.get(d.kind, frozenset()) | added_credentials.get(address, frozenset())
        out.append(d.build(lifecycle, credentials, shared))
    return {r.identity: r for r in sorted(out, key=lambda r: r.address)}
