"""Read an estate from disk: find the files, parse them with positions, check each
against its model, and collect every problem instead of stopping at the first.

Layout (one folder per tenant so a reseller can own its folder in CODEOWNERS)::

    desired-state/ispctl.yaml                               site settings
    desired-state/tenants/<reseller>/tenant.yaml            a reseller
    desired-state/tenants/<reseller>/<domain>.yaml          a reseller's own domain
    desired-state/tenants/<reseller>/<client>/tenant.yaml   a client of that reseller
    desired-state/tenants/<reseller>/<client>/<domain>.yaml a client's domain
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ispctl.reconciler.engine.errors import Location, Problem, ValidationFailed
from ispctl.reconciler.estate.cache import ParseCache
from ispctl.reconciler.estate.model import DomainFile, FileModels, SiteFile, TenantFile
from ispctl.reconciler.estate.model_errors import check_model
from ispctl.reconciler.estate.names import InvalidName, check_tenant
from ispctl.reconciler.estate.yamlload import Document, read_file

SITE_FILE = "ispctl.yaml"
TENANT_FILE = "tenant.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class TenantDecl:
    name: str
    parent: str | None
    spec: TenantFile
    doc: Document
    # The tenant's folder as text: a run reads hundreds of tenant folders and hardly ever needs
    # one as a Path (``folder``, made when first asked for).
    where: str

    @cached_property
    def folder(self) -> Path:
        return Path(self.where)

    @property
    def kind(self) -> str:
        return "reseller" if self.parent is None else "client"


@dataclass
class DomainDecl:
    tenant: str
    spec: DomainFile
    doc: Document


@dataclass
class Estate:
    root: Path
    site: SiteFile
    site_doc: Document
    files: FileModels
    tenants: dict[str, TenantDecl] = field(default_factory=dict)
    domain_files: list[DomainDecl] = field(default_factory=list)
    # A reseller's own repository planned on its own (estate.sources): only these resellers'
    # subtrees may change, whatever the live view holds. None: the whole estate.
    confined: frozenset[str] | None = None
    # The other repositories read, by name: the commit each was read at (None: a checkout as is).
    sources: dict[str, str | None] = field(default_factory=dict)
    # sha256 of the bytes of every tenant and domain file read, by ``Document.file`` (when the
    # run asked for them: ``Found.digests``, for ``estate.snapshot``).
    digests: dict[str, bytes] | None = None


def _display(path: Path, root: Path, label: str | None = None) -> str:
    """The path as problems name it: relative to the estate's parent, on one line; files of
    another repository start with its source's name (``northwind:desired-state/...``)."""
    try:
        text = str(Path(label or root.name) / path.relative_to(root))
    except ValueError:
        text = str(path)
    if text.isprintable():  # the usual case, answered without a loop over the characters
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def display_of(path: Path, root: Path) -> str:
    """``path``, a file of the estate at ``root``, as problems and ``Document.file`` name it."""
    return _display(path, root)


def _plain_name(name: str) -> bool:
    # Printable characters other than the plain space are never whitespace (Unicode puts all
    # other spaces and line breaks in the categories isprintable() refuses): no space but " ".
    return name.isprintable()


def _odd_name(path: Path, root: Path, label: str | None = None) -> Problem | None:
    """A file or folder name with a line break, control or other invisible character.

    Such a name prints on more than one line or looks like another one: "acme\n" once
    became a second tenant next to "acme". Only a plain space is allowed (in file names).
    """
    if _plain_name(path.name):
        return None
    what = "folder" if path.is_dir() else "file"
    return Problem(Location(_display(path, root, label)), "",
                   f"this {what} name contains a line break, tab, control or invisible character (shown escaped); "
                   f"rename the {what}")


