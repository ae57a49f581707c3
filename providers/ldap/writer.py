"""The directory's writes through python-ldap, many in flight on one connection.

ldap3 built and BER-encoded every request in pure Python (2.5x slapd's own CPU per add) and
waited for each answer before sending the next. libldap encodes in C, and LDAP lets a client
send requests without waiting: each carries a message id, and the answers are matched by it.
The engine hands the provider every change whose prerequisites have completed
(``reconciler/engine/inflight.py``); the provider turns each into a ``Job``: the LDAP
operations of that change (one add, modify or delete; a move's modrdn and modify; a
mailbox rename's steps, ``rename.py``), sent one after another, each when the previous one
has landed. Jobs are independent of each other, so their operations overlap.

Two things keep that safe:

* A job that moves a subtree (a tenant or domain with entries below it) changes the DN of
  entries that other jobs name. It is *exclusive*: it is sent once everything else in flight
  has landed, and nothing else is sent until it has; the caller computes the DNs of what
  comes next only after that (``settle``).
* A lost connection (slapd restarted) is reopened with bounded retries and growing pauses;
  every operation that was in flight is read back before it is repeated: an add whose entry
  is there with the wanted fingerprint landed (it is not an "already exists"), a modrdn
  whose old DN is gone and new DN is there landed, a delete whose entry is gone landed; a
  modify (attribute replacement, with the fingerprint) is simply sent again. When the
  directory stays away, ``give_up`` words the one message (it names the lock), the oldest
  job in flight gets it and every other one a short "not tried".
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ldap
from ldap.ldapobject import LDAPObject

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.mapping import FINGERPRINT
from ispctl.providers.ldap.reader import ANSWER_TIMEOUT, LOST, MAX_PAUSE, describe, open_reader, quiet_unbind
from ispctl.providers.ldap.rename import Step

# Done and Submission are re-exported: the provider names them through this module.
from ispctl.reconciler.contract import Done as Done
from ispctl.reconciler.contract import ProviderError
from ispctl.reconciler.contract import Submission as Submission

# Kinds whose entries never have entries below them (mapping's DIT): renaming or moving one
# changes no other entry's DN.
LEAVES = frozenset({"mailbox", "alias"})
OpKind = Literal["add", "modify", "modrdn", "delete"]

# RFC 4511 names of the result codes, as ldap3 said them (and as operators search for them).
RESULT_NAMES = {
    1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded", 4: "sizeLimitExceeded",
    7: "authMethodNotSupported", 8: "strongerAuthRequired", 11: "adminLimitExceeded",
    12: "unavailableCriticalExtension", 13: "confidentialityRequired", 16: "noSuchAttribute",
    17: "undefinedAttributeType", 18: "inappropriateMatching", 19: "constraintViolation",
    20: "attributeOrValueExists", 21: "invalidAttributeSyntax", 32: "noSuchObject", 34: "invalidDNSyntax",
    36: "aliasDereferencingProblem", 48: "inappropriateAuthentication", 49: "invalidCredentials",
    50: "insufficientAccessRights", 51: "busy", 52: "unavailable", 53: "unwillingToPerform", 54: "loopDetect",
    64: "namingViolation", 65: "objectClassViolation", 66: "notAllowedOnNonLeaf", 67: "notAllowedOnRDN",
    68: "entryAlreadyExists", 69: "objectClassModsProhibited", 71: "affectsMultipleDSAs", 80: "other",
    122: "assertionFailed",
}


def result_text(exc: ldap.LDAPError) -> str:
    """An answer that is an error, in words: "entryAlreadyExists", "objectClassViolation:
    object class 'x' requires attribute 'y'"."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    name = RESULT_NAMES.get(info.get("result", -1)) if isinstance(info.get("result"), int) else None
    if name is None:
        return describe(exc)
    extra = str(info.get("info") or "").strip()
    return f"{name}: {extra}" if extra else name


