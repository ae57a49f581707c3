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


# Per kind, its fields as (field, LDAP names, conversion): an apply builds every entry it
# creates from these, so the mapping's dicts are not walked and unpacked again for each one.
_FIELDS: dict[str, tuple[tuple[str, tuple[str, ...], Conv], ...]] = {
    kind: tuple((field, names, conv) for field, (names, conv) in kmap.fields.items()) for kind, kmap in KINDS.items()
}


def entry_attributes(resource: Resource) -> dict[str, list[Any]]:
    """Full attribute set of a new entry (objectClass included, absent values omitted).

    The values are ``to_ldap``'s, converted inline (a call per field was most of the cost)."""
    kmap = KINDS[resource.kind]
    attrs: dict[str, list[Any]] = {"objectClass": list(kmap.object_classes), kmap.rdn_attr: [resource.key]}
    given = resource.attrs
    for field, ldap_names, conv in _FIELDS[resource.kind]:
        value = given.get(field)
        if value is None:
            continue
        if conv == "multi":
            assert isinstance(value, tuple)
            values: list[Any] = list(value)
            if not values:
                continue
        elif conv == "bool":
            values = ["TRUE" if value else "FALSE"]
        else:
            values = [str(value)]
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
