"""Writing an imported estate as an engineer would: one folder per tenant, one file per domain.

Importers (``ispctl import ldap``, ``ispctl import ispman``) build an ``ImportedEstate`` from
what they read and hand it to ``write_estate``. The result is meant to be the first pull
request of the new estate, so it is written for people: keys in the order the estate's
own files use (``domain`` before ``mailboxes``, ``name`` before ``password``), mailboxes
and aliases sorted, and the comments the importer attached to a converted value kept at
that value's line. Nothing existing is overwritten unless the caller says so, and every
file that would be is named at once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ispctl.providers.adopt import emit
from ispctl.reconciler.contract import EstateSchema, IspctlError

TENANT_FILE = "tenant.yaml"
SITE_FILE = "ispctl.yaml"
# The shape the estate accepts for a tenant folder (README "Desired state"); checked here so
# that an importer's bad name fails before anything is written, not at the next validate.
_TENANT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Mappings whose keys are names (mailboxes, aliases, DNS owners): written sorted.
_SORTED_KEYS = frozenset({"mailboxes", "aliases", "records", "sites", "logins"})


class EstateWriteError(IspctlError):
    """The estate cannot be written as asked (existing files, bad names); names every case."""


@dataclass
class ImportedTenant:
    """A tenant's ``tenant.yaml`` content; ``parent`` is its reseller (None: a reseller)."""

    parent: str | None
    data: CommentedMap


@dataclass
class ImportedDomain:
    """One domain file's content, in the folder of ``tenant``."""

    tenant: str
    data: CommentedMap


@dataclass
class ImportedEstate:
    """What an importer read, in the estate's own terms, ready to be written."""

    tenants: dict[str, ImportedTenant] = field(default_factory=dict)
    domains: dict[str, ImportedDomain] = field(default_factory=dict)
    # Site settings the import suggests (mail root, quota default, directory base): written as
    # ispctl.yaml when the folder has none.
    site_extra: CommentedMap = field(default_factory=CommentedMap)


