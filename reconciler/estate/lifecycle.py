"""Checks of the lifecycle settings: which attributes belong to the live side once an object exists.

``lifecycle.ignore_changes`` in ispctl.yaml (per kind) and ``ignore_changes`` on a tenant,
domain, mailbox or alias (per object) name attributes; a name that is not an attribute of that kind would silently do
nothing, so it is an error at its own line. ``credentials: git`` keeps the hash in git, so it
needs one (otherwise every apply would remove the password its user set).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.engine.resources import address_of
from ispctl.reconciler.estate.catalog import Catalog, Origin
from ispctl.reconciler.estate.compile import ALIAS, ATTRIBUTES, DOMAIN, MAILBOX, TENANT, Compiled
from ispctl.reconciler.estate.yamlload import FieldPath


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    return f"a {kind} has no attribute {name!r}; its attributes are {', '.join(sorted(known))}"


def lifecycle_problems(catalog: Catalog, contributions: Iterable[Compiled] = (),
                       declared: Mapping[str, Iterable[str]] | None = None) -> list[Problem]:
    """``declared``: what services add to a kind's objects (their directory parts' fields), so a
    kind-wide name is known whether or not an object of this estate has it yet."""
    by_address: dict[str, set[str]] = {}
    by_kind: dict[str, set[str]] = {kind: set(names) for kind, names in ATTRIBUTES.items()}
    for kind, names in (declared or {}).items():
        if kind in by_kind:
            by_kind[kind].update(names)
    for part in contributions:
        for address, attrs in part.attrs.items():
            by_address.setdefault(address, set()).update(attrs)
            by_kind.setdefault(address.split(".", 1)[0], set()).update(attrs)
    problems: list[Problem] = []
    site, doc = catalog.estate.site, catalog.estate.site_doc
    for kind, names in site.lifecycle.ignore_changes.items():
        where = ("lifecycle", "ignore_changes", kind)
        if kind not in ATTRIBUTES:
            problems.append(doc.problem(where, f"unknown kind {kind!r}: ignore_changes applies to "
                                               f"{', '.join(sorted(ATTRIBUTES))}", key=True))
            continue
        for index, name in enumerate(names):
            if name not in by_kind[kind]:
                problems.append(doc.problem((*where, index), _unknown(kind, name, by_kind[kind])))
    objects: list[tuple[str, str, Origin, Sequence[str]]] = [
        *((TENANT, t.name, t.origin, t.spec.ignore_changes) for t in catalog.tenants.values()),
        *((DOMAIN, d.name, Origin(d.origin.doc), d.spec.ignore_changes) for d in catalog.domains.values()),
        *((MAILBOX, b.address, b.origin, b.spec.ignore_changes) for b in catalog.mailboxes.values()),
        *((ALIAS, a.address, a.origin, a.spec.ignore_changes) for a in catalog.aliases.values()),
    ]
    for kind, key, origin, written in objects:
        if not written:
            continue  # most objects: no set of known names to build
        known = ATTRIBUTES[kind] | by_address.get(address_of(kind, key), set())
        for index, name in enumerate(written):
            if name not in known:
                at: FieldPath = (*origin.path, "ignore_changes", index)
                problems.append(origin.doc.problem(at, _unknown(kind, name, known)))
    for box in catalog.mailboxes.values():
        spec, path = box.spec, box.origin.path
        if (spec.credentials or site.lifecycle.credentials) == "git" and spec.password is None \
                and "password" not in spec.ignore_changes:
            at = (*path, "credentials") if spec.credentials else path
            problems.append(box.origin.doc.problem(at, "credentials: git keeps the password hash written in git, and "
                                                       "this mailbox has none: add 'password:' (from 'ispctl "
                                                       "hash-password') or leave the password to its user "
                                                       "(credentials: user)", key=True))
    return problems
