"""Where the estate's tenants and domains are: folders and files.

``scan`` reads only what it needs, through the cache of parsed files: the tenant folders (a
folder with a ``tenant.yaml``, clients inside their reseller's) and each domain file's
``domain:``; whether the estate is valid is the validation's after the edit, so a command
validates once. Objects added in the same edit join the index, so one batch can add a
client, its domain and its mailboxes in order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.cache import ParseCache
from ispctl.reconciler.estate.loader import SITE_FILE, TENANT_FILE
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
    default_credentials: str = "user"  # lifecycle.credentials: who owns a password after creation
    tenants: dict[str, Tenant] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path, env: Mapping[str, str] | None = None) -> Index:
        cache = ParseCache.of(os.environ if env is None else env, root)
        try:
            index = cls(root, *_site_defaults(cache, root))
            tenants = root / "tenants"
            for folder in _folders(tenants):
                index._tenant(cache, folder, None)
                for client in _folders(folder):
                    index._tenant(cache, client, folder.name)
        finally:
            cache.finish()
        return index

    def _tenant(self, cache: ParseCache, folder: Path, parent: str | None) -> None:
        if (folder / TENANT_FILE).is_file():
            self.tenants[folder.name] = Tenant(folder.name, parent, folder)
        for path in sorted(folder.glob("*.yaml")):
            if path.name == TENANT_FILE:
                continue
            doc, _ = cache.load(path, str(path))
            name = doc.data.get("domain") if doc is not None and isinstance(doc.data, dict) else None
            if isinstance(name, str):
                try:
                    self.domains.setdefault(ascii_domain(name), Domain(ascii_domain(name), folder.name, path))
                except IspctlError:  # the validation names it, at its line
                    continue

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


def _folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def _site_defaults(cache: ParseCache, root: Path) -> tuple[str, str]:
    """``defaults.status`` (what a resumed object is without a status) and
    ``lifecycle.credentials`` of the site settings."""
    path = root / SITE_FILE
    doc, _ = cache.load(path, str(path)) if path.is_file() else (None, [])
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    return (_text(data, "defaults", "status") or "active", _text(data, "lifecycle", "credentials") or "user")


def _text(data: dict[str, object], section: str, key: str) -> str | None:
    part = data.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    return value if isinstance(value, str) else None
