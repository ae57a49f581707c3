"""Services' objects (``Editable``): a key in a mapping of a domain file, named by host or login."""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision.editable import Editable
from ispctl.reconciler.provision.editor import Editor, same, set_fields
from ispctl.reconciler.provision.files import drop_key, put_key
from ispctl.reconciler.provision.index import Domain
from ispctl.reconciler.provision.mail import password_value
from ispctl.reconciler.provision.operations import Operation


def _locate(ed: Editor, editable: Editable, name: str) -> tuple[Domain, str]:
    if editable.naming == "host":
        return ed.index.within(name)
    if name.count("@") != 1:
        raise IspctlError(f"a {editable.noun} is named <login>@<domain>, not {name!r}")
    login, domain = name.split("@")
    return ed.index.domain(domain), login


def _matches(key: object, wanted: str) -> bool:
    text = str(key).lower()
    if text == wanted.lower():
        return True
    try:  # an IDN owner is written in Unicode and typed in either form
        return text.encode("idna").decode("ascii") == wanted.lower()
    except UnicodeError:
        return False


def _container(ed: Editor, editable: Editable, name: str, create: bool) -> tuple[CommentedMap | None, str, str | None]:
    domain, key = _locate(ed, editable, name)
    node = ed.files.doc(domain.file)
    for part in editable.section:
        if not isinstance(node.get(part), CommentedMap):
            if not create:
                return None, key, None
            put_key(node, part, CommentedMap())
        node = node[part]
    return node, key, next((str(k) for k in node if _matches(k, key)), None)


def _password(editable: Editable, op: Operation) -> dict[str, str]:
    """The object's password field with the hash of what --password-stdin read (or a given hash)."""
    if editable.password is None or (op.password is None and op.password_hash is None):
        return {}
    hashed = password_value(op)
    return {editable.password: hashed} if hashed is not None else {}


def _flowing(container: CommentedMap) -> bool:
    """Whether most of the objects beside a new one are written on one line."""
    maps = [v for v in container.values() if isinstance(v, CommentedMap)]
    return bool(maps) and sum(1 for v in maps if v.fa.flow_style()) * 2 > len(maps)


def apply(ed: Editor, editable: Editable, op: Operation) -> None:
    verb = op.verb
    name = op.target
    secret = _password(editable, op)
    if verb == "add":
        ed.refuse_unused(op, "set", *(("password", "password_hash") if editable.password else ()))
        container, key, existing = _container(ed, editable, name, create=True)
        assert container is not None
        if existing is not None:
            if same(container[existing] or {}, op.set):  # a retry (its password was set the first time)
                return
            raise IspctlError(f"{editable.noun} {name} already exists; change it with '{editable.noun} set'")
        value = CommentedMap()
        set_fields(value, {**op.set, **secret})
        if _flowing(container) and all(not isinstance(v, (dict, list)) for v in value.values()):
            value.fa.set_flow_style()  # as its neighbours are written: www: {A: 192.0.2.1}
        put_key(container, key, value if len(value) else editable.empty)
        return
    container, key, existing = _container(ed, editable, name, create=False)
    if container is None or existing is None:
        raise IspctlError(f"no {editable.noun} {name} in the estate")
    if verb == "delete":
        ed.refuse_unused(op)
        drop_key(container, existing)
        return
    if verb == "rename":
        _rename(ed, editable, op, container, existing)
        return
    if verb == "move":
        raise IspctlError(f"{op.op}: there is no such operation on a {editable.noun}")
    node = container[existing]
    if not isinstance(node, CommentedMap):
        put_key(container, existing, CommentedMap() if node is None else {})
        node = container[existing]
        if not isinstance(node, CommentedMap):
            raise IspctlError(f"{editable.noun} {name} is written in a short form; change it by hand")
    if verb == "set":
        ed.refuse_unused(op, "set", "unset", *(("password", "password_hash") if editable.password else ()))
        set_fields(node, {**op.set, **secret}, op.unset)
    elif editable.suspend is None:
        raise IspctlError(f"a {editable.noun} cannot be suspended (delete it, or suspend its domain)")
    elif verb == "suspend":
        ed.refuse_unused(op)
        set_fields(node, {editable.suspend[0]: editable.suspend[1]})
    else:
        ed.refuse_unused(op)
        set_fields(node, {}, [editable.suspend[0]])
    if not len(node) and editable.empty is None:
        put_key(container, existing, None)


def _rename(ed: Editor, editable: Editable, op: Operation, container: CommentedMap, existing: str) -> None:
    if not editable.rename and editable.previous is None:
        raise IspctlError(f"{op.op} {op.target}: a {editable.noun} cannot be renamed as a planned rename "
                          + (editable.no_rename or "(its data would not move); add the new one, move its data, then "
                             "delete the old one"))
    if not op.new:
        raise IspctlError(f"{op.op} {op.target}: the new name is required")
    value = container[existing]
    target, key, clash = _container(ed, editable, op.new, create=True)
    assert target is not None
    if clash is not None:
        raise IspctlError(f"{editable.noun} {op.new} already exists")
    if editable.previous is not None:
        if target is not container:
            raise IspctlError(f"{op.op} {op.target} -> {op.new}: a {editable.noun} is renamed within its domain "
                              "(its entry stays below it); add the new one there and delete this one instead")
        value = _with_previous(value, editable.previous, existing, key)
    domain, old_key = _locate(ed, editable, op.target)
    for section in editable.follows:  # checked before anything moves: a clash leaves all as it was
        node = _section(ed.files.doc(domain.file), section)
        if node is not None and any(_matches(k, key) for k in node):
            raise IspctlError(f"{op.op} {op.target} -> {op.new}: {'.'.join(section)} has {key} already")
    drop_key(container, existing)
    put_key(target, key, value)
    for section in editable.follows:
        node = _section(ed.files.doc(domain.file), section)
        written = next((str(k) for k in node if _matches(k, old_key)), None) if node is not None else None
        if node is not None and written is not None:
            moving = node[written]
            drop_key(node, written)
            put_key(node, key, moving)


def _section(doc: CommentedMap, section: tuple[str, ...]) -> CommentedMap | None:
    node: object = doc
    for part in section:
        node = node.get(part) if isinstance(node, CommentedMap) else None
    return node if isinstance(node, CommentedMap) else None


def _with_previous(value: object, field: str, old: str, new: str) -> CommentedMap:
    """The object with ``old`` first in its former names (the newest first); ``new`` dropped from
    them (renamed back: its own entry, not a former one)."""
    node = value if isinstance(value, CommentedMap) else CommentedMap()
    names = [old, *(str(n) for n in (node.get(field) or ()) if str(n) not in (old, new))]
    set_fields(node, {field: names})
    return node
