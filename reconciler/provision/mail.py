"""Mailboxes, aliases (lists are aliases with several targets) and forwards of a mailbox.

A mailbox rename is the estate's planned rename: the entry moves to its new key (in the
same or another domain of the tenant) with the old address added to ``previous:``, so apply
moves the entry and its mail and destroys nothing. An alias carries no data: its rename is
its delete and its add in the same edit.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.names import InvalidName, normalise_local
from ispctl.reconciler.estate.passwords import hash_password
from ispctl.reconciler.provision.editor import Editor, Handler, same, set_fields
from ispctl.reconciler.provision.files import ORDER, drop_key, put_key
from ispctl.reconciler.provision.index import Domain
from ispctl.reconciler.provision.operations import Operation


def _split(address: str) -> tuple[str, str]:
    if address.count("@") != 1:
        raise IspctlError(f"{address!r} is not an address (local@domain)")
    local, domain = address.split("@")
    try:
        normalise_local(local)
    except InvalidName as exc:
        raise IspctlError(str(exc)) from None
    return local, domain


def _key(section: Any, local: str) -> str | None:
    """The key of ``local`` in a mailboxes/aliases mapping, as written (local parts fold case)."""
    if not isinstance(section, CommentedMap):
        return None
    wanted = local.lower()
    return next((str(k) for k in section if str(k).lower() == wanted), None)


def _section(ed: Editor, address: str, name: str) -> tuple[Domain, CommentedMap, str, str | None]:
    local, domain_name = _split(address)
    domain, doc = ed.domain_doc(domain_name)
    section = doc.get(name)
    return domain, doc, local, _key(section, local)


def _mailbox(ed: Editor, address: str) -> CommentedMap:
    _, doc, _, key = _section(ed, address, "mailboxes")
    if key is None:
        raise IspctlError(f"no mailbox {address} in the estate")
    node = doc["mailboxes"][key]
    if node is None:
        doc["mailboxes"][key] = node = CommentedMap()
    if not isinstance(node, CommentedMap):
        raise IspctlError(f"mailbox {address} is not a mapping in its file; fix it by hand first")
    return node


def password_value(op: Operation) -> str | None:
    if op.password is not None and op.password_hash is not None:
        raise IspctlError(f"{op.describe()}: give password or password_hash, not both")
    if op.password is not None:
        try:
            hashed = hash_password(op.password)
        except ValueError as exc:
            raise IspctlError(f"{op.describe()}: {exc}") from None
    elif op.password_hash is not None:
        hashed = op.password_hash
    else:
        return None
    quoted: str = DoubleQuotedScalarString(hashed)  # as the estate writes hashes: "{CRYPT}$6$..."
    return quoted


def mailbox_add(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "name", "quota", "set", "password", "password_hash")
    domain, doc, local, key = _section(ed, op.target, "mailboxes")
    values = op.fields("name", "quota")
    if key is not None:
        # a retry: the same mailbox is no change (its password was set the first time)
        if same(doc["mailboxes"][key] or {}, values):
            return
        raise IspctlError(f"mailbox {op.target} already exists; change it with 'mailbox set'")
    if _key(doc.get("aliases"), local) is not None:
        raise IspctlError(f"{op.target} is an alias; delete it first or choose another address")
    hashed = password_value(op)
    if hashed is not None:
        values = {**values, "password": hashed}
    if not isinstance(doc.get("mailboxes"), CommentedMap):
        _place_section(doc, "mailboxes")
    node = CommentedMap()
    set_fields(node, values, kind="mailbox")
    if not len(node):
        node.fa.set_flow_style()  # a mailbox with every default: "alice: {}"
    put_key(doc["mailboxes"], local, node)


def _place_section(doc: CommentedMap, name: str) -> None:
    """A new ``mailboxes:``/``aliases:`` section goes where the example files have it: after
    ``mail:`` and ``mailboxes:``, before the services' sections."""
    order = ORDER["domain"]
    before = order[: order.index(name)]
    position = sum(1 for k in doc if k in before)
    doc.insert(position, name, CommentedMap())