@dataclass(frozen=True)
class _Listing:
    """A folder's entries, in the order of their names, sorted once into what the loader does
    with each (the loader goes through every tenant folder on every run, a narrowed one too)."""

    # printable names of the files read (suffix .yaml or .yml), and of the folders
    yaml: list[str]
    folders: list[str]
    # names the loader refuses, in order: with their suffix when only its case is wrong
    # (``_names_in``), with None when not printable (``_odd_name``)
    flagged: list[tuple[str, str | None]]


# The listings kept while ``scans_kept`` runs (None: none kept, every folder listed anew), by
# the estate's root and the folder's display (hashing a new Path costs more than listing it).
_kept: ContextVar[dict[tuple[Path, str], _Listing] | None] = ContextVar("kept_scans", default=None)


@contextmanager
def scans_kept() -> Iterator[None]:
    """Within it, each folder is listed once: a narrowed run (``estate.incremental``) lists the
    estate's files (``estate_files``), then loads some of them, perhaps more than once, and
    goes by that first listing (what it found changed) all along."""
    token = _kept.set({}) if _kept.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _kept.reset(token)


def _scan(folder: Path | str, root: Path, shown: str) -> _Listing:
    """Each entry of ``folder`` (in the estate at ``root``, displayed as ``shown``) once
    (``os.scandir`` knows an entry's type without a ``stat`` on most file systems: an estate's
    folders are listed by every run)."""
    kept = _kept.get()
    if kept is not None:
        listed = kept.get((root, shown))
        if listed is None:
            listed = kept[root, shown] = _listed(folder)
        return listed
    return _listed(folder)


def _listed(folder: Path | str) -> _Listing:
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                found.append((entry.name, entry.is_dir(), entry.is_file()))
            except OSError:  # as Path.is_dir()/is_file() answer for what cannot be looked at
                found.append((entry.name, False, False))
    found.sort()
    yaml: list[str] = []
    folders: list[str] = []
    flagged: list[tuple[str, str | None]] = []
    for name, is_dir, is_file in found:
        if not _plain_name(name):
            flagged.append((name, None))
            continue
        if is_dir:
            folders.append(name)
        if is_file:
            suffix = _suffix(name)
            if suffix in YAML_SUFFIXES:
                yaml.append(name)
            elif suffix.lower() in YAML_SUFFIXES:
                flagged.append((name, suffix))
    return _Listing(yaml, folders, flagged)


