"""The estate's scopes: --tenant and --changed-since as anchors of a plan scope.

A tenant anchors everything in its folder; a changed file anchors the domain it declares
(or declared, for a file removed since the reference) and the tenant of its folder, and a
changed site file widens the scope to everything. The engine keeps the changes at or
below the anchors (``ispctl.reconciler.engine.scope``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import FilesAt
from ispctl.reconciler.engine.scope import Scope
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import DOMAIN, TENANT
from ispctl.reconciler.estate.loader import SITE_FILE, TENANT_FILE, display_of
from ispctl.reconciler.estate.names import InvalidName, normalise_domain
from ispctl.reconciler.estate.yamlload import load_text


def tenant_scope(names: Iterable[str], catalog: Catalog) -> Scope:
    anchors = set()
    for name in names:
        if name not in catalog.tenants:
            known = ", ".join(sorted(catalog.tenants))
            raise IspctlError(f"--tenant {name}: no such tenant (known: {known})")
        anchors.add(f"{TENANT}.{name}")
    return Scope(anchors=frozenset(anchors), everything=False)


def changed_scope(files: Sequence[Path], catalog: Catalog,
                  former_domain: Callable[[Path], str | None] = lambda path: None) -> Scope:
    """Anchors for the objects whose files changed; the site file widens to everything.

    A domain file maps to its domain; a tenant file, or a domain file that no longer
    parses or exists (deleted, renamed), maps to the tenant of its folder, which is wider
    but never misses a change. ``former_domain`` names the domain a file declared at the
    reference (from git), so a removed domain also anchors what only it links to.
    """
    given = catalog.estate.root
    root = given.resolve()
    # Only the domain files that could be a changed one are kept (by name first): an estate
    # has thousands, a pull request changes a few. They are matched by the name problems give
    # them, made from the root as given (``--dir .`` names them without a folder).
    names = {path.name for path in files}
    domain_files = {domain.origin.doc.file: domain.name for domain in catalog.domains.values()
                    if os.path.basename(domain.origin.doc.file) in names}
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
        domain_name = domain_files.get(display_of(given.joinpath(*parts), given))
        if domain_name is not None and resolved.name != TENANT_FILE:
            anchors.add(f"{DOMAIN}.{domain_name}")
            continue
        former = former_domain(path) if resolved.name != TENANT_FILE else None
        if former:
            anchors.add(f"{DOMAIN}.{former}")
        # The tenant folder the file is in: tenants/<reseller>[/<client>]/<file>.
        folders = parts[1:-1]
        if folders:
            anchors.add(f"{TENANT}.{folders[-1]}")
    return Scope(anchors=frozenset(anchors), everything=False)


def former_domains(root: Path, ref: str) -> Callable[[Path], str | None]:
    """``changed_scope``'s ``former_domain`` for files at ``ref`` (one repository handle for
    every file asked about)."""
    files = FilesAt(root, ref)
    return lambda path: former_domain(files, path)


def former_domain(files: FilesAt, path: Path) -> str | None:
    """The domain a file declared in ``files``, if it was a domain file (best effort)."""
    raw = files.read(path)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None  # unreadable then: its tenant folder still anchors the scope
    doc, problems = load_text(text, str(path))
    if doc is None or problems:
        return None  # unreadable then: its tenant folder still anchors the scope
    declared = doc.data.get("domain") if isinstance(doc.data, dict) else None
    if not isinstance(declared, str):
        return None
    try:
        return normalise_domain(declared).ascii
    except InvalidName:
        return None