def mailbox_set(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "name", "quota", "set", "unset", "password", "password_hash")
    node = _mailbox(ed, op.target)
    values = op.fields("name", "quota")
    hashed = password_value(op)
    if hashed is not None:
        if node.get("credentials", ed.index.default_credentials) != "git":
            # git holds only the initial password of a mailbox its user owns: a new one there
            # would change nothing live (README "Passwords: set at creation")
            raise IspctlError(f"{op.describe()}: the password in git is only the initial one (credentials: user); "
                              f"change it with 'ispctl passwd {op.target}'")
        values["password"] = hashed
    set_fields(node, values, op.unset, "mailbox")


def mailbox_suspend(ed: Editor, op: Operation, suspended: bool = True) -> None:
    ed.refuse_unused(op)
    ed.suspend(_mailbox(ed, op.target), suspended, "mailbox")


def mailbox_delete(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    _, doc, _, key = _section(ed, op.target, "mailboxes")
    if key is None:
        raise IspctlError(f"no mailbox {op.target} in the estate")
    drop_key(doc["mailboxes"], key)


def mailbox_rename(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    if not op.new:
        raise IspctlError(f"{op.op} {op.target}: the new address is required")
    old_domain, old_doc, _, old_key = _section(ed, op.target, "mailboxes")
    if old_key is None:
        raise IspctlError(f"no mailbox {op.target} in the estate")
    new_domain, new_doc, new_local, new_key = _section(ed, op.new, "mailboxes")
    if new_domain.tenant != old_domain.tenant:
        raise IspctlError(f"{op.op} {op.target} -> {op.new}: a rename stays within the tenant ({old_domain.tenant}); "
                          f"{new_domain.name} belongs to {new_domain.tenant}")
    if new_key is not None or _key(new_doc.get("aliases"), new_local) is not None:
        raise IspctlError(f"{op.new} already exists")
    node = old_doc["mailboxes"][old_key]
    node = node if isinstance(node, CommentedMap) else CommentedMap()
    drop_key(old_doc["mailboxes"], old_key)
    previous = list(node.get("previous") or [])
    previous.append(op.target)
    set_fields(node, {"previous": previous}, kind="mailbox")
    if not isinstance(new_doc.get("mailboxes"), CommentedMap):
        _place_section(new_doc, "mailboxes")
    put_key(new_doc["mailboxes"], new_local, node)


def _targets(op: Operation) -> list[str]:
    if not op.to:
        raise IspctlError(f"{op.describe()}: at least one target is required (--to)")
    return list(op.to)


def _alias_value(targets: list[str], description: str | None, rest: CommentedMap | None = None) -> Any:
    """The short form (``info: [anna, karl]``, one target bare) unless more than targets is said."""
    extra = {k: v for k, v in (rest or {}).items() if k != "to"}
    if description is not None:
        extra["description"] = description
    if not extra:
        return targets[0] if len(targets) == 1 else targets
    return {"to": targets, **extra}


def _alias_node(ed: Editor, address: str) -> tuple[CommentedMap, str]:
    _, doc, _, key = _section(ed, address, "aliases")
    if key is None:
        raise IspctlError(f"no alias {address} in the estate")
    return doc["aliases"], key


def _as_long(aliases: CommentedMap, key: str) -> CommentedMap:
    value = aliases[key]
    if isinstance(value, CommentedMap):
        return value
    targets = [value] if isinstance(value, str) else list(value)
    put_key(aliases, key, {"to": targets})
    return aliases[key]  # type: ignore[no-any-return]


def _short_again(aliases: CommentedMap, key: str) -> None:
    value = aliases[key]
    if isinstance(value, CommentedMap) and list(value) == ["to"]:
        targets = list(value["to"])
        put_key(aliases, key, targets[0] if len(targets) == 1 else targets)


def alias_add(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "to", "description")
    _, doc, local, key = _section(ed, op.target, "aliases")
    targets = _targets(op)
    if key is not None:
        current = doc["aliases"][key]
        now = current.get("to") if isinstance(current, CommentedMap) else current
        now = [now] if isinstance(now, str) else list(now or [])
        if now == targets and (op.description is None or same(current, {"description": op.description})):
            return
        raise IspctlError(f"alias {op.target} already exists; change it with 'alias set'")
    if _key(doc.get("mailboxes"), local) is not None:
        raise IspctlError(f"{op.target} is a mailbox; choose another address")
    if not isinstance(doc.get("aliases"), CommentedMap):
        _place_section(doc, "aliases")
    put_key(doc["aliases"], local, _alias_value(targets, op.description))


def alias_set(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "to", "description", "set", "unset")
    aliases, key = _alias_node(ed, op.target)
    values = dict(op.set)
    if op.description is not None:
        values["description"] = op.description
    if values or op.unset:
        set_fields(_as_long(aliases, key), values, op.unset, "alias")
    if op.to is not None:
        node = aliases[key]
        if isinstance(node, CommentedMap):
            set_fields(node, {"to": _targets(op)})
        else:
            put_key(aliases, key, _alias_value(_targets(op), None))
    _short_again(aliases, key)


def alias_suspend(ed: Editor, op: Operation, suspended: bool = True) -> None:
    ed.refuse_unused(op)
    aliases, key = _alias_node(ed, op.target)
    ed.suspend(_as_long(aliases, key), suspended, "alias")
    _short_again(aliases, key)


def alias_delete(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    aliases, key = _alias_node(ed, op.target)
    drop_key(aliases, key)


def alias_rename(ed: Editor, op: Operation) -> None:
    """No data moves with an alias: the old one is deleted and the new one added, in one edit."""
    ed.refuse_unused(op)
    if not op.new:
        raise IspctlError(f"{op.op} {op.target}: the new address is required")
    aliases, key = _alias_node(ed, op.target)
    value = aliases[key]
    _, doc, local, existing = _section(ed, op.new, "aliases")
    if existing is not None or _key(doc.get("mailboxes"), local) is not None:
        raise IspctlError(f"{op.new} already exists")
    drop_key(aliases, key)
    if not isinstance(doc.get("aliases"), CommentedMap):
        _place_section(doc, "aliases")
    put_key(doc["aliases"], local, value)


def forward_set(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "to", "keep_copy")
    node = _mailbox(ed, op.target)
    if op.verb == "add" and node.get("forward") is not None:
        if same(node["forward"], {"to": _targets(op), "keep_copy": bool(op.keep_copy)}):
            return
        raise IspctlError(f"mailbox {op.target} already forwards; change it with 'forward set'")
    values: dict[str, Any] = {"forward.to": _targets(op)}
    if op.keep_copy is not None:
        values["forward.keep_copy"] = op.keep_copy
    set_fields(node, values, kind="mailbox")


def forward_delete(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op)
    node = _mailbox(ed, op.target)
    if "forward" not in node:
        return
    drop_key(node, "forward")


def _no(what: str) -> Handler:
    def handler(ed: Editor, op: Operation) -> None:
        raise IspctlError(f"{op.op}: {what}")
    return handler


HANDLERS: dict[str, Handler] = {
    "mailbox.add": mailbox_add,
    "mailbox.set": mailbox_set,
    "mailbox.suspend": mailbox_suspend,
    "mailbox.resume": lambda ed, op: mailbox_suspend(ed, op, suspended=False),
    "mailbox.rename": mailbox_rename,
    "mailbox.delete": mailbox_delete,
    "alias.add": alias_add,
    "alias.set": alias_set,
    "alias.suspend": alias_suspend,
    "alias.resume": lambda ed, op: alias_suspend(ed, op, suspended=False),
    "alias.rename": alias_rename,
    "alias.delete": alias_delete,
    "forward.add": forward_set,
    "forward.set": forward_set,
    "forward.delete": forward_delete,
    "forward.suspend": _no("a forward is suspended with its mailbox (mailbox suspend), or removed (forward delete)"),
    "forward.resume": _no("a forward is resumed with its mailbox (mailbox resume)"),
    "forward.rename": _no("a forward belongs to its mailbox: rename the mailbox"),
}