def tenant_slug(text: str) -> str:
    """A tenant folder name made from a directory value (``o=Acme Ltd`` -> ``acme-ltd``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return slug or "tenant"


@cache
def _orders() -> dict[str, tuple[str, ...]]:
    # The core models' field order is the estate's conventional key order; the models come
    # through the contract so that this follows any new field without a second list.
    files = EstateSchema.build().files
    return {
        "site": tuple(files.site.model_fields),
        "tenant": tuple(files.tenant.model_fields),
        "domain": tuple(files.domain.model_fields),
        "mailbox": tuple(files.mailbox.model_fields),
    }


def _reordered(data: CommentedMap, order: Iterable[str], sort_keys: bool = False) -> CommentedMap:
    """``data`` with its keys in ``order`` (unknown keys after, as given), comments kept."""
    known = [k for k in order if k in data]
    rest = [k for k in data if k not in known]
    keys = sorted(data, key=str) if sort_keys else known + rest
    if keys == list(data):
        return data  # already in order (the usual case): no copy of a 100,000-key mapping
    result = CommentedMap()
    for key in keys:
        result[key] = data[key]
        if key in data.ca.items:
            result.ca.items[key] = data.ca.items[key]
    if data.ca.comment is not None:
        result.ca.comment = data.ca.comment
    return result


def _tidy(value: Any, key: str | None = None) -> Any:
    """Name-keyed mappings sorted, nested mappings tidied (their own order is the importer's),
    lists of plain values in flow style as the estate's own files write them (``[mail, web]``)."""
    if isinstance(value, dict):
        source = value if isinstance(value, CommentedMap) else CommentedMap(value)
        tidied = _reordered(source, (), sort_keys=key in _SORTED_KEYS)
        for k, old in list(tidied.items()):
            new = _tidy(old, str(k))
            if new is not old:
                tidied[k] = new
        return tidied
    if isinstance(value, list):
        seq = value if isinstance(value, CommentedSeq) else CommentedSeq(value)
        for i, item in enumerate(seq):
            new = _tidy(item)
            if new is not item:
                seq[i] = new
        if all(isinstance(item, str | int | float | bool) for item in seq):
            seq.fa.set_flow_style()
        return seq
    return value


def _domain_document(data: CommentedMap) -> CommentedMap:
    orders = _orders()
    doc: CommentedMap = _tidy(_reordered(data, orders["domain"]))
    mailboxes = doc.get("mailboxes")
    if isinstance(mailboxes, CommentedMap):
        for local in list(mailboxes):
            box = mailboxes[local]
            if isinstance(box, CommentedMap):
                ordered = _reordered(box, orders["mailbox"])
                if ordered is not box:
                    mailboxes[local] = ordered
    return doc


def _dump(doc: CommentedMap) -> str:
    fast = emit.dump(doc)  # the same text, without ruamel's millisecond per node
    if fast is not None:
        return fast
    return ruamel_dump(doc)


def ruamel_dump(doc: CommentedMap) -> str:
    yaml = YAML()
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()


def _file_name(domain: str) -> str:
    # A domain is one label sequence without slashes; anything else would escape its folder.
    if not domain or "/" in domain or domain.startswith(".") or "\x00" in domain:
        raise EstateWriteError(f"domain {domain!r} cannot be a file name")
    return f"{domain}.yaml"


def plan_files(estate: ImportedEstate, root: Path) -> dict[Path, CommentedMap]:
    """Every file ``write_estate`` would write, with its content (problems all at once)."""
    problems: list[str] = []
    folders: dict[str, Path] = {}
    clients: list[tuple[str, str]] = []
    for name, tenant in sorted(estate.tenants.items()):
        if not _TENANT_NAME.fullmatch(name):
            problems.append(f"tenant name {name!r} must be 1-63 lower-case letters, digits and inner hyphens")
            continue
        if tenant.parent is None:
            folders[name] = root / "tenants" / name
        elif tenant.parent not in estate.tenants:
            problems.append(f"tenant {name!r} names the reseller {tenant.parent!r}, which the import has not")
        elif estate.tenants[tenant.parent].parent is not None:
            problems.append(f"tenant {name!r} is a client of {tenant.parent!r}, itself a client (the tree is "
                            "reseller -> client)")
        else:
            clients.append((name, tenant.parent))
    for name, parent in clients:
        if parent in folders:
            folders[name] = folders[parent] / name
    files: dict[Path, CommentedMap] = {}
    for name, folder in folders.items():
        files[folder / TENANT_FILE] = _tidy(_reordered(estate.tenants[name].data, _orders()["tenant"]))
    for domain, imported in sorted(estate.domains.items()):
        where = folders.get(imported.tenant)
        if where is None:
            problems.append(f"domain {domain!r} belongs to tenant {imported.tenant!r}, which is not written")
            continue
        try:
            files[where / _file_name(domain)] = _domain_document(imported.data)
        except EstateWriteError as exc:
            problems.append(str(exc))
    if estate.site_extra:
        files[root / SITE_FILE] = _tidy(_reordered(estate.site_extra, _orders()["site"]))
    if problems:
        raise EstateWriteError("the imported estate cannot be written:\n  " + "\n  ".join(problems))
    return files


def write_estate(estate: ImportedEstate, root: Path, force: bool = False) -> list[Path]:
    """Write the estate under ``root``; returns the files written, sorted.

    Existing files are refused, all named in one error, unless ``force`` (then replaced).
    Files already there that the import does not produce are left alone.
    """
    files = plan_files(estate, root)
    existing = sorted(p for p in files if p.exists())
    if existing and not force:
        listed = "\n  ".join(str(p) for p in existing)
        raise EstateWriteError(f"{len(existing)} file(s) exist and would be overwritten (use --force to replace "
                               f"them, or import into an empty folder):\n  {listed}")
    for path, doc in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(doc), encoding="utf-8")
    return sorted(files)


def commented(values: Mapping[str, Any], comments: Mapping[str, str] | None = None) -> CommentedMap:
    """A mapping for an importer: ``values`` in order, ``comments`` at their keys' lines."""
    result = CommentedMap(values)
    for key, text in (comments or {}).items():
        result.yaml_add_eol_comment(text, key)
    return result
