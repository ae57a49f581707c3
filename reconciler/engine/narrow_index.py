"""The one pass over the whole desired state that a narrowed plan (``engine.narrow``) makes, and
the summaries of outlined objects that let it skip most of them.

Everything else a narrowed plan does is in proportion to what its anchors reach; this is in
proportion to the estate. A ``--changed-since`` plan outlines most of the estate
(``resources.outline``), and whoever outlines them can hand them over in groups
(``outlined.OutlineGroup``: the objects of one source, with what they refer to outside the
group, the kinds they hang below, the old keys they claim and how many of each kind they are,
worked out once when the outlines were saved: ``summarise``). A group none of whose references
out of it is below an anchor, and that holds no anchor, has nothing below an anchor (a walk up
from one of its objects leaves it through such a reference, or ends): its objects are never
looked at one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import itemgetter, methodcaller

from ispctl.reconciler.engine.outlined import Outlined, Summary, held
from ispctl.reconciler.engine.resources import Index, OutlineRow, Resource, address_of, is_outline

_kind_of = itemgetter(0)
_identity = itemgetter(0, 1)
_parent = itemgetter(2)
_depends_on = itemgetter(3)
_previous = itemgetter(4)
_split = methodcaller("partition", ".")


def summarise(rows: Iterable[OutlineRow]) -> Summary:
    """What the engine needs of a group of outlined objects besides their identities (a full
    run works it out for every file it saves: column by column, in C where it can)."""
    rows = list(rows)
    inside = set(map(".".join, map(_identity, rows)))
    parents = list(map(_parent, rows))
    pairs = set(zip(compress(map(_kind_of, rows), parents), map(_kind_of, map(_split, filter(None, parents))),
                    strict=True))
    # Dependencies (a maildir's mailbox, an alias domain's target): (kind, address) of each one.
    depending = list(compress(rows, map(_depends_on, rows)))
    deps = list(chain.from_iterable(map(_depends_on, depending)))
    kinds = chain.from_iterable(map(repeat, map(_kind_of, depending), map(len, map(_depends_on, depending))))
    pairs.update(zip(compress(kinds, deps), map(_kind_of, map(_split, filter(None, deps))), strict=True))
    out = set(filter(None, chain(parents, deps))) - inside
    claims = [(address_of(kind, old), address_of(kind, key))
              for kind, key, *_, previous in compress(rows, map(_previous, rows)) for old in previous]
    counts = Counter(map(_kind_of, rows))
    return tuple(sorted(out)), tuple(sorted(pairs)), tuple(sorted(claims)), tuple(sorted(counts.items()))


class _ByAddress(Mapping[str, Resource]):
    """The desired objects by address, looked up by identity (a kind has no "."): not a dict of
    every object's address, which a narrowed plan asks about only a few."""

    def __init__(self, context: Index) -> None:
        self.context = context

    def __getitem__(self, address: str) -> Resource:
        kind, _, key = address.partition(".")
        return self.context[(kind, key)]

    def get(self, address: str, default: Resource | None = None) -> Resource | None:  # type: ignore[override]
        kind, _, key = address.partition(".")
        return self.context.get((kind, key), default)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        kind, _, key = address.partition(".")
        return (kind, key) in self.context

    def __iter__(self) -> Iterator[str]:
        return (address_of(kind, key) for kind, key in self.context)

    def __len__(self) -> int:
        return len(self.context)


