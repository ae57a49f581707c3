"""Compare desired resources with live ones: set arithmetic on identities, then
attribute-level differences for what both sides hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from ispctl.reconciler.engine.errors import Location, Problem, ValidationFailed
from ispctl.reconciler.engine.plan import AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Index, Resource, address_of, ancestors


def attr_changes(before: Resource | None, after: Resource | None) -> tuple[AttrChange, ...]:
    """What differs, attribute by attribute. Once the object exists, the desired side's
    ``create_only`` attributes belong to the live side: they are not compared at all."""
    old = before.attrs if before is not None else {}
    new = after.attrs if after is not None else {}
    sensitive = (before.sensitive if before else frozenset()) | (after.sensitive if after else frozenset())
    owned_live = after.create_only if before is not None and after is not None else frozenset()
    changes = []
    for name in sorted((set(old) | set(new)) - owned_live):
        a, b = old.get(name), new.get(name)
        if a != b:
            changes.append(AttrChange(name, a, b, name in sensitive))
    return tuple(changes)


def match_renames(desired: Index, live: Index) -> dict[tuple[str, str], Resource]:
    """Desired identities missing live but found under a declared previous key.

    A previous key only counts when nothing desired claims it and it is live; the first
    such key in declaration order wins, so a declared history is read newest first.

    A rename moves the object and what hangs off it, so it must stay under the top of its
    own tree (for the estate, its reseller): a file that names an object at home under
    another top as its previous key is refused here, where the live side is known. (The
    estate checks what it can see at validate time; an object of a domain that has left the
    estate can only be placed from the live tree.)
    """
    found: dict[tuple[str, str], Resource] = {}
    used: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    tops = _Tops(desired, live)
    for ident, want in sorted(desired.items()):
        if ident in live:
            continue
        for old_key in want.previous:
            old_ident = (want.kind, old_key)
            if old_ident in live and old_ident not in desired and old_ident not in used:
                old = live[old_ident]
                here, there = tops.desired(want), tops.live(old)
                if here is not None and there is not None and here != there and not tops.renamed(here, there):
                    problems.append(Problem(
                        want.source or Location("(desired state)"), "previous",
                        f"{want.address} names {old.address} as its previous key, but that lives under {there}, not "
                        f"{here}: a rename cannot move an object from under another {there.split('.', 1)[0]}"))
                    break
                if (want.parent is None) != (old.parent is None):
                    # A top (a reseller) renamed into a place below another, or the reverse: that
                    # moves a whole tree in or out of another's, which a rename never does.
                    problems.append(Problem(
                        want.source or Location("(desired state)"), "previous",
                        f"{want.address} names {old.address} as its previous key, but "
                        + (f"that is at the top and this one under {want.parent}" if old.parent is None else
                           f"that is under {old.parent} and this one at the top")
                        + ": a rename keeps an object where it is"))
                    break
                found[ident] = old
                used.add(old_ident)
                break
    if problems:
        raise ValidationFailed(problems)
    return found


class _Tops:
    """The top ancestor of a resource, on each side; None when the walk leaves the index
    (a runner that reads only some providers cannot tell, and the estate's own check holds)."""

    def __init__(self, desired: Index, live: Index) -> None:
        self._sides = (desired, live)
        self._by_address: list[dict[str, Resource] | None] = [None, None]

    def _top(self, side: int, resource: Resource) -> str | None:
        by_address = self._by_address[side]
        if by_address is None:
            by_address = {r.address: r for r in self._sides[side].values()}
            self._by_address[side] = by_address
        chain = ancestors(resource, by_address)
        return chain[-1] if len(chain) > 1 and chain[-1] in by_address else None

    def desired(self, resource: Resource) -> str | None:
        return self._top(0, resource)

    def live(self, resource: Resource) -> str | None:
        return self._top(1, resource)

    def renamed(self, here: str, there: str) -> bool:
        """Whether the desired top ``here`` is the live top ``there`` renamed (a reseller renamed
        with its ``previous:``, in the same plan as a rename below it)."""
        by_address = self._by_address[0]
        top = by_address.get(here) if by_address is not None else None
        kind, _, key = there.partition(".")
        return top is not None and top.kind == kind and key in top.previous


def _along(renames: Mapping[tuple[str, str], Resource]) -> Callable[[Resource], Resource]:
    """A live object as it is once the renames of the objects above it are applied.

    Renaming an object (a tenant: an LDAP modrdn) takes what hangs below it along: a domain
    of a renamed tenant is not moved, it is where it was under its parent's new name. Its live
    parent is still the old address, so it is compared (and handed to the provider) under the
    new one; whether it drifted is still told from what was read, under the old one."""
    new_names = {old.address: address_of(*ident) for ident, old in renames.items()}
    if not new_names:
        return lambda resource: resource

    def along(resource: Resource) -> Resource:
        parent = new_names.get(resource.parent) if resource.parent is not None else None
        return resource if parent is None else replace(resource, parent=parent)
    return along


def compute_plan(desired: Index, live: Index, *, prune: bool = True,
                 archives: Mapping[str, str] | None = None) -> Plan:
    """Plan the changes that make ``live`` match ``desired``.

    With ``prune`` false, live objects missing from the desired state are left alone
    (they are still owned, so a later pruning apply would remove them). Deletes of the
    kinds in ``archives`` are marked as archiving: their provider moves the object to an
    archive instead of destroying it (``archives`` says where, in the provider's words), and
    the plan says so.
    """
    archives = archives or {}
    changes: list[Change] = []
    renames = match_renames(desired, live)
    taken = {old.identity for old in renames.values()}
    along = _along(renames)
    for ident in sorted(set(desired) | set(live)):
        want, have = desired.get(ident), live.get(ident)
        if ident in taken and want is None:
            continue  # consumed by a rename below: it is the same object under its new key
        if have is None and ident in renames:
            assert want is not None
            old = renames[ident]
            changes.append(Change("update", *ident, along(old), want, attr_changes(old, want), old.drifted(),
                                  interrupted=old.interrupted))
        elif have is None:
            assert want is not None
            changes.append(Change("create", *ident, None, want, attr_changes(None, want)))
        elif want is None:
            if prune:
                changes.append(Change("delete", *ident, have, None, attr_changes(have, None), have.drifted(),
                                      archive=ident[0] in archives, archive_note=archives.get(ident[0]),
                                      interrupted=have.interrupted))
        else:
            diffs = attr_changes(have, want)
            moved = along(have)
            if diffs or moved.parent != want.parent:
                changes.append(Change("update", *ident, moved, want, diffs, have.drifted(),
                                      interrupted=have.interrupted))
    changes.sort(key=lambda c: c.address)
    # The words for archiving travel with the plan, so a saved plan shown later says them too.
    notes = {c.kind: c.archive_note for c in changes if c.archive and c.archive_note}
    return Plan(tuple(changes), meta={"archives": dict(sorted(notes.items()))} if notes else {})
