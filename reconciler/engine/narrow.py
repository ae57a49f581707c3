"""A narrowed plan: read and compare only what a scope's anchors reach (--tenant, --changed-since).

The plan a narrowed run shows is defined as the full plan filtered by the scope
(``scope.apply_scope``); this module computes the same result without reading or comparing
the rest of the estate. Which desired objects and which live ones that takes:

* **Below the anchors** (``_Below``): every object whose walk up (parent and dependencies;
  the desired object where there is one, else the live one) meets an anchor, on either side.
  Providers are asked for the live objects below the anchors widened by every such object
  (``Within.anchors``), so a mailbox still under a domain in the directory is read wherever
  git now puts it, and one provider's objects below another's (a maildir below its mailbox, a
  zone below its domain) are found once the other has been read: providers are read parents
  first (``_order``).
* **What those changes need** (``_Closure``): the desired objects they refer to (parent and
  every dependency, up to the top: a kept create needs its parent's), the keys those had
  before (``previous``: a rename is found as a rename), and for a renamed object whatever
  refers to it (the maildir that follows its mailbox's rename). Asked for by address.
* **The other half of what was read**: a live object read needs its desired counterpart,
  under the same identity or naming it as a previous key (a domain moved out of the scope
  belongs to both places; a live object with no counterpart is a delete), and its live
  ancestors, so a walk up the live side (protection, crossings, groups) ends where it would.
  Whatever that adds is asked for in further small reads until nothing is missing.

What a provider returns beyond that (everything, for one that keeps the default
``_read_within``) is kept aside and taken in only when one of the rules above asks for it,
so the plan compares no more than it needs. A provider that read everything is never asked
again: what it did not return does not exist.

The one pass over the whole desired state (``narrow_index.DesiredIndex``) looks at outlined
objects handed over in groups (``outlined.Outlined``: a file not loaded by ``--changed-since``)
a group at a time: a group none of whose references out of it is below an anchor is never
looked into.

For the gates' shares (``threshold_violations`` counts the EXISTING objects of a kind), the
part of the estate that was not read is taken as what git says: ``existing`` counts, by kind,
the live state read plus every desired object outside it (for a provider that read
everything, just what it returned). That is exact when the estate outside the scope has
converged (main was applied); live objects outside the scope that git no longer has are not
counted, which only makes the gate stricter.

A rename whose two ends are both outside the scope is not looked at, so a narrowed plan does
not refuse one that crosses between resellers (``diff.match_renames``); validation, which
sees the whole estate, does where it can.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ispctl.reconciler.engine.narrow_index import DesiredIndex
from ispctl.reconciler.engine.outlined import kind_counts
from ispctl.reconciler.engine.provider import Provider, Within
from ispctl.reconciler.engine.resources import Index, Resource, address_of

Resources = dict[tuple[str, str], Resource]
Progress = Callable[[str], None]


def _up(resource: Resource) -> str | None:
    """The next address of ``resources.ancestors``' walk."""
    return resource.parent or (resource.depends_on[0] if resource.depends_on else None)


def _refs(resource: Resource) -> tuple[str, ...]:
    return tuple(a for a in (resource.parent, *resource.depends_on) if a)


def _kind(address: str) -> str:
    return address.split(".", 1)[0]


def _previous(resource: Resource) -> list[str]:
    return [address_of(resource.kind, key) for key in resource.previous]


class _Below:
    """Whether an object is below an anchor: its walk up meets one, over the desired objects
    and the live ones read so far (the desired object wins, as in ``scope.apply_scope``).

    The walk follows every reference (parent and all dependencies), not only the one
    ``resources.ancestors`` follows: deleting an object first needs whatever refers to it in
    any way gone (``apply.prerequisites``: an alias domain before the domain it aliases).
    Answers for desired objects are kept: a "yes" is final, a "no" when the desired objects
    alone decided it (live objects read later cannot change it then).
    """

    def __init__(self, anchors: frozenset[str], desired: Mapping[str, Resource], live: Mapping[str, Resource]) -> None:
        self.anchors = anchors
        self.desired = desired
        self.live = live
        self._known: dict[str, bool] = {}

    def seed(self, below: Iterable[str]) -> None:
        """Desired objects already known to be below (a "yes" is final)."""
        self._known.update(dict.fromkeys(below, True))

    def hits(self, resource: Resource) -> bool:
        """For a live object (its own references, not its desired counterpart's)."""
        return any(self._walk(ref, 0)[0] for ref in _refs(resource))

    def address(self, address: str) -> bool:
        """For the object at ``address``: the desired one, else the live one."""
        return self._walk(address, 0)[0]

    def _walk(self, address: str, depth: int) -> tuple[bool, bool]:
        """(below, decided by the desired objects alone)."""
        if address in self.anchors:
            return True, True
        known = self._known.get(address)
        if known is not None:
            return known, True
        found = self.desired.get(address)
        pure = found is not None
        if found is None:
            found = self.live.get(address)
        if found is None or depth > 64:  # 64: a cycle (never valid) ends here
            return False, False
        below = False
        for ref in _refs(found):
            hit, decided = self._walk(ref, depth + 1)
            pure = pure and decided
            if hit:
                below = True
                break
        if (below or pure) and address in self.desired:
            self._known[address] = below
        return below, below or pure


