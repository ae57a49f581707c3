"""Compare desired resources with live ones: set arithmetic on identities, then
attribute-level differences for what both sides hold."""

from __future__ import annotations

from collections.abc import Mapping

from ispctl.reconciler.engine.plan import AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Index, Resource


def attr_changes(before: Resource | None, after: Resource | None) -> tuple[AttrChange, ...]:
    old = before.attrs if before is not None else {}
    new = after.attrs if after is not None else {}
    sensitive = (before.sensitive if before else frozenset()) | (after.sensitive if after else frozenset())
    changes = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a != b:
            changes.append(AttrChange(name, a, b, name in sensitive))
    return tuple(changes)


def match_renames(desired: Index, live: Index) -> dict[tuple[str, str], Resource]:
    """Desired identities missing live but found under a declared previous key.

    A previous key only counts when nothing desired claims it and it is live; the first
    such key in declaration order wins, so a declared history is read newest first.
    """
    found: dict[tuple[str, str], Resource] = {}
    used: set[tuple[str, str]] = set()
    for ident, want in sorted(desired.items()):
        if ident in live:
            continue
        for old_key in want.previous:
            old_ident = (want.kind, old_key)
            if old_ident in live and old_ident not in desired and old_ident not in used:
                found[ident] = live[old_ident]
                used.add(old_ident)
                break
    return found


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
    for ident in sorted(set(desired) | set(live)):
        want, have = desired.get(ident), live.get(ident)
        if ident in taken and want is None:
            continue  # consumed by a rename below: it is the same object under its new key
        if have is None and ident in renames:
            assert want is not None
            old = renames[ident]
            changes.append(Change("update", *ident, old, want, attr_changes(old, want), old.drifted()))
        elif have is None:
            assert want is not None
            changes.append(Change("create", *ident, None, want, attr_changes(None, want)))
        elif want is None:
            if prune:
                changes.append(Change("delete", *ident, have, None, attr_changes(have, None), have.drifted(),
                                      archive=ident[0] in archives, archive_note=archives.get(ident[0])))
        else:
            diffs = attr_changes(have, want)
            if diffs or have.parent != want.parent:
                changes.append(Change("update", *ident, have, want, diffs, have.drifted()))
    changes.sort(key=lambda c: c.address)
    # The words for archiving travel with the plan, so a saved plan shown later says them too.
    notes = {c.kind: c.archive_note for c in changes if c.archive and c.archive_note}
    return Plan(tuple(changes), meta={"archives": dict(sorted(notes.items()))} if notes else {})
