"""``domain rename OLD NEW``: a rebrand composed only of changes the engine already plans safely.

The new domain's file gets the old one's content: mail settings, DNS records, aliases and every
mailbox, each with ``previous: [local@OLD]`` -- the engine's cross-domain mailbox rename, so the
directory entry and the maildir move and nothing holding mail is destroyed. The old file stays
as ``type: alias, alias_of: NEW`` (its services and DNS records kept, so its zone and MX keep
serving) and mail to an old address keeps arriving in the renamed mailbox; ``drop_old`` deletes
the old domain instead (its zone goes; mail to old addresses then bounces).

What the engine cannot carry without loss is refused, naming the object: a web site's
docroot and vhost go by its host name (``<home>/<host>/htdocs``), a mailbox's FTP home by
``<ftp.root>/<domain>/<local>``, an access account's login is ``<name>@<domain>``; renaming
those would re-create them under new names, so the domain must not use those services.
DKIM keys are per domain and made outside git (``ispctl dkim init``): the new domain needs its
own, which the plan names while it is missing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.loader import SITE_FILE
from ispctl.reconciler.provision.editor import Editor, Handler, set_fields
from ispctl.reconciler.provision.files import drop_key
from ispctl.reconciler.provision.index import Domain, ascii_domain
from ispctl.reconciler.provision.operations import Operation
from ispctl.reconciler.provision.yamlrt import load_text

# The services and sections whose objects move as planned renames (mailboxes) or carry no data
# of their own (aliases, records, settings).
CARRIED_SERVICES = frozenset({"mail", "dns"})
CARRIED_KEYS = frozenset({"domain", "type", "primaries", "services", "status", "protect", "description",
                          "ignore_changes", "mail", "mailboxes", "aliases", "dns"})
# What the old file keeps as an alias domain (the rest moves to the new file).
KEPT_KEYS = ("domain", "type", "alias_of", "services", "status", "protect", "description", "dns")
# ``primaries`` goes too: an alias domain's zone is ours (its MX), no longer the customer's secondary.
WHY = {
    "web": "a site's docroot and vhost go by its host name (<home>/<host>/htdocs): the renamed site would be a "
           "new, empty one",
    "ftp": "a mailbox's FTP home and a site's FTP login go by the domain (<ftp.root>/<domain>/<local>)",
    "dialup": "an access account's login is <name>@<domain>: its users would have to change their login",
}


def _default_services(root: Path) -> list[str]:
    """``defaults.domain_services`` of the site settings (a domain without ``services:``)."""
    path = root / SITE_FILE
    data = load_text(path.read_text(encoding="utf-8")) if path.is_file() else None
    defaults = data.get("defaults") if isinstance(data, dict) else None
    found = defaults.get("domain_services") if isinstance(defaults, dict) else None
    return [str(s) for s in found] if isinstance(found, list) else ["mail", "dns"]


def blockers(doc: CommentedMap, services: list[str], name: str) -> list[str]:
    """Every reason the domain cannot be renamed without loss, each naming its object."""
    found = []
    for service in sorted(set(services) - CARRIED_SERVICES):
        why = WHY.get(service, "its objects are named by the domain and the engine has no planned rename for them")
        found.append(f"{name} uses the {service} service: {why}; remove it from the domain first (or add the "
                     "new domain and move it by hand)")
    for key in doc:
        if str(key) not in CARRIED_KEYS and str(key) not in services:
            found.append(f"{name} has a {key}: section this command cannot carry")
    return found


def _qualified(previous: Any, old: str) -> list[str]:
    """A mailbox's earlier addresses, each with its domain: a bare local part meant the old
    domain, and would read as the new one once the mailbox is in the new file."""
    return [str(p) if "@" in str(p) else f"{p}@{old}" for p in (previous or ())]


def _carry_mailboxes(doc: CommentedMap, old: str) -> None:
    boxes = doc.get("mailboxes")
    if not isinstance(boxes, CommentedMap):
        return
    for local in list(boxes):
        node = boxes[local]
        if not isinstance(node, CommentedMap):
            node = boxes[local] = CommentedMap()
        previous = [*_qualified(node.get("previous"), old), f"{local}@{old}"]
        set_fields(node, {"previous": CommentedSeq(previous)}, kind="mailbox")
        node["previous"].fa.set_flow_style()


def _retarget(doc: CommentedMap, old: str, new: str) -> bool:
    """Targets written as full addresses of the old domain (``office: [partners@OLD]``, a
    forward, a catch-all) name the new one, so they do not depend on the old domain being kept.
    Whether anything changed."""
    changed = False

    def swap(value: Any) -> Any:
        nonlocal changed
        text = str(value)
        if not text.lower().endswith(f"@{old}"):
            return value
        changed = True
        return f"{text.rsplit('@', 1)[0]}@{new}"

    def swap_in(node: Any, key: Any) -> None:
        value = node[key]
        if isinstance(value, list):
            for i, target in enumerate(value):
                value[i] = swap(target)
        elif isinstance(value, str):
            node[key] = swap(value)

    aliases = doc.get("aliases")
    for key in list(aliases) if isinstance(aliases, CommentedMap) else []:
        value = aliases[key]
        if isinstance(value, CommentedMap):
            if "to" in value:
                swap_in(value, "to")
        else:
            swap_in(aliases, key)
    boxes = doc.get("mailboxes")
    for node in boxes.values() if isinstance(boxes, CommentedMap) else []:
        forward = node.get("forward") if isinstance(node, CommentedMap) else None
        if isinstance(forward, CommentedMap) and "to" in forward:
            swap_in(forward, "to")
    mail = doc.get("mail")
    if isinstance(mail, CommentedMap) and "catch_all" in mail:
        swap_in(mail, "catch_all")
    return changed


def _retarget_elsewhere(ed: Editor, old: str, new: str) -> None:
    """With the old domain gone, its addresses named in other domains' files would be mail to a
    domain the estate no longer hosts: they name the new domain instead (only files that do)."""
    edited = ed.files.changes()  # files this edit changed already: their documents are its own
    for other in list(ed.index.domains.values()):
        if other.name in (old, new) or not ed.files.exists(other.file):
            continue
        if other.file in edited:
            _retarget(ed.files.doc(other.file), old, new)
            continue
        text = other.file.read_text(encoding="utf-8") if other.file.is_file() else ""
        # tried on a copy first: a file loaded into the edit but not changed could still be
        # written back re-laid-out
        if f"@{old}" in text.lower() and _retarget(load_text(text), old, new):
            _retarget(ed.files.doc(other.file), old, new)


def _as_alias(doc: CommentedMap, new: str, services: list[str]) -> None:
    """The old file reduced to an alias domain of ``new``: comments above ``domain:`` kept."""
    if doc.get("type") == "slave":
        doc.pop("dns", None)  # a secondary's records are the customer's primary's
    for key in [k for k in doc if str(k) not in KEPT_KEYS]:
        drop_key(doc, str(key))
    set_fields(doc, {"type": "alias", "alias_of": new}, kind="domain")
    doc.ca.items.pop("type", None)  # a comment on the old type says what it no longer is
    if "services" in doc:
        doc["services"] = CommentedSeq(s for s in services if s in CARRIED_SERVICES)
        doc["services"].fa.set_flow_style()


def domain_rename(ed: Editor, op: Operation) -> None:
    ed.refuse_unused(op, "drop_old")
    old_domain, old_doc = ed.domain_doc(op.target)
    old = old_domain.name
    if not op.new:
        raise IspctlError(f"{op.op} {op.target}: the new domain is required")
    new_name = op.new.rstrip(".").lower()
    new = ascii_domain(new_name)
    if new == old:
        return
    kind = str(old_doc.get("type", "primary"))
    if kind == "alias" and new in ed.index.domains and _alias_of(old_domain, new, old_doc):
        return  # done before (a billing system's retry): nothing to change
    if new in ed.index.domains:
        raise IspctlError(f"{op.op} {op.target}: domain {new_name!r} exists already")
    if kind == "alias":
        raise IspctlError(f"{op.op} {op.target}: an alias domain holds no mail of its own; add the new one "
                          "('domain add --type alias') and delete the old one")
    services = [str(s) for s in old_doc["services"]] if "services" in old_doc else _default_services(ed.index.root)
    problems = blockers(old_doc, services, op.target)
    if problems:
        raise IspctlError(f"{op.op} {op.target}: " + "\n".join(problems))
    new_doc = copy.deepcopy(old_doc)
    new_doc["domain"] = new_name
    _carry_mailboxes(new_doc, old)
    _retarget(new_doc, old, new_name)
    path = old_domain.file.parent / f"{new_name}.yaml"
    ed.files.create(path, new_doc)
    ed.index.domains[new] = Domain(new, old_domain.tenant, path)
    # alias domains of the old one point at the new one (an alias of an alias is refused)
    for other in list(ed.index.domains.values()):
        if other.name not in (old, new):
            doc = ed.files.doc(other.file) if _alias_of(other, old) else None
            if doc is not None:
                set_fields(doc, {"alias_of": new_name}, kind="domain")
    if op.drop_old:
        ed.files.delete(old_domain.file)
        del ed.index.domains[old]
        _retarget_elsewhere(ed, old, new_name)
    else:
        _as_alias(old_doc, new_name, services)


def _alias_of(domain: Domain, target: str, doc: CommentedMap | None = None) -> bool:
    """Whether a domain file says ``alias_of: target`` (read apart from the edit's documents, so
    files that do not change are not touched)."""
    text = domain.file.read_text(encoding="utf-8") if doc is None and domain.file.is_file() else ""
    data = doc if doc is not None else load_text(text) if "alias_of" in text else None
    value = data.get("alias_of") if isinstance(data, dict) else None
    try:
        return isinstance(value, str) and ascii_domain(value) == target
    except IspctlError:
        return False


HANDLERS: dict[str, Handler] = {"domain.rename": domain_rename}

__all__ = ["HANDLERS", "blockers", "domain_rename"]