def _suffix(name: str) -> str:
    """``Path(name).suffix``."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _yaml_files(folder: Path, listing: _Listing) -> list[Path]:
    return [folder / name for name in listing.yaml]


def _names_in(folder: Path | str, root: Path, label: str | None, listing: _Listing) -> list[Problem]:
    """Entries of ``folder`` the loader would skip or misread because of their names."""
    if not listing.flagged:
        return []  # (no Path made: every tenant folder is looked at on every run)
    problems = []
    folder = Path(folder)
    for name, suffix in listing.flagged:
        if suffix is None:
            odd = _odd_name(folder / name, root, label)
            if odd is not None:
                problems.append(odd)
        else:
            problems.append(Problem(Location(_display(folder / name, root, label)), "",
                                    f"file suffix {suffix!r} is not read; name the file *.yaml (lower case)"))
    return problems


@dataclass
class Found:
    """What the tenant folders hold, gathered before the site settings are known.

    ``root`` and ``label`` are the repository being read (``load_tree`` may be called once
    per repository on the same Found); ``allowed`` limits the resellers it may declare."""

    root: Path
    files: FileModels
    tenants: dict[str, TenantDecl] = field(default_factory=dict)
    domain_files: list[DomainDecl] = field(default_factory=list)
    label: str | None = None
    allowed: frozenset[str] | None = None
    source: str | None = None
    # every tenant folder read, for "already used by" across repositories
    shown: dict[str, str] = field(default_factory=dict)
    # how files are parsed: through the cache of parsed files, or not (the default)
    cache: ParseCache = field(default_factory=lambda: ParseCache(None))
    # Only these domain files (by ``display``) are read; the others are skipped unread (a
    # narrowed run, ``estate.incremental``). None: every file. Tenant files are always read.
    only: frozenset[str] | None = None
    # When set, the sha256 of each tenant and domain file read is kept here (by ``display``).
    digests: dict[str, bytes] | None = None
    # The sha256 of files (by ``display``) the caller knows, by their stat (a narrowed run,
    # ``estate.snapshot``): parsed from the cache by it, unread, when the cache holds it.
    known: Mapping[str, bytes] | None = None

    def display(self, path: Path) -> str:
        return _display(path, self.root, self.label)

    def parse(self, folder: Path | str, name: str, display: str) -> tuple[Document | None, list[Problem]]:
        """``cache.load`` of the file ``name`` in ``folder``, keeping the digest of the bytes read
        when asked to (``digests``), or the cache's entry of the digest ``known`` gives (then
        without a path: most files of a narrowed run are not read)."""
        digest = self.known.get(display) if self.known is not None else None
        if digest is not None:
            held = self.cache.held(digest, display)
            if held is not None:
                if self.digests is not None:
                    self.digests[display] = digest
                return held
        path = Path(folder, name)
        if self.digests is None:
            return self.cache.load(path, display)
        raw, problems = read_file(path, display)
        if raw is None:
            return None, problems
        digest = self.digests[display] = hashlib.sha256(raw).digest()
        return self.cache.parse(raw, display, digest)


def read_site(root: Path, label: str | None = None,
              cache: ParseCache | None = None) -> tuple[Document | None, list[Problem]]:
    """The site settings file of ``root``, parsed (not yet checked against its model)."""
    site_path = root / SITE_FILE
    if not site_path.is_file():
        return None, [Problem(Location(_display(site_path, root, label)), "", "site settings file is missing")]
    return (cache or ParseCache(None)).load(site_path, _display(site_path, root, label))


def load_estate(root: Path, files: FileModels) -> tuple[Estate | None, list[Problem]]:
    """Load every file; returns the estate (None if the site file is unusable) and problems.

    Tenant and domain files are read even when the site file is broken, so that one
    run reports the problems of every file.
    """
    if not root.is_dir():
        return None, [Problem(Location(str(root)), "", "desired-state folder not found")]
    site_doc, problems = read_site(root)
    site = None
    if site_doc is not None:
        site, errs = check_model(site_doc, files.site, partial=True)
        problems += errs
    found = Found(root, files)
    problems += load_tree(found)
    if site is None or site_doc is None:
        return None, problems
    return Estate(root, site, site_doc, files, found.tenants, found.domain_files), problems


def load_tree(found: Found) -> list[Problem]:
    """Read the tenant folders of one repository (``found.root``) into ``found``."""
    root = found.root
    tenants_dir = root / "tenants"
    top = _scan(root, root, found.display(root))
    problems = _names_in(root, root, found.label, top)
    if tenants_dir.is_dir():
        # Every name below is printable (``_plain_name``): a path's display is its folder's
        # display and its name (``_display`` for each costs more than reading the file).
        shown = found.display(tenants_dir)
        scan = _scan(tenants_dir, root, shown)
        problems += _names_in(tenants_dir, root, found.label, scan)
        where = os.fspath(tenants_dir)
        for name in scan.folders:
            problems += _load_tenant(found, f"{where}/{name}", name, None, f"{shown}/{name}")
        for stray in _yaml_files(tenants_dir, scan):
            problems.append(Problem(Location(found.display(stray)), "", "unexpected file: a domain file belongs in "
                                                                        "its tenant's folder, tenants/<tenant>/"))
    for stray in _yaml_files(root, top):
        if stray.name != SITE_FILE:  # (a printable name: ``_Listing.yaml``)
            problems.append(Problem(Location(found.display(stray)), "", "unexpected file: domains belong in "
                                                                        "tenants/<tenant>/"))
    return problems


def _load_tenant(found: Found, folder: str, name: str, parent: str | None, shown: str) -> list[Problem]:
    """Load one tenant folder (``folder``, its path as text, named ``name``). A tenant that is
    unusable (bad name, no or broken tenant.yaml) is left out of the estate, but its domain
    files and client folders are still read so that their own problems are reported in the
    same run."""
    root = found.root
    scan = _scan(folder, root, shown)
    problems = _names_in(folder, root, found.label, scan)
    where = Location(shown)  # found.display(folder)
    usable = True
    try:
        check_tenant(name)
    except InvalidName as exc:
        problems.append(Problem(where, "", str(exc)))
        usable = False
    if usable and name in found.shown:
        problems.append(Problem(where, "", f"tenant name {name!r} is already used by {found.shown[name]}; tenant "
                                           "names are unique across the estate"))
        usable = False
    if usable and parent is None and found.allowed is not None and name not in found.allowed:
        # A reseller's repository declares only its own resellers: one folder more would let
        # it take over another reseller's customers.
        mine = ", ".join(sorted(found.allowed)) or "none"
        problems.append(Problem(where, "", f"source {found.source} may only declare the resellers {mine} "
                                           f"(sources.{found.source}.resellers in the site settings)"))
        usable = False
    if usable:
        found.shown[name] = shown
    spec: TenantFile | None = None
    doc: Document | None = None
    if TENANT_FILE not in scan.yaml:
        problems.append(Problem(where, "", f"missing {TENANT_FILE} (every tenant folder declares its tenant)"))
    else:
        doc, errs = found.parse(folder, TENANT_FILE, f"{shown}/{TENANT_FILE}")
        problems += errs
        if doc is not None:
            spec, errs = check_model(doc, found.files.tenant, partial=True)
            problems += errs
    usable = usable and spec is not None and doc is not None
    if usable and spec is not None and doc is not None:
        found.tenants[name] = TenantDecl(name, parent, spec, doc, folder)
    for file in scan.yaml:
        if file == TENANT_FILE:
            continue
        display = f"{shown}/{file}"  # (a printable name: ``_Listing.yaml``)
        if found.only is not None and display not in found.only:
            continue
        ddoc, errs = found.parse(folder, file, display)
        problems += errs
        if ddoc is None:
            continue
        dspec, errs = check_model(ddoc, found.files.domain, partial=True)
        problems += errs
        if dspec is not None and usable:
            found.domain_files.append(DomainDecl(name, dspec, ddoc))
    for sub in scan.folders:
        if parent is not None:
            problems.append(Problem(Location(f"{shown}/{sub}"), "", "clients cannot have sub-tenants (the tree is "
                                                                     "reseller -> client)"))
            continue
        problems += _load_tenant(found, f"{folder}/{sub}", sub, name, f"{shown}/{sub}")
    return problems


def estate_files(root: Path) -> dict[str, str]:
    """The tenant and domain files the loader reads below ``root`` (one repository): the name
    problems give each (``Document.file``) -> its path, in the loader's order; files and folders
    the loader refuses by name are left out (a run reports them)."""
    tenants_dir = root / "tenants"
    found: dict[str, str] = {}
    if not tenants_dir.is_dir():
        return found
    base = _display(tenants_dir, root)
    # Names are printable (``_plain_name``), so a file's display is its folder's and its name.
    for reseller in _scan(tenants_dir, root, base).folders:
        shown, folder = f"{base}/{reseller}", tenants_dir / reseller
        scan, where = _scan(folder, root, shown), os.fspath(folder)
        found.update((f"{shown}/{name}", f"{where}/{name}") for name in scan.yaml)
        for client in scan.folders:
            inner, inside = f"{shown}/{client}", f"{where}/{client}"
            found.update((f"{inner}/{name}", f"{inside}/{name}") for name in _scan(inside, root, inner).yaml)
    return found


def load_or_fail(root: Path, files: FileModels) -> Estate:
    estate, problems = load_estate(root, files)
    if problems or estate is None:
        raise ValidationFailed(sorted(problems))
    return estate
