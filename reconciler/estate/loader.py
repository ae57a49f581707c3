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

import difflib
import hashlib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ispctl.reconciler.engine.errors import Location, Problem, ValidationFailed
from ispctl.reconciler.estate.cache import ParseCache
from ispctl.reconciler.estate.model import DomainFile, FileModels, SiteFile, TenantFile
from ispctl.reconciler.estate.names import InvalidName, check_tenant
from ispctl.reconciler.estate.salvage import salvage
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
    folder: Path

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


def _strip(annotation: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Annotated and Optional removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_strip(arg))
        return found
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one location part further down, or None when unknown.

    A dict key or list index moves to the element type, a field name to the field's
    type; keeping the two apart matters when a mailbox or alias is itself called like a
    field ("status", "aliases"), so the did-you-mean hint still finds the right model.
    """
    for option in _strip(annotation):
        origin = typing.get_origin(option)
        if origin is dict:
            return typing.get_args(option)[1]
        if origin in (list, tuple):
            return typing.get_args(option)[0]
        if isinstance(option, type) and issubclass(option, BaseModel) and part in option.model_fields:
            return option.model_fields[part].annotation
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    for option in _strip(current):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


# pydantic's wording for the common shape errors, in the operator's terms
_SHAPES = {
    "model_type": "expected a mapping of settings (key: value) here",
    "model_attributes_type": "expected a mapping of settings (key: value) here",
    "dict_type": "expected a mapping (key: value) here",
    "list_type": "expected a list here",
    "tuple_type": "expected a list here",
    "string_type": "expected text here",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}


# Fields whose values may be secrets: a message about one never repeats what was written.
_SECRET_FIELD = re.compile(r"(?:^|_)(?:password|passwd|hash|secret|key)$", re.IGNORECASE)
_HIDDEN = "is not valid here (the value is not shown: it may be a secret)"


def _found(value: object) -> str:
    """What YAML made of an unquoted value where text was expected (never the value itself)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "nothing (null)" if value is None else ""


def _leaks(message: str, value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    return value.strip() in message or any(part in message for part in value.split() if len(part) >= 4)


def _secret(loc: tuple[Any, ...]) -> bool:
    names = [p for p in loc if isinstance(p, str)]
    return bool(names) and _SECRET_FIELD.search(names[-1]) is not None


def _message(model: type[BaseModel], err: Any) -> str:
    text = _describe(model, err)
    if _secret(tuple(err["loc"])) and _leaks(text, err.get("input")):
        return _HIDDEN
    return text


def _describe(model: type[BaseModel], err: Any) -> str:
    kind, loc = err["type"], tuple(err["loc"])
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        text = f"unknown field {loc[-1]!r}"
        if hint:
            return f"{text}; did you mean {hint[0]!r}?"
        return f"{text}; allowed here: {', '.join(known)}" if known else text
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and _found(err.get("input")):
        # YAML read an unquoted 007, 1e3, true or null as a number, boolean or null: the
        # text is refused rather than converted back (README "Validation").
        return (f"expected text here, found {_found(err.get('input'))}: YAML reads unquoted 007, 1e3, true or null "
                "that way; quote the value")
    if kind in _SHAPES:
        return _SHAPES[kind]
    if kind == "too_short":
        return "needs at least one entry" if err.get("ctx", {}).get("min_length") == 1 else "has too few entries"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg.replace("Input should be", "must be")


def check_model(doc: Document, model: type[BaseModel], partial: bool = False) -> tuple[Any, list[Problem]]:
    """Validate one document against its model; problems carry file:line:col. With ``partial``,
    a document with problems still gives what is left without its faulty fields (``salvage``),
    so that the rules across files also run on it in the same run."""
    if doc.data is None:
        return None, [doc.problem((), "the file is empty; expected a mapping of settings")]
    if not isinstance(doc.data, dict):
        found = "a list" if isinstance(doc.data, list) else "a single value"
        return None, [doc.problem((), f"expected a mapping of settings (key: value), found {found}")]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        problems = []
        # The input is only looked at (its type, and whether a message repeats a secret);
        # it is never part of a problem.
        for err in exc.errors(include_url=False):
            # Pydantic appends validator names to the location of wrapped types, and
            # "[key]" when a dict key (a local part) is at fault: the key's own path is meant.
            loc = tuple(
                p for p in err["loc"]
                if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
            )
            problems.append(doc.problem(loc, _message(model, err), key=err["type"] == "extra_forbidden"))
        return (salvage(model, doc.data) if partial else None), problems


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES and _plain_name(p.name))


