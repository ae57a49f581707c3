"""Raw search results -> live resources: pure functions and one accumulator, no server.

Every plan parses every managed entry, so this is the hot path. Each value is decoded once,
straight from the raw bytes; attributes are looked up under the names the search asked for
(slapd answers with those spellings; other spellings are folded to them); a DN without
escapes is keyed by folding its text, with no RDN re-escaped (``dn.read_key``); values that
repeat across entries (statuses, services, quotas) are kept once per read, and every parent
address is the one string its parent's entry made. Resources are built with their values
already canonical (``Resource.canonical``), so nothing is normalised or copied twice.

The key comes from the naming attribute, the parent from the DN: an entry whose parent is
not a managed entry of the expected kind gets a parent that can never match the desired
one, so the plan moves it back where it belongs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.mapping import BASE, FINGERPRINT, Conv, DirectoryMap, KindMap
from ispctl.reconciler.contract import Resource, Value

RawValues = Sequence[bytes | str]
RawAttrs = Mapping[str, RawValues]
RawEntry = tuple[str, RawAttrs]

# Fields whose values mostly differ from entry to entry: keeping one copy of each would only
# cost a lookup and a table entry.
_UNIQUE = frozenset({"address", "display_name", "contact", "password", "home", "uid_number", "targets",
                     "aliases", "forward", "description"})
_OTHER = "(another class)"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if type(value) is bytes else str(value)


@dataclass(frozen=True)
class _Reading:
    """What reading one kind needs, worked out once: its fields in sorted order (the order a
    ``Resource`` keeps them in), each with the LDAP attributes that carry it, its conversion
    and whether its values are shared."""

    kmap: KindMap
    rdn_attr: str  # lower case, as DN parsing gives it
    names: tuple[str, ...]
    specs: tuple[tuple[str, tuple[str, ...], Conv, bool], ...]


class _Tables:
    """What reading one ``DirectoryMap``'s entries needs, worked out once per map."""

    def __init__(self, dmap: DirectoryMap) -> None:
        kinds = dmap.kinds
        self.asked = frozenset(dmap.attributes)
        self.spelling = {name.lower(): name for name in self.asked}
        self.classes = tuple((kmap.identifying_class.lower().encode(), kind) for kind, kmap in kinds.items())
        # Each kind's own classes, folded: an entry is of the kind whose classes it all carries (the
        # most of them), so two kinds sharing a class (account) or one kind's class being another's
        # optional one (ispctlFtpUser) never mistake one kind's entries for the other's.
        self.required = tuple((frozenset(c.lower().encode() for c in kmap.object_classes), kind)
                              for kind, kmap in kinds.items())
        # The object classes ispctl writes, as they come back: the kind each identifies, or None
        # (a class several kinds carry, or one a service's fields bring, identifies none).
        exact: dict[bytes | str, str | None] = {
            cls.encode(): None for kmap in kinds.values()
            for cls in (*kmap.object_classes, *(c for extra, _ in kmap.optional for c in extra))}
        exact.update({kmap.identifying_class.encode(): kind for kind, kmap in kinds.items()})
        self.exact = exact
        self.reading = {
            kind: _Reading(kmap, kmap.rdn_attr.lower(), tuple(sorted(kmap.fields)), tuple(
                (field, kmap.fields[field][0], kmap.fields[field][1],
                 field not in _UNIQUE and kmap.fields[field][1] != "bool")
                for field in sorted(kmap.fields)))
            for kind, kmap in kinds.items()
        }

    def spelled(self, raw: RawAttrs) -> RawAttrs:
        """The attributes under the names the search asked for (values of one attribute sent
        under two spellings are one set); other attributes are left as they are (never read)."""
        if raw.keys() <= self.asked:
            return raw
        out: dict[str, RawValues] = {}
        for name, values in raw.items():
            spelled = self.spelling.get(name.lower(), name)
            out[spelled] = [*out[spelled], *values] if spelled in out else values
        return out

    def kind(self, classes: RawValues) -> str | None:
        # Nearly always the exact spellings ispctl writes: one lookup each. Any other spelling
        # (or class) takes the folded path, which finds the first kind in the map's order.
        found = None
        for value in classes:
            kind = self.exact.get(value, _OTHER)
            if kind is _OTHER or (kind is not None and found is not None):
                break
            found = found or kind
        else:
            return found
        folded = {(v if type(v) is bytes else str(v).encode()).lower() for v in classes}
        complete = [(len(required), kind) for required, kind in self.required if required <= folded]
        if complete:
            return max(complete, key=lambda found: found[0])[1]  # the first of the largest, in the map's order
        for identifying, kind in self.classes:
            if identifying in folded:
                return kind
        return None