def moves_subtree(submission: Submission) -> bool:
    """Whether a change renames or moves an entry that may have entries below it."""
    before, after = submission.before, submission.after
    return (submission.action == "update" and before is not None and after is not None
            and after.kind not in LEAVES and (before.parent != after.parent or before.key != after.key))


def rebase(cache: MutableMapping[str, str], old: str, new: str) -> None:
    """After ``old`` was renamed to ``new``: every cached DN at or below ``old`` now ends in ``new``.

    RDNs are compared by their unescaped values, case-folded (the naming attributes ispctl
    uses match case-insensitively), so ``is_within`` holds without re-escaping every RDN of
    every cached entry: one move walks the whole cache, and a large estate has many entries.
    """
    wanted = folded(dnlib.split_rdns(old))
    depth = len(wanted)
    for address, entry_dn in list(cache.items()):
        rdns = dnlib.split_rdns(entry_dn)
        if len(rdns) < depth or folded(rdns[len(rdns) - depth:]) != wanted:
            continue
        head = dnlib.join_rdns(rdns[: len(rdns) - depth])
        cache[address] = f"{head},{new}" if head else new


def folded(rdns: Sequence[dnlib.RdnPairs]) -> list[tuple[tuple[str, str], ...]]:
    """RDNs as comparison keys: unescaped values, case-folded, a multi-valued RDN as a set."""
    return [tuple(sorted((attr, value.lower()) for attr, value in pairs)) for pairs in rdns]


def _values(values: Sequence[Any]) -> list[bytes]:
    return [v.encode("utf-8") if type(v) is str else v if isinstance(v, bytes) else str(v).encode("utf-8")
            for v in values]


def _modlist(attrs: Mapping[str, Sequence[Any]]) -> list[tuple[str, list[bytes]]]:
    """An add's attributes as python-ldap takes them. Values are text almost always (every
    entry an apply creates): encoded in one pass, and only if one is not, through ``_values``."""
    try:
        return [(name, [v.encode() for v in values]) for name, values in attrs.items()]
    except AttributeError:  # bytes have no encode... nor do ints: each value as _values says
        return [(name, _values(values)) for name, values in attrs.items()]


@dataclass(frozen=True)
class Op:
    """One LDAP operation; ``landed`` runs once it has (the DN cache follows a move)."""

    what: str
    kind: OpKind
    dn: str
    attrs: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    new_rdn: str | None = None
    new_superior: str | None = None
    fingerprint: str | None = None  # an add's: how a read-back recognises it landed
    landed: Callable[[], None] | None = None

    @property
    def result_dn(self) -> str:
        if self.new_rdn is None:
            return self.dn
        return f"{self.new_rdn},{self.new_superior or dnlib.parent_of(self.dn)}"


def add_op(dn: str, attrs: Mapping[str, Sequence[Any]], fingerprint: str,
           landed: Callable[[], None] | None = None) -> Op:
    return Op(f"add {dn}", "add", dn, attrs, fingerprint=fingerprint, landed=landed)


def delete_op(dn: str, landed: Callable[[], None] | None = None) -> Op:
    return Op(f"delete {dn}", "delete", dn, landed=landed)


def step_op(step: Step, landed: Callable[[], None] | None = None) -> Op:
    if step.new_rdn is None:
        return Op(step.what, "modify", step.dn, step.mods, landed=landed)
    return Op(step.what, "modrdn", step.dn, new_rdn=step.new_rdn, new_superior=step.new_superior, landed=landed)


@dataclass(eq=False)
class Job:
    """One change's operations, sent one after another."""

    ticket: int
    ops: Sequence[Op]
    exclusive: bool = False
    at: int = 0  # the operation in flight (or next to send)
    msgid: int | None = None
    error: str | None = None
    finished: bool = False

    @property
    def op(self) -> Op:
        return self.ops[self.at]