def _names_in(folder: Path, root: Path, label: str | None = None) -> list[Problem]:
    """Entries of ``folder`` the loader would skip or misread because of their names."""
    problems = []
    for entry in sorted(folder.iterdir()):
        odd = _odd_name(entry, root, label)
        if odd is not None:
            problems.append(odd)
        elif entry.is_file() and entry.suffix.lower() in YAML_SUFFIXES and entry.suffix not in YAML_SUFFIXES:
            problems.append(Problem(Location(_display(entry, root, label)), "",
                                    f"file suffix {entry.suffix!r} is not read; name the file *.yaml (lower case)"))
    return problems


def _tenant_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _plain_name(p.name))


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

    def display(self, path: Path) -> str:
        return _display(path, self.root, self.label)

    def parse(self, path: Path, display: str) -> tuple[Document | None, list[Problem]]:
        """``cache.load``, keeping the digest of the bytes read when asked to (``digests``)."""
        if self.digests is None:
            return self.cache.load(path, display)
        raw, problems = read_file(path, display)
        if raw is None:
            return None, problems
        self.digests[display] = hashlib.sha256(raw).digest()
        return self.cache.parse(raw, display)


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
    problems = _names_in(root, root, found.label)
    if tenants_dir.is_dir():
        problems += _names_in(tenants_dir, root, found.label)
        for folder in _tenant_folders(tenants_dir):
            problems += _load_tenant(found, folder, parent=None)
        for stray in _yaml_files(tenants_dir):
            problems.append(Problem(Location(found.display(stray)), "", "unexpected file: a domain file belongs in "
                                                                        "its tenant's folder, tenants/<tenant>/"))
    for stray in _yaml_files(root):
        if stray.name != SITE_FILE:
            problems.append(Problem(Location(found.display(stray)), "", "unexpected file: domains belong in "
                                                                        "tenants/<tenant>/"))
    return problems


def _load_tenant(found: Found, folder: Path, parent: str | None) -> list[Problem]:
    """Load one tenant folder. A tenant that is unusable (bad name, no or broken
    tenant.yaml) is left out of the estate, but its domain files and client folders
    are still read so that their own problems are reported in the same run."""
    root = found.root
    problems = _names_in(folder, root, found.label)
    name = folder.name
    where = Location(found.display(folder))
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
        found.shown[name] = found.display(folder)
    tenant_path = folder / TENANT_FILE
    spec: TenantFile | None = None
    doc: Document | None = None
    if not tenant_path.is_file():
        problems.append(Problem(where, "", f"missing {TENANT_FILE} (every tenant folder declares its tenant)"))
    else:
        doc, errs = found.parse(tenant_path, found.display(tenant_path))
        problems += errs
        if doc is not None:
            spec, errs = check_model(doc, found.files.tenant, partial=True)
            problems += errs
    usable = usable and spec is not None and doc is not None
    if usable and spec is not None and doc is not None:
        found.tenants[name] = TenantDecl(name, parent, spec, doc, folder)
    for path in _yaml_files(folder):
        if path.name == TENANT_FILE:
            continue
        display = found.display(path)
        if found.only is not None and display not in found.only:
            continue
        ddoc, errs = found.parse(path, display)
        problems += errs
        if ddoc is None:
            continue
        dspec, errs = check_model(ddoc, found.files.domain, partial=True)
        problems += errs
        if dspec is not None and usable:
            found.domain_files.append(DomainDecl(name, dspec, ddoc))
    for sub in _tenant_folders(folder):
        if parent is not None:
            problems.append(Problem(Location(found.display(sub)), "", "clients cannot have sub-tenants (the tree is "
                                                                       "reseller -> client)"))
            continue
        problems += _load_tenant(found, sub, parent=name)
    return problems


def estate_files(root: Path) -> list[Path]:
    """The tenant and domain files the loader reads below ``root`` (one repository), in the
    loader's order; files and folders the loader refuses by name are left out (a run reports
    them)."""
    tenants_dir = root / "tenants"
    found: list[Path] = []
    if not tenants_dir.is_dir():
        return found
    for reseller in _tenant_folders(tenants_dir):
        found += _yaml_files(reseller)
        for client in _tenant_folders(reseller):
            found += _yaml_files(client)
    return found


def load_or_fail(root: Path, files: FileModels) -> Estate:
    estate, problems = load_estate(root, files)
    if problems or estate is None:
        raise ValidationFailed(sorted(problems))
    return estate
