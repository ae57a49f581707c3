"""The provider contract: one subclass per live service.

The public flow lives here; providers implement small underscore hooks, in the style
of octoDNS's ``BaseProvider``:

``SUPPORTS``
    The resource kinds this provider owns. The engine routes every resource to the one
    provider that supports its kind; two providers claiming a kind is a configuration
    error.
``ARCHIVES``
    The supported kinds whose delete keeps the data (an archive), each with the words plans
    use for it ("moved to the mail archive"), so a plan never calls it a destroy.
``_read_live(kinds)``
    Return every live resource of the given kinds that this provider *owns* (its
    subtree, its ownership markers), in bulk: one paged search, one zone transfer, one
    directory walk -- never one request per resource. Live resources carry the
    fingerprint found stored beside them (``recorded_fingerprint``) so the engine can
    tell drift from desired changes. Reading must never write.
``_read_within(kinds, within)``
    Optional: the live resources a narrowed plan needs (``Within``: --tenant, --changed-since),
    for services that can read part of their state much more cheaply than all of it. It may
    return more than asked (the default reads everything, which is always correct), never less.
``_create(resource)`` / ``_update(before, after, changed)`` / ``_delete(resource)``
    Make one change. ``changed`` names the attributes whose values differ. Raise
    ``ProviderError`` (or any exception) on failure: the engine records it, skips the
    changes that depend on this one and carries on with independent ones. Writes must
    store ``after.fingerprint()`` with the values, atomically where the service allows.
``batch_key(resource)`` / ``commit(batch)``
    Optional batching, for services where one request carrying many changes is much
    cheaper (or more atomic) than many requests: an RFC 2136 update per DNS zone. When
    ``batch_key`` returns a name for the resource of a change (the default returns None:
    apply at once), the matching ``create``/``update``/``delete`` call only *stages* the
    change (it may still raise for a change it can tell is invalid: that change alone
    fails), and nothing reaches the service until the engine calls ``commit(name)``.
    ``apply`` commits every batch it opened once the plan has been walked,
    and earlier when a change in another batch (or an unbatched one) depends on a staged
    change. ``commit`` returning means every staged change of the batch took effect;
    raising means none did, unless it raises ``BatchError`` whose ``applied`` names the
    addresses that did (a batch too large for one request may be sent in parts). Failed
    changes of a batch skip their dependents like any failure. A provider forgets a
    batch once it is committed, whatever the outcome; ``close`` drops uncommitted ones.
``describe(before, after)``
    Optional: what a change means on the service, for people: lines of a unified diff
    (``difflib.unified_diff(..., lineterm="")``: ``---``/``+++`` file headers, ``@@`` hunks,
    ``+``/``-``/space lines, no trailing newlines) of the files the change writes, such as a
    rendered configuration file. ``before`` is the live resource (None for a create), ``after``
    the desired one (None for a delete). The session calls it once per planned change of
    this provider, right after the diff, and the plan carries the lines (``Change.detail``)
    into its views, JSON and saved plans. It must never return a secret (a password hash, a
    private key: leave such files out), must not read the live service again (use what the
    last read kept, or render from the resources), and returns ``()`` (the default) when
    there is nothing more to say than the attribute changes.
``close()``
    Release connections.

Optional capabilities are typed protocols a provider class declares by inheriting them, so
the type checker sees them and the engine asks with ``isinstance``: ``Lockable`` (the
estate's apply lock, kept by the directory provider) and ``Pipelined``
(``reconciler/engine/inflight.py``: the provider takes a change with ``submit`` and gives its
outcome later from ``collect``, up to ``window()`` changes in flight on one connection; the
engine hands it every change whose prerequisites have completed, so independent changes
overlap, and still reports each change's own outcome. A batched change (``batch_key``) is
never submitted: it is staged as above).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Protocol, runtime_checkable

from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.resources import Resource


class BatchError(ProviderError):
    """A batch failed after part of it took effect; ``applied`` names those addresses."""

    def __init__(self, message: str, applied: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.applied = applied


@dataclass(frozen=True)
class Within:
    """The part of the live state a narrowed plan needs.

    ``anchors`` are addresses (tenants, domains) whose live objects are wanted together with
    everything below them in the *live* state (a mailbox under a wanted domain, wherever git
    now puts it). ``addresses`` are further objects wanted wherever they live: the desired
    objects in scope and the keys they had before (``previous``), so an object moved or
    renamed into the scope by hand or by git is found and planned as a move, not a create.
    """

    anchors: frozenset[str]
    addresses: frozenset[str] = frozenset()


class Provider(ABC):
    name: ClassVar[str] = "provider"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset()
    # Kinds whose delete this provider carries out by archiving, not destroying (the mail
    # store moves a home into the archive), and how plans say where it goes.
    ARCHIVES: ClassVar[Mapping[str, str]] = {}

    def read(self, kinds: Iterable[str] | None = None,
             within: Within | None = None) -> dict[tuple[str, str], Resource]:
        """Live state of the supported kinds, keyed by identity: all of it, or at least the
        part ``within`` names."""
        wanted = self.SUPPORTS if kinds is None else frozenset(kinds) & self.SUPPORTS
        live: dict[tuple[str, str], Resource] = {}
        found = self._read_live(wanted) if within is None else self._read_within(wanted, within)
        for resource in found:
            if resource.kind not in wanted:
                continue
            if resource.identity in live:
                # Two live objects claiming one identity (e.g. the same address twice in
                # the directory) cannot be reconciled safely: stop before planning.
                raise ProviderError(
                    f"{self.name}: {resource.address} exists more than once in live state; "
                    "remove the duplicate by hand"
                )
            live[resource.identity] = resource
        return live

    def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
        """At least the live resources ``within`` names; by default all of them."""
        return self._read_live(kinds)

    def create(self, resource: Resource) -> None:
        self._check_kind(resource)
        self._create(resource)

    def update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._check_kind(after)
        self._update(before, after, changed)

    def delete(self, resource: Resource) -> None:
        self._check_kind(resource)
        self._delete(resource)

    def batch_key(self, resource: Resource) -> str | None:
        """The batch a change of ``resource`` is staged in, or None to apply it at once."""
        return None

    def commit(self, batch: str) -> None:
        """Carry out every change staged in ``batch`` (see the module docstring)."""
        raise ProviderError(f"{self.name} stages no changes (batch {batch!r})")

    def reconciles(self, resource: Resource) -> bool:
        """Whether this machine's run reconciles a desired resource of its kinds: a host-local
        provider in a cluster keeps only the objects placed on its host; by default all."""
        return True

    def reconciles_all(self) -> bool:
        """Whether ``reconciles`` says yes to every desired resource of this provider's kinds on
        this machine (asked once per run: then none is asked about one by one). True when
        ``reconciles`` is the default; a provider that overrides it says when it keeps all."""
        return type(self).reconciles is Provider.reconciles

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        """Unified-diff lines of what this change writes, never secrets (see the module docstring)."""
        return ()

    def close(self) -> None:  # noqa: B027 - an optional hook: most providers hold nothing to release
        """Release connections; the default has nothing to release."""

    def _check_kind(self, resource: Resource) -> None:
        if resource.kind not in self.SUPPORTS:
            raise ProviderError(f"{self.name} does not support {resource.kind} ({resource.address})")

    @abstractmethod
    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]: ...

    @abstractmethod
    def _create(self, resource: Resource) -> None: ...

    @abstractmethod
    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None: ...

    @abstractmethod
    def _delete(self, resource: Resource) -> None: ...


class HeldLock(Protocol):
    """The estate's lock while it is held: its id, and whether it is still ours."""

    @property
    def id(self) -> str:
        """What force-unlock takes."""
        ...

    def lost(self) -> str | None:
        """Why the lock can no longer be relied on (taken over, not renewed), or None."""
        ...


@runtime_checkable
class Lockable(Protocol):
    """A provider that keeps the estate's apply lock: one apply at a time, across machines.

    The keeper keeps the lock alive for as long as the block runs (a lock of ``ttl`` may be
    held for longer), and reports through ``HeldLock.lost`` when it could not: the apply then
    stops at the next change boundary.
    """

    def estate_lock(self, operation: str, commit: str | None, ttl: timedelta,
                    timeout: float) -> AbstractContextManager[HeldLock]:
        """Hold the lock for the block."""
        ...

    def force_unlock(self, lock_id: str) -> str:
        """Remove the lock with this id; returns a description of the lock removed."""
        ...
