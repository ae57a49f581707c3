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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from ispctl.reconciler.engine.errors import ConfigError, Location, Problem
from ispctl.reconciler.engine.resources import NOTHING, Canonical, Resource, Value, address_of, normalise_value
from ispctl.reconciler.estate.catalog import Catalog, NAlias, NDomain, NMailbox, NTenant
from ispctl.reconciler.estate.model import Credentials

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


# Where ``Resource`` keeps its attributes (a slot of the frozen dataclass): a deferred
# resource fills it on first use.
_ATTRS_SLOT: Any = Resource.__dict__["attrs"]
_COMPARED = tuple(f.name for f in fields(Resource) if f.compare)


class _Deferred(Resource):
    """A compiled resource whose attribute values are worked out when first asked for.

    Everything a plan walks without comparing (kind, key, parent, dependencies, previous
    keys, source, which attributes are sensitive or create-only) is set at once; the values
    (the object's attributes, effective status, the services' additions, normalised) on the
    first read of ``attrs``, exactly as ``Resource`` would have normalised them. A plan
    narrowed by ``--changed-since`` or ``--tenant`` reads the values of the objects it
    compares and the few its views walk, not of the whole estate's (compiling every value
    was a quarter of such a plan); a full plan reads them all.
    """

    __slots__ = ("_make",)
    _make: Callable[[], dict[str, Value]] | None

    @property
    def attrs(self) -> Mapping[str, Value]:
        make = self._make
        if make is None:
            made: Mapping[str, Value] = _ATTRS_SLOT.__get__(self, Resource)
            return made
        # As ``Resource.__post_init__`` normalises them (tests/test_compile.py compares every
        # resource of the example and a generated estate with one ``Resource`` built at once).
        made = Canonical(sorted((k, normalise_value(v)) for k, v in make().items()))
        _ATTRS_SLOT.__set__(self, made)
        _MAKE_SLOT.__set__(self, None)  # what the values were made from can go
        return made

    @attrs.setter
    def attrs(self, value: Mapping[str, Value]) -> None:  # also ``Resource.__init__`` (dataclasses.replace)
        _ATTRS_SLOT.__set__(self, value)
        _MAKE_SLOT.__set__(self, None)

    def __eq__(self, other: object) -> bool:
        # The dataclass's own __eq__ compares only objects of the very same class; a deferred
        # resource equals a plain one with the same fields.
        if not isinstance(other, Resource):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _COMPARED)

    __hash__ = None  # type: ignore[assignment]  # as Resource's: its attributes are a dict


_MAKE_SLOT: Any = _Deferred.__dict__["_make"]


# The slots a deferred resource fills at once, in ``_deferred``'s order (a slot's own setter:
# what a frozen dataclass's __init__ does per field, without looking the name up each time).
_SETTERS = tuple(Resource.__dict__[name].__set__ for name in (
    "kind", "key", "parent", "depends_on", "sensitive", "source", "recorded_fingerprint", "previous", "interrupted",
    "create_only")) + (_MAKE_SLOT.__set__,)


def _deferred(kind: str, key: str, make: Callable[[], dict[str, Value]], *, parent: str | None,
              depends_on: tuple[str, ...], sensitive: frozenset[str], source: Location | None,
              previous: tuple[str, ...], create_only: frozenset[str]) -> Resource:
    resource = object.__new__(_Deferred)
    for setter, value in zip(_SETTERS, (kind, key, parent, depends_on, sensitive, source, None, previous, None,
                                        create_only, make), strict=True):
        setter(resource, value)
    return resource


@dataclass
class _Draft:
    """A resource's parts before the services' attributes are merged in; its own attribute
    values are made by ``values`` when first needed (``_Deferred``)."""

    kind: str
    key: str
    values: Callable[[], dict[str, Value]]
    more: dict[str, Any]
    credentials: Credentials | None = None  # the object's own lifecycle settings
    ignore: tuple[str, ...] = ()
    added: dict[str, Value] = field(default_factory=dict)  # the services' attributes

    @property
    def names(self) -> frozenset[str]:
        return ATTRIBUTES[self.kind]

    def make(self) -> dict[str, Value]:
        values = self.values()
        values.update(self.added)
        return values

    def build(self, kind_owned: frozenset[str], user_owned: bool, credentials: frozenset[str],
              shared: dict[frozenset[str], frozenset[str]]) -> Resource:
        """The resource, with what belongs to the live side once it exists as ``create_only``.

        ``kind_owned`` is what the site's lifecycle gives its kind to the live side,
        ``user_owned`` whether credentials are the user's unless the object says otherwise.
        ``shared`` holds one copy of each set of names: nearly every mailbox has the same ones,
        and a set per resource was a tenth of the memory the estate's resources take."""
        owned = kind_owned.union(self.ignore) if self.ignore else kind_owned
        if (self.credentials == "user") if self.credentials else user_owned:
            owned = owned | credentials
        sensitive: frozenset[str] = self.more.get("sensitive", NOTHING)
        if credentials:
            sensitive = sensitive | credentials
        # What is owned of the attributes the resource has (mostly nothing is owned).
        create_only = frozenset(owned & (self.names | self.added.keys())) if owned else NOTHING
        return _deferred(self.kind, self.key, self.make, parent=self.more.get("parent"),
                         depends_on=self.more.get("depends_on", ()),
                         sensitive=shared.setdefault(sensitive, sensitive) if sensitive else NOTHING,
                         source=self.more.get("source"), previous=self.more.get("previous", ()),
                         create_only=shared.setdefault(create_only, create_only))


