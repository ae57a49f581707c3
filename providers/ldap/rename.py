"""A mailbox rename as LDAP steps that each leave a state where mail still arrives.

Postfix accepts a recipient whose ``mail`` (or ``ispctlMailAlias``) matches and hands it to
Dovecot under its ``mail`` value; Dovecot finds the user by ``uid``
(``providers/postfix/render.py``, ``providers/dovecot/render.py``). Renaming the entry first
and fixing ``mail`` after left, between the two, a DN ``uid=new`` with ``mail: old``: mail
for both addresses bounced until the next apply. The steps instead:

1. add the new address as an extra address (``ispctlMailAlias``) and a second ``uid``
   value: new -> old mailbox; Dovecot knows the user under both names;
2. make the new address the ``mail`` and the old one an extra address (one modify);
3. if the new address is in another domain, move the entry there under its old name
   (``modrdn`` with a new superior), then rename it (``modrdn``, which drops the old ``uid``
   value);
4. write the final values (the old address is no longer an extra one unless desired).

Each step is one LDAP operation, so a kill leaves one of these states; each stores the
fingerprint of the values it leaves, so the next plan resumes the rename instead of calling
the half-done entry "changed outside ispctl". Every step can be repeated (replace, not add).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.mapping import BASE, FINGERPRINT, KINDS, DirectoryMap, modifications
from ispctl.reconciler.contract import Resource


@dataclass(frozen=True)
class Step:
    """One LDAP operation: a modify of ``dn`` or, with ``new_rdn``, a modrdn of it."""

    what: str
    dn: str
    mods: dict[str, list[Any]] = field(default_factory=dict)
    new_rdn: str | None = None
    new_superior: str | None = None

    @property
    def result_dn(self) -> str:
        if self.new_rdn is None:
            return self.dn
        return f"{self.new_rdn},{self.new_superior or dnlib.parent_of(self.dn)}"


def _with(resource: Resource, create_only: frozenset[str], parent: str | None = None, **attrs: Any) -> Resource:
    # The steps' fingerprints leave out what the final one leaves out (a password its user
    # owns), so a rename resumed after the user changed it is not called drift.
    return Resource(resource.kind, resource.key, {**resource.attrs, **attrs},
                    parent=resource.parent if parent is None else parent, sensitive=resource.sensitive,
                    create_only=create_only)


def _aliases(values: Any) -> set[str]:
    return set(values or ())


def mailbox_rename_steps(before: Resource, after: Resource, changed: Sequence[str], current: str,
                         new_parent_dn: str, dmap: DirectoryMap = BASE) -> list[Step]:
    """The steps renaming the live mailbox ``before`` (entry ``current``) into ``after``."""
    old, new = before.key, after.key
    kmap = KINDS["mailbox"]
    step1_aliases = sorted(_aliases(before.attrs.get("aliases")) | {new})
    step1 = _with(before, after.create_only, aliases=tuple(step1_aliases))
    step2_aliases = (_aliases(after.attrs.get("aliases")) | {old}) - {new}
    # Its fingerprint already covers the new parent: once the entry has moved (below) it
    # matches; before that, the second uid value marks the entry as a rename under way.
    step2 = _with(step1, after.create_only, after.parent, address=new, aliases=tuple(sorted(step2_aliases)))
    new_rdn = dnlib.rdn(kmap.rdn_attr, new)
    parent_dn = dnlib.parent_of(current)
    moving = dnlib.normalise(new_parent_dn) != dnlib.normalise(parent_dn)
    renamed = f"{new_rdn},{new_parent_dn}"
    final = modifications(after, tuple(dict.fromkeys((*changed, "address", "aliases"))), dmap)
    steps = [
        Step(f"add {new} as an extra address of {current}", current, {
            "ispctlMailAlias": step1_aliases,
            kmap.rdn_attr: [old, new],
            FINGERPRINT: [step1.fingerprint()],
        }),
        Step(f"make {new} the address of {current}", current, {
            "mail": [new], "ispctlMailAlias": sorted(step2_aliases), FINGERPRINT: [step2.fingerprint()],
        }),
    ]
    if moving:
        # Into the new domain first, still named by the old uid (so still marked as under way).
        old_rdn = dnlib.rdn(kmap.rdn_attr, old)
        steps.append(Step(f"move {current} to {new_parent_dn}", current, new_rdn=old_rdn,
                          new_superior=new_parent_dn))
        current = f"{old_rdn},{new_parent_dn}"
    steps += [
        Step(f"rename {current}", current, new_rdn=new_rdn),
        Step(f"modify {renamed}", renamed, final),
    ]
    return steps
