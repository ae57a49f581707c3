"""Resources: the unit the engine compares, plans and applies.

Identity and value are kept apart. A resource is identified by ``(kind, key)`` and
addressed as ``kind.key`` (``mailbox.alice@example.net``); everything else is its value.
Attribute values are restricted to JSON scalars and sorted tuples of strings so that
comparison is plain equality and a plan serialises deterministically.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from ispctl.reconciler.engine.errors import Location

Scalar = str | int | bool | None
Value = Scalar | tuple[str, ...]
Attrs = Mapping[str, Value]
NOTHING: frozenset[str] = frozenset()  # one shared empty set (each frozenset() is a new object)


def address_of(kind: str, key: str) -> str:
    return f"{kind}.{key}"


def normalise_value(value: object) -> Value:
    """Coerce a compiled or read value into the canonical comparable form.

    Lists and sets become sorted tuples (the directory treats multi-valued
    attributes as unordered sets); empty collections become None so that "absent"
    and "empty" compare equal, as they do in LDAP.
    """
    if isinstance(value, (list, tuple, set, frozenset)):
        items = tuple(sorted({str(v) for v in value}))
        return items or None
    if value is None or isinstance(value, (str, int, bool)):
        return value if value != "" else None
    raise TypeError(f"unsupported attribute value {value!r}")


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time, and an
# apply fingerprints every entry it writes. ``encode`` is exactly what that dumps returns.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: object) -> str:
    return _CANONICAL.encode(data)


PARENT_FIELD = "@parent"  # cannot clash with an attribute name: those are identifiers
WITHOUT = ";without="  # what a fingerprint that leaves attributes out says after its digest
_sha256 = hashlib.sha256


def fingerprint(attrs: Attrs, parent: str | None = None, without: frozenset[str] = NOTHING) -> str:
    """A stable digest of a resource's managed values and, when it has one, its parent.

    Providers store it next to the values they write; a stored fingerprint that no
    longer matches the live values means someone changed the object outside ispctl.
    The parent is covered too, so an object moved by hand shows up as drift rather
    than as an unexplained move back.

    Attributes in ``without`` (owned by the live side after creation: ``create_only``) are
    left out, and the fingerprint names them after its digest: a reader recomputes it over
    exactly what was covered when it was written, whatever the settings say now (an
    operator adding or removing an ``ignore_changes`` entry never turns into drift), and
    one with nothing left out is the plain digest ispctl always wrote.
    """
    # Tuples are encoded as JSON arrays, exactly as the lists this once copied them into were.
    if without:
        plain = {k: v for k, v in attrs.items() if v is not None and k not in without}
    else:
        plain = {k: v for k, v in attrs.items() if v is not None}
    if parent is not None:
        plain[PARENT_FIELD] = parent
    digest = "sha256:" + _sha256(_CANONICAL.encode(plain).encode()).hexdigest()
    return digest + WITHOUT + ",".join(sorted(without)) if without else digest


_LEFT_OUT: dict[str, frozenset[str]] = {}  # what follows WITHOUT -> its set: a few, shared by every resource


def left_out(recorded: str | None) -> frozenset[str]:
    """The attributes a stored fingerprint does not cover (see ``fingerprint``)."""
    if recorded is None or WITHOUT not in recorded:
        return NOTHING
    names = recorded.split(WITHOUT, 1)[1]
    found = _LEFT_OUT.get(names)
    if found is None:
        found = frozenset(name for name in names.split(",") if name)
        if len(_LEFT_OUT) < 1024:  # a bound, whatever a directory holds
            _LEFT_OUT[names] = found
    return found


class Canonical(dict[str, Value]):
    """A resource's attributes as ``Resource`` keeps them: keys sorted, every value as
    ``normalise_value`` leaves it.

    The type is the promise: a ``Resource`` given one keeps it as it is instead of building a
    normalised copy (``Resource.canonical``: a live read builds a hundred thousand of them).
    Only this module makes them. No per-instance dict (``__slots__``): as small as a dict.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Resource:
    """A desired or live object of one kind, owned by exactly one provider.

    ``parent`` is the address of the resource that must exist before this one (and be
    deleted after it); ``depends_on`` lists further addresses it needs. ``sensitive``
    names attributes whose values are never shown. ``previous`` lists keys the object
    had before (a rename, like Terraform's ``moved`` block): a live object found under one
    of them is renamed, never destroyed and re-created. ``recorded_fingerprint`` is only
    set on live resources: what the provider found stored beside the values.
    ``create_only`` names attributes written when the object is created and owned by the
    live side afterwards (Terraform's ``lifecycle { ignore_changes }``: a mailbox password
    its user changes): never compared, planned or called drift once the object exists, and
    left out of the fingerprint. A live resource takes them from its recorded fingerprint,
    so its own fingerprint is computed the way the stored one was.
    ``interrupted`` is set on a live resource that an apply of ispctl left half-done (the
    provider found its own intent record): what that apply was doing. Such a resource is not
    drift, which would blame a person for ispctl's own unfinished work; the plan says so.
    """

    kind: str
    key: str
    attrs: Mapping[str, Value] = field(default_factory=dict)
    parent: str | None = None
    depends_on: tuple[str, ...] = ()
    sensitive: frozenset[str] = NOTHING
    source: Location | None = None
    recorded_fingerprint: str | None = None
    previous: tuple[str, ...] = ()
    interrupted: str | None = field(default=None, compare=False)
    create_only: frozenset[str] = NOTHING

    def __post_init__(self) -> None:
        if type(self.attrs) is not Canonical:
            object.__setattr__(self, "attrs", Canonical(sorted((k, normalise_value(v)) for k, v in self.attrs.items())))
        if self.recorded_fingerprint is not None and not self.create_only:
            object.__setattr__(self, "create_only", left_out(self.recorded_fingerprint))

    @classmethod
    def canonical(cls, kind: str, key: str, names: Sequence[str], values: Iterable[Value], *,
                  parent: str | None = None, sensitive: frozenset[str] = NOTHING,
                  recorded_fingerprint: str | None = None, interrupted: str | None = None) -> Resource:
        """A resource whose attribute values are already canonical, taken as they are.

        ``names`` must be sorted and each value one ``normalise_value`` leaves unchanged (a
        sorted tuple of distinct strings, never an empty one or ""): a provider's bulk read
        builds them so, and its tests check the result equals the normalising constructor's.
        """
        return cls(kind, key, Canonical(zip(names, values, strict=True)), parent, sensitive=sensitive,
                   recorded_fingerprint=recorded_fingerprint, interrupted=interrupted)

    @property
    def address(self) -> str:
        return address_of(self.kind, self.key)

    @property
    def identity(self) -> tuple[str, str]:
        return (self.kind, self.key)

    def fingerprint(self) -> str:
        return fingerprint(self.attrs, self.parent, self.create_only)

    def drifted(self) -> str | None:
        """Why this live resource differs from what ispctl last wrote, or None."""
        if self.interrupted is not None:
            return None  # ispctl's own unfinished work, not someone else's change
        if self.recorded_fingerprint is None:
            return "created outside ispctl"
        if self.recorded_fingerprint != self.fingerprint():
            return "changed outside ispctl"
        return None


