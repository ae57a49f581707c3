"""Applies operations to the edit's files: tenants and domains here, mail objects in
``provision.mail``, services' objects in ``provision.objects``.

Each handler changes the round-trip documents only; whether the result is a valid estate
is the whole-estate validation's to say afterwards. ``add`` of an object that already
exists with the same fields changes nothing (a billing system may retry); with other
fields it is refused (``set`` changes an object).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.loader import TENANT_FILE
from ispctl.reconciler.estate.names import InvalidName, check_tenant
from ispctl.reconciler.provision.editable import Editable
from ispctl.reconciler.provision.files import ORDER, EditFiles, drop_key, put_key
from ispctl.reconciler.provision.index import Domain, Index, Tenant, ascii_domain
from ispctl.reconciler.provision.operations import Operation

Handler = Callable[["Editor", Operation], None]
# Mappings of a few flags the estate writes on one line (``services: {pop3: false}``).
ONE_LINE = frozenset({"services"})


def set_fields(node: CommentedMap, values: Mapping[str, Any], unset: Sequence[str] = (), kind: str = "") -> None:
    """Set each dotted path (``limits.max_domains``), making the mappings on the way, top-level
    keys in ``kind``'s conventional order; remove ``unset``."""
    for dotted, value in values.items():
        parts = dotted.split(".")
        target = node
        order = ORDER.get(kind, ())
        for part in parts[:-1]:
            if not isinstance(target.get(part), CommentedMap):
                made = CommentedMap()
                if part in ONE_LINE:
                    made.fa.set_flow_style()
                put_key(target, part, made, order)
            target, order = target[part], ()
        if parts[-1] not in target or _plain(target.get(parts[-1])) != _plain(value):
            put_key(target, parts[-1], value, order)
    for dotted in unset:
        parts = dotted.split(".")
        target = node
        for part in parts[:-1]:
            target = target.get(part) if isinstance(target, CommentedMap) else None
        if isinstance(target, CommentedMap) and parts[-1] in target:
            drop_key(target, parts[-1])


def same(node: Any, values: Mapping[str, Any]) -> bool:
    """Whether every dotted path of ``values`` already has that value."""
    for dotted, value in values.items():
        target = node
        for part in dotted.split("."):
            if not isinstance(target, Mapping) or part not in target:
                return False
            target = target[part]
        if _plain(target) != _plain(value):
            return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Editor:
    """The handlers of one edit, over its files and index."""

    def __init__(self, files: EditFiles, index: Index, editables: Mapping[str, Editable] | None = None) -> None:
        self.files = files
        self.index = index
        self.editables = dict(editables or {})

    def suspend(self, node: CommentedMap, suspended: bool, kind: str) -> None:
        """``status: suspended``; resume removes it when active is the site's default."""
        if suspended:
            set_fields(node, {"status": "suspended"}, kind=kind)
        elif self.index.default_status == "active":
            set_fields(node, {}, ["status"])
        else:
            set_fields(node, {"status": "active"}, kind=kind)

    def refuse_unused(self, op: Operation, *used: str) -> None:
        """A field the verb does not take is an error, not silently ignored."""
        given = {k for k, v in op.model_dump(exclude={"op"}).items() if v not in (None, {}, [])}
        extra = sorted(given - {*used, "tenant", "domain", "address", "object"} - ({"new"} if op.verb == "rename"
                                                                                  else set()))
        if extra:
            raise IspctlError(f"{op.op} does not take {', '.join(extra)}")

    def tenant_doc(self, name: str) -> tuple[Tenant, Path, CommentedMap]:
        tenant = self.index.tenant(name)
        path = tenant.folder / TENANT_FILE
        return tenant, path, self.files.doc(path)

    def domain_doc(self, name: str) -> tuple[Domain, CommentedMap]:
        domain = self.index.domain(name)
        return domain, self.files.doc(domain.file)