@dataclass
class _Closure:
    """The desired objects a narrowed plan compares, closed over what their changes need."""

    desired: Mapping[str, Resource]
    index: DesiredIndex
    members: set[str] = field(default_factory=set)

    def referrers(self, address: str) -> list[str]:
        return self.index.referrers(address)

    def claimants(self, address: str) -> list[str]:
        """The desired object at ``address`` and those naming it as a previous key: whoever
        may take over the live object found there."""
        found = [address] if address in self.desired else []
        return found + self.index.claimants.get(address, [])

    def add(self, addresses: Iterable[str]) -> None:
        stack = [a for a in addresses if a in self.desired and a not in self.members]
        while stack:
            address = stack.pop()
            if address in self.members:
                continue
            self.members.add(address)
            resource = self.desired[address]
            more = list(_refs(resource))  # a kept change needs its parent's creation or move
            if resource.previous:
                # What refers to a renamed object follows the rename (``scope.followers``), and
                # every object claiming the same old key decides which one takes it.
                more += self.referrers(address)
                for old in _previous(resource):
                    more += self.index.claimants.get(old, [])
            stack.extend(a for a in more if a in self.desired and a not in self.members)

    def wanted(self) -> set[str]:
        """The live addresses the members need read: their own and their previous keys."""
        out = set(self.members)
        for address in self.members:
            if self.desired[address].previous:
                out.update(_previous(self.desired[address]))
        return out


def _order(providers: list[Provider], parents: Mapping[str, set[str]]) -> list[Provider]:
    """Providers whose kinds others hang below come first (the directory before the mail
    store and DNS): their objects widen the anchors for the later ones. Stable otherwise."""
    owner = {kind: index for index, p in enumerate(providers) for kind in p.SUPPORTS}
    after: dict[int, set[int]] = {i: set() for i in range(len(providers))}
    for kind, ups in parents.items():
        for up in ups:
            if kind in owner and up in owner and owner[kind] != owner[up]:
                after[owner[kind]].add(owner[up])
    done: list[int] = []
    while len(done) < len(providers):
        ready = [i for i in range(len(providers)) if i not in done and after[i] <= set(done)]
        done.append(ready[0] if ready else min(i for i in range(len(providers)) if i not in done))  # a cycle
    return [providers[i] for i in done]


def _reads_everything(provider: Provider) -> bool:
    return type(provider)._read_within is Provider._read_within


def _existing(desired: Index, members: set[tuple[str, str]], read: set[tuple[str, str]],
              complete: set[str]) -> Counter[str]:
    """By kind: the desired objects (of kinds no provider read whole) that are not ``members``,
    and the objects ``read`` (each once): counted, not gathered, from the desired state's
    counts (an outlined estate knows them without making its objects)."""
    counts = kind_counts(desired)
    for kind in complete:
        counts.pop(kind, None)

    def kept(ident: tuple[str, str]) -> bool:
        return ident[0] not in complete and ident in desired

    for ident in members:
        if kept(ident):
            counts[ident[0]] -= 1
    for ident in read:
        if ident in members or not kept(ident):
            counts[ident[0]] += 1
    return +counts


@dataclass
class Narrowed:
    desired: Resources    # the desired objects to compare
    live: Resources       # the live objects read
    existing: Counter[str]  # for the gates' shares, by kind: ``live`` plus the desired objects outside the read
    # Every desired object (of any kind) a walk up from what was compared can reach: what the
    # plan's views (scope, groups, crossings, confine) need of the desired side.
    context: Resources = field(default_factory=dict)
    reads: int = 0        # provider reads made (the first pass plus top-ups), for tests


