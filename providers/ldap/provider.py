"""The directory provider: tenants, domains, mailboxes and aliases in OpenLDAP.

Reads the whole managed subtree with one paged search for the marker class, asking
only for the attributes ispctl manages. Writes are attribute-level: ``modify`` with
replace for changed attributes (never delete + add of an entry), ``modify_dn`` for
moves, and the fingerprint is written in the same operation as the values it covers.
Nothing outside the managed base is ever read or written. Writes go out through python-ldap
with many changes in flight on one connection (``Pipelined``, ``writer.py``).

Right after connecting (before the lock) the base and the schema are checked
(``preflight``), on the bulk reader's python-ldap connection, which the first read then uses:
a plan binds once and never imports ldap3, which only the lock (``lock``) still uses.

A connection lost mid-run (slapd restarted) is reopened with a few retries and growing pauses;
an operation whose outcome the lost connection hid is read back before it is repeated (an add
that landed is not an "already exists" failure). When the directory stays away the provider
says once what failed, what to run and what became of the lock; the changes after that fail at
once with a short "not tried".
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping, narrow, reader
from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.ldap.live import LiveTree
from ispctl.providers.ldap.preflight import check_first, missing_classes
from ispctl.reconciler.contract import (
    Lockable,
    Pipelined,
    Provider,
    ProviderError,
    Resource,
    Within,
    collector_paused,
)

if TYPE_CHECKING:
    import ldap3

    from ispctl.providers.ldap import writer as writes
    from ispctl.providers.ldap.lock import Heartbeat
    from ispctl.providers.ldap.rename import Step

# The writes (``writer``, ``rename``, ``tenant_rename``) are imported by the methods that make
# them: a plan reads and never loads them (issue 11).
WINDOW = 32  # changes in flight: enough to keep slapd's threads busy, few enough to re-read after a drop


class LdapProvider(Provider, Lockable, Pipelined):
    name: ClassVar[str] = "ldap"
    SUPPORTS: ClassVar[frozenset[str]] = mapping.SUPPORTED
    # What the entries hold: the base kinds, or those and the services' parts (``with_parts``).
    MAP: ClassVar[mapping.DirectoryMap] = mapping.BASE

    @classmethod
    def with_parts(cls, dmap: mapping.DirectoryMap) -> type[LdapProvider]:
        """This provider storing ``dmap``'s kinds (a subclass: the registry reads kinds from classes)."""
        return type(cls.__name__, (cls,), {"SUPPORTS": dmap.supported, "MAP": dmap, "__module__": cls.__module__})

    def __init__(self, settings: LdapSettings, base_dn: str, page_size: int = 1000, *,
                 retries: int = 5, pause: float = 0.5, window: int = WINDOW) -> None:
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
        self.write_window = window  # changes in flight at once (``Pipelined``)
        self._writer: writes.Writer | None = None
        self._base_keys: list[tuple[tuple[str, str], ...]] | None = None
        self._safe_parents: set[str] = set()  # DNs _guard let a child be written below
        self._classes: frozenset[str] | None = None  # what the server defines (lower-case), once read
        self._checked = False  # the preflight passed

    def preflight(self) -> None:
        """Connect and check the directory (``preflight``), once: on the bulk reader's first
        python-ldap connection, which the next read uses (a plan binds once, without ldap3)."""
        if not self._checked:
            self._classes = check_first(self.bulk, self.settings, self.base_dn, self._why_unreachable)
            self._checked = True

    @property
    def conn(self) -> ldap3.Connection:
        """The ldap3 connection of the estate lock, opened once the directory is checked."""
        if self._conn is None:
            self.preflight()
            self._conn = connect(self.settings)
        return self._conn

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
        """The system's reason a TCP connect fails ("Connection refused"); libldap says "Can't
        contact LDAP server" (and ldap3 "invalid server address") for every kind of failure."""
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
        from ispctl.providers.ldap.lock import holding, new_lock  # ldap3: not for a plan (issue 11)

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
        from ispctl.providers.ldap.lock import DirectoryLock  # ldap3: see estate_lock

        return DirectoryLock(self.conn, self.base_dn).force_unlock(lock_id).describe()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if "bulk" in self.__dict__:  # a preflight connection no read used
            self.bulk.close()
        if self._conn is not None:
            from ldap3.core.exceptions import LDAPException  # only once ldap3 has connected

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
        self.preflight()  # connect first: the base and the schema are checked then

        def run(conn: reader.Connection, _again: bool) -> LiveTree:
            tree = LiveTree(self.base_dn, self.MAP)  # a repeated read starts over
            read(conn, tree)
            return tree

        try:
            # The read allocates millions of small objects that all stay alive; the cyclic
            # garbage collector would rescan them over and over (about 30% of a large read).
            with collector_paused():
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
        with collector_paused():
            return [item.resource for item in tree.entries() if item.resource.kind in kinds]

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        def everything(conn: reader.Connection, tree: LiveTree) -> None:
            for page in reader.paged(conn, self.base_dn, mapping.SEARCH_FILTER, mapping.search_attributes(self.MAP),
                                     self.page_size):
                tree.add(page)

        tree = self._search(everything)
        self._dn = tree.dns
        return self._live(tree, kinds)

    def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
        """The entries at or below the anchors in the live tree and those ``within`` names,
        wherever they live (``narrow``); DNs of entries not read are looked up when a write needs them."""
        known = dict(self._dn) if isinstance(self._dn, narrow.DnMap) else {}  # a top-up read adds to the last
        tree = self._search(lambda conn, tree: narrow.read_within(conn, tree, self.base_dn, within, self.page_size,
                                                                                   self.MAP))
        found = self._live(tree, kinds)
        self._dn = narrow.DnMap({**known, **tree.dns}, self._locate)
        return found

    def _locate(self, address: str) -> str | None:
        """The DN of one live entry by its address (an indexed search), or None."""
        tree = self._search(lambda conn, tree: narrow.locate(conn, tree, self.base_dn, address, self.MAP))
        return tree.dns.get(address)

    # -- writing ------------------------------------------------------------------------
    # Changes go out through ``writer`` (python-ldap): the engine submits many at a time
    # (``Pipelined``), ``create``/``update``/``delete`` send one and wait.

    @property
    def writer(self) -> writes.Writer:
        from ispctl.providers.ldap import writer as writes

        if self._writer is None:
            self.preflight()  # connect first: the base and the schema are checked then
            self._writer = writes.Writer.for_settings(
                self.settings, retries=self.retries, pause=self.pause, given_up=lambda: self._gave_up,
                give_up=lambda what, reason: self._give_up(what, RuntimeError(reason)))
        return self._writer

    def window(self) -> int:
        return self.write_window

    def submit(self, submission: writes.Submission) -> None:
        from ispctl.providers.ldap import writer as writes

        exclusive = writes.moves_subtree(submission)
        self.writer.settle(exclusive)  # the DNs below are computed once a subtree move has landed
        self.writer.submit(submission.ticket, self._ops(submission), exclusive)

    def collect(self) -> writes.Done:
        from ispctl.providers.ldap import writer as writes

        return writes.Done(*self.writer.collect())

    def _write(self, submission: writes.Submission) -> None:
        from ispctl.providers.ldap import writer as writes

        exclusive = writes.moves_subtree(submission)
        self.writer.settle(exclusive)
        self.writer.run(self._ops(submission), exclusive)

    def _create(self, resource: Resource) -> None:
        from ispctl.providers.ldap import writer as writes

        self._write(writes.Submission(0, "create", None, resource))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        from ispctl.providers.ldap import writer as writes

        self._write(writes.Submission(0, "update", before, after, changed))

    def _delete(self, resource: Resource) -> None:
        from ispctl.providers.ldap import writer as writes

        self._write(writes.Submission(0, "delete", resource, None))

    def _run_step(self, step: Step) -> None:
        """One modify or modrdn, waited for (repeated after a lost connection unless it landed)."""
        from ispctl.providers.ldap import writer as writes

        self.writer.run([writes.step_op(step)])

    def _dn_for(self, address: str | None) -> str:
        if address is None:
            return self.base_dn
        found = self._dn.get(address)
        if found is None:
            raise ProviderError(f"{address} does not exist in the directory")
        return found

    def _ops(self, submission: writes.Submission) -> list[writes.Op]:
        """The LDAP operations of one change, from the DN cache; the cache follows each as it lands."""
        from ispctl.providers.ldap import writer as writes
        from ispctl.providers.ldap.rename import Step

        cache = self._dn
        if submission.action == "create":
            resource = submission.resource
            parent = self._dn_for(resource.parent)
            if parent not in self._safe_parents:  # a child's DN is one escaped RDN more: checked per parent
                self._guard(parent, allow_base=True)
                self._safe_parents.add(parent)
            target = dnlib.child(self.MAP.kinds[resource.kind].rdn_attr, resource.key, parent)
            attrs = mapping.entry_attributes(resource, self.MAP)
            self._known_classes(attrs["objectClass"])
            return [writes.add_op(target, attrs, attrs[mapping.FINGERPRINT][0],
                                  lambda: cache.__setitem__(resource.address, target))]
        before = submission.before
        assert before is not None
        current = self._dn_for(before.address)  # before a rename, the old key's entry
        self._guard(current)
        if submission.action == "delete":
            def gone() -> None:
                cache.pop(before.address, None)

            return [writes.delete_op(current, gone)]
        after = submission.after
        assert after is not None
        if after.kind == "mailbox" and before.key != after.key:
            steps = self.rename_steps(before, after, submission.changed)
            final = steps[-1].dn

            def renamed() -> None:
                cache.pop(before.address, None)
                cache[after.address] = final

            return [*(writes.step_op(step) for step in steps[:-1]), writes.step_op(steps[-1], renamed)]
        if after.kind == "tenant" and before.key != after.key:
            return self._tenant_rename_ops(before, after, submission.changed, current)
        ops = []
        if before.parent != after.parent or before.key != after.key:
            new_parent = self._dn_for(after.parent)
            self._guard(new_parent, allow_base=True)
            relative = dnlib.rdn(self.MAP.kinds[after.kind].rdn_attr, after.key)
            old, moved = current, f"{relative},{new_parent}"

            def rebased() -> None:
                # Children moved with their parent: keep the DN cache truthful for later changes.
                writes.rebase(cache, old, moved)
                if before.key != after.key:
                    cache.pop(before.address, None)
                    cache[after.address] = moved

            move = Step(f"move {current}", current, new_rdn=relative, new_superior=new_parent)
            ops.append(writes.step_op(move, rebased))
            current = moved
        mods = mapping.modifications(after, submission.changed, self.MAP)
        if "objectClass" in mods:  # a service's part added (or all of them dropped)
            self._known_classes(mods["objectClass"])
        ops.append(writes.step_op(Step(f"modify {current}", current, mods)))
        return ops

    def _tenant_rename_ops(self, before: Resource, after: Resource, changed: tuple[str, ...],
                           current: str) -> list[writes.Op]:
        """A tenant rename (``tenant_rename``): one modrdn of its subtree, the fingerprints of
        the entries right below it rewritten first."""
        from ispctl.providers.ldap import tenant_rename
        from ispctl.providers.ldap import writer as writes

        new_parent = self._dn_for(after.parent)
        self._guard(new_parent, allow_base=True)
        tree = self._search(lambda conn, tree: tenant_rename.read_children(conn, tree, current, self.page_size,
                                                                           self.MAP))
        children = [(entry.dn, entry.resource) for entry in tree.entries()]
        steps = tenant_rename.tenant_rename_steps(before, after, changed, current, new_parent, children, self.MAP)
        cache, renamed = self._dn, steps[-2].result_dn

        def rebased() -> None:
            writes.rebase(cache, current, renamed)  # everything below went along
            cache.pop(before.address, None)
            cache[after.address] = renamed

        return [*(writes.step_op(step) for step in steps[:-2]), writes.step_op(steps[-2], rebased),
                writes.step_op(steps[-1])]

    def _known_classes(self, values: Iterable[Any]) -> None:
        """Refuse, before anything of it is sent, a change whose entry would carry an object
        class the server does not define: a service's schema (FTP, RADIUS) that was never
        loaded there would otherwise come back from slapd as "invalid per syntax"."""
        if self._classes is None and not self._checked:
            self.preflight()  # it reads the server's classes
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
        problem = missing_classes(self.settings.url, names, self._classes, self.MAP)
        if problem is not None:
            raise ProviderError(problem)

    def rename_steps(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> list[Step]:
        """The LDAP steps of a mailbox rename (``rename``); tests run prefixes of them."""
        from ispctl.providers.ldap.rename import mailbox_rename_steps

        current = self._dn_for(before.address)
        new_parent = self._dn_for(after.parent)
        self._guard(current)
        self._guard(new_parent)
        return mailbox_rename_steps(before, after, changed, current, new_parent, self.MAP)

    def set_credential(self, live: Resource, field: str, value: str) -> str:
        """Write one credential of a live entry directly (``ispctl passwd``); returns its DN.

        The value is the user's from now on, so the stored fingerprint must not cover it: one
        that still does (written while git owned it, before this version) is rewritten without
        it in the same modify, when the entry is otherwise as ispctl left it (else it stays,
        and the next plan still shows the drift).
        """
        from ispctl.providers.ldap.rename import Step

        kmap = self.MAP.kinds[live.kind]
        target = self._dn_for(live.address)
        self._guard(target)
        mods: dict[str, list[Any]] = {name: [value] for name in kmap.fields[field][0]}
        if field not in live.create_only and live.drifted() is None:
            mods[mapping.FINGERPRINT] = [replace(live, create_only=live.create_only | {field}).fingerprint()]
        self._run_step(Step(f"set the {field} of {target}", target, mods))
        return target

    def _guard(self, target: str, allow_base: bool = False) -> None:
        from ispctl.providers.ldap import writer as writes
        # Defence in depth: whatever the plan says, never write outside our subtree. RDNs
        # compare as in ``rebase`` (``dn.is_within`` without re-escaping), the base's once.
        if self._base_keys is None:
            self._base_keys = writes.folded(dnlib.split_rdns(self.base_dn))
        base, rdns = self._base_keys, dnlib.split_rdns(target)
        within = len(rdns) >= len(base) and writes.folded(rdns[len(rdns) - len(base):]) == base
        if not within or (len(rdns) == len(base) and not allow_base):
            raise ProviderError(f"refusing to write {target}: outside the managed base {self.base_dn}")
