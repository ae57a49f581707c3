"""Which changes a run may make: address globs (--target, --exclude) and anchors.

A scope never changes what is compared, only which of the resulting changes are kept, and
it keeps a plan applicable: a targeted change brings along the changes it needs (creating
its parent, moving it), and an excluded change takes along the changes that need it.
A rename binds more tightly: what referred to the old address and refers to the new one
(the maildir that follows its mailbox's entry) must be renamed in the same run, or the
object is left broken between them (a directory entry pointing at a home that is not
there). Such changes are one group: a target on any of them brings all, an exclude on
any of them holds all back (``followers``).
Anchors are addresses a change must be at or below (its parent chain, see
``resources.ancestors``); the estate turns --tenant and --changed-since into anchors
(``ispctl.reconciler.estate.scopes``). Validation always covers the whole estate; only
planning is narrowed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace

from ispctl.reconciler.engine.apply import prerequisites
from ispctl.reconciler.engine.plan import Change, Plan
from ispctl.reconciler.engine.resources import Index, ancestors


@dataclass(frozen=True)
class Scope:
    targets: tuple[str, ...] = ()      # address globs; empty = everything
    excludes: tuple[str, ...] = ()     # address globs
    anchors: frozenset[str] = field(default_factory=frozenset)  # keep changes at or below these
    everything: bool = True             # False once --tenant/--changed-since narrowed it

    @property
    def narrowed(self) -> bool:
        return bool(self.targets or self.excludes) or not self.everything

    def describe(self) -> dict[str, object]:
        return {"targets": list(self.targets), "excludes": list(self.excludes),
                "anchors": sorted(self.anchors) if not self.everything else None}


def apply_scope(plan: Plan, scope: Scope, desired: Index, live: Index) -> Plan:
    """The changes of ``plan`` the scope allows, closed over what they need."""
    if not scope.narrowed:
        return plan
    index = {r.address: r for r in live.values()}
    index.update({r.address: r for r in desired.values()})
    kept: set[str] = set()
    for change in plan.changes:
        chain = ancestors(change.resource, index)
        if change.before is not None and change.after is not None:
            chain += ancestors(change.before, index)  # a moved object belongs to both places
        in_anchor = scope.everything or any(a in scope.anchors for a in chain)
        # A rename that follows another object's new name is that object's business too, even
        # when the object itself has nothing left to do (an apply stopped between the two).
        named = (change.address, *_followed(change))
        targeted = not scope.targets or any(fnmatch.fnmatchcase(a, t) for a in named for t in scope.targets)
        if in_anchor and targeted:
            kept.add(change.address)
    needs = prerequisites(plan)
    bound = followers(plan)
    # Bring along what kept changes need (creating a parent before its child) and the
    # renames bound to them ...
    stack = list(kept)
    while stack:
        address = stack.pop()
        for dep in needs[address] | bound[address]:
            if dep not in kept:
                kept.add(dep)
                stack.append(dep)
    # ... and drop excluded changes together with everything that needs them or is bound to them.
    dropped = {c.address for c in plan.changes if any(fnmatch.fnmatchcase(c.address, e) for e in scope.excludes)}
    needed_by: dict[str, set[str]] = {a: set() for a in needs}
    for address, deps in needs.items():
        for dep in deps:
            needed_by[dep].add(address)
    stack = list(dropped)
    while stack:
        address = stack.pop()
        for other in needed_by[address] | bound[address]:
            if other not in dropped:
                dropped.add(other)
                stack.append(other)
    changes: tuple[Change, ...] = tuple(c for c in plan.changes if c.address in kept and c.address not in dropped)
    # The words for archiving travel with the plan for the changes it keeps (``diff.compute_plan``),
    # not for those left out: a plan that read only the scope never saw those.
    meta = {k: v for k, v in plan.meta.items() if k != "archives"}
    notes = {c.kind: c.archive_note for c in changes if c.archive and c.archive_note}
    if notes:
        meta["archives"] = dict(sorted(notes.items()))
    return replace(plan, changes=changes, meta=meta)


def followers(plan: Plan) -> dict[str, set[str]]:
    """For each change address, the changes bound to it by a rename, both ways.

    A change follows a rename when its object referred (as parent or dependency) to the
    renamed object's old address and refers to its new one: the maildir of a renamed
    mailbox, the entries under a renamed parent. A move that keeps the address binds
    nothing (what lives below moves with it in one operation), nor does a plain update.
    """
    bound: dict[str, set[str]] = {c.address: set() for c in plan.changes}
    renames = {c.renamed_from: c.address for c in plan.changes if c.renamed_from}
    for change in plan.changes:
        if change.before is None or change.after is None:
            continue
        old_refs = {change.before.parent, *change.before.depends_on}
        new_refs = {change.after.parent, *change.after.depends_on}
        for old, new in renames.items():
            if old in old_refs and new in new_refs and new != change.address:
                bound[change.address].add(new)
                bound[new].add(change.address)
    return bound


def _followed(change: Change) -> tuple[str, ...]:
    """The objects a renamed object now refers to under a new address: it follows their rename."""
    if not change.renamed_from or change.before is None or change.after is None:
        return ()
    old = {change.before.parent, *change.before.depends_on}
    return tuple(a for a in (change.after.parent, *change.after.depends_on) if a and a not in old)
