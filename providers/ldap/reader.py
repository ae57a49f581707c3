"""Bulk reads of the managed subtree through python-ldap (the C libldap).

ldap3 decodes every search response in pure Python (and builds an attribute dictionary per
entry the provider never reads): two thirds of a no-change plan went there. libldap decodes
BER in C, which is what ``ldapsearch`` does. The checks on connecting (``preflight``) run on
the first connection a reader opens (``first``), which the next read then uses: a plan binds
once, and never imports ldap3 (kept for the lock).

The connection is built from the same ``LdapSettings`` ldap3 uses: ldap://, ldaps:// and
ldapi:// URLs, StartTLS, the CA file (else the system's CAs), the bind DN and password,
10 s to connect and 120 s to wait for an answer. Certificates are always verified.

A search is paged (RFC 2696) and handed to the caller page by page, so no more than one
page of raw results is ever held. A connection lost mid-read is reopened with a few
retries and growing pauses, and the read starts over (the caller is told, so it can drop
what it had): a page cookie does not survive a new connection.
"""

from __future__ import annotations

import itertools
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ldap
from ldap.controls import SimplePagedResultsControl
from ldap.ldapobject import LDAPObject

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.contract import ProviderError

T = TypeVar("T")
# One search result entry as libldap gives it: the DN and each attribute's raw values, the
# attribute names as the server spelled them.
RawEntry = tuple[str, dict[str, list[bytes]]]
Page = list[RawEntry]

CONNECT_TIMEOUT = 10.0  # seconds, as the ldap3 connection
ANSWER_TIMEOUT = 120.0
MAX_PAUSE = 8.0
SUBTREE = ldap.SCOPE_SUBTREE
BASE = ldap.SCOPE_BASE
WINDOW = 256  # base-scope reads in flight at once (``lookups``)

# Worth reconnecting for: the connection is gone, or the server says to come back later
# (as the provider's ldap3 ``LOST``). Anything else is an answer.
LOST: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN, ldap.CONNECT_ERROR, ldap.UNAVAILABLE, ldap.BUSY, ldap.TIMEOUT,
)


@dataclass
class Stats:
    """What a reader asked of the directory: tests prove a read is a few requests, not one per entry."""

    connections: int = 0
    searches: int = 0  # search requests sent: one per page of a paged search


@dataclass
class Connection:
    """A bound libldap connection, counting what is asked of it."""

    ldap: LDAPObject
    stats: Stats

    def search(self, base: str, scope: int, filterstr: str, attrlist: list[str],
               controls: list[Any] | None = None, sizelimit: int = 0) -> int:
        self.stats.searches += 1
        msgid: int = self.ldap.search_ext(base, scope, filterstr, attrlist, serverctrls=controls, sizelimit=sizelimit)
        return msgid

    def result(self, msgid: int) -> tuple[list[Any], list[Any]]:
        """The answer to ``msgid``, whole: its entries (and references), and its controls."""
        _type, data, _msgid, controls = self.ldap.result3(msgid, all=1, timeout=ANSWER_TIMEOUT)
        return data, controls


class Lost(Exception):
    """The directory stayed away through every retry; ``reason`` is libldap's last word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BaseGone(Exception):
    """The searched base is not there (noSuchObject)."""


class SearchFailed(Exception):
    """The server answered the search with an error."""


def describe(exc: ldap.LDAPError) -> str:
    """libldap's words for an error: "Can't contact LDAP server", "Size limit exceeded: ..."."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    desc = str(info.get("desc") or type(exc).__name__)
    extra = str(info.get("info") or "").strip()
    return f"{desc}: {extra}" if extra else desc


def _system_ca_file() -> str | None:
    # ldap3 verified against the system's CAs when no CA file was named; libldap would use
    # only what ldap.conf names (GnuTLS: possibly nothing), so name the system bundle.
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile or None


def open_reader(settings: LdapSettings) -> LDAPObject:
    """A bound python-ldap connection for ``settings``; ProviderError if it cannot bind.

    Lost-connection errors (the server is away) propagate as they are, for the retry loop.
    """
    conn = ldap.initialize(settings.url)
    try:
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, CONNECT_TIMEOUT)
        conn.set_option(ldap.OPT_TIMEOUT, ANSWER_TIMEOUT)
        # Whatever a local ldap.conf says: no client-side limits, never follow an alias
        # entry out of the managed base (nothing outside it is ever read).
        conn.set_option(ldap.OPT_SIZELIMIT, 0)
        conn.set_option(ldap.OPT_TIMELIMIT, 0)
        conn.set_option(ldap.OPT_DEREF, ldap.DEREF_NEVER)
        if settings.url.lower().startswith("ldaps:") or settings.starttls:
            conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
            ca_file = settings.ca_file or _system_ca_file()
            if ca_file is not None:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_file)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # the TLS options take effect from here
        if settings.starttls:
            try:
                conn.start_tls_s()
            except ldap.SERVER_DOWN:
                raise  # no server there: worth retrying
            except ldap.LDAPError as exc:
                # A certificate that does not verify (libldap says "Connect error") is an
                # answer, not a lost connection: never retried, never read in clear.
                raise ProviderError(f"cannot connect to the directory at {settings.url} as {settings.bind_dn}: "
                                    f"StartTLS failed: {describe(exc)}") from None
        conn.simple_bind_s(settings.bind_dn, settings.password)
    except ProviderError:
        quiet_unbind(conn)
        raise
    except LOST:
        quiet_unbind(conn)
        raise
    except ldap.LDAPError as exc:
        quiet_unbind(conn)
        raise ProviderError(f"cannot connect to the directory at {settings.url} as {settings.bind_dn}: "
                            f"{describe(exc)}") from None
    return conn


