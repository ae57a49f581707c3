"""Resources <-> directory entries: pure functions, tested with data fixtures.

The directory tree (DIT) under the managed base ``B``::

    o=<reseller>,B                                        tenant (reseller)
    o=<client>,o=<reseller>,B                             tenant (client)
    associatedDomain=<domain>,o=<tenant>,...,B            domain
    uid=<address>,associatedDomain=<domain>,...           mailbox
    mail=<address>,associatedDomain=<domain>,...          alias / distribution list

Every entry ispctl manages carries the ``ispctlManaged`` marker class; entries without
it are not ours and are never read, changed or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ispctl.providers.ldap import dn as dnlib
from ispctl.reconciler.contract import Resource, Value

Conv = Literal["str", "int", "multi", "bool"]
MARKER = "ispctlManaged"
FINGERPRINT = "ispctlFingerprint"


@dataclass(frozen=True)
class KindMap:
    kind: str
    object_classes: tuple[str, ...]
    identifying_class: str
    rdn_attr: str
    # resource attribute -> (LDAP attributes written with the same value, conversion)
    fields: Mapping[str, tuple[tuple[str, ...], Conv]]
    sensitive: frozenset[str] = frozenset()

    def ldap_attrs(self) -> set[str]:
        names = {self.rdn_attr}
        for ldap_names, _ in self.fields.values():
            names.update(ldap_names)
        return names


KINDS: dict[str, KindMap] = {
    "tenant": KindMap(
        "tenant", ("organization", "ispctlTenant", MARKER), "ispctlTenant", "o",
        {
            "kind": (("ispctlTenantKind",), "str"),
            "display_name": (("ispctlDisplayName",), "str"),
            "contact": (("ispctlContact",), "str"),
            "status": (("ispctlAccountStatus",), "str"),
            "max_domains": (("ispctlMaxDomains",), "int"),
            "max_mailboxes": (("ispctlMaxMailboxes",), "int"),
            "max_aliases": (("ispctlMaxAliases",), "int"),
            "quota_pool": (("ispctlQuotaPool",), "int"),
            # protect: true in git; the live flag is what the safety gate trusts.
            "protected": (("ispctlProtected",), "bool"),
        },
    ),
    "domain": KindMap(
        "domain", ("ispctlDomain", MARKER), "ispctlDomain", "associatedDomain",
        {
            "type": (("ispctlDomainType",), "str"),
            "display_name": (("ispctlDisplayName",), "str"),
            "services": (("ispctlEnabledService",), "multi"),
            "status": (("ispctlAccountStatus",), "str"),
            "default_quota": (("ispctlDefaultQuota",), "int"),
            "catch_all": (("ispctlCatchAll",), "str"),
            "alias_of": (("ispctlAliasDomainTarget",), "str"),
            "description": (("description",), "str"),
            "protected": (("ispctlProtected",), "bool"),
        },
    ),
    "mailbox": KindMap(
        "mailbox", ("inetOrgPerson", "posixAccount", "ispctlMailUser", MARKER), "ispctlMailUser", "uid",
        {
            # inetOrgPerson requires cn and sn; both carry the display name.
            # Postfix and Dovecot look mailboxes up by mail: a managed value like any other,
            # so a hand edit of it shows as drift.
            "address": (("mail",), "str"),
            "display_name": (("displayName", "cn", "sn"), "str"),
            "password": (("userPassword",), "str"),
            "quota": (("ispctlMailQuota",), "int"),
            "status": (("ispctlAccountStatus",), "str"),
            "services": (("ispctlEnabledService",), "multi"),
            "aliases": (("ispctlMailAlias",), "multi"),
            "forward": (("ispctlMailForward",), "multi"),
            "home": (("homeDirectory",), "str"),
            "uid_number": (("uidNumber",), "int"),
            "gid_number": (("gidNumber",), "int"),
        },
        sensitive=frozenset({"password"}),
    ),
    "alias": KindMap(
        "alias", ("ispctlMailGroup", MARKER), "ispctlMailGroup", "mail",
        {
            "targets": (("ispctlMailTarget",), "multi"),
            "status": (("ispctlAccountStatus",), "str"),
            "description": (("description",), "str"),
        },
    ),
}

SUPPORTED = frozenset(KINDS)
SEARCH_FILTER = f"(objectClass={MARKER})"


def search_attributes() -> list[str]:
    names = {"objectClass", FINGERPRINT}
    for kmap in KINDS.values():
        names |= kmap.ldap_attrs()
    return sorted(names)


def to_ldap(conv: Conv, value: Value) -> list[Any]:
    """LDAP values for one resource attribute; [] means the attribute is absent."""
    if value is None:
        return []
    if conv == "multi":
        assert isinstance(value, tuple)
        return list(value)
    if conv == "bool":
        return ["TRUE" if value else "FALSE"]
    return [str(value)]


def from_ldap(conv: Conv, texts: Sequence[str]) -> Value:
    if not texts:
        return None
    if conv == "multi":
        return tuple(sorted(texts))
    if conv == "int":
        return int(texts[0])
    if conv == "bool":
        return texts[0].upper() == "TRUE"
    return texts[0]


def entry_attributes(resource: Resource) -> dict[str, list[Any]]:
    """Full attribute set of a new entry (objectClass included, absent values omitted)."""
    kmap = KINDS[resource.kind]
    attrs: dict[str, list[Any]] = {"objectClass": list(kmap.object_classes), kmap.rdn_attr: [resource.key]}
    for field, (ldap_names, conv) in kmap.fields.items():
        values = to_ldap(conv, resource.attrs.get(field))
        if values:
            for ldap_name in ldap_names:
                attrs[ldap_name] = values
    attrs[FINGERPRINT] = [resource.fingerprint()]
    return attrs


def modifications(after: Resource, changed: Sequence[str]) -> dict[str, list[Any]]:
    """Attribute-level replacements for an update: only what changed, plus the fingerprint."""
    kmap = KINDS[after.kind]
    mods: dict[str, list[Any]] = {}
    for field in changed:
        if field not in kmap.fields:
            continue
        ldap_names, conv = kmap.fields[field]
        values = to_ldap(conv, after.attrs.get(field))
        for ldap_name in ldap_names:
            mods[ldap_name] = values
    mods[FINGERPRINT] = [after.fingerprint()]
    return mods


def kind_of(object_classes: Sequence[str]) -> str | None:
    lowered = {oc.lower() for oc in object_classes}
    for kmap in KINDS.values():
        if kmap.identifying_class.lower() in lowered:
            return kmap.kind
    return None


def _get(attributes: Mapping[str, Any], name: str) -> list[str]:
    values = attributes.get(name.lower())
    if values is None:
        for key, found in attributes.items():  # not yet decoded by _decoded()
            if key.lower() == name.lower():
                values = found
                break
        else:
            return []
    items = values if isinstance(values, (list, tuple)) else [values]
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in items]


def _decoded(attributes: Mapping[str, Any]) -> dict[str, list[str]]:
    """Attribute names folded once per entry, values decoded once (the read is hot)."""
    out: dict[str, list[str]] = {}
    for key, values in attributes.items():
        items = values if isinstance(values, (list, tuple)) else [values]
        decoded = [v.decode() if type(v) is bytes else str(v) for v in items]
        name = key.lower()
        if name in out:
            out[name].extend(decoded)
        else:
            out[name] = decoded
    return out


def _field_value(attributes: Mapping[str, Any], names: Sequence[str], conv: Conv) -> Value:
    """One resource attribute from the LDAP attributes that all carry it.

    A field written to several attributes (a mailbox's display name is displayName, cn and
    sn) is read from every copy: if someone changed one copy by hand, the value read says
    so, which differs from any desired value and shows as drift; applying rewrites them all.
    """
    first = _get(attributes, names[0])
    for other in names[1:]:
        texts = _get(attributes, other)
        if sorted(texts) != sorted(first):
            shown = ", ".join(texts) if texts else "absent"
            return f"{first[0] if first else '(absent)'} (but {other}: {shown})"
    return from_ldap(conv, first)


def _interrupted_rename(kind: str, key: str, names: Sequence[str]) -> str | None:
    """A mailbox with a second ``uid`` is one whose rename stopped half-way (``rename``):
    ispctl never leaves two otherwise."""
    others = sorted({n.lower() for n in names} - {key})
    if kind != "mailbox" or not others:
        return None
    return f"the rename of {key} to {others[0]} stopped after giving it the new address"


@dataclass(frozen=True)
class LiveEntry:
    dn: str
    resource: Resource


def parse_entries(entries: Sequence[tuple[str, Mapping[str, Any]]], base: str) -> list[LiveEntry]:
    """Turn raw search results into live resources (pure: no server needed).

    The key comes from the naming attribute, the parent from the DN: an entry whose
    parent is not a managed entry of the expected kind gets a parent that can never
    match the desired one, so the plan moves it back where it belongs.
    """
    by_dn: dict[str, tuple[str, str]] = {}
    staged = []
    for dn, raw_attributes in entries:
        attributes = _decoded(raw_attributes)
        kind = kind_of(_get(attributes, "objectClass"))
        if kind is None:
            continue
        kmap = KINDS[kind]
        key_values = _get(attributes, kmap.rdn_attr)
        rdns = dnlib.split_rdns(dn)
        norm_keys = dnlib.keys_of(rdns)
        # The naming value wins over the attribute: it is what the DN (and so the
        # identity) is built from; a multi-valued RDN is searched for the naming attribute.
        named = [value for attr, value in (rdns[0] if rdns else ()) if attr == kmap.rdn_attr.lower()]
        key = (named[0] if named else (key_values[0] if key_values else "")).lower()
        by_dn[",".join(norm_keys)] = (kind, key)
        staged.append((dn, kind, key, attributes, ",".join(norm_keys[1:])))
    base_norm = dnlib.normalise(base)
    out = []
    for dn, kind, key, attributes, parent_norm in staged:
        kmap = KINDS[kind]
        values = {field: _field_value(attributes, names, conv) for field, (names, conv) in kmap.fields.items()}
        parent_ident = by_dn.get(parent_norm)
        if parent_ident is not None:
            parent = f"{parent_ident[0]}.{parent_ident[1]}"
        elif parent_norm == base_norm:
            parent = None
        else:
            parent = f"(outside the managed tree: {dnlib.parent_of(dn)})"
        stored = from_ldap("str", _get(attributes, FINGERPRINT))
        resource = Resource(
            kind, key, values, parent=parent, sensitive=kmap.sensitive,
            recorded_fingerprint=stored if isinstance(stored, str) else None,
            interrupted=_interrupted_rename(kind, key, _get(attributes, kmap.rdn_attr)),
        )
        out.append(LiveEntry(dn, resource))
    return out
