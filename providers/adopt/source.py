"""Reading a foreign directory for an import: an LDIF dump, or live with a paged search.

Both give ``SourceEntry`` values (DN, lower-cased attribute names, text values) and know
nothing of any convention: the importer sorts entries by object class. An LDIF entry keeps
the line it starts at, so that a bad value is reported as ``file:line`` (an entry read live
is named by its DN). The LDIF is read as a stream, line by line: a dump of 100,000 mailboxes
is never held as one string.

The live read uses the directory service's own reader (python-ldap, RFC 2696 pages), binds
with the account it is given (a read-only one is enough) and only ever searches.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.reader import (
    LOST,
    BaseGone,
    Connection,
    SearchFailed,
    Stats,
    open_reader,
    paged,
    quiet_unbind,
)
from ispctl.reconciler.contract import IspctlError, ProviderError

PAGE_SIZE = 1000


class SourceError(IspctlError):
    """The source cannot be read; the message names the file and line, or the server."""


@dataclass(slots=True)
class SourceEntry:
    dn: str
    attrs: dict[str, list[str]] = field(default_factory=dict)
    # Where the entry was read: the LDIF file and its first line, or the server's URL.
    origin: str = ""
    line: int = 0

    def get(self, name: str) -> str | None:
        values = self.attrs.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self.attrs.get(name.lower(), ()))

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.attrs.get("objectclass", ()))

    def where(self, attribute: str | None = None) -> str:
        """``file:line: dn`` or ``url: dn``, with the attribute when one is at fault."""
        place = f"{self.origin}:{self.line}" if self.line else self.origin
        return f"{place}: {self.dn}" + (f": {attribute}" if attribute else "")


def _records(path: Path) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """(first line, [(line, unfolded text)]) of each record; comments dropped, folding undone."""
    record: list[tuple[int, str]] = []
    start = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line:
                if record:
                    yield start, record
                record = []
                continue
            if line.startswith(" "):
                if record:
                    record[-1] = (record[-1][0], record[-1][1] + line[1:])
                continue
            if line.startswith("#"):
                continue
            if not record:
                start = number
            record.append((number, line))
    if record:
        yield start, record


def read_ldif(path: Path) -> list[SourceEntry]:
    """Every entry of a ``slapcat``/``ldapsearch -LLL`` dump; every bad line reported at once."""
    entries: list[SourceEntry] = []
    problems: list[str] = []
    shown = str(path)
    try:
        for start, record in _records(path):
            if record[0][1].lower().startswith("version:"):
                record = record[1:]
                if not record:
                    continue
            entry: SourceEntry | None = None
            for number, line in record:
                name, sep, rest = line.partition(":")
                if not sep:
                    problems.append(f"{shown}:{number}: not 'attribute: value'")
                    continue
                if rest.startswith(":"):
                    try:
                        value = base64.b64decode(rest[1:].strip(), validate=True).decode("utf-8")
                    except (ValueError, UnicodeDecodeError):
                        problems.append(f"{shown}:{number}: {name}: bad base64, or not UTF-8 text")
                        continue
                elif rest.startswith("<"):
                    problems.append(f"{shown}:{number}: {name}: values read from URLs (:<) are not supported")
                    continue
                else:
                    value = rest.lstrip(" ")
                if entry is None:
                    if name.lower() != "dn":
                        problems.append(f"{shown}:{number}: a record must start with dn:")
                        break
                    entry = SourceEntry(value, {}, shown, start)
                    continue
                entry.attrs.setdefault(name.lower(), []).append(value)
            if entry is not None:
                entries.append(entry)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SourceError(f"cannot read the LDIF {shown}: {reason}") from None
    if problems:
        raise SourceError(f"{len(problems)} problem(s) in the LDIF:\n  " + "\n  ".join(problems))
    return entries


def read_live(settings: LdapSettings, base: str, filterstr: str = "(objectClass=*)",
              page_size: int = PAGE_SIZE) -> list[SourceEntry]:
    """Every entry below ``base`` matching ``filterstr``, read in pages (searches only)."""
    where = f"{settings.url} ({base})"
    try:
        raw = open_reader(settings)
    except LOST as exc:
        raise SourceError(f"cannot reach the directory at {settings.url}: {exc.__class__.__name__}") from None
    except ProviderError as exc:
        raise SourceError(str(exc)) from None
    entries: list[SourceEntry] = []
    try:
        conn = Connection(raw, Stats())
        for page in paged(conn, base, filterstr, ["*"], page_size):
            for dn, values in page:
                attrs = {name.lower(): [v.decode("utf-8", "replace") for v in found] for name, found in values.items()}
                entries.append(SourceEntry(dn, attrs, settings.url))
    except BaseGone:
        raise SourceError(f"{where}: the base does not exist") from None
    except SearchFailed as exc:
        raise SourceError(f"{where}: the search failed: {exc}") from None
    except (ldap.LDAPError, *LOST) as exc:
        raise SourceError(f"{where}: the connection was lost while reading ({exc.__class__.__name__})") from None
    finally:
        quiet_unbind(raw)
    return entries
