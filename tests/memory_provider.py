"""An in-memory provider for pure engine tests (no daemon behind it).

It behaves like a strict directory so that the engine's ordering is really exercised:
a child cannot be created before its parent, an object with children cannot be deleted,
a move needs its new parent to exist, and an update writes only the attributes named as
changed. Like every real provider it stores ``after.fingerprint()`` with each write, so
drift detection works on what it returns from ``read()``.

Failures are configured up front (``fail=`` addresses), never by patching the object.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar

from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.provider import Provider, Within
from ispctl.reconciler.engine.resources import Resource

ALL_KINDS = frozenset({"tenant", "domain", "mailbox", "alias"})


class MemoryProvider(Provider):
    name: ClassVar[str] = "memory"
    SUPPORTS: ClassVar[frozenset[str]] = ALL_KINDS

    def __init__(self, live: Iterable[Resource] = (), fail: Iterable[str] = ()) -> None:
        # Seeded objects keep the recorded fingerprint they were given: None stands for an
        # object made outside ispctl, a stale one for an object edited by hand since.
        self.store: dict[str, Resource] = {r.address: r for r in live}
        self.fail = frozenset(fail)
        self.log: list[tuple[str, str]] = []  # (action, address) of every successful write
        self.closed = False
        self.narrow_reads: list[Within] = []  # what each narrowed read asked for

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        return [r for r in self.store.values() if r.kind in kinds]

    def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
        """Exactly what ``within`` names, as a service that can read part of its state would:
        the objects at its addresses and those below an anchor in this store (following
        parents and dependencies as far as the store holds them), nothing more."""
        self.narrow_reads.append(within)
        return [r for r in self.store.values() if r.kind in kinds
                and (r.address in within.addresses or self._below(r, within.anchors))]

    def _below(self, resource: Resource, anchors: frozenset[str]) -> bool:
        """Whether a walk up from ``resource`` (parent and every dependency, through this
        store) meets an anchor."""
        stack, seen = [resource], {resource.address}
        while stack:
            current = stack.pop()
            if current.address in anchors:
                return True
            for up in (current.parent, *current.depends_on):
                if up in anchors:
                    return True
                found = self.store.get(up) if up else None
                if found is not None and found.address not in seen:
                    seen.add(found.address)
                    stack.append(found)
        return False

    def close(self) -> None:
        self.closed = True

    def _maybe_fail(self, action: str, address: str) -> None:
        if address in self.fail:
            raise ProviderError(f"{self.name}: refused to {action} {address} (configured to fail)")

    def _need_parent(self, resource: Resource) -> None:
        parent = resource.parent
        # Only parents of kinds this provider holds can be checked; others live elsewhere.
        if parent is not None and parent.split(".", 1)[0] in self.SUPPORTS and parent not in self.store:
            raise ProviderError(f"{self.name}: parent {parent} of {resource.address} does not exist")

    def _written(self, resource: Resource) -> Resource:
        return replace(resource, source=None, recorded_fingerprint=resource.fingerprint())

    def _create(self, resource: Resource) -> None:
        self._maybe_fail("create", resource.address)
        if resource.address in self.store:
            raise ProviderError(f"{self.name}: {resource.address} already exists")
        self._need_parent(resource)
        self.store[resource.address] = self._written(resource)
        self.log.append(("create", resource.address))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._maybe_fail("update", after.address)
        current = self.store.get(after.address)
        if current is None:
            raise ProviderError(f"{self.name}: {after.address} does not exist")
        if before.parent != after.parent:
            self._need_parent(after)
        # Attribute-level write, as a directory modify does: only the named attributes
        # change, so a caller that forgets one leaves a visible difference behind.
        attrs = dict(current.attrs)
        for name in changed:
            attrs[name] = after.attrs.get(name)
        stored = replace(current, attrs=attrs, parent=after.parent, depends_on=after.depends_on,
                         sensitive=after.sensitive, source=None)
        self.store[after.address] = replace(stored, recorded_fingerprint=after.fingerprint())
        self.log.append(("update", after.address))

    def _delete(self, resource: Resource) -> None:
        self._maybe_fail("delete", resource.address)
        if resource.address not in self.store:
            raise ProviderError(f"{self.name}: {resource.address} does not exist")
        children = sorted(a for a, r in self.store.items() if r.parent == resource.address)
        if children:
            raise ProviderError(f"{self.name}: {resource.address} still has children: {', '.join(children)}")
        del self.store[resource.address]
        self.log.append(("delete", resource.address))


class DescribingProvider(MemoryProvider):
    """A memory provider whose objects are files too: ``describe`` gives the unified diff of a
    file listing the object's attributes (``name = value``), leaving the sensitive ones out as
    every provider must. ``described`` records each call (the session makes one per change)."""

    def __init__(self, live: Iterable[Resource] = (), fail: Iterable[str] = ()) -> None:
        super().__init__(live, fail)
        self.described: list[tuple[str | None, str | None]] = []

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        self.described.append((before.address if before else None, after.address if after else None))
        old, new = file_of(before), file_of(after)
        subject = after or before
        assert subject is not None
        name = f"{subject.key}.conf"
        return tuple(difflib.unified_diff(old, new, f"a/{name}" if before else "/dev/null",
                                          f"b/{name}" if after else "/dev/null", lineterm=""))


def file_of(resource: Resource | None) -> list[str]:
    """The "file" a DescribingProvider writes for an object: its non-sensitive attributes."""
    if resource is None:
        return []
    return [f"{name} = {value}" for name, value in sorted(resource.attrs.items()) if name not in resource.sensitive]