class Writer:
    """Sends jobs on one python-ldap connection of its own and collects their outcomes."""

    def __init__(self, open_conn: Callable[[], LDAPObject], *, retries: int, pause: float,
                 give_up: Callable[[str, str], ProviderError], given_up: Callable[[], str | None]) -> None:
        self._open = open_conn
        self.retries = retries
        self.pause = pause
        self._give_up = give_up
        self._given_up = given_up
        self._conn: LDAPObject | None = None
        self._jobs: deque[Job] = deque()  # submitted and not yet collected, oldest first
        self._wire: deque[Job] = deque()  # jobs with an operation sent and unanswered, in sending order
        self._barrier: Job | None = None  # an exclusive job sent since the wire was last empty
        self.sent: Counter[str] = Counter()  # operations sent, by kind (tests prove what went out)
        self.most = 0  # most operations in flight at once

    @classmethod
    def for_settings(cls, settings: LdapSettings, *, retries: int, pause: float,
                     give_up: Callable[[str, str], ProviderError], given_up: Callable[[], str | None]) -> Writer:
        """A writer on connections made as the reader makes them (URL, TLS, CA file, bind)."""
        return cls(lambda: open_reader(settings), retries=retries, pause=pause, give_up=give_up, given_up=given_up)

    # -- what the provider calls ----------------------------------------------------------

    def settle(self, exclusive: bool) -> None:
        """Before the caller computes the DNs of its next job: wait for an exclusive job in
        flight (a subtree move changes DNs), or for everything when the next job is exclusive."""
        if exclusive or self._barrier is not None:
            while self._wire:
                self._answer()
            self._barrier = None

    def submit(self, ticket: int, ops: Sequence[Op], exclusive: bool = False) -> None:
        reason = self._given_up()
        if reason is not None:
            raise ProviderError(f"not tried: {reason}")
        self.settle(exclusive)
        job = Job(ticket, ops, exclusive)
        self._jobs.append(job)
        if exclusive:
            self._barrier = job
        self._send(job)

    def collect(self) -> tuple[int, str | None]:
        """The outcome of the oldest job not yet collected: (ticket, error or None)."""
        job = self._jobs[0]
        while not job.finished:
            self._answer()
        self._jobs.popleft()
        return job.ticket, job.error

    def run(self, ops: Sequence[Op], exclusive: bool = False) -> None:
        """One job, waited for (callers outside an apply: tests, ``ispctl passwd``)."""
        self.submit(0, ops, exclusive)
        job = self._jobs[-1]
        while not job.finished:
            self._answer()
        self._jobs.remove(job)
        if job.error is not None:
            raise ProviderError(job.error)

    def in_flight(self) -> int:
        return len(self._jobs)

    def close(self) -> None:
        if self._conn is not None:
            quiet_unbind(self._conn)
            self._conn = None

    # -- the wire ---------------------------------------------------------------------------

    def _connection(self) -> LDAPObject:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _send(self, job: Job) -> None:
        self._wire.append(job)  # before sending: if the connection drops now, it is read back
        self.most = max(self.most, len(self._wire))
        job.msgid = None
        try:
            job.msgid = self._issue(self._connection(), job.op)
        except LOST as exc:
            self._recover(describe(exc))
        except ldap.LDAPError as exc:  # refused before it went out (e.g. a malformed DN)
            self._wire.remove(job)
            self._fail(job, f"{job.op.what}: {result_text(exc)}")

    def _issue(self, conn: LDAPObject, op: Op) -> int:
        self.sent[op.kind] += 1
        if op.kind == "add":
            return int(conn.add_ext(op.dn, _modlist(op.attrs)))
        if op.kind == "modify":
            # Replace, never add: repeating a modify (after a lost connection) leaves the same values.
            mods = [(ldap.MOD_REPLACE, name, _values(values) or None) for name, values in op.attrs.items()]
            return int(conn.modify_ext(op.dn, mods))
        if op.kind == "modrdn":
            return int(conn.rename(op.dn, op.new_rdn, op.new_superior, 1))
        return int(conn.delete_ext(op.dn))

    def _answer(self) -> None:
        """Wait for the answer to the operation sent first, and act on it."""
        job = self._wire[0]
        try:
            if job.msgid is None:
                raise ldap.SERVER_DOWN({"desc": "the request was not sent"})
            self._connection().result4(job.msgid, 1, ANSWER_TIMEOUT)  # result3 is result4 one call further
        except LOST as exc:
            self._recover(describe(exc))
            return
        except ldap.LDAPError as exc:
            self._wire.popleft()
            self._fail(job, f"{job.op.what}: {result_text(exc)}")
            return
        self._wire.popleft()
        self._landed(job)

    def _landed(self, job: Job) -> None:
        if self._advance(job):
            self._send(job)

    @staticmethod
    def _advance(job: Job) -> bool:
        """Record that the job's current operation took effect; whether another one follows."""
        op = job.op
        if op.landed is not None:
            op.landed()
        job.at += 1
        job.finished = job.at >= len(job.ops)
        return not job.finished

    def _fail(self, job: Job, error: str) -> None:
        job.error, job.finished = error, True

    # -- a lost connection ------------------------------------------------------------------

    def _recover(self, reason: str) -> None:
        """Reconnect, read back what was in flight and send again what had not landed."""
        pending = list(self._wire)
        self._wire.clear()
        pause = self.pause
        for _attempt in range(self.retries):
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
            self.close()
            try:
                conn = self._connection()
                while pending:
                    job = pending[0]
                    if self._done_already(conn, job.op):
                        pending.pop(0)
                        self._landed_quietly(job)
                    else:
                        job.msgid = self._issue(conn, job.op)
                        self._wire.append(pending.pop(0))
                return
            except LOST as exc:
                reason = describe(exc)
            except ProviderError as exc:  # connected, but the bind was refused (e.g. slapd still starting)
                reason = str(exc)
            except ldap.LDAPError as exc:  # a read-back refused: not a lost connection, but no answer either
                reason = result_text(exc)
            # Anything sent on the connection that just failed is in doubt again.
            pending = [*self._wire, *pending]
            self._wire.clear()
        self.close()
        self._abandon(pending, reason)

    def _landed_quietly(self, job: Job) -> None:
        # The next operation of the job goes out with the rest, on the new connection.
        if self._advance(job):
            self._wire.append(job)  # first: if sending fails, it is in doubt with the rest
            job.msgid = None
            job.msgid = self._issue(self._connection(), job.op)

    def _done_already(self, conn: LDAPObject, op: Op) -> bool:
        """Whether an operation whose answer the lost connection hid took effect."""
        if op.kind == "add":
            return _fingerprint_at(conn, op.dn) == op.fingerprint
        if op.kind == "modrdn":
            return _fingerprint_at(conn, op.dn) is None and _fingerprint_at(conn, op.result_dn) is not None
        if op.kind == "delete":
            return _fingerprint_at(conn, op.dn) is None
        return False  # a modify replaces values: sending it again is harmless

    def _abandon(self, pending: list[Job], reason: str) -> None:
        order = {id(job): i for i, job in enumerate(self._jobs)}
        pending.sort(key=lambda job: order.get(id(job), -1))
        for i, job in enumerate(pending):
            if i == 0:
                self._fail(job, str(self._give_up(job.op.what, reason)))
            else:
                self._fail(job, f"not tried: {self._given_up()}")


def _fingerprint_at(conn: LDAPObject, dn: str) -> str | None:
    """The fingerprint stored on ``dn``; "" for an entry without one; None if there is no entry."""
    try:
        found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [FINGERPRINT])
    except ldap.NO_SUCH_OBJECT:
        return None
    for entry_dn, attrs in found:
        if entry_dn is None:
            continue  # a search reference, not the entry
        values: list[bytes] = next((v for k, v in attrs.items() if k.lower() == FINGERPRINT.lower()), [])
        return values[0].decode("utf-8") if values else ""
    return None