def quiet_unbind(conn: LDAPObject) -> None:
    """Unbind, ignoring a connection that is already gone (closing must not raise)."""
    try:
        conn.unbind_s()
    except ldap.LDAPError:
        pass


def paged(conn: Connection, base: str, filterstr: str, attributes: Sequence[str], page_size: int,
          scope: int = SUBTREE) -> Iterator[Page]:
    """The search's entries, one page at a time (references and empty pages left out).

    noSuchObject is ``BaseGone``, any other answer that is an error ``SearchFailed``;
    lost-connection errors propagate for the retry loop.
    """
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    attrlist = list(attributes)
    with _answered(base):
        msgid = conn.search(base, scope, filterstr, attrlist, [control])
        while True:
            data, controls = conn.result(msgid)
            cookie = next((c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType), b"")
            if cookie:
                # Ask for the next page before this one is handed over: slapd prepares it
                # while the caller parses (two processes, two cores).
                control.cookie = cookie
                msgid = conn.search(base, scope, filterstr, attrlist, [control])
            # A search continuation reference comes back with a DN of None: not an entry.
            page = [item for item in data if item[0] is not None]
            del data
            if page:
                yield page
            if not cookie:
                return


def below(conn: Connection, base: str, filterstr: str, attributes: Sequence[str], page_size: int) -> Iterator[Page]:
    """``paged`` of a subtree where few entries are expected (a narrowed read's anchor): asked
    first without the paged-results control, for at most ``page_size`` entries; when there are
    more (or more than the server lets this account have at once), asked again, paged.

    slapd's back-mdb answers a paged subtree search by going through every entry of the whole
    database the filter matches (~40 ms of slapd's CPU at 42,780 entries, for an anchor with 14
    below it), an unpaged one through the subtree's own entries (~1 ms)."""
    with _answered(base):
        try:
            data, _controls = conn.result(conn.search(base, SUBTREE, filterstr, list(attributes), sizelimit=page_size))
        except ldap.SIZELIMIT_EXCEEDED:
            data = None
    if data is None:
        yield from paged(conn, base, filterstr, attributes, page_size)
        return
    page = [item for item in data if item[0] is not None]  # (references have no DN)
    if page:
        yield page


@contextmanager
def _answered(base: str) -> Iterator[None]:
    """A search's errors as the reader says them: noSuchObject is ``BaseGone``, any other
    answer that is an error ``SearchFailed``; lost-connection errors propagate as they are,
    for the retry loop."""
    try:
        yield
    except LOST:
        raise
    except ldap.NO_SUCH_OBJECT:
        raise BaseGone(base) from None
    except ldap.LDAPError as exc:
        raise SearchFailed(describe(exc)) from None


def lookups(conn: Connection, dns: Sequence[str], attributes: Sequence[str],
            filterstr: str = "(objectClass=*)") -> Page:
    """Base-scope reads of many DNs, up to ``WINDOW`` in flight (about one round trip, not
    one per DN; slapd drops a connection with ~1,000 pending). A DN that is gone, or does not
    match ``filterstr``, is left out."""
    attrlist = list(attributes)
    out: Page = []
    pending: deque[int] = deque()
    todo = iter(dns)
    try:
        while True:
            for dn in itertools.islice(todo, WINDOW - len(pending)):
                pending.append(conn.search(dn, BASE, filterstr, attrlist))
            if not pending:
                return out
            try:
                data, _controls = conn.result(pending.popleft())
            except ldap.NO_SUCH_OBJECT:
                continue
            out.extend(item for item in data if item[0] is not None)
    except LOST:
        raise
    except ldap.LDAPError as exc:
        raise SearchFailed(describe(exc)) from None


@dataclass
class Reader:
    """Runs reads on a python-ldap connection of its own, with bounded retries.

    ``retries`` attempts after the first, pausing ``pause`` s and doubling up to 8 s (the
    provider's schedule: long enough for slapd to restart, short enough to report a dead
    server soon). The connection is opened for a read and closed after it.
    """

    settings: LdapSettings
    retries: int = 5
    pause: float = 0.5
    stats: Stats = field(default_factory=Stats)
    _held: Connection | None = field(default=None, init=False, repr=False)

    def first(self) -> Connection:
        """A connection opened now, once, without retries (the provider checks the directory on
        it before anything else), kept for the next ``run``. ProviderError if it cannot bind;
        lost-connection errors propagate as they are."""
        if self._held is None:
            self._held = Connection(open_reader(self.settings), self.stats)
            self.stats.connections += 1
        return self._held

    def close(self) -> None:
        """Release a connection ``first`` opened that no read has used."""
        if self._held is not None:
            quiet_unbind(self._held.ldap)
            self._held = None

    def run(self, op: Callable[[Connection, bool], T]) -> T:
        """``op(conn, again)`` on a fresh connection; ``again`` is True when it runs again
        after a lost connection (so it starts over). ``Lost`` once the retries are spent."""
        pause = self.pause
        reason = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
            if self._held is not None:  # the preflight's connection: already bound and counted
                conn, self._held = self._held.ldap, None
            else:
                try:
                    conn = open_reader(self.settings)
                except LOST as exc:
                    reason = describe(exc)
                    continue
                self.stats.connections += 1
            try:
                return op(Connection(conn, self.stats), attempt > 0)
            except LOST as exc:
                reason = describe(exc)
            finally:
                quiet_unbind(conn)
        raise Lost(reason)
