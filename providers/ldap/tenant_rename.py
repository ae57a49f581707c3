"""A tenant rename as LDAP steps: one modrdn of its entry, everything below it going along.

A tenant is ``o=<name>`` with its domains and clients below (``mapping``). back-mdb (the
sandbox's and Debian's default backend) renames an entry with its whole subtree in one
modrdn, so nothing below is copied, moved or re-created: mailboxes keep their entries (and
so their binds, with the new DN) and the mail store, whose homes are by domain and address,
is not touched.

What must follow the rename is the stored fingerprint of each entry right below the tenant
(its domains, its clients): a fingerprint covers the parent's address (``tenant.<name>``),
so after the modrdn they would read as "changed outside ispctl". The steps:

1. mark the entry: ``o`` gets the new name as a second value (a reader sees a rename under
   way, ``live._interrupted_rename``; the entry keeps its DN and its fingerprint);
2. rewrite the fingerprint of each entry right below it as it will be under the new name
   (only those whose fingerprint matches their values under the live or an earlier name:
   drift stays drift);
3. ``modrdn`` to ``o=<new>`` (deleting the old value: the mark goes in the same operation);
4. write the tenant's own changed values and fingerprint.

Until 3 the live entry is still under its old name, so the next plan finds the rename again
(``previous:``) and a new apply repeats every step (each one a replace, or skipped when it
landed: a child already fingerprinted for the new name is left alone). After 3 the live tree
is consistent under the new name; 4 is an ordinary update the next plan would show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import ldap

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import reader
from ispctl.providers.ldap.live import LiveTree
from ispctl.providers.ldap.mapping import (
    BASE,
    FINGERPRINT,
    SEARCH_FILTER,
    DirectoryMap,
    modifications,
    search_attributes,
)
from ispctl.providers.ldap.rename import Step
from ispctl.reconciler.contract import Resource, address_of


def children_to_refingerprint(before: Resource, after: Resource,
                              children: Sequence[tuple[str, Resource]]) -> list[tuple[str, str]]:
    """(DN, new fingerprint) of each entry right below the tenant that must follow its rename.

    ``children`` are live entries read one level below the tenant's entry (its parent address
    is ``before``'s). One fingerprinted as ispctl left it under the tenant's live name or
    another of its earlier names (an interrupted apply of a rename to a name given up since)
    gets the new name's; one already fingerprinted for the new name (an interrupted apply of
    this rename) or drifted (matching none of them) is left as it is."""
    earlier = (before.address, *(address_of(after.kind, name) for name in after.previous if name != before.key))
    out = []
    for child_dn, child in children:
        if child.parent != before.address or child.recorded_fingerprint is None:
            continue
        moved = replace(child, parent=after.address)
        if moved.fingerprint() == child.recorded_fingerprint:
            continue
        if any(replace(child, parent=name).fingerprint() == child.recorded_fingerprint for name in earlier):
            out.append((child_dn, moved.fingerprint()))
    return out


def tenant_rename_steps(before: Resource, after: Resource, changed: Sequence[str], current: str,
                        new_parent_dn: str, children: Sequence[tuple[str, Resource]],
                        dmap: DirectoryMap = BASE) -> list[Step]:
    """The steps renaming the live tenant ``before`` (entry ``current``) into ``after``."""
    kmap = dmap.kinds["tenant"]
    old, new = before.key, after.key
    steps = [Step(f"mark {current} as being renamed to {new}", current, {kmap.rdn_attr: [old, new]})]
    steps += [Step(f"fingerprint {child_dn} for tenant {new}", child_dn, {FINGERPRINT: [fingerprint]})
              for child_dn, fingerprint in children_to_refingerprint(before, after, children)]
    new_rdn = dnlib.rdn(kmap.rdn_attr, new)
    moving = dnlib.normalise(new_parent_dn) != dnlib.normalise(dnlib.parent_of(current))
    steps.append(Step(f"rename {current} to {new_rdn}", current, new_rdn=new_rdn,
                      new_superior=new_parent_dn if moving else None))
    renamed = f"{new_rdn},{new_parent_dn}"
    steps.append(Step(f"modify {renamed}", renamed, modifications(after, changed, dmap)))
    return steps


def read_children(conn: reader.Connection, tree: LiveTree, parent_dn: str, page_size: int,
                  dmap: DirectoryMap = BASE) -> None:
    """The managed entries right below ``parent_dn`` into ``tree`` (the entry itself noted, so
    their parent is its address)."""
    attributes = search_attributes(dmap)
    for page in reader.paged(conn, parent_dn, SEARCH_FILTER, attributes, page_size, scope=ldap.SCOPE_BASE):
        tree.note(page)
    for page in reader.paged(conn, parent_dn, SEARCH_FILTER, attributes, page_size, scope=ldap.SCOPE_ONELEVEL):
        tree.add(page)
