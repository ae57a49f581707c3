"""The mail-store provider: mailbox homes (maildirs) on the local filesystem.

It owns one kind, ``maildir.<address>``: attributes ``path`` (the home, the same value as
the mailbox's ``homeDirectory``), ``uid`` and ``gid`` (its owner). Live state is one walk of
two directory levels below the mail root (``store.scan``); only homes holding ispctl's
marker are read, so mail that ispctl did not create is never planned or touched.
A narrowed plan (--tenant, --changed-since) reads every marker too (no ``_read_within``):
a home is its marker's wherever it lies (a home moved by hand, or by a rename a kill
interrupted, is not under its domain's directory), so reading only some domains'
directories could plan a missing home where a moved one should be moved back.

``create`` makes the home and ``Maildir/{cur,new,tmp}``, marker last, or, for a mailbox whose
mail exists already (attribute ``adopt``), adopts it in place or moves it there (``adopt``;
``describe`` says which in the plan); ``update`` fixes
owner and modes, or renames the home (a mailbox rename, one atomic ``rename``, with an intent
record in the marker from just before the rename until the marker is rewritten); ``delete``
*archives*: the home is moved into the mail archive with a manifest, never removed, which
is why the kind is in ``ARCHIVES`` and the plan says "will be archived".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from ispctl.providers.mailstore.paths import ADOPT, StoreError
from ispctl.reconciler.contract import MAILBOX, Provider, Resource, Value, address_of

if TYPE_CHECKING:
    from ispctl.providers.mailstore.store import Home

# The store's reads and writes (``store``, ``adopt``, ``merge``) are imported by the methods that
# use them: the registry imports this class for every command, and a plan on a machine that
# keeps no mail store never reads one (issue 11).

KIND = "maildir"


def _owner(resource: Resource) -> tuple[int, int]:
    uid, gid = resource.attrs.get("uid"), resource.attrs.get("gid")
    if not isinstance(uid, int) or not isinstance(gid, int):
        raise StoreError(f"{resource.address} has no numeric uid/gid")
    return uid, gid


def _path(resource: Resource) -> str:
    path = resource.attrs.get("path")
    if not isinstance(path, str):
        raise StoreError(f"{resource.address} has no path")
    return path


def _interrupted(home: Home) -> str | None:
    """What a move stopped half-way was doing, from the intent record it left in the marker."""
    if home.moving is None:
        return None
    new_address, new_path = home.moving
    if home.path == new_path:
        return f"the home of {home.address} was moved to {new_path} (for {new_address}), its marker not yet rewritten"
    return f"moving the home of {home.address} to {new_path} (for {new_address}) had not started or not finished"


class MailStoreProvider(Provider):
    name: ClassVar[str] = "mailstore"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND})
    # Deleting a maildir moves it to the archive: the plan must not call that "destroyed".
    ARCHIVES: ClassVar[Mapping[str, str]] = {KIND: "moved to the mail archive"}

    def __init__(self, root: str, archive: str, host: str | None = None,
                 placed: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.root = root
        self.archive = archive
        # This machine's cluster host (ISPCTL_HOST) when the mailboxes are placed on hosts:
        # every home here is on it, which the live state says as the desired state does.
        self.host = host
        # Where the directory places each mailbox (address -> mailHost), read once when first
        # needed: a default host is the directory's once written (README "Cluster").
        self._placed_reader = placed
        self._placed: Mapping[str, str] | None = None

    def reconciles(self, resource: Resource) -> bool:
        """In a cluster, only the maildirs of mailboxes placed on this host: where the directory
        says (a default host written long ago, a pinned one switched by a finished move), else
        (a mailbox the central run has not written yet) where the desired state places it."""
        if self.host is None:
            return True
        if self._placed is None:
            self._placed = self._placed_reader() if self._placed_reader is not None else {}
        if resource.key in self._placed:
            # The directory's host settles it: a maildir only outlined (a narrowed plan over the
            # snapshot) is asked nothing more, where reading its host would redo the plan in full.
            return self._placed[resource.key] == self.host
        return resource.attrs.get("host") == self.host

    def reconciles_all(self) -> bool:
        """Outside a cluster, every maildir (``reconciles``)."""
        return self.host is None

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        if KIND not in kinds:
            return []
        from ispctl.providers.mailstore import store

        try:
            homes = store.scan(self.root)
        except OSError as exc:
            raise StoreError(f"cannot read the mail store {self.root}: {exc.strerror or exc}") from None
        host: dict[str, Value] = {"host": self.host} if self.host is not None else {}
        return [
            Resource(
                KIND, home.address, {"path": home.path, "uid": home.uid, "gid": home.gid, **host},
                # Live maildirs carry the dependency too: an archive must run before the
                # directory entry it belongs to is deleted.
                depends_on=(address_of(MAILBOX, home.address),),
                recorded_fingerprint=home.fingerprint,
                interrupted=_interrupted(home),
            )
            for home in homes
        ]

    def _create(self, resource: Resource) -> None:
        from ispctl.providers.mailstore import adopt, store

        source = resource.attrs.get(ADOPT)
        if isinstance(source, str):
            self._guarded(resource, lambda: adopt.adopt_home(
                self.root, resource.key, source, _path(resource), self._usable_owner(resource), resource.fingerprint()))
            return
        self._guarded(resource, lambda: store.create_home(
            self.root, resource.key, _path(resource), self._usable_owner(resource), resource.fingerprint()))

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        source = after.attrs.get(ADOPT) if after is not None and before is None else None
        if not isinstance(source, str) or after is None:
            return ()
        from ispctl.providers.mailstore import adopt

        return (adopt.describe(source, _path(after), after.key, _owner(after)),)

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        from ispctl.providers.mailstore import store
        from ispctl.providers.mailstore.merge import merge_delivered

        def run() -> None:
            owner = self._usable_owner(after)
            old, new = _path(before), _path(after)
            if old != new:
                # The intent first: a kill between the rename and the marker below then reads
                # as this apply's unfinished work, which the next apply completes, not as drift.
                store.write_marker(old, before.key, before.recorded_fingerprint, moving=(after.key, new))
                if os.path.lexists(new) and store.read_marker(new) is None and not store.is_skeleton(new):
                    # Mail delivered to the new address since the directory entry was renamed.
                    store.ensure_archive(self.root, self.archive)
                    merge_delivered(new, old, self.archive, after.key, datetime.now(UTC))
                store.move_home(self.root, old, after.key, new)
            else:
                store.check_home(self.root, new)
            # The files below change hands only when the owner really changed.
            store.fix_home(new, owner, retree=_owner(before) != owner)
            store.write_marker(new, after.key, after.fingerprint())
        self._guarded(after, run)

    def _delete(self, resource: Resource) -> None:
        from ispctl.providers.mailstore import store

        self._guarded(resource, lambda: store.archive_home(
            self.root, self.archive, _path(resource), resource.key, datetime.now(UTC)))

    def _usable_owner(self, resource: Resource) -> tuple[int, int]:
        owner = _owner(resource)
        if os.geteuid() != 0 and owner != (os.geteuid(), os.getegid()):
            # Only root may give files away: say so before half-creating anything.
            raise StoreError(
                f"{resource.address}: mail must belong to uid {owner[0]} gid {owner[1]}, but ispctl runs as "
                f"uid {os.geteuid()} and only root can give files away; run it as root, or set mail.uid/gid "
                "(ISPCTL_MAIL_UID/GID) to its own ids"
            )
        return owner

    def _guarded(self, resource: Resource, action: Callable[[], object]) -> None:
        try:
            action()
        except StoreError:
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise StoreError(f"{resource.address}: {exc.strerror or exc}{where}") from None
