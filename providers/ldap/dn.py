"""Distinguished names and filter values, per RFC 4514 and RFC 4515.

Every DN ispctl writes is assembled here from escaped components, never by string
formatting of raw input (ISPMan built commands from unescaped input). ldap3's own
``escape_rdn`` escapes NUL as a backslash followed by a raw NUL, which RFC 4514 does
not allow, so we keep our own small implementation.
"""

from __future__ import annotations

import re

_SPECIAL = set('\\,+"<>;=')
_ESCAPED_ANYWHERE = re.compile('[\\\\,+"<>;=\x00]')


def escape_value(value: str) -> str:
    """Escape an attribute value for use inside an RDN."""
    if value == "":
        return ""
    if _ESCAPED_ANYWHERE.search(value) is None and value[0] not in "# " and value[-1] != " ":
        return value  # nothing to escape: most values (every write builds a DN)
    out = []
    for index, char in enumerate(value):
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        elif char == "#" and index == 0:
            out.append("\\#")
        elif char == " " and (index == 0 or index == len(value) - 1):
            out.append("\\ ")
        else:
            out.append(char)
    return "".join(out)


def rdn(attr: str, value: str) -> str:
    return f"{attr}={escape_value(value)}"


def child(attr: str, value: str, parent: str) -> str:
    return f"{rdn(attr, value)},{parent}"


