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
# RFC 4514, section 3: the settings refuse a DN the directory would refuse, naming the first
# thing wrong. (ldap3's ``parse_dn`` did this before; importing ldap3 for it cost every command
# that reads ispctl.yaml about 60 ms, issue 11.)

class InvalidDn(ValueError):
    """A DN that is not RFC 4514 syntax; the message says the first thing wrong."""


_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_DESCR = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_NUMERICOID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+\Z")
# Characters a value carries only escaped: RFC 4514's, and "=" too, which it lets through bare
# but which, in a setting, is far likelier a pasted filter or a missing comma than a value.
_ESCAPED_ONLY = frozenset('"+,;<=>\\\x00')
# What may follow a backslash besides two hex digits.
_AFTER_BACKSLASH = frozenset(' "#+,;<=>\\')


def check_dn(text: str) -> None:
    """Refuse (``InvalidDn``) a DN that is not ``rdn *(, rdn)`` with each RDN ``type=value
    *(+type=value)``: a type a name or a dotted number, a value a string (specials and "="
    escaped, no leading ``#`` or space, no trailing space) or ``#`` and hex pairs. An empty DN is refused too:
    no setting names the root."""
    if not text:
        raise InvalidDn("empty dn")
    pos = 0
    while True:
        pos = _check_ava(text, pos)
        if pos == len(text):
            return
        pos += 1  # the "," or "+" after a value
        if pos == len(text) or text[pos] in ",+":
            raise InvalidDn(f"special character {text[pos - 1]} must be escaped")


def _check_ava(text: str, pos: int) -> int:
    """Where the ``type=value`` at ``pos`` ends (at a separator or the end)."""
    equal = text.find("=", pos)
    cut = min((i for i in (text.find(",", pos), text.find("+", pos)) if i != -1), default=len(text))
    if equal == -1 or equal > cut or equal == pos:
        raise InvalidDn("attribute type not present")
    kind = text[pos:equal]
    if not (_DESCR.match(kind) or _NUMERICOID.match(kind)):
        raise InvalidDn(f"attribute type {kind!r} is not a name (a letter, then letters, digits or '-') "
                        "or a dotted number")
    return _check_value(text, equal + 1)


def _check_value(text: str, start: int) -> int:
    """Where the value at ``start`` ends; refused if a special character is not escaped."""
    if start == len(text) or text[start] in ",+":
        raise InvalidDn(f"no attribute value after {text[:start]!r}")
    if text[start] == "#":  # the value's BER encoding in hex
        end = start + 1
        while end < len(text) and text[end] not in ",+":
            end += 1
        digits = text[start + 1:end]
        if not digits or len(digits) % 2 or not set(digits) <= _HEXDIGITS:
            raise InvalidDn(f"{text[start:end]!r} is not '#' and pairs of hex digits")
        return end
    if text[start] == " ":
        raise InvalidDn("SPACE must be escaped as leading character of attribute value")
    pos = start
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            nxt = text[pos + 1:pos + 3]
            if len(nxt) == 2 and set(nxt) <= _HEXDIGITS:
                pos += 3
                continue
            if not nxt or nxt[0] not in _AFTER_BACKSLASH:
                raise InvalidDn(f"invalid escaped character {nxt[:1] or 'at the end'}")
            pos += 2
            continue
        if char in ",+":
            break
        if char in _ESCAPED_ONLY:
            raise InvalidDn(f"special character {char} must be escaped")
        pos += 1
    if text[pos - 1] == " " and not _escaped_space(text, start, pos - 1):
        raise InvalidDn("SPACE must be escaped as trailing character of attribute value")
    return pos


def _escaped_space(text: str, start: int, at: int) -> bool:
    """True when the space at ``at`` is escaped: an odd run of backslashes before it."""
    run = 0
    while at - run - 1 >= start and text[at - run - 1] == "\\":
        run += 1
    return run % 2 == 1
