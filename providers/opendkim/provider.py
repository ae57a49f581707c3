"""The OpenDKIM provider: which key signs each domain, as OpenDKIM's tables on the mail host.

It owns one kind, ``signing.<domain>`` (``selector``, ``key_file``; see ``compile``).
Live state is one read of ``KeyTable`` and ``SigningTable`` in the configuration directory
(``ISPCTL_OPENDKIM_DIR``, default ``/etc/opendkim``), as ``tables`` writes them.

Every change of an apply is staged (one batch, ``tables``) and written together: both tables
replaced whole (``write_rendered``: temporary file, then rename; ``KeyTable`` first, so the
signing table never names a key the key table lacks), then OpenDKIM told to read them again
with ``SIGUSR1`` -- what Debian's ``systemctl reload opendkim`` sends -- to the pid in its
pidfile (``ISPCTL_OPENDKIM_PIDFILE``, default ``/run/opendkim/opendkim.pid``). An OpenDKIM that
is not running reads them when it starts. OpenDKIM takes the new tables for the connections
after the signal; a message already being signed keeps the key it started with.

Before a selector is staged, the DNS server (``ISPCTL_DNS_*``, as the DNS provider reaches it)
must serve that selector's record with this key (``dns.dkim.served_key`` against the ``.pub``
beside the private key): signing never uses a key receivers cannot find. Within one apply that
publishes the record, the engine commits the DNS update first (the change depends on it).
"""

from __future__ import annotations

import bisect
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ispctl.providers.dns.dkim import DkimError, read_public, served_key
from ispctl.providers.opendkim.tables import (
    KEY_TABLE,
    KIND,
    SIGNING_TABLE,
    Entry,
    TableError,
    entry_of,
    format_tables,
    read_tables,
)
from ispctl.reconciler.contract import Provider, ProviderError, Resource

if TYPE_CHECKING:
    from ispctl.providers.dns.connection import DnsConnection

BATCH = "tables"
Served = Callable[[str, str], str | None]