def read_within(desired: Index, context: Index, anchors: frozenset[str], providers: list[Provider],
                progress: Progress | None = None) -> Narrowed:
    """The desired and live objects a plan narrowed to ``anchors`` compares (module docstring).

    ``desired`` is what the session plans (its providers' kinds), ``context`` everything the
    estate compiles to (how a DNS record belongs to a domain, also without a DNS provider),
    with the outlines in groups when it is an ``outlined.Outlined``.
    """
    index = DesiredIndex.build(desired, context, anchors)
    by_address, parents, reach = index.by_address, index.parents, index.below
    live: Resources = {}
    live_by: dict[str, Resource] = {}
    below = _Below(anchors, by_address, live_by)
    below.seed(reach)
    closure = _Closure(by_address, index)
    closure.add(reach)
    wide: dict[str, str | None] = dict.fromkeys(anchors)   # anchor -> provider whose read found it
    wide.update(dict.fromkeys(reach))
    order = _order(providers, parents)
    owner = {kind: p.name for p in providers for kind in p.SUPPORTS}
    asked: dict[str, set[str]] = {p.name: set() for p in providers}
    anchored: dict[str, set[str]] = {p.name: set() for p in providers}
    # What a provider returned beyond what was asked (all of it, for one that reads
    # everything): kept aside, and taken in only once something needs it, so a mail store
    # that walks every home does not turn a narrowed plan into a full one.
    pool: dict[str, Resource] = {}
    pooled_below: dict[str, list[str]] = {}  # address -> pooled addresses that refer to it
    reads = 0

    def keep(resource: Resource, by: str) -> None:
        address = resource.address
        pool.pop(address, None)
        if resource.identity in live:
            return
        live[resource.identity] = resource
        live_by[address] = resource
        if address not in wide and (address in anchors or below.hits(resource)):
            widen(address, by)

    def widen(address: str, by: str) -> None:
        wide[address] = by
        for other in pooled_below.pop(address, []):  # below what is below the anchors
            if other in pool:
                keep(pool[other], by)

    def read(provider: Provider, more_anchors: set[str], addresses: set[str]) -> None:
        nonlocal reads
        if progress is not None:
            progress(f"reading {provider.name}")
        found = provider.read(within=Within(frozenset(more_anchors), frozenset(addresses)))
        reads += 1
        asked[provider.name] |= addresses
        anchored[provider.name] |= more_anchors
        for resource in found.values():
            address = resource.address
            if resource.identity in live or address in pool:
                continue
            if address in addresses or address in anchors or below.hits(resource):
                keep(resource, provider.name)
            else:
                pool[address] = resource
                for ref in _refs(resource):
                    pooled_below.setdefault(ref, []).append(address)

    def pending(provider: Provider, first: bool) -> tuple[set[str], set[str]]:
        name = provider.name
        need = {a for a in closure.wanted() if owner.get(_kind(a)) == name}
        need |= {up for r in live.values() if (up := _up(r)) is not None and owner.get(_kind(up)) == name}
        missing = {a for a in need if a not in asked[name] and a not in live_by}
        for address in [a for a in missing if a in pool]:  # returned before, needed now
            keep(pool[address], name)
        missing = {a for a in missing if a not in live_by}
        if not first and _reads_everything(provider):
            asked[name] |= missing  # it returned everything it has: the rest does not exist
            return set(), set()
        ups = {k for kind in provider.SUPPORTS for k in parents.get(kind, ())}
        # The scope's anchors, and what is below them of the kinds this one's objects hang
        # below (as the desired state has them), unless this provider found it itself: a
        # mailbox is no anchor for the directory (nothing hangs below it there), it is one
        # for the mail store.
        new = {a for a, by in wide.items() if a not in anchored[name] and by != name
               and (a in anchors or _kind(a) in ups)}
        return new, missing

    for provider in order:
        read(provider, *pending(provider, first=True))
    while True:
        before = (len(live), len(closure.members), len(wide))
        for resource in list(live.values()):  # below an anchor found by a later read
            if resource.address not in wide and below.hits(resource):
                widen(resource.address, owner.get(resource.kind, ""))
        # The other half of what was read: its desired counterparts (and what they need).
        closure.add(c for address in list(live_by) for c in closure.claimants(address))
        todo = [(p, *pending(p, first=False)) for p in order]
        todo = [(p, new, missing) for p, new, missing in todo if new or missing]
        for provider, new, missing in todo:
            read(provider, new, missing)
        if not todo and before == (len(live), len(closure.members), len(wide)):
            break
    members = {by_address[a].identity for a in closure.members}
    # The few members looked up, not the whole desired state filtered (the diff sorts them).
    kept = {ident: desired[ident] for ident in sorted(members) if ident in desired}
    existing = _existing(desired, members, {r.identity for r in pool.values()} | live.keys(),
                         {kind for p in providers if _reads_everything(p) for kind in p.SUPPORTS})
    reachable = set(closure.members)
    stack = [ref for r in live.values() for ref in _refs(r) if ref in by_address and ref not in reachable]
    while stack:
        address = stack.pop()
        if address not in reachable:
            reachable.add(address)
            stack.extend(ref for ref in _refs(by_address[address]) if ref in by_address and ref not in reachable)
    context_kept = {by_address[a].identity: by_address[a] for a in reachable}
    return Narrowed(kept, live, existing, context_kept, reads)