def _tenant_values(catalog: Catalog, tenant: NTenant) -> dict[str, Value]:
    lim = tenant.limits
    return {
        "kind": tenant.kind,
        "display_name": tenant.display,
        "contact": tenant.contact,
        "status": effective_status(tenant.status, catalog.tenant_chain(tenant.name)),
        "max_domains": lim.max_domains,
        "max_mailboxes": lim.max_mailboxes,
        "max_aliases": lim.max_aliases,
        "quota_pool": lim.mail_quota_pool,
        "protected": True if tenant.protect else None,
    }


def _tenants(catalog: Catalog) -> Iterator[_Draft]:
    for tenant in catalog.tenants.values():
        yield _Draft(TENANT, tenant.name, partial(_tenant_values, catalog, tenant),
                     {"parent": address_of(TENANT, tenant.parent) if tenant.parent else None,
                      "previous": tenant.spec.previous,  # a planned rename (validated: estate.tenant_rename)
                      "source": tenant.origin.location()}, ignore=tuple(tenant.spec.ignore_changes))


def _domain_values(catalog: Catalog, domain: NDomain) -> dict[str, Value]:
    return {
        "type": domain.type,
        "display_name": domain.display,
        "services": domain.services,
        "status": effective_status(domain.status, catalog.tenant_chain(domain.tenant)),
        "default_quota": domain.default_quota,
        "catch_all": domain.catch_all,
        "alias_of": domain.alias_of,
        "description": domain.description,
        "protected": True if domain.protect else None,
    }


def _domains(catalog: Catalog) -> Iterator[_Draft]:
    for domain in catalog.domains.values():
        yield _Draft(DOMAIN, domain.name, partial(_domain_values, catalog, domain),
                     {"parent": address_of(TENANT, domain.tenant),
                      "depends_on": (address_of(DOMAIN, domain.alias_of),) if domain.alias_of else (),
                      "source": domain.origin.doc.location(("domain",))}, ignore=tuple(domain.spec.ignore_changes))


def _parents(catalog: Catalog) -> dict[str, str]:
    """Each domain's address, one string per domain that its mailboxes and aliases share as
    their ``parent`` (rather than one copy each: 130,000 strings at 100,000 mailboxes)."""
    return {name: address_of(DOMAIN, name) for name in catalog.domains}


def _mailbox_values(catalog: Catalog, box: NMailbox) -> dict[str, Value]:
    domain = catalog.domains[box.domain]
    forward = set(box.forward)
    if forward and box.keep_copy:
        forward.add(box.address)  # the convention Postfix/iRedMail use for "keep a copy"
    return {
        "address": box.address,
        "display_name": box.display,
        "password": box.password,
        "quota": box.quota,
        "status": effective_status(box.status, catalog.tenant_chain(domain.tenant), domain.status),
        "services": tuple(sorted(f for f, on in box.services.items() if on)),
        "aliases": box.aliases,
        "forward": tuple(sorted(forward)),
    }


def _mailboxes(catalog: Catalog) -> Iterator[_Draft]:
    parents = _parents(catalog)
    for box in catalog.mailboxes.values():
        yield _Draft(MAILBOX, box.address, partial(_mailbox_values, catalog, box),
                     {"parent": parents[box.domain], "previous": box.previous,
                      "sensitive": SENSITIVE_ATTRS, "source": box.origin.location()},
                     box.spec.credentials, tuple(box.spec.ignore_changes))


def _alias_values(catalog: Catalog, alias: NAlias) -> dict[str, Value]:
    domain = catalog.domains[alias.domain]
    return {
        "targets": alias.targets,
        "status": effective_status(alias.status, catalog.tenant_chain(domain.tenant), domain.status),
        "description": alias.description,
    }


def _aliases(catalog: Catalog) -> Iterator[_Draft]:
    parents = _parents(catalog)
    for alias in catalog.aliases.values():
        yield _Draft(ALIAS, alias.address, partial(_alias_values, catalog, alias),
                     {"parent": parents[alias.domain], "source": alias.origin.location()},
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
            clash = sorted(set(attrs) & (draft.names | draft.added.keys()))
            if clash:
                raise ConfigError(f"two sources set {', '.join(clash)} of {address}")
            draft.added.update(attrs)
        out.extend(part.resources)
    return added_credentials


def compile_catalog(catalog: Catalog, contributions: Iterable[Compiled] = ()) -> dict[tuple[str, str], Resource]:
    """Every resource of the estate: its own kinds, with the services' attributes merged in,
    and the services' own resources."""
    drafts = [*_tenants(catalog), *_domains(catalog), *_mailboxes(catalog), *_aliases(catalog)]
    out: list[Resource] = []
    added_credentials = _merge(drafts, contributions, out)
    lifecycle = catalog.estate.site.lifecycle
    user_owned = lifecycle.credentials == "user"
    kind_owned = {kind: frozenset(lifecycle.ignore_changes.get(kind, ())) for kind in ATTRIBUTES}
    shared: dict[frozenset[str], frozenset[str]] = {}
    # Each draft is let go once its resource's values are made (``_Deferred``): a draft holds
    # no values of its own until then, only what makes them.
    queue = deque(drafts)
    del drafts
    while queue:
        d = queue.popleft()
        address = address_of(d.kind, d.key)
        credentials = CREDENTIALS.get(d.kind, frozenset()) | added_credentials.get(address, frozenset())
        out.append(d.build(kind_owned[d.kind], user_owned, credentials, shared))
    return {r.identity: r for r in sorted(out, key=lambda r: r.address)}