@dataclass
class DesiredIndex:
    """One pass over the desired state: objects by address, who claims which old key, the
    kinds each kind hangs below, and what is below the anchors on the desired side alone."""

    by_address: Mapping[str, Resource]
    claimants: dict[str, list[str]]   # an old address -> the objects naming it as a previous key
    parents: dict[str, set[str]]      # kind -> the kinds its objects refer to
    below: list[str]                  # the objects below an anchor (in no particular order)
    # The objects looked at one by one, and the groups (``Outlined``) looked at as a whole.
    loose: Sequence[tuple[str, Resource]] = ()
    context: Outlined | None = None
    _referrers: dict[str, list[str]] | None = field(default=None, repr=False)
    _out: dict[str, list[int]] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, desired: Index, context: Index, anchors: frozenset[str]) -> DesiredIndex:
        """Over ``context`` (everything the estate compiles to), where ``desired`` (what the
        session plans) must be its own objects; a desired object the context lacks or has
        otherwise wins over the context's (and then the context's groups are not taken: they
        may no longer describe it)."""
        if not held(desired, context):
            context = {**context, **desired}
        loose = _loose(context, anchors) if isinstance(context, Outlined) else None
        if loose is None or not isinstance(context, Outlined):
            by_address: Mapping[str, Resource] = {address_of(*ident): r for ident, r in context.items()}
            return cls._over(by_address, list(by_address.items()), anchors, None)
        return cls._over(_ByAddress(context), loose, anchors, context)

    @classmethod
    def _over(cls, by_address: Mapping[str, Resource], loose: Sequence[tuple[str, Resource]],
              anchors: frozenset[str], context: Outlined | None) -> DesiredIndex:
        """The index of the ``loose`` objects one by one, and of each group as a whole unless a
        reference out of it is below an anchor (then of its objects one by one)."""
        claimants: dict[str, list[str]] = {}
        pairs: set[tuple[str, str]] = set()
        below: list[str] = []
        walk = _Walk(by_address, anchors)
        for address, resource in loose:
            for ref in (resource.parent, *resource.depends_on):
                if ref:
                    pairs.add((resource.kind, ref.partition(".")[0]))
            for key in resource.previous:
                claimants.setdefault(address_of(resource.kind, key), []).append(address)
            if walk.below(address):
                below.append(address)
        # The groups column by column: thousands of them (a file each) share a few hundred
        # references out (their tenants), each walked up once.
        groups = context.groups if context is not None else ()
        summaries = [group.summary for group in groups]
        pairs.update(chain.from_iterable(map(itemgetter(1), summaries)))
        for old, claimant in chain.from_iterable(map(itemgetter(2), summaries)):
            claimants.setdefault(old, []).append(claimant)
        reached = set(filter(walk.below, set(chain.from_iterable(map(itemgetter(0), summaries)))))
        if reached:
            for group, (out, *_) in zip(groups, summaries, strict=True):
                if not reached.isdisjoint(out):
                    below.extend(a for a in (address_of(kind, key) for kind, key, *_ in group.rows) if walk.below(a))
        parents: dict[str, set[str]] = {}
        for kind, up_kind in pairs:
            parents.setdefault(kind, set()).add(up_kind)
        return cls(by_address, claimants, parents, below, loose, context)

    def referrers(self, address: str) -> list[str]:
        """The desired objects referring to ``address`` (parent or dependency): of the loose
        objects, and of the groups that refer to it from outside or hold it."""
        if self._referrers is None:
            self._referrers = {}
            for other, resource in self.loose:
                for ref in (resource.parent, *resource.depends_on):
                    if ref:
                        self._referrers.setdefault(ref, []).append(other)
        found = list(self._referrers.get(address, ()))
        context = self.context
        if context is None:
            return found
        if self._out is None:
            self._out = {}
            for number, group in enumerate(context.groups):
                for ref in group.summary[0]:
                    self._out.setdefault(ref, []).append(number)
        numbers = set(self._out.get(address, ()))
        home = context.home(address)
        if home is not None:
            numbers.add(home)
        for number in sorted(numbers):
            found += [address_of(kind, key) for kind, key, parent, depends_on, _ in context.groups[number].rows
                      if parent == address or address in depends_on]
        return found


def _loose(context: Outlined, anchors: frozenset[str]) -> list[tuple[str, Resource]] | None:
    """The objects of ``context`` in no group, by address; None when the groups cannot stand in
    for their objects (an anchor is an outline, or a kind has a "." and an address does not
    tell its identity)."""
    if any("." in kind for kind in context.kind_counts()):
        return None
    for anchor in anchors:
        kind, _, key = anchor.partition(".")
        found = context.get((kind, key))
        if found is not None and is_outline(found):
            return None
    return [(address_of(kind, key), resource) for (kind, key), resource in context.compiled.items()]


class _Walk:
    """Whether an address is below an anchor: an anchor is; an object is when its walk up (its
    one reference, else any of them) meets one. A "yes" is kept, and a "no" unless a cycle
    (never valid) was cut on the way: that "no" may be only the cut's."""

    def __init__(self, by_address: Mapping[str, Resource], anchors: frozenset[str]) -> None:
        self.by_address = by_address
        self.state: dict[str, bool] = dict.fromkeys(anchors, True)
        self.walking: set[str] = set()  # the addresses of the walks in progress
        self.cuts = 0

    def below(self, address: str) -> bool:
        state, by_address = self.state, self.by_address
        cuts = self.cuts
        path: list[str] = []
        current: str | None = address
        result = False
        while current is not None:
            known = state.get(current)
            if known is not None:
                result = known
                break
            resource = by_address.get(current)
            if resource is None:
                break
            if current in path or current in self.walking:
                self.cuts += 1
                break
            path.append(current)
            deps = resource.depends_on
            if deps and (resource.parent or len(deps) > 1):
                # Several references (an alias domain): any of them (rare, so recursive).
                self.walking.update(path)
                try:
                    result = any(self.below(ref) for ref in chain((resource.parent,), deps) if ref)
                finally:
                    self.walking.difference_update(path)
                break
            current = resource.parent or (deps[0] if deps else None)
        if result or self.cuts == cuts:
            for step in path:
                state[step] = result
        return result


__all__ = ["DesiredIndex", "OutlineRow", "summarise"]
