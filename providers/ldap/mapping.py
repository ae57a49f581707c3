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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal, cast

from ispctl.reconciler.contract import ConfigError, DirectoryPart, Resource, Value

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
    # Auxiliary classes another service's fields bring: (classes, the fields that bring them).
    # An entry carries them while any of those fields has a value (``DirectoryPart``).
    optional: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = ()

    def classes_for(self, attrs: Mapping[str, Value]) -> list[str]:
        """The entry's object classes: its own, then those its values bring."""
        classes = list(self.object_classes)
        for extra, fields in self.optional:
            if any(attrs.get(field) not in (None, ()) for field in fields):
                classes.extend(extra)
        return classes

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
_CONVS = ("str", "int", "multi", "bool")


@dataclass(frozen=True, eq=False)
class DirectoryMap:
    """The kinds one directory provider stores: ``KINDS`` and the services' ``DirectoryPart``s.

    Compared (and hashed) by identity: tables derived from it are kept per map."""

    kinds: Mapping[str, KindMap]
    parts: tuple[DirectoryPart, ...] = ()

    @cached_property
    def supported(self) -> frozenset[str]:
        return frozenset(self.kinds)

    @cached_property
    def attributes(self) -> list[str]:
        names = {"objectClass", FINGERPRINT}
        for kmap in self.kinds.values():
            names |= kmap.ldap_attrs()
        return sorted(names)

    @cached_property
    def fields(self) -> dict[str, tuple[tuple[str, tuple[str, ...], Conv], ...]]:
        # Per kind, its fields as (field, LDAP names, conversion): an apply builds every entry it
        # creates from these, so the mapping's dicts are not walked and unpacked again for each one.
        return {kind: tuple((field, names, conv) for field, (names, conv) in kmap.fields.items())
                for kind, kmap in self.kinds.items()}

    @cached_property
    def schemas(self) -> tuple[str, ...]:
        """The schema files the parts need loaded (paths, each once, in declaration order)."""
        return tuple(dict.fromkeys(str(path) for p in self.parts for path in p.schemas))


BASE = DirectoryMap(KINDS)


def _part_fields(part: DirectoryPart, problems: list[str]) -> dict[str, tuple[tuple[str, ...], Conv]]:
    fields: dict[str, tuple[tuple[str, ...], Conv]] = {}
    for field, (names, conv) in part.fields.items():
        if conv not in _CONVS or not names:
            problems.append(f"the directory part for {part.kind} maps {field!r} with conversion {conv!r} to "
                            f"{list(names)} (wanted one of {', '.join(_CONVS)} and at least one attribute)")
            continue
        fields[field] = (tuple(names), cast(Conv, conv))
    return fields


def extend(parts: Iterable[DirectoryPart]) -> DirectoryMap:
    """``KINDS`` with the services' parts: more fields and optional classes for a kind it has,
    whole new kinds. ConfigError (every problem) when a part clashes with what is there."""
    kinds = dict(KINDS)
    problems: list[str] = []
    given = tuple(parts)
    for part in given:
        fields = _part_fields(part, problems)
        if part.new_kind:
            if part.kind in kinds:
                problems.append(f"the directory already stores kind {part.kind!r}: a part adding it is refused")
                continue
            assert part.rdn_attr is not None
            if part.identifying_class is None or part.identifying_class not in part.object_classes:
                problems.append(f"the directory part for new kind {part.kind!r} needs an identifying_class "
                                "among its object_classes")
                continue
            kinds[part.kind] = KindMap(part.kind, (*part.object_classes, MARKER), part.identifying_class,
                                       part.rdn_attr, fields, part.sensitive)
            continue
        kmap = kinds.get(part.kind)
        if kmap is None:
            problems.append(f"a directory part extends kind {part.kind!r}, which the directory does not store "
                            "(a new kind needs rdn_attr)")
            continue
        taken = {name.lower() for name in kmap.ldap_attrs()}
        clash = sorted({f for f in fields if f in kmap.fields} |
                       {n for names, _ in fields.values() for n in names if n.lower() in taken})
        if clash:
            problems.append(f"a directory part for {part.kind} maps what the kind already has: {', '.join(clash)}")
            continue
        optional = kmap.optional + ((part.object_classes, frozenset(fields)),) if part.object_classes else kmap.optional
        kinds[part.kind] = replace(kmap, fields={**kmap.fields, **fields}, sensitive=kmap.sensitive | part.sensitive,
                                   optional=optional)
    if problems:
        raise ConfigError("; ".join(problems))
    return DirectoryMap(kinds, given)


def search_attributes(dmap: DirectoryMap = BASE) -> list[str]:
    return list(dmap.attributes)


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


def entry_attributes(resource: Resource, dmap: DirectoryMap = BASE) -> dict[str, list[Any]]:
    """Full attribute set of a new entry (objectClass included, absent values omitted).

    The values are ``to_ldap``'s, converted inline (a call per field was most of the cost)."""
    kmap = dmap.kinds[resource.kind]
    given = resource.attrs
    classes = kmap.classes_for(given) if kmap.optional else list(kmap.object_classes)
    attrs: dict[str, list[Any]] = {"objectClass": classes, kmap.rdn_attr: [resource.key]}
    for field, ldap_names, conv in dmap.fields[resource.kind]:
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


def modifications(after: Resource, changed: Sequence[str], dmap: DirectoryMap = BASE) -> dict[str, list[Any]]:
    """Attribute-level replacements for an update: only what changed, plus the fingerprint.

    When a field that brings optional classes changed, objectClass is replaced too: with the
    classes the new values bring (slapd checks the schema on the entry after the whole modify)."""
    kmap = dmap.kinds[after.kind]
    mods: dict[str, list[Any]] = {}
    if any(field in fields for _, fields in kmap.optional for field in changed):
        mods["objectClass"] = kmap.classes_for(after.attrs)
    for field in changed:
        if field not in kmap.fields:
            continue
        ldap_names, conv = kmap.fields[field]
        values = to_ldap(conv, after.attrs.get(field))
        for ldap_name in ldap_names:
            mods[ldap_name] = values
    mods[FINGERPRINT] = [after.fingerprint()]
    return mods