_TABLES: dict[int, tuple[DirectoryMap, _Tables]] = {}


def tables(dmap: DirectoryMap) -> _Tables:
    """The reading tables of ``dmap`` (kept with the map, so its id is never reused meanwhile)."""
    found = _TABLES.get(id(dmap))
    if found is None or found[0] is not dmap:
        found = _TABLES[id(dmap)] = (dmap, _Tables(dmap))
    return found[1]


def _key(reading: _Reading, first_rdn: dnlib.RdnPairs, attributes: RawAttrs) -> str:
    # The naming value wins over the attribute: it is what the DN (and so the identity) is
    # built from; a multi-valued RDN is searched for the naming attribute.
    for attr, value in first_rdn:
        if attr == reading.rdn_attr:
            return value.lower()
    values = attributes.get(reading.kmap.rdn_attr)
    return _text(values[0]).lower() if values else ""


def value_of(conv: Conv, raw: RawValues) -> Value:
    """The canonical value of one attribute's raw values (what ``Resource`` would make of
    ``mapping.from_ldap``'s): "" and no values are None, a multi-value a sorted set."""
    if not raw:
        return None
    if conv == "str":
        return _text(raw[0]) or None
    if conv == "int":
        return int(_text(raw[0]))
    if conv == "multi":
        return tuple(sorted({_text(v) for v in raw})) or None
    return _text(raw[0]).upper() == "TRUE"


def _copies(attributes: RawAttrs, names: tuple[str, ...], conv: Conv) -> Value:
    """One resource attribute from the LDAP attributes that all carry it.

    A field written to several attributes (a mailbox's display name is displayName, cn and
    sn) is read from every copy: if someone changed one copy by hand, the value read says
    so, which differs from any desired value and shows as drift; applying rewrites them all.
    """
    first = attributes.get(names[0], ())
    for other in names[1:]:
        raw = attributes.get(other, ())
        if raw == first:
            continue
        texts, first_texts = [_text(v) for v in raw], [_text(v) for v in first]
        if sorted(texts) != sorted(first_texts):
            shown = ", ".join(texts) if texts else "absent"
            return f"{first_texts[0] if first_texts else '(absent)'} (but {other}: {shown})"
    return value_of(conv, first)


_RENAME_STOPPED = {"mailbox": "after giving it the new address",  # rename.py
                   "tenant": "before its entry was renamed"}  # tenant_rename.py


def _interrupted_rename(kind: str, key: str, raw_names: RawValues) -> str | None:
    """A mailbox with a second ``uid`` (a tenant with a second ``o``) is one whose rename
    stopped half-way (``rename``, ``tenant_rename``): ispctl never leaves two otherwise."""
    if kind not in _RENAME_STOPPED or not raw_names or (len(raw_names) == 1 and _text(raw_names[0]).lower() == key):
        return None
    others = sorted({_text(n).lower() for n in raw_names} - {key})
    if not others:
        return None
    return f"the rename of {key} to {others[0]} stopped {_RENAME_STOPPED[kind]}"


@dataclass(frozen=True, slots=True)
class LiveEntry:
    dn: str
    resource: Resource


# dn, kind, key, parent's DN key, values in field order, stored fingerprint, interrupted
_Staged = tuple[str, str, str, str, list[Value], str | None, str | None]


