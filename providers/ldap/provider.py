"""The directory provider: tenants, domains, mailboxes and aliases in OpenLDAP.

Reads the whole managed subtree with one paged search for the marker class, asking
only for the attributes ispctl manages. Writes are attribute-level: ``modify`` with
replace for changed attributes (never delete + add of an entry), ``modify_dn`` for
moves, and the fingerprint is written in the same operation as the values it covers.
Nothing outside the managed base is ever read or written.

Right after connecting (before the lock) the base and the schema are checked
(``preflight``). A connection lost mid-run (slapd restarted) is reopened with a few
retries and growing pauses; an operation whose outcome the lost connection hid is read back
before it is repeated (an add that landed is not an "already exists" failure). When the
directory stays away the provider says once what failed, what to run and what became of the
lock; the changes after that fail at once with a short "not tried".
"""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

import ldap3
from ldap3.core.exceptions import (
    LDAPBusyResult,
    LDAPCommunicationError,
    LDAPException,
    LDAPNoSuchObjectResult,
    LDAPUnavailableResult,
)

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping, narrow, reader
from ispctl.providers.ldap.connection import LdapSettings, connect, open_connection
from ispctl.providers.ldap.live import LiveTree
from ispctl.providers.ldap.lock import DirectoryLock, Heartbeat, holding, new_lock
from ispctl.providers.ldap.preflight import check_directory
from ispctl.providers.ldap.rename import Step, mailbox_rename_steps
from ispctl.reconciler.contract import Lockable, Provider, ProviderError, Resource, Within

