"""The normalised estate: every name in canonical form, every object once.

``reconciler.validate`` builds a ``Catalog`` from a loaded ``Estate`` while checking
the rules that span files; ``reconciler.compile`` turns a valid catalog into resources.
Each object keeps the document and field path it came from so any later rule can
point at the exact line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .loader import Estate
from .model import Limits, Status
from .yamlload import Document, FieldPath


@dataclass
class Origin:
    doc: Document
    path: FieldPath


@dataclass
class NTenant:
    name: str
    parent: str | None
    display: str
    contact: str | None
    status: Status
    limits: Limits
    origin: Origin
    protect: bool = False

    @property
    def kind(self) -> str:
        return "reseller" if self.parent is None else "client"


@dataclass
class NDomain:
    name: str            # ASCII (IDNA) form: the identity
    display: str         # Unicode form, for people
    tenant: str
    type: str
    alias_of: str | None
    services: tuple[str, ...]
    status: Status
    default_quota: int
    catch_all: str | None
    primaries: tuple[str, ...]
    description: str | None
    origin: Origin
    protect: bool = False


@dataclass
class NMailbox:
    address: str
    local: str
    domain: str
    display: str
    password: str
    quota: int
    status: Status
    services: dict[str, bool]
    aliases: tuple[str, ...]
    forward: tuple[str, ...]
    keep_copy: bool
    origin: Origin
    previous: tuple[str, ...] = ()


@dataclass
class NAlias:
    address: str
    domain: str
    targets: tuple[str, ...]
    status: Status
    description: str | None
    origin: Origin


@dataclass
class Catalog:
    estate: Estate
    tenants: dict[str, NTenant] = field(default_factory=dict)
    domains: dict[str, NDomain] = field(default_factory=dict)
    mailboxes: dict[str, NMailbox] = field(default_factory=dict)
    aliases: dict[str, NAlias] = field(default_factory=dict)
    # every deliverable address -> the mailbox or alias address that owns it
    addresses: dict[str, str] = field(default_factory=dict)
    # the zones (a reconciler.compile_dns.DnsCatalog), set by reconciler.validate_dns
    dns: Any = None

    def tenant_chain(self, name: str) -> list[NTenant]:
        """The tenant and its ancestors, nearest first."""
        chain = []
        current: str | None = name
        while current is not None and current in self.tenants:
            chain.append(self.tenants[current])
            current = self.tenants[current].parent
        return chain