class LiveTree:
    """Raw search results, page by page, into live resources, parents resolved at the end.

    ``note`` makes entries known as parents (with their DNs) without reading their values,
    for a narrowed read. ``dns`` maps the address of every entry added or noted to its DN.
    """

    def __init__(self, base: str, dmap: DirectoryMap = BASE) -> None:
        self._tables = tables(dmap)
        self.base_key = dnlib.normalise(base)
        self.addresses: dict[str, str] = {}  # DN comparison key -> address, every entry seen
        self.dns: dict[str, str] = {}
        self._staged: list[_Staged] = []
        # One table per field that shares values (None for the others), in the order of specs.
        self._shared: dict[str, list[dict[Value, Value] | None]] = {
            kind: [{} if share else None for *_, share in reading.specs]
            for kind, reading in self._tables.reading.items()}

    def _identify(self, dn: str, attributes: RawAttrs) -> tuple[_Reading, str, str] | None:
        """(how to read it, key, parent's DN key) of a managed entry, now known as a parent."""
        kind = self._tables.kind(attributes.get("objectClass", ()))
        if kind is None:
            return None
        reading = self._tables.reading[kind]
        own, parent, first_rdn = dnlib.read_key(dn)
        key = _key(reading, first_rdn, attributes)
        address = f"{kind}.{key}"
        self.addresses[own] = address
        self.dns[address] = dn
        return reading, key, parent

    def note(self, entries: Iterable[RawEntry]) -> None:
        for dn, raw in entries:
            self._identify(dn, self._tables.spelled(raw))

    def add(self, entries: Iterable[RawEntry]) -> None:
        for dn, raw in entries:
            attributes = self._tables.spelled(raw)
            found = self._identify(dn, attributes)
            if found is None:
                continue
            reading, key, parent = found
            kind = reading.kmap.kind
            values: list[Value] = []
            for (field, names, conv, _share), shared in zip(reading.specs, self._shared[kind], strict=True):
                if len(names) > 1:
                    value = _copies(attributes, names, conv)
                else:
                    raw_values = attributes.get(names[0])
                    if not raw_values:
                        value = None
                    elif type(raw_values[0]) is not bytes:
                        value = value_of(conv, raw_values)
                    # The common cases of value_of, inlined: bytes, as libldap gives them.
                    elif conv == "str":
                        value = raw_values[0].decode("utf-8") or None
                    elif conv == "int":
                        value = int(raw_values[0].decode("utf-8"))
                    elif conv == "multi":
                        value = tuple(sorted({v.decode("utf-8") for v in raw_values}))  # type: ignore[union-attr]
                    else:
                        value = value_of(conv, raw_values)
                if value is not None and shared is not None:
                    # Per field, so that 1 and True (equal, one hash) never stand in for each other.
                    value = shared.setdefault(value, value)
                elif field == "address" and value == key:
                    value = key  # a mailbox's mail is its key: one string for both
                values.append(value)
            stored = attributes.get(FINGERPRINT)
            self._staged.append((dn, kind, key, parent, values, _text(stored[0]) if stored else None,
                                 _interrupted_rename(kind, key, attributes.get(reading.kmap.rdn_attr, ()))))

    def unknown_parents(self) -> list[str]:
        """The DNs of the parents of what was added that were neither added nor noted (nor the base)."""
        wanted = {parent_key: dn for dn, _kind, _key, parent_key, *_rest in self._staged
                  if parent_key not in self.addresses and parent_key != self.base_key}
        return sorted({dnlib.parent_of(dn) for dn in wanted.values()})

    def entries(self) -> list[LiveEntry]:
        """The live resources of everything added (once: the tree lets go of them)."""
        out = []
        for dn, kind, key, parent_key, values, stored, interrupted in self._staged:
            reading = self._tables.reading[kind]
            parent = self.addresses.get(parent_key)
            if parent is None and parent_key != self.base_key:
                parent = f"(outside the managed tree: {dnlib.parent_of(dn)})"
            resource = Resource.canonical(kind, key, reading.names, values, parent=parent,
                                          sensitive=reading.kmap.sensitive, recorded_fingerprint=stored,
                                          interrupted=interrupted)
            out.append(LiveEntry(dn, resource))
        self._staged = []
        return out


def parse_entries(entries: Iterable[RawEntry], base: str, dmap: DirectoryMap = BASE) -> list[LiveEntry]:
    """Turn raw search results into live resources (pure: no server needed)."""
    tree = LiveTree(base, dmap)
    tree.add(entries)
    return tree.entries()
