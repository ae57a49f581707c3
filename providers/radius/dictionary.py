"""FreeRADIUS's attribute dictionary, and ``Attr op value`` items checked against it.

Reply attributes are written in git the way FreeRADIUS reads ``radiusReplyAttribute``
(``Framed-Pool := "dsl"``): ``check_item`` parses one and says what is wrong with it -- an
attribute the dictionary does not have, an operator a reply cannot use, a value that is not of
the attribute's type (a word that is none of an integer attribute's named values, an address
that is not one). FreeRADIUS itself would drop such an item at login time with only a log line.

The dictionary is the one FreeRADIUS loads (Debian: ``/usr/share/freeradius/dictionary`` and the
files it includes), read once per path.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_DICTIONARY = "/usr/share/freeradius/dictionary"
# Operators that set a reply attribute (the comparison operators only make sense for checks).
REPLY_OPERATORS = ("+=", ":=", "=")
_ALL_OPERATORS = ("+=", ":=", "==", "!=", ">=", "<=", "=~", "!~", "=*", "!*", "=", ">", "<")
_ITEM = re.compile(r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?::(?P<tag>\d+))?\s*"
                   r"(?P<op>" + "|".join(re.escape(op) for op in _ALL_OPERATORS) + r")\s*(?P<value>.*?)\s*")
_INTEGER_RANGES = {"byte": (0, 2**8 - 1), "short": (0, 2**16 - 1), "integer": (0, 2**32 - 1),
                   "integer64": (0, 2**64 - 1), "signed": (-(2**31), 2**31 - 1)}
_STRUCTURED = ("tlv", "vsa", "extended", "long-extended", "evs", "struct")
_ETHER = re.compile(r"[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}")


class DictionaryError(Exception):
    """The dictionary cannot be read."""


@dataclass
class Dictionary:
    types: dict[str, str] = field(default_factory=dict)            # lower-case name -> type
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # lower-case attr -> value names

    def _read(self, path: Path, seen: set[Path]) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise DictionaryError(f"cannot read the FreeRADIUS dictionary {path}: {exc.strerror or exc}") from None
        for line in lines:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            head = words[0]
            if head.startswith("$INCLUDE") and len(words) > 1:
                target = path.parent / words[1]
                if head == "$INCLUDE-" and not target.exists():
                    continue  # "$INCLUDE-": optional
                self._read(target, seen)
            elif head == "ATTRIBUTE" and len(words) >= 4:
                self.types[words[1].lower()] = words[3].lower()
            elif head == "VALUE" and len(words) >= 4:
                self.values.setdefault(words[1].lower(), {})[words[2].lower()] = words[2]


def files_digest(path: str) -> bytes:
    """A digest of the files ``load`` reads for ``path`` (their names and bytes), and of the
    optional includes it skips because they are absent: a dictionary that would check reply items
    differently (a package upgrade, a file edited or added) gives another digest."""
    digest = hashlib.sha256()
    _digest_file(path, set(), digest)
    return digest.digest()


def _digest_file(path: str, seen: set[tuple[int, int]], digest: Any) -> None:
    # The same walk as ``Dictionary._read``, without parsing anything but the includes. It runs
    # in every plan (the service's ``inputs``) over ~225 files: a file is known again by the
    # (device, inode) of the file it opened, not by ``Path.resolve()`` (an lstat per component of
    # every path, ~half of the walk's ~15 ms), and names stay plain strings.
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            if (stat.st_dev, stat.st_ino) in seen:
                return
            seen.add((stat.st_dev, stat.st_ino))
            raw = file.read()
    except OSError as exc:
        digest.update(f"{path}\0unreadable {type(exc).__name__}\0".encode("utf-8", "surrogateescape"))
        return
    digest.update(f"{path}\0".encode("utf-8", "surrogateescape") + hashlib.sha256(raw).digest())
    if b"$INCLUDE" not in raw:
        return
    folder = _include_folder(path)
    for line in raw.decode("utf-8", "replace").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1 and words[0].startswith("$INCLUDE"):
            target = os.path.join(folder, words[1])
            if words[0] == "$INCLUDE-" and not os.path.exists(target):
                digest.update(f"{target}\0absent\0".encode("utf-8", "surrogateescape"))
                continue
            _digest_file(target, seen, digest)


def _include_folder(path: str) -> str:
    """Where ``path``'s includes are found: the folder of the file itself, a symbolic link
    followed (as ``Path.resolve().parent``; a linked folder or ``..`` on the way is followed by
    the system when the include is opened)."""
    return os.path.dirname(os.path.realpath(path) if os.path.islink(path) else path)


@lru_cache(maxsize=4)
def load(path: str = DEFAULT_DICTIONARY) -> Dictionary:
    """The dictionary at ``path`` with everything it includes (kept per path)."""
    found = Dictionary()
    found._read(Path(path), set())
    if not found.types:
        raise DictionaryError(f"the FreeRADIUS dictionary {path} defines no attributes")
    return found


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _typed(kind: str, value: str, named: dict[str, str]) -> str | None:
    """What is wrong with ``value`` for an attribute of type ``kind`` (None: nothing)."""
    if kind in _INTEGER_RANGES:
        if value.lower() in named:
            return None
        low, high = _INTEGER_RANGES[kind]
        if re.fullmatch(r"-?\d+", value) and low <= int(value) <= high:
            return None
        known = f" or one of {', '.join(sorted(named.values())[:8])}" if named else ""
        return f"{value!r} is not a number from {low} to {high}{known}"
    checks = {"ipaddr": ipaddress.IPv4Address, "ipv6addr": ipaddress.IPv6Address,
              "ipv4prefix": ipaddress.IPv4Network, "ipv6prefix": ipaddress.IPv6Network}
    if kind in checks:
        try:
            checks[kind](value)
        except ValueError:
            return f"{value!r} is not an {kind} value"
        return None
    if kind == "combo-ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{value!r} is not an IP address"
        return None
    if kind == "ether" and not _ETHER.fullmatch(value):
        return f"{value!r} is not an Ethernet address"
    if kind in _STRUCTURED:
        return f"an attribute of type {kind} cannot be written as one value"
    return None


def check_item(text: str, dictionary: Dictionary, operators: tuple[str, ...] = REPLY_OPERATORS) -> str | None:
    """What is wrong with one ``Attr op value`` item (None: it is good)."""
    if any(not c.isprintable() for c in text):
        return "must not contain a line break, tab or other control character"
    match = _ITEM.fullmatch(text)
    if match is None:
        return f"{text!r} is not of the form 'Attribute op value' (e.g. 'Framed-Pool := \"dsl\"')"
    name, op, value = match["name"], match["op"], _unquoted(match["value"])
    kind = dictionary.types.get(name.lower())
    if kind is None:
        return f"{name!r} is not an attribute of the FreeRADIUS dictionary"
    if op not in operators:
        return f"operator {op!r} cannot set a reply attribute (use {', '.join(operators)})"
    if match["value"] == "":
        return f"{name} has no value"
    return _typed(kind, value, dictionary.values.get(name.lower(), {}))