def tenant_add(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "parent", "name", "contact", "set")
    name = op.target
    try:
        check_tenant(name)
    except InvalidName as exc:
        raise IspctlError(str(exc)) from None
    values = op.fields("name", "contact")
    if name in ed.index.tenants:
        tenant, _, doc = ed.tenant_doc(name)
        if tenant.parent == op.parent and same(doc, values):
            return
        what = f"client of {tenant.parent}" if tenant.parent else "a reseller"
        raise IspctlError(f"tenant {name!r} already exists ({what}); change it with 'tenant set'")
    if "name" not in values:
        raise IspctlError(f"tenant.add {name}: a display name is required (--name)")
    if op.parent is not None:
        parent = ed.index.tenant(op.parent)
        if parent.parent is not None:
            raise IspctlError(f"{op.parent!r} is a client; a new client's parent must be a reseller")
        folder = parent.folder / name
    else:
        folder = ed.index.root / "tenants" / name
    doc = CommentedMap()
    set_fields(doc, values, kind="tenant")
    ed.files.create(folder / TENANT_FILE, doc)
    ed.index.tenants[name] = Tenant(name, op.parent, folder)


def tenant_set(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "name", "contact", "set", "unset")
    _, _, doc = ed.tenant_doc(op.target)
    set_fields(doc, op.fields("name", "contact"), op.unset, "tenant")


def tenant_suspend(ed: Editor, op: Operation, suspended: bool = True) -> None:
    ed.refuse_unused(op)
    _, _, doc = ed.tenant_doc(op.target)
    ed.suspend(doc, suspended, "tenant")


