"""The normalised estate: every name in canonical form, every object once.

``ispctl.reconciler.estate.validate`` builds a ``Catalog`` from a loaded ``Estate`` while
checking the rules that span files; ``ispctl.reconciler.estate.compile`` turns a valid
catalog into resources, and the services' compile hooks read it for their own sections.

Each object is built once, by keyword, with its names normalised once: it keeps the
validated model it came from (``spec``, whose plain fields need no copy here) and its
``origin`` (document and field path), so any later rule can point at the exact line.
What is stored beside ``spec`` is what validation works out: normalised names, effective
defaults and resolved references. The classes have slots: there is one object per mailbox
and alias, and a dict-less object is a few hundred bytes smaller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.estate.loader import Estate
from ispctl.reconciler.estate.model import AliasSpec, DomainFile, Limits, Mailbox, Status, TenantFile
from ispctl.reconciler.estate.yamlload import Document, FieldPath

_NOTHING_WRITTEN: Mapping[str, FieldPath] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Origin:
    doc: Document
    path: FieldPath = ()
    _location: Location | None = field(default=None, init=False, repr=False, compare=False)

    def location(self) -> Location:
        """Where ``path`` is in the file, worked out once: a mailbox's resource and the mail
        store's maildir for it name the same line, and at 100,000 mailboxes a second
        ``Location`` each was 100,000 more objects (and lookups) for the same few numbers."""
        found = self._location
        if found is None:
            found = self.doc.location(self.path)
            object.__setattr__(self, "_location", found)
        return found


@dataclass(kw_only=True, slots=True)
class NTenant:
    name: str
    parent: str | None
    spec: TenantFile
    origin: Origin
    contact: str | None
    status: Status

    @property
    def kind(self) -> str:
        return "reseller" if self.parent is None else "client"

    @property
    def display(self) -> str:
        return self.spec.name

    @property
    def limits(self) -> Limits:
        return self.spec.limits

    @property
    def protect(self) -> bool:
        return self.spec.protect


@dataclass(kw_only=True, slots=True)
class NDomain:
    name: str            # ASCII (IDNA) form: the identity
    display: str         # Unicode form, for people
    tenant: str
    spec: DomainFile
    origin: Origin
    services: tuple[str, ...]
    status: Status
    default_quota: int
    alias_of: str | None = None     # resolved: the target domain's ASCII name
    catch_all: str | None = None    # resolved: a full address

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def primaries(self) -> tuple[str, ...]:
        return tuple(self.spec.primaries)

    @property
    def description(self) -> str | None:
        return self.spec.description

    @property
    def protect(self) -> bool:
        return self.spec.protect

    @property
    def doc(self) -> Document:
        return self.origin.doc


@dataclass(kw_only=True, slots=True)
class NMailbox:
    address: str
    local: str
    domain: str
    spec: Mailbox
    origin: Origin
    quota: int
    status: Status
    services: Mapping[str, bool]  # shared between mailboxes: read-only
    # Resolved in later passes, once every address of the estate is known.
    aliases: tuple[str, ...] = ()
    forward: tuple[str, ...] = ()
    previous: tuple[str, ...] = ()
    # resolved forwarding target -> the field path it was written at (for later rules); most
    # mailboxes forward nowhere and share one empty, read-only mapping
    written: Mapping[str, FieldPath] = field(default_factory=lambda: _NOTHING_WRITTEN)

    @property
    def display(self) -> str:
        return self.spec.name or self.local

    @property
    def password(self) -> str | None:
        return self.spec.password

    @property
    def keep_copy(self) -> bool:
        return bool(self.spec.forward and self.spec.forward.keep_copy)


@dataclass(kw_only=True, slots=True)
class NAlias:
    address: str
    domain: str
    spec: AliasSpec
    origin: Origin
    status: Status
    targets: tuple[str, ...] = ()  # resolved
    written: dict[str, FieldPath] = field(default_factory=dict)  # target -> where it was written

    @property
    def description(self) -> str | None:
        return self.spec.description


@dataclass
class Catalog:
    estate: Estate
    tenants: dict[str, NTenant] = field(default_factory=dict)
    domains: dict[str, NDomain] = field(default_factory=dict)
    mailboxes: dict[str, NMailbox] = field(default_factory=dict)
    aliases: dict[str, NAlias] = field(default_factory=dict)
    # every deliverable address -> the mailbox or alias address that owns it
    addresses: dict[str, str] = field(default_factory=dict)
    # A catalog of part of the estate (``estate.incremental``): the ``Facts.totals`` of the
    # files not loaded, summed, for the rules that bound a count over the whole estate.
    outside: Mapping[str, int] = field(default_factory=dict)

    def tenant_chain(self, name: str) -> list[NTenant]:
        """The tenant and its ancestors, nearest first."""
        chain = []
        current: str | None = name
        while current is not None and current in self.tenants:
            chain.append(self.tenants[current])
            current = self.tenants[current].parent
        return chain
