"""Distinguished names and filter values, per RFC 4514 and RFC 4515.

Every DN ispctl writes is assembled here from escaped components, never by string
formatting of raw input (ISPMan built commands from unescaped input). ldap3's own
``escape_rdn`` escapes NUL as a backslash followed by a raw NUL, which RFC 4514 does
not allow, so we keep our own small implementation.
"""

from __future__ import annotations

_SPECIAL = set('\\,+"<>;=')


def escape_value(value: str) -> str:
    """Escape an attribute value for use inside an RDN."""
    if value == "":
        return ""
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


def split_dn(dn: str) -> list[tuple[str, str]]:
    """Parse a DN into (attribute, unescaped value) pairs, leftmost first.

    Multi-valued RDNs are returned as one pair per value in order; ispctl never writes
    them, and a foreign one only needs to survive a round trip through ``normalise``.
    """
    parts: list[tuple[str, str]] = []
    attr, value, in_value, i = [], [], False, 0
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
            parts.append(("".join(attr).strip().lower(), "".join(value)))
            attr, value, in_value = [], [], False
        else:
            value.append(char)
        i += 1
    flush_bytes()
    if attr or value:
        parts.append(("".join(attr).strip().lower(), "".join(value)))
    return parts


def normalise(dn: str) -> str:
    """A comparison key: attribute types and values case-folded, escapes canonical.

    Every naming attribute ispctl uses (o, ou, dc, associatedDomain, uid, mail) matches
    case-insensitively, so folding values is correct for the entries we manage.
    """
    return ",".join(rdn(a, v.lower()) for a, v in split_dn(dn))


def parent_of(dn: str) -> str:
    pairs = split_dn(dn)
    return ",".join(rdn(a, v) for a, v in pairs[1:])


def is_within(dn: str, base: str) -> bool:
    d, b = normalise(dn), normalise(base)
    return d == b or d.endswith("," + b)