def escape_filter(value: str) -> str:
    """Escape an assertion value for a search filter (RFC 4515)."""
    out = []
    for char in value:
        if char in "*()\\\x00":
            out.append(f"\\{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


RdnPairs = tuple[tuple[str, str], ...]


def split_rdns(dn: str) -> list[RdnPairs]:
    """Parse a DN into RDNs, leftmost first; each RDN is its (attribute, unescaped value) pairs.

    Attribute names are folded to lower case. A multi-valued RDN (``cn=a+sn=b``) stays one
    RDN of several pairs: it names one entry, not a parent and a child.
    """
    if "\\" not in dn and '"' not in dn:
        # Fast path: nothing escaped, so separators are literal (most DNs; the live read
        # parses every managed DN, which made the general parser a hotspot).
        return [
            tuple((attr.strip().lower(), value)
                  for attr, _, value in (part.partition("=") for part in rdn_text.split("+")))
            for rdn_text in dn.split(",")
        ] if dn else []
    rdns: list[RdnPairs] = []
    current: list[tuple[str, str]] = []
    attr: list[str] = []
    value: list[str] = []
    in_value, i = False, 0
    pending_bytes = bytearray()

    def flush_bytes() -> None:
        if pending_bytes:
            value.append(pending_bytes.decode("utf-8", errors="replace"))
            pending_bytes.clear()

    while i < len(dn):
        char = dn[i]
        if not in_value:
            if char == "=":
                in_value = True
            else:
                attr.append(char)
            i += 1
            continue
        if char == "\\" and i + 1 < len(dn):
            nxt = dn[i + 1 : i + 3]
            if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                pending_bytes.append(int(nxt, 16))
                i += 3
                continue
            flush_bytes()
            value.append(dn[i + 1])
            i += 2
            continue
        flush_bytes()
        if char in ",+":
            current.append(("".join(attr).strip().lower(), "".join(value)))
            if char == ",":
                rdns.append(tuple(current))
                current = []
            attr, value, in_value = [], [], False
        else:
            value.append(char)
        i += 1
    flush_bytes()
    if attr or value:
        current.append(("".join(attr).strip().lower(), "".join(value)))
    if current:
        rdns.append(tuple(current))
    return rdns


def split_dn(dn: str) -> list[tuple[str, str]]:
    """All (attribute, unescaped value) pairs of a DN, leftmost first, RDN boundaries dropped."""
    return [pair for pairs in split_rdns(dn) for pair in pairs]


def _rdn_text(pairs: RdnPairs, fold: bool) -> str:
    # The values of one RDN are a set: sorted in the comparison key, kept in order otherwise.
    items = [rdn(attr, value.lower() if fold else value) for attr, value in pairs]
    return "+".join(sorted(items) if fold else items)


def join_rdns(rdns: list[RdnPairs]) -> str:
    """The inverse of ``split_rdns``: a DN string with every value escaped."""
    return ",".join(_rdn_text(pairs, fold=False) for pairs in rdns)


def _keys(dn: str) -> list[str]:
    return [_rdn_text(pairs, fold=True) for pairs in split_rdns(dn)]


def keys_of(rdns: list[RdnPairs]) -> list[str]:
    """Comparison keys of already-split RDNs (see ``normalise``)."""
    return [_rdn_text(pairs, fold=True) for pairs in rdns]


def normalise(dn: str) -> str:
    """A comparison key: attribute types and values case-folded, escapes canonical.

    Every naming attribute ispctl uses (o, ou, dc, associatedDomain, uid, mail) matches
    case-insensitively, so folding values is correct for the entries we manage.
    """
    return ",".join(_keys(dn))


def parent_of(dn: str) -> str:
    return join_rdns(split_rdns(dn)[1:])


def is_within(dn: str, base: str) -> bool:
    """True if ``dn`` is ``base`` or below it, compared RDN by RDN (never as text)."""
    d, b = _keys(dn), _keys(base)
    return len(d) >= len(b) and d[len(d) - len(b):] == b


# A DN whose comparison key is its text folded to lower case: ASCII, every RDN one
# ``attr=value`` with nothing ``escape_value`` would escape (no \\ , + " < > ; = # or space in a
# value), no multi-valued RDN. Nearly every DN a read returns; the rest take the general path.
_PLAIN = re.compile(r'[A-Za-z][A-Za-z0-9-]*=[^\\,+"<>;=# ]+(?:,[A-Za-z][A-Za-z0-9-]*=[^\\,+"<>;=# ]+)*')


def read_key(dn: str) -> tuple[str, str, RdnPairs]:
    """``normalise(dn)``, ``normalise(parent_of(dn))`` and the first RDN's pairs, at once.

    The live read keys every entry by its DN and finds its parent by the rest of it: for a
    plain DN (``_PLAIN``) both are slices of the folded text, with no RDN split or re-escaped.
    """
    if dn.isascii() and _PLAIN.fullmatch(dn):
        folded = dn.lower()
        head, _, parent = folded.partition(",")
        attr, _, value = dn[: len(head)].partition("=")  # ASCII: folding kept every length
        return folded, parent, ((attr.lower(), value),)
    rdns = split_rdns(dn)
    keys = keys_of(rdns)
    return ",".join(keys), ",".join(keys[1:]), rdns[0] if rdns else ()


# -- checking a DN's syntax ---------------------------------------------------------------
# What ldap3's ``parse_dn`` accepts and refuses, in its words: the settings said so before, and
# importing ldap3 (with pyasn1) for it cost every command that reads ispctl.yaml about 60 ms
# (issue 11). tests/test_ldap_dn.py holds this equal to ldap3's over many DNs.

class InvalidDn(ValueError):
    """A DN that is not RFC 4514 syntax; the message says what is wrong, as ldap3 words it."""


_HEX = frozenset("0123456789abcdefABCDEF")
_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def _escaped_at(text: str, pos: int) -> bool:
    """True when the character at ``pos`` follows an odd run of backslashes (ldap3's reckoning,
    which stops looking at index 1)."""
    if pos > 0 and text[pos - 1] != "\\":
        return False
    if pos > 1 and text[pos - 1] == "\\":
        escaped = True
        for char in text[pos - 2:0:-1]:
            if char != "\\":
                break
            escaped = not escaped
        return escaped
    return True


def _first_unescaped(text: str, char: str, pos: int) -> int:
    while True:
        pos = text.find(char, pos)
        if pos == -1 or not _escaped_at(text, pos):
            return pos
        pos += 1


def _last_unescaped(text: str, char: str, start: int, stop: int) -> int:
    while True:
        stop = text.rfind(char, start, stop)
        if stop == -1 or text[stop - 1] != "\\":
            return stop
        if stop > 1 and not _escaped_at(text, stop):
            return stop
        if stop < start:
            return -1


def _next_ava(text: str) -> tuple[str, str]:
    comma = _first_unescaped(text, ",", 0)
    plus = _first_unescaped(text, "+", 0)
    if plus > 0 and (plus < comma or comma == -1):
        equal = _first_unescaped(text, "=", plus + 1)
        if equal > plus + 1:
            return text[:_last_unescaped(text, "+", plus, equal)], "+"
    if comma > 0:
        equal = _first_unescaped(text, "=", comma + 1)
        if equal > comma + 1:
            return text[:_last_unescaped(text, ",", comma, equal)], ","
    return text, ""


def _split_ava(ava: str) -> tuple[str, str]:
    equal = ava.find("=")
    while equal > 0:
        if ava[equal - 1] != "\\":
            return ava[:equal], ava[equal + 1:]
        equal = ava.find("=", equal + 1)
    return "", ava


def _check_type(attr: str) -> None:
    if not attr:
        raise InvalidDn("attribute type not present")
    if attr == "<GUID":  # ldap3 lets Active Directory's DirSync form through
        return
    for char in attr:
        if char not in _TYPE_CHARS:
            raise InvalidDn(f"character '{char}' not allowed in attribute type")
    if attr[0] in "0123456789-":
        raise InvalidDn(f"character '{attr[0]}' not allowed as first character of attribute type")


def _check_value(value: str, ava: str) -> None:
    if not value:
        raise InvalidDn(f"unable to validate attribute value in {ava}")
    if value[0] == "#":
        for char in value:
            if char not in _HEX:
                raise InvalidDn(f"character {char} not allowed in hex representation of attribute value")
        if len(value) % 2 == 0:
            raise InvalidDn("hex representation must be in the form of <HEX><HEX> pairs")
    if value[0] == " ":
        raise InvalidDn("SPACE must be escaped as leading character of attribute value")
    if value.endswith(" ") and not value.endswith("\\ "):
        raise InvalidDn("SPACE must be escaped as trailing character of attribute value")
    state = "any"
    for char in value:
        if state == "any":
            if char == "\\":
                state = "escape"
            elif char in '"#+,;<=>\x00':
                raise InvalidDn(f"special character {char} must be escaped")
        elif state == "escape":
            if char in _HEX:
                state = "hex"
            elif char in ' "#+,;<=>\\\x00':
                state = "any"
            else:
                raise InvalidDn(f"invalid escaped character {char}")
        elif char in _HEX:
            state = "any"
        else:
            raise InvalidDn(f"invalid escaped character {char}")
    if state != "any":
        raise InvalidDn("invalid final character")


def check_dn(dn: str) -> None:
    """Refuse (``InvalidDn``) what ldap3's ``parse_dn`` refuses, with its message."""
    avas: list[tuple[str, str]] = []
    while dn:
        ava, separator = _next_ava(dn)
        dn = dn[len(ava) + 1:]
        if _first_unescaped(ava, "=", 0) > 0 or not avas:
            avas.append((ava, separator))
        else:  # no attribute type of its own: the rest of the value before it
            last, last_separator = avas[-1]
            avas[-1] = (last + last_separator + ava, separator)
    if not avas:
        raise InvalidDn("empty dn")
    for ava, _separator in avas:
        attr, value = _split_ava(ava)
        _check_type(attr)
        _check_value(value, ava)
