"""The directory provider: tenants, domains, mailboxes and aliases in OpenLDAP.

Reads the whole managed subtree with one paged search for the marker class, asking
only for the attributes ispctl manages. Writes are attribute-level: ``modify`` with
replace for changed attributes (never delete + add of an entry), ``modify_dn`` for
moves, and the fingerprint is written in the same operation as the values it covers.
Nothing outside the managed base is ever read or written.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, ClassVar

import ldap3
from ldap3.core.exceptions import LDAPException

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.ldap.lock import DirectoryLock, new_lock
from ispctl.reconciler.contract import Lockable, Provider, ProviderError, Resource


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

    def __init__(self, settings: LdapSettings, base_dn: str, page_size: int = 1000) -> None:
        self.settings = settings
        self.base_dn = base_dn
        self.page_size = page_size
        self._conn: ldap3.Connection | None = None
        self._dn: dict[str, str] = {}  # address -> DN of the live (or just created) entry

    @property
    def conn(self) -> ldap3.Connection:
        if self._conn is None:
            self._conn = connect(self.settings)
        return self._conn

    @contextmanager
    def estate_lock(self, operation: str, commit: str | None, ttl: timedelta, timeout: float) -> Iterator[str]:
        """Hold the estate's apply lock (an entry in the managed base) for the block."""
        lock = DirectoryLock(self.conn, self.base_dn)
        held = lock.acquire(new_lock(operation, commit, ttl), timeout)
        try:
            yield held.id
        finally:
            try:
                lock.release(held)
            except LDAPException:
                pass  # the lock expires on its own; never hide the real outcome

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

    def _search(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            if not self.conn.search(self.base_dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"]):
                raise ProviderError(f"managed base {self.base_dn} does not exist in the directory; create it first "
                                    "(see README)")
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            raise ProviderError(f"managed base {self.base_dn} does not exist in the directory; create it first (see "
                                "README)") from None
        except LDAPException as exc:
            raise ProviderError(f"cannot read {self.base_dn}: {exc}") from None
        entries: list[tuple[str, dict[str, Any]]] = []
        try:
            for item in self.conn.extend.standard.paged_search(
                self.base_dn, mapping.SEARCH_FILTER, ldap3.SUBTREE,
                attributes=mapping.search_attributes(), paged_size=self.page_size, generator=True,
            ):
                if item.get("type") == "searchResEntry":
                    entries.append((item["dn"], item["raw_attributes"]))
        except LDAPException as exc:
            raise ProviderError(f"paged search of {self.base_dn} failed: {exc}") from None
        return entries

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        self._dn.clear()
        # The read allocates millions of small objects that all stay alive; the cyclic
        # garbage collector would rescan them over and over (about 30% of a large read).
        with gc_paused():
            live = mapping.parse_entries(self._search(), self.base_dn)
        for item in live:
            self._dn[item.resource.address] = item.dn
        return [item.resource for item in live if item.resource.kind in kinds]

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

    def _create(self, resource: Resource) -> None:
        target = self._target_dn(resource)
        self._guard(target)
        try:
            self._check_result(self.conn.add(target, attributes=mapping.entry_attributes(resource)), f"add {target}")
        except LDAPException as exc:
            raise ProviderError(f"add {target}: {exc}") from None
        self._dn[resource.address] = target

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        current = self._dn_for(before.address)  # before a rename, the old key's entry
        self._guard(current)
        try:
            if before.parent != after.parent or before.key != after.key:
                current = self._move(after, current)
                if before.key != after.key:
                    self._dn.pop(before.address, None)
                    self._dn[after.address] = current
            changes = mapping.modifications(after, changed)
            mods = {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in changes.items()}
            self._check_result(self.conn.modify(current, mods), f"modify {current}")
        except LDAPException as exc:
            raise ProviderError(f"modify {current}: {exc}") from None

    def _move(self, resource: Resource, current: str) -> str:
        new_parent = self._dn_for(resource.parent)
        self._guard(new_parent, allow_base=True)
        relative = dnlib.rdn(mapping.KINDS[resource.kind].rdn_attr, resource.key)
        self._check_result(self.conn.modify_dn(current, relative, new_superior=new_parent), f"move {current}")
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
        try:
            self._check_result(self.conn.delete(target), f"delete {target}")
        except LDAPException as exc:
            raise ProviderError(f"delete {target}: {exc}") from None
        self._dn.pop(resource.address, None)

    def _guard(self, target: str, allow_base: bool = False) -> None:
        # Defence in depth: whatever the plan says, never write outside our subtree.
        is_base = dnlib.normalise(target) == dnlib.normalise(self.base_dn)
        if not dnlib.is_within(target, self.base_dn) or (is_base and not allow_base):
            raise ProviderError(f"refusing to write {target}: outside the managed base {self.base_dn}")
