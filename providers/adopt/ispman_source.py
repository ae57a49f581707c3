"""Reading an ISPMan directory: from an LDIF dump (``slapcat``) or live (URL, base, read-only bind).

Both give the same thing: every entry under the ISPMan base as ``SourceEntry`` (DN, lower-cased
attribute names, text values), in the order read. Nothing here knows ISPMan's object classes;
``ispman`` sorts the entries by class, never by DN. An LDIF that cannot be parsed is an error
naming the file and line.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.reconciler.contract import ConfigError, IspctlError, ProviderError

PAGE_SIZE = 1000


class SourceError(IspctlError):
    """The source cannot be read (file, line and reason)."""


@dataclass
class SourceEntry:
    dn: str
    attrs: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        values = self.attrs.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self.attrs.get(name.lower(), ()))

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.all("objectClass"))


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, unfolded lines) of each record; comments dropped, folding undone."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SourceError(f"cannot read the LDIF {path}: {reason}") from None
    lines: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if lines:
                yield start, lines
            lines = []
            continue
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
            continue
        if not lines:
            start = number
        lines.append(raw)
    if lines:
        yield start, lines


def read_ldif(path: Path) -> list[SourceEntry]:
    """Every entry of a ``slapcat``/``ldapsearch -LLL`` dump; every bad line is reported at once."""
    entries: list[SourceEntry] = []
    problems: list[str] = []
    for start, lines in _records(path):
        if lines[0].lower().startswith("version:"):
            lines = lines[1:]
            if not lines:
                continue
        entry: SourceEntry | None = None
        for offset, line in enumerate(lines):
            name, sep, rest = line.partition(":")
            if not sep:
                problems.append(f"{path}:{start + offset}: not 'attribute: value'")
                continue
            if rest.startswith(":"):
                try:
                    value = base64.b64decode(rest[1:].strip(), validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    problems.append(f"{path}:{start + offset}: {name}: bad base64 or not UTF-8")
                    continue
            else:
                value = rest.strip()
            if entry is None:
                if name.lower() != "dn":
                    problems.append(f"{path}:{start + offset}: a record must start with dn:")
                    break
                entry = SourceEntry(value)
                continue
            entry.attrs.setdefault(name.lower(), []).append(value)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise SourceError(f"{len(problems)} problem(s) in the LDIF:\n  " + "\n  ".join(problems))
    return entries


def read_live(url: str, bind_dn: str, password: str, base: str) -> list[SourceEntry]:
    """Every entry under ``base``, read with one paged subtree search (only reads)."""
    settings = LdapSettings(url, bind_dn, password)
    try:
        conn = connect(settings)
    except (ConfigError, ProviderError) as exc:
        raise SourceError(str(exc)) from None
    entries: list[SourceEntry] = []
    try:
        for item in conn.extend.standard.paged_search(base, "(objectClass=*)", ldap3.SUBTREE, attributes=["*"],
                                                      paged_size=PAGE_SIZE, generator=True):
            if item.get("type") != "searchResEntry":
                continue
            attrs: dict[str, list[str]] = {}
            for name, values in item["raw_attributes"].items():
                attrs[name.lower()] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                                       for v in values]
            entries.append(SourceEntry(item["dn"], attrs))
    except ldap3.core.exceptions.LDAPException as exc:
        raise SourceError(f"cannot read {base} at {url}: {exc}") from None
    finally:
        conn.unbind()
    return entries