# Resources by identity: what providers return, what desired state compiles to.
Index = Mapping[tuple[str, str], Resource]


def ancestors(resource: Resource, by_address: Mapping[str, Resource]) -> list[str]:
    """The resource's address and those above it: its parent, or else its first dependency.

    A zone has no parent but belongs to its domain (``depends_on``), so a walk from a DNS
    record reaches the zone, the domain and the tenants above. An address that is gone from
    ``by_address`` is still named (a removed domain anchors its zone) and ends the walk.
    """
    chain = [resource.address]
    current = resource
    while True:
        up = current.parent or (current.depends_on[0] if current.depends_on else None)
        if up is None or up in chain:
            return chain
        chain.append(up)
        if up not in by_address:
            return chain
        current = by_address[up]


class Incomplete(Exception):
    """A desired object was asked for its value where only its outline is known.

    A plan narrowed by ``--changed-since`` compiles only the files it plans and stands in for
    the rest of the estate with outlines (``outline``): enough to tell what is below the
    scope's anchors and what refers to what. Anything that needs more of an outlined object
    raises this, and the run starts again over the whole estate: the narrowed plan is then
    slower, never different."""


# One outlined object as a row: kind, key, parent, depends_on, previous (as a snapshot keeps it).
OutlineRow = tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]


def _column(index: int) -> Any:
    """A field of an outline: the item of its row (``outline``)."""
    item = itemgetter(index)

    def get(self: _Outline) -> Any:
        return item(self._row)

    return property(get)


class _Outline(Resource):
    """Identity and references only; every value raises ``Incomplete`` (see ``outline``).

    Its five fields are the items of the one row it keeps: building one sets a single slot (a
    narrowed plan outlines most of the estate, and setting five fields of each was most of that)."""

    __slots__ = ("_row",)
    _row: OutlineRow

    def _missing(self) -> Any:
        raise Incomplete(f"{self.kind}.{self.key} is only outlined")

    kind = _column(0)
    key = _column(1)
    parent = _column(2)
    depends_on = _column(3)
    previous = _column(4)
    attrs = property(_missing)
    sensitive = property(_missing)
    create_only = property(_missing)
    source = property(_missing)
    # Never set on a desired object: read from the class.
    recorded_fingerprint = None
    interrupted = None

    def __eq__(self, other: object) -> bool:
        raise Incomplete(f"{self.kind}.{self.key} is only outlined")

    __hash__ = None  # type: ignore[assignment]


_set_row = _Outline.__dict__["_row"].__set__


def outline(kind: str, key: str, parent: str | None = None, depends_on: tuple[str, ...] = (),
            previous: tuple[str, ...] = ()) -> Resource:
    """A desired object known by its identity and references alone (``Incomplete``)."""
    resource = object.__new__(_Outline)
    _set_row(resource, (kind, key, parent, depends_on, previous))
    return resource


def outlines(rows: Sequence[OutlineRow]) -> list[Resource]:
    """``outline(*row)`` of every row, in order, each keeping its row (the rows are tuples, as
    a snapshot's are; others are copied into tuples). A row that is not five items raises
    ``ValueError``, as unpacking it into ``outline`` would."""
    if set(map(len, rows)) - {5}:
        raise ValueError("an outline is five items: kind, key, parent, depends_on, previous")
    if set(map(type, rows)) - {tuple}:
        rows = [(*row,) for row in rows]
    made: list[Resource] = list(map(object.__new__, repeat(_Outline, len(rows))))
    deque(map(_set_row, made, rows), maxlen=0)  # (in C: a loop that keeps nothing)
    return made


def is_outline(resource: Resource) -> bool:
    return type(resource) is _Outline