T = TypeVar("T")
# The connection is gone (socket errors, slapd's notice of disconnection when it stops) or the
# server says to come back later: worth reconnecting for. Anything else is an answer.
LOST = (LDAPCommunicationError, LDAPUnavailableResult, LDAPBusyResult)
MAX_PAUSE = 8.0


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class LdapProvider(Provider, Lockable):
    name: ClassVar[str] = "ldap"
    SUPPORTS: ClassVar[frozenset[str]] = mapping.SUPPORTED

    def __init__(self, settings: LdapSettings, base_dn: str, page_size: int = 1000, *,
                 retries: int = 5, pause: float = 0.5) -> None:
        self.settings = settings
        self.base_dn = base_dn
        self.page_size = page_size
        # Reconnecting: ``retries`` attempts, pausing ``pause`` s and doubling (0.5+1+2+4+8 s:
        # long enough for slapd to restart, short enough that a dead server is reported soon).
        self.retries = retries
        self.pause = pause
        self._conn: ldap3.Connection | None = None
        self._dn: dict[str, str] = {}  # address -> DN of the live (or just created) entry
        self._lock_id: str | None = None
        self._gave_up: str | None = None  # set once the directory is given up for this run

    @property
    def conn(self) -> ldap3.Connection:
        if self._conn is None:
            conn = connect(self.settings)
            try:
                check_directory(conn, self.settings.url, self.base_dn)
            except LDAPException as exc:
                self._quiet_unbind(conn)
                raise ProviderError(f"cannot read {self.base_dn} in the directory at {self.settings.url}: "
                                    f"{exc}") from None
            except ProviderError:
                self._quiet_unbind(conn)
                raise
            self._conn = conn
        return self._conn

    @staticmethod
    def _quiet_unbind(conn: ldap3.Connection) -> None:
        try:
            conn.unbind()
        except LDAPException:
            pass

    def _call(self, what: str, op: Callable[[bool], T]) -> T:
        """Run ``op`` (its argument: True when repeating after a lost connection), reconnecting
        with bounded retries; gives up with one message that says what to do."""
        if self._gave_up is not None:
            raise ProviderError(f"not tried: {self._gave_up}")
        conn = self.conn
        pause = self.pause
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                try:
                    open_connection(conn, self.settings)
                except ProviderError as exc:
                    error = exc
                    continue
            try:
                return op(attempt > 0)
            except LOST as exc:
                error = exc
        raise self._give_up(what, error)

    def _give_up(self, what: str, error: Exception | None) -> ProviderError:
        self._gave_up = f"the directory at {self.settings.url} is unreachable (see the first error)"
        lock = ""
        if self._lock_id is not None:
            lock_dn = dnlib.child("cn", "ispctl-lock", self.base_dn)
            lock = (f" The estate lock {lock_dn} (id {self._lock_id}) stays behind: the next apply on this "
                    "host takes it over once this process has ended; from another host run "
                    f"`ispctl force-unlock {self._lock_id}` first.")
        reason = self._why_unreachable() or (str(error).split(" - ")[0] if error is not None else "no answer")
        return ProviderError(
            f"lost the directory at {self.settings.url} during {what} ({reason}) and could not reconnect "
            f"({self.retries} attempts). Changes reported before this one are applied; the rest were not "
            f"tried. When slapd answers again, run `ispctl apply` again: it resumes from here.{lock}")

    def _why_unreachable(self) -> str | None:
        """The system's reason a TCP connect fails ("Connection refused"); ldap3 says only
        "invalid server address" for every kind of failure."""
        parsed = urlparse(self.settings.url)
        if parsed.scheme.lower() not in ("ldap", "ldaps") or not parsed.hostname:
            return None
        try:
            with socket.create_connection((parsed.hostname, parsed.port or (636 if parsed.scheme.lower() == "ldaps"
                                                                             else 389)), timeout=5):
                return None
        except OSError as exc:
            return f"cannot connect: {exc.strerror or exc}"

    def estate_lock(self, operation: str, commit: str | None, ttl: timedelta,
                    timeout: float) -> AbstractContextManager[Heartbeat]:
        """Hold the estate's apply lock (an entry in the managed base), kept alive, for the block."""
        return self._noting_lock(holding(self.conn, lambda: connect(self.settings), self.base_dn,
                                         new_lock(operation, commit, ttl), ttl, timeout))

    @contextmanager
    def _noting_lock(self, held: AbstractContextManager[Heartbeat]) -> Iterator[Heartbeat]:
        # The lock's id is named in the message if the directory is lost mid-run.
        with held as beat:
            self._lock_id = beat.id
            try:
                yield beat
            finally:
                self._lock_id = None

    def force_unlock(self, lock_id: str) -> str:
        return DirectoryLock(self.conn, self.base_dn).force_unlock(lock_id).describe()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.unbind()
            except LDAPException:
                pass
            self._conn = None

    # -- reading ------------------------------------------------------------------------

    @cached_property
    def bulk(self) -> reader.Reader:
        """The bulk reader: python-ldap, a connection of its own per read, the same retries."""
        return reader.Reader(self.settings, self.retries, self.pause)

    def _search(self, read: Callable[[reader.Connection, LiveTree], None]) -> LiveTree:
        """``read`` into a new tree on a python-ldap connection of its own (``reader``: C-decoded,
        parsed page by page), started over after a lost connection with bounded retries."""
        if self._gave_up is not None:
            raise ProviderError(f"not tried: {self._gave_up}")
        self.conn  # noqa: B018 - connect first: the base and the schema are checked then (preflight)

        def run(conn: reader.Connection, _again: bool) -> LiveTree:
            tree = LiveTree(self.base_dn)  # a repeated read starts over
            read(conn, tree)
            return tree

        try:
            # The read allocates millions of small objects that all stay alive; the cyclic
            # garbage collector would rescan them over and over (about 30% of a large read).
            with gc_paused():
                return self.bulk.run(run)
        except reader.Lost as exc:
            raise self._give_up(f"the read of {self.base_dn}", exc) from None
        except reader.BaseGone:
            raise ProviderError(f"the managed base {self.base_dn} disappeared from the directory while it was "
                                "read") from None
        except reader.SearchFailed as exc:
            raise ProviderError(f"paged search of {self.base_dn} failed: {exc}") from None

    @staticmethod
    def _live(tree: LiveTree, kinds: frozenset[str]) -> list[Resource]:
        with gc_paused():
            return [item.resource for item in tree.entries() if item.resource.kind in kinds]

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        def everything(conn: reader.Connection, tree: LiveTree) -> None:
            for page in reader.paged(conn, self.base_dn, mapping.SEARCH_FILTER, mapping.search_attributes(),
                                     self.page_size):
                tree.add(page)

        tree = self._search(everything)
        self._dn = tree.dns
        return self._live(tree, kinds)

    def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
        """The entries at or below the anchors in the live tree and those ``within`` names,
        wherever they live (``narrow``); DNs of entries not read are looked up when a write needs them."""
        known = dict(self._dn) if isinstance(self._dn, narrow.DnMap) else {}  # a top-up read adds to the last
        tree = self._search(lambda conn, tree: narrow.read_within(conn, tree, self.base_dn, within, self.page_size))
        found = self._live(tree, kinds)
        self._dn = narrow.DnMap({**known, **tree.dns}, self._locate)
        return found

    def _locate(self, address: str) -> str | None:
        """The DN of one live entry by its address (an indexed search), or None."""
        tree = self._search(lambda conn, tree: narrow.locate(conn, tree, self.base_dn, address))
        return tree.dns.get(address)

    # -- writing ------------------------------------------------------------------------

    def _dn_for(self, address: str | None) -> str:
        if address is None:
            return self.base_dn
        found = self._dn.get(address)
        if found is None:
            raise ProviderError(f"{address} does not exist in the directory")
        return found

    def _target_dn(self, resource: Resource) -> str:
        kmap = mapping.KINDS[resource.kind]
        return dnlib.child(kmap.rdn_attr, resource.key, self._dn_for(resource.parent))

    def _check_result(self, ok: bool, what: str) -> None:
        if not ok:
            result = self.conn.result or {}
            raise ProviderError(f"{what}: {result.get('description')} {result.get('message', '')}".strip())

    def _fingerprint_at(self, dn: str) -> str | None:
        """The fingerprint stored on ``dn``; "" for an entry without one; None if there is no entry."""
        try:
            self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[mapping.FINGERPRINT])
        except LDAPNoSuchObjectResult:
            return None
        if not self.conn.response:
            return None
        values = self.conn.response[0].get("attributes", {}).get(mapping.FINGERPRINT) or []
        return str(values[0]) if values else ""

    def _exists(self, dn: str) -> bool:
        return self._fingerprint_at(dn) is not None

    def _create(self, resource: Resource) -> None:
        target = self._target_dn(resource)
        self._guard(target)
        wanted = resource.fingerprint()

        def add(again: bool) -> None:
            # The add may have landed before the connection dropped: then it is done, not a
            # conflict. An entry with other values is still reported as "already exists".
            if again and self._fingerprint_at(target) == wanted:
                return
            self._check_result(self.conn.add(target, attributes=mapping.entry_attributes(resource)), f"add {target}")

        try:
            self._call(f"add {target}", add)
        except LDAPException as exc:
            raise ProviderError(f"add {target}: {exc}") from None
        self._dn[resource.address] = target

    def _run_step(self, step: Step) -> None:
        """One modify or modrdn, repeated after a lost connection (a modrdn only if it did not land)."""
        def run(again: bool) -> None:
            if step.new_rdn is None:
                self._check_result(self.conn.modify(step.dn, step.ldap_changes()), step.what)
                return
            if again and not self._exists(step.dn) and self._exists(step.result_dn):
                return
            self._check_result(self.conn.modify_dn(step.dn, step.new_rdn, new_superior=step.new_superior),
                               step.what)

        self._call(step.what, run)

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        current = self._dn_for(before.address)  # before a rename, the old key's entry
        self._guard(current)
        try:
            if after.kind == "mailbox" and before.key != after.key:
                self._rename_mailbox(before, after, changed, current)
                return
            if before.parent != after.parent or before.key != after.key:
                current = self._move(after, current)
                if before.key != after.key:
                    self._dn.pop(before.address, None)
                    self._dn[after.address] = current
            self._run_step(Step(f"modify {current}", current, mapping.modifications(after, changed)))
        except LDAPException as exc:
            raise ProviderError(f"modify {current}: {exc}") from None

    def rename_steps(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> list[Step]:
        """The LDAP steps of a mailbox rename (``rename``); tests run prefixes of them."""
        current = self._dn_for(before.address)
        new_parent = self._dn_for(after.parent)
        self._guard(current)
        self._guard(new_parent)
        return mailbox_rename_steps(before, after, changed, current, new_parent)

    def _rename_mailbox(self, before: Resource, after: Resource, changed: tuple[str, ...], current: str) -> None:
        steps = self.rename_steps(before, after, changed)
        for step in steps:
            self._run_step(step)
        self._dn.pop(before.address, None)
        self._dn[after.address] = steps[-1].dn

    def _move(self, resource: Resource, current: str) -> str:
        new_parent = self._dn_for(resource.parent)
        self._guard(new_parent, allow_base=True)
        relative = dnlib.rdn(mapping.KINDS[resource.kind].rdn_attr, resource.key)
        self._run_step(Step(f"move {current}", current, new_rdn=relative, new_superior=new_parent))
        moved = f"{relative},{new_parent}"
        # Children moved with their parent: keep our DN cache truthful for later changes.
        depth = len(dnlib.split_rdns(current))
        for address, entry_dn in list(self._dn.items()):
            if not dnlib.is_within(entry_dn, current):
                continue
            rdns = dnlib.split_rdns(entry_dn)
            head = dnlib.join_rdns(rdns[: len(rdns) - depth])
            self._dn[address] = f"{head},{moved}" if head else moved
        return moved

    def _delete(self, resource: Resource) -> None:
        target = self._dn_for(resource.address)
        self._guard(target)

        def delete(again: bool) -> None:
            if again and not self._exists(target):
                return  # it was deleted before the connection dropped
            self._check_result(self.conn.delete(target), f"delete {target}")

        try:
            self._call(f"delete {target}", delete)
        except LDAPException as exc:
            raise ProviderError(f"delete {target}: {exc}") from None
        self._dn.pop(resource.address, None)

    def set_credential(self, live: Resource, field: str, value: str) -> str:
        """Write one credential of a live entry directly (``ispctl passwd``); returns its DN.

        The value is the user's from now on, so the stored fingerprint must not cover it: one
        that still does (written while git owned it, before this version) is rewritten without
        it in the same modify, when the entry is otherwise as ispctl left it (else it stays,
        and the next plan still shows the drift).
        """
        kmap = mapping.KINDS[live.kind]
        target = self._dn_for(live.address)
        self._guard(target)
        mods: dict[str, list[Any]] = {name: [value] for name in kmap.fields[field][0]}
        if field not in live.create_only and live.drifted() is None:
            mods[mapping.FINGERPRINT] = [replace(live, create_only=live.create_only | {field}).fingerprint()]
        try:
            self._run_step(Step(f"set the {field} of {target}", target, mods))
        except LDAPException as exc:
            raise ProviderError(f"modify {target}: {exc}") from None
        return target

    def _guard(self, target: str, allow_base: bool = False) -> None:
        # Defence in depth: whatever the plan says, never write outside our subtree.
        is_base = dnlib.normalise(target) == dnlib.normalise(self.base_dn)
        if not dnlib.is_within(target, self.base_dn) or (is_base and not allow_base):
            raise ProviderError(f"refusing to write {target}: outside the managed base {self.base_dn}")