def tenant_delete(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    tenant, path, _ = ed.tenant_doc(op.target)
    clients = sorted(t.name for t in ed.index.tenants.values() if t.parent == tenant.name)
    domains = sorted(d.name for d in ed.index.domain_folder_files(tenant.name) if ed.files.exists(d.file))
    if clients or domains:
        raise IspctlError(f"tenant {tenant.name!r} still has " + "; ".join(
            part for part in (f"clients {', '.join(clients)}" if clients else "",
                              f"domains {', '.join(domains)}" if domains else "") if part)
            + ": delete them first (nothing is deleted by implication)")
    ed.files.delete(path)
    del ed.index.tenants[tenant.name]


def tenant_move(ed: Editor, op: Operation) -> None:
    """A client to another reseller: its folder moves; the plan moves its entry with everything
    below it (one planned move, listed among the objects that cross resellers)."""
    ed.refuse_unused(op, "parent")
    tenant = ed.index.tenant(op.target)
    if tenant.parent is None:
        raise IspctlError(f"{op.op} {tenant.name}: a reseller has no parent to move from; only clients move")
    if op.parent is None:
        raise IspctlError(f"{op.op} {tenant.name}: the new reseller is required (--parent)")
    parent = ed.index.tenant(op.parent)
    if parent.parent is not None:
        raise IspctlError(f"{op.parent!r} is a client; a client's parent must be a reseller")
    if parent.name == tenant.parent:
        return
    folder = parent.folder / tenant.name
    if folder.exists():
        raise IspctlError(f"{folder} exists already")
    ed.files.move(tenant.folder / TENANT_FILE, folder / TENANT_FILE)
    for domain in ed.index.domain_folder_files(tenant.name):
        if ed.files.exists(domain.file):
            new = folder / domain.file.name
            ed.files.move(domain.file, new)
            domain.file = new
    ed.index.tenants[tenant.name] = Tenant(tenant.name, parent.name, folder)


def tenant_rename(ed: Editor, op: Operation) -> None:
    """A tenant under a new name, as ``git mv`` would: its folder renamed with everything in it
    (its clients' folders, every domain file, byte for byte) and the old name put first in
    ``previous:`` of its tenant.yaml. The plan then renames the live entry (one modrdn of its
    subtree, ``estate.tenant_rename``): nothing is destroyed or re-created."""
    ed.refuse_unused(op)
    tenant, _, doc = ed.tenant_doc(op.target)
    new = op.new or ""
    try:
        check_tenant(new)
    except InvalidName as exc:
        raise IspctlError(f"{op.op} {tenant.name}: {exc}") from None
    if new == tenant.name:
        return
    if new in ed.index.tenants:
        raise IspctlError(f"{op.op} {tenant.name}: tenant {new!r} exists already")
    folder = tenant.folder.parent / new
    if folder.exists():
        raise IspctlError(f"{op.op} {tenant.name}: {folder} exists already")
    members = [tenant, *(t for t in ed.index.tenants.values() if t.parent == tenant.name)]
    moves: dict[Path, Path] = {}
    for member in members:
        target = folder if member is tenant else folder / member.folder.name
        moves[member.folder / TENANT_FILE] = target / TENANT_FILE
        moves.update((d.file, target / d.file.name) for d in ed.index.domain_folder_files(member.name)
                     if ed.files.exists(d.file))
    others = sorted(str(p.relative_to(tenant.folder)) for p in tenant.folder.rglob("*")
                    if p.is_file() and p not in moves)
    if others:
        # Only the files of the estate move through an edit (validated, restored on failure).
        raise IspctlError(f"{op.op} {tenant.name}: {tenant.folder} also holds {', '.join(others)}, which this "
                          "command does not move; move or remove them first")
    previous = [tenant.name, *(p for p in doc.get("previous") or () if p not in (tenant.name, new))]
    set_fields(doc, {"previous": previous}, kind="tenant")
    for old_path, new_path in moves.items():
        ed.files.move(old_path, new_path)
    for member in members:
        member.folder = folder if member is tenant else folder / member.folder.name
        if member.parent == tenant.name:
            member.parent = new
    for domain in ed.index.domains.values():
        if domain.file in moves:
            domain.file = moves[domain.file]
            domain.tenant = new if domain.tenant == tenant.name else domain.tenant
    del ed.index.tenants[tenant.name]
    tenant.name = new
    ed.index.tenants[new] = tenant


def refuse_rename(what: str, why: str) -> Handler:
    def handler(ed: Editor, op: Operation) -> None:
        raise IspctlError(f"{op.op} {op.target}: a {what} cannot be renamed as a planned rename; {why}")
    return handler


def domain_add(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "tenant", "type", "services", "set")
    name = op.target
    ascii_name = ascii_domain(name)
    values: dict[str, Any] = {"domain": name}
    if op.type is not None:
        values["type"] = op.type
    if op.services is not None:
        values["services"] = list(op.services)
    values.update(op.set)
    existing = ed.index.domains.get(ascii_name)
    if existing is not None:
        if existing.tenant == op.tenant and same(ed.files.doc(existing.file), {k: v for k, v in values.items()
                                                                                 if k != "domain"}):
            return
        raise IspctlError(f"domain {name!r} already exists (tenant {existing.tenant}); change it with 'domain set'")
    if op.tenant is None:
        raise IspctlError(f"domain.add {name}: the tenant owning it is required (--tenant)")
    tenant = ed.index.tenant(op.tenant)
    path = tenant.folder / f"{name.rstrip('.').lower()}.yaml"
    doc = CommentedMap()
    set_fields(doc, values, kind="domain")
    ed.files.create(path, doc)
    ed.index.domains[ascii_name] = Domain(ascii_name, tenant.name, path)


def domain_set(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "type", "services", "set", "unset")
    _, doc = ed.domain_doc(op.target)
    values = dict(op.set)
    if op.type is not None:
        values["type"] = op.type
    if op.services is not None:
        values["services"] = list(op.services)
    if "domain" in values:
        raise IspctlError("a domain's name is its identity: 'domain set' cannot change it")
    set_fields(doc, values, op.unset, "domain")


def domain_suspend(ed: Editor, op: Operation, suspended: bool = True) -> None:
    ed.refuse_unused(op)
    _, doc = ed.domain_doc(op.target)
    ed.suspend(doc, suspended, "domain")


def domain_delete(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    domain = ed.index.domain(op.target)
    ed.files.delete(domain.file)
    del ed.index.domains[domain.name]


CORE: dict[str, Handler] = {
    "tenant.add": tenant_add,
    "tenant.set": tenant_set,
    "tenant.suspend": tenant_suspend,
    "tenant.resume": lambda ed, op: tenant_suspend(ed, op, suspended=False),
    "tenant.rename": tenant_rename,
    "tenant.move": tenant_move,
    "tenant.delete": tenant_delete,
    "domain.add": domain_add,
    "domain.set": domain_set,
    "domain.suspend": domain_suspend,
    "domain.resume": lambda ed, op: domain_suspend(ed, op, suspended=False),
    "domain.delete": domain_delete,
}

__all__ = ["CORE", "Editor", "Handler", "same", "set_fields"]
