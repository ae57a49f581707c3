"""The desired state of a narrowed run: the objects compiled from the files it loaded, and the
rest of the estate outlined (``resources.outline``) in groups, made only when looked up.

A ``--changed-since`` plan at 30,000 mailboxes outlines ~73,000 objects of ~3,000 files and
looks at a few dozen of them. Making every outline and a mapping of them all cost more than the
rest of that plan. ``Outlined`` answers a lookup from the compiled objects, else through
``locate`` (which group holds an address: the snapshot keeps that index) by making the outlines
of that one group; its kinds and their counts come from the groups' summaries
(``narrow_index.summarise``). Whatever walks it all (iteration, ``items()``) makes every group:
the same answer, only slower. The engine's passes that can take groups as a whole
(``narrow_index``, ``narrow``, ``session.in_scope``, the gates' counts) ask for ``kind_counts``
and the groups instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import overload

from ispctl.reconciler.engine.resources import Incomplete, Index, OutlineRow, Resource, address_of, outlines

Identity = tuple[str, str]
_identity = itemgetter(0, 1)

# What ``narrow_index.summarise`` says of a group's rows: references out of them, (kind,
# referred kind) pairs, (old address, claimant address) of each previous key, and how many
# objects of each kind; each sorted, plain data (saved with them).
Summary = tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[tuple[str, int], ...]]


class OutlineGroup:
    """Outlined desired objects of one source (a file a narrowed run did not load): their
    ``summarise``, and their rows (each one an outline: ``outline(*row)``) read by ``load``
    only when asked for."""

    __slots__ = ("summary", "_load")

    def __init__(self, summary: Summary, load: Callable[[], Sequence[OutlineRow]]) -> None:
        self.summary = summary
        self._load = load

    @property
    def rows(self) -> Sequence[OutlineRow]:
        return self._load()


class Outlined(Mapping[Identity, Resource]):
    """``compiled`` and the outlines of ``groups`` (disjoint: whoever makes one checks), of the
    ``kinds`` given (None: every kind). ``locate`` names the groups that may hold an address
    (every one that does, and perhaps others: each is looked into)."""

    __slots__ = ("compiled", "groups", "_locate", "_kinds", "_made", "_counts")

    def __init__(self, compiled: Mapping[Identity, Resource], groups: Sequence[OutlineGroup],
                 locate: Callable[[str], Iterable[int]], kinds: frozenset[str] | None = None,
                 _made: dict[int, dict[Identity, Resource]] | None = None) -> None:
        self.compiled = compiled
        self.groups = groups
        self._locate = locate
        self._kinds = kinds
        # The outlines made so far, by group: shared with the views of ``only``, so an object
        # is the same object in each (the engine tests containment by identity first).
        self._made: dict[int, dict[Identity, Resource]] = {} if _made is None else _made
        self._counts: Counter[str] | None = None

    @classmethod
    def of(cls, compiled: Mapping[Identity, Resource], groups: Sequence[OutlineGroup]) -> Outlined:
        """Over groups whose rows are at hand: the index of where each identity is, from them."""
        where = {address_of(kind, key): (number,) for number, group in enumerate(groups)
                 for kind, key, *_ in group.rows}
        return cls(compiled, groups, lambda address: where.get(address, ()))

    def only(self, kinds: Collection[str]) -> Outlined:
        """The objects of these kinds (a view: the same groups, the same objects)."""
        keep = frozenset(kinds) if self._kinds is None else self._kinds & frozenset(kinds)
        compiled = {ident: r for ident, r in self.compiled.items() if ident[0] in keep}
        view = Outlined(compiled, self.groups, self._locate, keep, self._made)
        if self._counts is not None:  # (counted already: the view's are a part)
            view._counts = Counter({kind: n for kind, n in self._counts.items() if kind in keep})
        return view

    def kind_counts(self) -> Counter[str]:
        """How many objects of each kind (from the groups' summaries: none is made)."""
        if self._counts is None:
            counts = Counter(map(itemgetter(0), self.compiled))
            for kind, count in chain.from_iterable(group.summary[3] for group in self.groups):
                counts[kind] += count
            self._counts = counts if self._kinds is None else \
                Counter({kind: n for kind, n in counts.items() if kind in self._kinds})
        return self._counts

    def group(self, number: int) -> dict[Identity, Resource]:
        """The outlines of one group (of every kind), made once."""
        made = self._made.get(number)
        if made is None:
            rows = self.groups[number].rows
            try:
                made = dict(zip(map(_identity, rows), outlines(rows), strict=True))
            except (ValueError, TypeError):  # not rows as saved: the full way will say
                raise Incomplete("the outlines of a file not loaded cannot be read") from None
            self._made[number] = made
        return made

    def home(self, address: str) -> int | None:
        """The group that holds ``address``, if one does."""
        kind, _, key = address.partition(".")
        return next((n for n in self._locate(address) if (kind, key) in self.group(n)), None)

    @overload  # type: ignore[override]
    def get(self, ident: Identity) -> Resource | None: ...
    @overload
    def get(self, ident: Identity, default: Resource) -> Resource: ...
    @overload
    def get(self, ident: Identity, default: None) -> Resource | None: ...

    def get(self, ident: Identity, default: Resource | None = None) -> Resource | None:
        found = self.compiled.get(ident)
        if found is not None:
            return found
        if self._kinds is not None and ident[0] not in self._kinds:
            return default
        for number in self._locate(address_of(*ident)):
            found = self.group(number).get(ident)
            if found is not None:
                return found
        return default

    def __getitem__(self, ident: Identity) -> Resource:
        found = self.get(ident)
        if found is None:
            raise KeyError(ident)
        return found

    def __contains__(self, ident: object) -> bool:
        return type(ident) is tuple and len(ident) == 2 and self.get(ident) is not None

    def __iter__(self) -> Iterator[Identity]:
        yield from self.compiled
        kinds = self._kinds
        for number in range(len(self.groups)):
            for ident in self.group(number):
                if kinds is None or ident[0] in kinds:
                    yield ident

    def __len__(self) -> int:
        return sum(self.kind_counts().values())


def kind_counts(index: Index) -> Counter[str]:
    """How many objects of each kind ``index`` holds (an ``Outlined`` says so without making any)."""
    if isinstance(index, Outlined):
        return Counter(index.kind_counts())
    return Counter(map(itemgetter(0), index))


def held(desired: Index, context: Index) -> bool:
    """Whether every object of ``desired`` is ``context``'s own (the same object)."""
    if isinstance(desired, Outlined) and isinstance(context, Outlined):
        return desired.groups is context.groups and desired._made is context._made \
            and desired.compiled.items() <= context.compiled.items()
    if isinstance(context, Outlined):
        return all(context.get(ident) is r for ident, r in desired.items())
    return desired.items() <= context.items()


__all__ = ["OutlineGroup", "Outlined", "Summary", "held", "kind_counts"]
