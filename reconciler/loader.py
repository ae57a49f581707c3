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
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Location, Problem, ValidationFailed
from .model import DomainFile, SiteFile, TenantFile
from .names import NameError_, check_tenant
from .yamlload import Document, load_document

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
    tenants: dict[str, TenantDecl] = field(default_factory=dict)
    domain_files: list[DomainDecl] = field(default_factory=list)


def _display(path: Path, root: Path) -> str:
    try:
        return str(Path(root.name) / path.relative_to(root))
    except ValueError:
        return str(path)


def _unwrap(annotation: Any) -> list[Any]:
    """Candidate model classes reachable from a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, str) and part in current.model_fields:
            candidates = _unwrap(current.model_fields[part].annotation)
            current = candidates[0] if candidates else None
        # dict keys and list indexes keep the element model found for the container
    return current


def _message(model: type[BaseModel], err: Any) -> str:
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
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def check_model(doc: Document, model: type[BaseModel]) -> tuple[Any, list[Problem]]:
    """Validate one document against its model; problems carry file:line:col."""
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), f"expected a mapping of settings, found {type(doc.data).__name__}")]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            # Pydantic appends validator names to the location of wrapped types.
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            problems.append(doc.problem(loc, _message(model, err)))
        return None, problems


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)


def load_estate(root: Path) -> tuple[Estate | None, list[Problem]]:
    """Load every file; returns the estate (None if the site file is unusable) and problems."""
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(Location(str(root)), "", "desired-state folder not found")]
    site_path = root / SITE_FILE
    if not site_path.is_file():
        return None, [Problem(Location(_display(site_path, root)), "", "site settings file is missing")]
    site_doc, errs = load_document(site_path, _display(site_path, root))
    problems += errs
    site = None
    if site_doc is not None:
        site, errs = check_model(site_doc, SiteFile)
        problems += errs
    if site is None or site_doc is None:
        return None, problems
    estate = Estate(root=root, site=site, site_doc=site_doc)
    tenants_dir = root / "tenants"
    if tenants_dir.is_dir():
        for folder in sorted(p for p in tenants_dir.iterdir() if p.is_dir()):
            problems += _load_tenant(estate, folder, parent=None)
    for stray in _yaml_files(root):
        if stray.name != SITE_FILE:
            problems.append(Problem(Location(_display(stray, root)), "", "unexpected file: domains belong in tenants/<tenant>/"))
    return estate, problems


def _load_tenant(estate: Estate, folder: Path, parent: str | None) -> list[Problem]:
    root = estate.root
    problems: list[Problem] = []
    name = folder.name
    where = Location(_display(folder, root))
    try:
        check_tenant(name)
    except NameError_ as exc:
        return [Problem(where, "", str(exc))]
    if name in estate.tenants:
        other = estate.tenants[name].folder
        return [Problem(where, "", f"tenant name {name!r} is already used by {_display(other, root)}; tenant names are unique across the estate")]
    tenant_path = folder / TENANT_FILE
    if not tenant_path.is_file():
        return [Problem(where, "", f"missing {TENANT_FILE} (every tenant folder declares its tenant)")]
    doc, errs = load_document(tenant_path, _display(tenant_path, root))
    problems += errs
    if doc is None:
        return problems
    spec, errs = check_model(doc, TenantFile)
    problems += errs
    if spec is None:
        return problems
    estate.tenants[name] = TenantDecl(name, parent, spec, doc, folder)
    for path in _yaml_files(folder):
        if path.name == TENANT_FILE:
            continue
        ddoc, errs = load_document(path, _display(path, root))
        problems += errs
        if ddoc is None:
            continue
        dspec, errs = check_model(ddoc, DomainFile)
        problems += errs
        if dspec is not None:
            estate.domain_files.append(DomainDecl(name, dspec, ddoc))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if parent is not None:
            problems.append(Problem(Location(_display(sub, root)), "", "clients cannot have sub-tenants (the tree is reseller -> client)"))
            continue
        problems += _load_tenant(estate, sub, parent=name)
    return problems


def load_or_fail(root: Path) -> Estate:
    estate, problems = load_estate(root)
    if problems or estate is None:
        raise ValidationFailed(sorted(problems))
    return estate
