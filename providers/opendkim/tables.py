"""OpenDKIM's two signing tables as ispctl writes and reads them: which key signs each domain.

``KeyTable``      ``<selector>._domainkey.<domain> <domain>:<selector>:<key file>``, each entry
                  after a comment ``# ispctl <domain> <fingerprint>`` (what ispctl last wrote
                  for it, so a hand edit shows as drift)
``SigningTable``  ``*@<domain> <selector>._domainkey.<domain>`` (a ``refile:``)

Both start with ``HEADER``: a table without it was not written by ispctl and is never read as
its state or replaced (``TableError``). ``render opendkim`` and the ``signing`` provider
write the same text for the same choice, so the one never shows the other's work as a change.
Only paths to private keys are written, never a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ispctl.providers.dns.compile import rrset_key
from ispctl.reconciler.contract import ProviderError, Resource, address_of

# Plans list changes by address: "signing" after "dns", so a rotation reads in the order it is applied.
KIND = "signing"
KEY_TABLE = "KeyTable"
SIGNING_TABLE = "SigningTable"
HEADER = "# Written by 'ispctl render opendkim' or 'ispctl apply'; changes here are overwritten.\n"
# Tables written before the provider existed carry this one; they are ispctl's too.
_OURS = "# Written by 'ispctl "
_MARK = "# ispctl "
# What is written into the tables: nothing that could split a line or a KeyTable field.
SAFE = re.compile(r"[A-Za-z0-9._/+@:-]+")
_MAX_TABLE = 16 << 20


class TableError(ProviderError):
    """A table cannot be read as ispctl's or written; the message names the file and line."""


@dataclass(frozen=True)
class Entry:
    """One domain's signing key: the selector and the private key's path (never the key)."""

    domain: str
    selector: str
    key_file: str
    fingerprint: str | None = None  # what the KeyTable's comment recorded; None: none found

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def resource(self) -> Resource:
        """The live resource: its record in DNS is what it relies on (``depends_on``), so the
        record is deleted only after signing stopped using it."""
        return Resource(KIND, self.domain, signing_attrs(self.selector, self.key_file),
                        depends_on=(txt_address(self.domain, self.selector),),
                        recorded_fingerprint=self.fingerprint)


def signing_attrs(selector: str, key_file: str) -> dict[str, str]:
    return {"selector": selector, "key_file": key_file}


def txt_address(domain: str, selector: str) -> str:
    """The DNS provider's address of the selector's TXT record set (``dns.<zone>/<owner>/TXT``)."""
    return address_of("dns", rrset_key(domain, f"{selector}._domainkey", "TXT"))


def entry_of(resource: Resource) -> Entry:
    selector, key_file = resource.attrs.get("selector"), resource.attrs.get("key_file")
    if not (isinstance(selector, str) and isinstance(key_file, str)):
        raise TableError(f"{resource.address} lacks its selector or key_file")
    return Entry(resource.key, selector, key_file, resource.fingerprint())


def _safe(value: str, what: str) -> str:
    if not SAFE.fullmatch(value):
        raise TableError(f"{what} {value!r} cannot be written into OpenDKIM's tables (spaces or other characters "
                         "outside A-Z a-z 0-9 . _ / + @ : -)")
    return value


def format_tables(entries: Iterable[Entry]) -> dict[str, str]:
    """File name -> text of both tables, one entry per domain, sorted by domain."""
    keys, signing = [HEADER], [HEADER]
    for entry in sorted(entries, key=lambda e: e.domain):
        domain, selector = _safe(entry.domain, "the domain"), _safe(entry.selector, "the selector")
        if entry.fingerprint is not None:
            keys.append(f"{_MARK}{domain} {_safe(entry.fingerprint, 'the fingerprint')}\n")
        keys.append(f"{entry.name} {domain}:{selector}:{_safe(entry.key_file, 'a key path')}\n")
        signing.append(f"*@{domain} {entry.name}\n")
    return {KEY_TABLE: "".join(keys), SIGNING_TABLE: "".join(signing)}


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(_MAX_TABLE)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror or exc}") from None
    if text and not text.startswith(_OURS):
        raise TableError(f"{path} was not written by ispctl (its first line is not {HEADER.strip()!r}); move it "
                         "away, or render it once with 'ispctl render opendkim', for ispctl to manage it")
    return text


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, line.strip()


def parse_tables(key_text: str, signing_text: str, where: Path) -> list[Entry]:
    """The entries of both tables; every line that is not ispctl's form is a problem, all at once."""
    problems: list[str] = []
    keys: dict[str, tuple[str, str, str, str | None]] = {}
    marks: dict[str, str] = {}
    for number, line in _lines(key_text):
        if line.startswith(_MARK):
            parts = line[len(_MARK):].split()
            if len(parts) == 2:
                marks[parts[0]] = parts[1]
            continue
        if line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        fields = value.strip().split(":", 2)
        if len(fields) != 3 or name != f"{fields[1]}._domainkey.{fields[0]}":
            problems.append(f"{where / KEY_TABLE}:{number}: not '<selector>._domainkey.<domain> "
                            f"<domain>:<selector>:<key file>': {line!r}")
            continue
        keys[name] = (fields[0], fields[1], fields[2], marks.pop(fields[0], None))
    entries: dict[str, Entry] = {}
    for number, line in _lines(signing_text):
        if line.startswith("#"):
            continue
        pattern, _, name = line.partition(" ")
        name = name.strip()
        domain = pattern[2:] if pattern.startswith("*@") else ""
        found = keys.get(name)
        if not domain or found is None or found[0] != domain:
            problems.append(f"{where / SIGNING_TABLE}:{number}: not '*@<domain> <KeyTable entry of that domain>': "
                            f"{line!r}")
            continue
        if domain in entries:
            problems.append(f"{where / SIGNING_TABLE}:{number}: {domain} is listed twice")
            continue
        entries[domain] = Entry(domain, found[1], found[2], found[3])
    if problems:
        raise TableError("; ".join(problems))
    return [entries[d] for d in sorted(entries)]


def read_tables(conf_dir: Path) -> list[Entry]:
    """What the tables in ``conf_dir`` sign with (none when they do not exist yet)."""
    key_text, signing_text = _read(conf_dir / KEY_TABLE), _read(conf_dir / SIGNING_TABLE)
    return parse_tables(key_text or "", signing_text or "", conf_dir)