class SigningProvider(Provider):
    name: ClassVar[str] = "opendkim"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND})

    def __init__(self, conf_dir: Path, pidfile: Path, served: Served | None) -> None:
        self.conf_dir = conf_dir
        self.pidfile = pidfile
        self.served = served  # None: no DNS server configured, so no switch can be checked
        self._staged: dict[str, Entry | None] = {}  # domain -> its new entry, None to remove it
        self._read: list[Entry] | None = None  # the last read, sorted by domain (for ``describe``)
        self._domains: list[str] = []
        self._key_lines: list[int] = []  # KeyTable line of each entry of the last read, then the end

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        if KIND not in kinds:
            return []
        self._read = read_tables(self.conf_dir)
        self._domains = [entry.domain for entry in self._read]
        self._key_lines, line = [], 2  # line 1 is the header
        for entry in self._read:
            self._key_lines.append(line)
            line += len(_key_lines(entry))
        self._key_lines.append(line)
        return [entry.resource() for entry in self._read]

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        """The lines of both tables this change replaces, as a unified diff against the tables read."""
        resource = after if after is not None else before
        if self._read is None or resource is None:
            return ()
        at = bisect.bisect_left(self._domains, resource.key)
        here = at < len(self._domains) and self._domains[at] == resource.key
        old = self._read[at] if here and before is not None else None
        new = entry_of(after) if after is not None else None
        key_start = self._key_lines[at]  # where the entry is, or would go
        out: list[str] = []
        for name, start, lines in ((KEY_TABLE, key_start, _key_lines),
                                   (SIGNING_TABLE, at + 2, lambda e: [f"*@{e.domain} {e.name}"])):
            gone, added = (lines(old) if old else []), (lines(new) if new else [])
            if gone == added:
                continue
            out += [f"--- {self.conf_dir / name}", f"+++ {self.conf_dir / name}",
                    f"@@ -{_span(start, len(gone))} +{_span(start, len(added))} @@",
                    *(f"-{line}" for line in gone), *(f"+{line}" for line in added)]
        return tuple(out)

    def batch_key(self, resource: Resource) -> str | None:
        return BATCH

    def _create(self, resource: Resource) -> None:
        self._stage(resource)

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._stage(after)

    def _delete(self, resource: Resource) -> None:
        self._staged[resource.key] = None

    def _stage(self, resource: Resource) -> None:
        entry = entry_of(resource)
        self.check_served(entry)
        self._staged[entry.domain] = entry

    def check_served(self, entry: Entry) -> None:
        """Refuse a key whose record the DNS server does not serve (yet)."""
        key_file = Path(entry.key_file)
        if key_file.name != f"{entry.selector}.private" or key_file.parent.name != entry.domain:
            raise ProviderError(f"{KIND}.{entry.domain}: {key_file} is not <key_dir>/{entry.domain}/"
                                f"{entry.selector}.private")
        try:
            public = read_public(key_file.parent.parent, entry.domain, entry.selector)
        except DkimError as exc:
            raise ProviderError(f"{KIND}.{entry.domain}: {exc}") from None
        if public is None:
            raise ProviderError(f"{KIND}.{entry.domain}: no public key {entry.selector}.pub beside {key_file}: sign "
                                "on the host that holds the keys ('ispctl dkim init' made them there)")
        if self.served is None:
            raise ProviderError(f"{KIND}.{entry.domain}: cannot check that {entry.name} is served before signing with "
                                "it: set ISPCTL_DNS_SERVER (and its TSIG key) on this host")
        try:
            served = self.served(entry.domain, entry.selector)
        except DkimError as exc:
            raise ProviderError(f"{KIND}.{entry.domain}: {exc}") from None
        if served != public:
            said = "no record" if served is None else "another key"
            raise ProviderError(f"{KIND}.{entry.domain}: the DNS server serves {said} at {entry.name}, so signing "
                                f"stays as it is: apply the plan that publishes {entry.selector}'s record first")

    def commit(self, batch: str) -> None:
        staged, self._staged = self._staged, {}
        current = {entry.domain: entry for entry in read_tables(self.conf_dir)}
        for domain, entry in staged.items():
            if entry is None:
                current.pop(domain, None)
            else:
                current[domain] = entry
        from ispctl.reconciler.contract import write_rendered  # apply's only: not with the registry (issue 11)

        try:
            write_rendered(format_tables(current.values()), self.conf_dir)
        except OSError as exc:
            raise TableError(f"cannot write OpenDKIM's tables in {self.conf_dir}: {exc.strerror or exc}") from None
        self.reload()

    def reload(self) -> None:
        """``SIGUSR1`` to the running OpenDKIM; none running: it reads the tables when it starts."""
        try:
            pid = int(self.pidfile.read_text(encoding="ascii").split()[0])
        except FileNotFoundError:
            return
        except (OSError, ValueError, IndexError) as exc:
            raise ProviderError(f"the tables are written, but OpenDKIM's pidfile {self.pidfile} cannot be read "
                                f"({exc}): run 'systemctl reload opendkim'") from None
        try:
            # A pidfile left by an OpenDKIM that is gone may name another process by now: SIGUSR1
            # would end it. Only a process that is OpenDKIM is signalled.
            if Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip() != "opendkim":
                return
            os.kill(pid, signal.SIGUSR1)
        except (FileNotFoundError, ProcessLookupError):
            return  # gone: the next OpenDKIM reads the tables when it starts
        except PermissionError:
            raise ProviderError(f"the tables are written, but this user may not signal OpenDKIM (pid {pid}): run "
                                "'systemctl reload opendkim'") from None

    def close(self) -> None:
        self._staged.clear()


def _key_lines(entry: Entry) -> list[str]:
    """An entry's lines in KeyTable, as ``tables.format_tables`` writes them."""
    return format_tables([entry])[KEY_TABLE].splitlines()[1:]


def _span(start: int, count: int) -> str:
    """A unified diff's range: an empty one names the line before it."""
    return f"{start - 1},0" if count == 0 else str(start) if count == 1 else f"{start},{count}"


def served_from_env(env: Mapping[str, str]) -> Served | None:
    """What the DNS server serves, asked through ``ISPCTL_DNS_*``; None when it is not set.

    The connection is made at the first question, so a plan (which asks none) needs no DNS."""
    if not env.get("ISPCTL_DNS_SERVER", "").strip():
        return None
    conn: list[DnsConnection] = []

    def served(domain: str, selector: str) -> str | None:
        if not conn:
            from ispctl.providers.dns.connection import DnsConnection  # the first question's (issue 11)

            conn.append(DnsConnection.from_env(env))
        return served_key(conn[0], domain, selector)
    return served
