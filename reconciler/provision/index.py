"""Where the estate's tenants and domains are: folders and files, from the validated catalog.

Objects added in the same edit join the index, so one batch can add a client, its domain
and its mailboxes in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.names import InvalidName, normalise_domain


@dataclass
class Tenant:
    name: str
    parent: str | None
    folder: Path


@dataclass
class Domain:
    name: str  # ASCII form
    tenant: str
    file: Path


@dataclass
class Index:
    root: Path
    default_status: str = "active"
    tenants: dict[str, Tenant] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path, catalog: Catalog) -> Index:
        index = cls(root, catalog.estate.site.defaults.status)
        for name, tenant in catalog.tenants.items():
            path = index.real(tenant.origin.doc.file)
            if path is not None:
                index.tenants[name] = Tenant(name, tenant.parent, path.parent)
        for name, domain in catalog.domains.items():
            path = index.real(domain.origin.doc.file)
            if path is not None:
                index.domains[name] = Domain(name, domain.tenant, path)
        return index

    def real(self, shown: str) -> Path | None:
        """The file a problem's name stands for (``<root name>/...``); None for another
        repository's file (``source:...``), which this checkout cannot edit."""
        parts = Path(shown).parts
        if not parts or parts[0] != self.root.name:
            return None
        return self.root.joinpath(*parts[1:])

    def tenant(self, name: str) -> Tenant:
        found = self.tenants.get(name)
        if found is None:
            raise IspctlError(f"no tenant {name!r} in the estate")
        return found

    def domain(self, name: str) -> Domain:
        ascii_name = ascii_domain(name)
        found = self.domains.get(ascii_name)
        if found is None:
            raise IspctlError(f"no domain {name!r} in the estate")
        return found

    def within(self, host: str) -> tuple[Domain, str]:
        """The domain a host name is in (the longest known suffix) and its name relative to
        it (``@`` for the apex)."""
        labels = host.rstrip(".").split(".")
        for i in range(len(labels) - 1):
            suffix = ".".join(labels[i:])
            try:
                found = self.domains.get(ascii_domain(suffix))
            except IspctlError:
                continue
            if found is not None:
                return found, ".".join(labels[:i]) or "@"
        raise IspctlError(f"{host!r} is in no domain of the estate")

    def domain_folder_files(self, tenant: str) -> list[Domain]:
        return [d for d in self.domains.values() if d.tenant == tenant]


def ascii_domain(name: str) -> str:
    try:
        return normalise_domain(name).ascii
    except InvalidName as exc:
        raise IspctlError(str(exc)) from None
