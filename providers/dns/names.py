"""DNS names and record texts, as zone files write them: pure parsing, no estate.

A name with a trailing dot is absolute, one without is relative to the zone, ``@`` is the
apex; owners are folded to lower-case ASCII (IDNA for Unicode labels). ``record_text``
turns one YAML value into dnspython's canonical text for its type. Used by validation
(``validate``), import (``zonefile``) and the DNS provider.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna

from ispctl.providers.dns.compile import canonical, split_txt, txt_text
from ispctl.providers.dns.settings import DnsSettings, IgnoreRule

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

MAX_NAME = 253
# fullmatch only: "$" would also match before a final newline.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() also takes "²" and "٣"
# The code of the problem 'ispctl dkim init' exists to fix (the DKIM commands tolerate it).
MISSING_KEY = "dns.missing-dkim-key"
NAME_TARGETS = {"CNAME", "NS", "PTR"}
# Where the DNS provider keeps its per-record-set fingerprints (providers/dns/mapping.py).
RESERVED_OWNER = "_ispctl-fingerprint"


def is_reserved_owner(owner: str) -> bool:
    """Names where the DNS provider keeps its fingerprints (``<tag>._ispctl-fingerprint``)."""
    return owner == RESERVED_OWNER or owner.endswith("." + RESERVED_OWNER)


class BadValue(ValueError):
    """A record value or name that cannot be used; the message says why."""


def control_character(text: str) -> str | None:
    """The first character of ``text`` that a zone file line cannot hold as written, or None.

    Control characters (newlines, tabs, NUL, DEL, the C1 range), line and paragraph
    separators and format characters (zero-width, bidi overrides) would cut a value short
    or make a plan's line say something other than what is stored.
    """
    for char in text:
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or unicodedata.category(char) in ("Zl", "Zp", "Cf"):
            return char
    return None


def _refuse_controls(text: str, what: str) -> None:
    char = control_character(text)
    if char is not None:
        raise BadValue(f"{what} contains the control or invisible character U+{ord(char):04X}; it cannot be written "
                       "as is")


def number(value: object, what: str, high: int) -> int:
    """A whole number 0..high written in ASCII digits (or a YAML integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        found = value
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        found = int(value)
    else:
        raise BadValue(f"{what} {value!r} must be a whole number 0..{high} (ASCII digits)")
    if not 0 <= found <= high:
        raise BadValue(f"{what} {value!r} must be a whole number 0..{high}")
    return found


# --- names ---------------------------------------------------------------------------

def _label(text: str) -> str:
    if not text:
        raise BadValue("has an empty label (two dots in a row?)")
    _refuse_controls(text, f"label {text!r}")
    if text.isascii():
        label = text.lower()
    else:
        try:
            label = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise BadValue(f"label {text!r} is not a valid internationalised name ({exc})") from None
        if not label.startswith("xn--"):
            # UTS 46 maps e.g. full-width letters to ASCII: the name would not be the one written.
            raise BadValue(f"label {text!r} is the ASCII label {label!r} in disguise; write {label!r}")
    if not _LABEL.fullmatch(label):
        raise BadValue(f"label {text!r} may contain letters, digits, '-' and '_' (at most 63)")
    if label.startswith("xn--"):
        try:
            idna.decode(label)
        except (idna.IDNAError, UnicodeError) as exc:
            raise BadValue(f"label {text!r} is not a valid internationalised (xn--) label ({exc})") from None
    return label


def _labels(text: str, wildcard: bool) -> list[str]:
    parts = text.split(".")
    out = []
    for index, part in enumerate(parts):
        if "*" in part:
            if not wildcard or part != "*" or index != 0:
                raise BadValue("'*' is only allowed as the whole leftmost label (*.name)")
            out.append("*")
        else:
            out.append(_label(part))
    return out


def owner_name(raw: str, zone: str) -> str:
    """The owner relative to ``zone`` ("@" for the apex), lower-case ASCII."""
    _refuse_controls(raw, f"owner name {raw!r}")
    text = raw.strip(" ")
    if text == "@":
        return "@"
    if not text or text == ".":
        raise BadValue("an owner name is empty; write '@' for the apex")
    if text.endswith("."):
        full = ".".join(_labels(text[:-1], wildcard=True))
        if full == zone:
            return "@"
        if not full.endswith("." + zone):
            raise BadValue(f"{raw!r} is outside the zone {zone}")
        relative = full[: -len(zone) - 1]
    else:
        relative = ".".join(_labels(text, wildcard=True))
        if relative == zone or relative.endswith("." + zone):
            hint = "@" if relative == zone else relative[: -len(zone) - 1]
            raise BadValue(f"{raw!r} has no trailing dot, so it is relative to the zone and means {relative}.{zone}.; "
                           f"write {hint!r} or {raw.strip() + '.'!r}")
    if len(relative) + 1 + len(zone) > MAX_NAME:
        raise BadValue(f"{relative}.{zone} is longer than {MAX_NAME} characters")
    return relative


def target_name(raw: str, zone: str | None) -> str:
    """An absolute name with its trailing dot; relative ones are qualified with ``zone``."""
    _refuse_controls(raw, f"name {raw!r}")
    text = raw.strip(" ")
    if text == ".":
        return "."  # the root: "no service" in SRV and null MX (RFC 7505)
    if text == "@" and zone is not None:
        return zone + "."
    if not text:
        raise BadValue("a name is empty")
    if text.endswith("."):
        full = ".".join(_labels(text[:-1], wildcard=False))
    elif zone is None:
        full = ".".join(_labels(text, wildcard=False))
    else:
        relative = ".".join(_labels(text, wildcard=False))
        if relative == zone or relative.endswith("." + zone):
            raise BadValue(f"{raw!r} has no trailing dot, so it is relative to the zone and means {relative}.{zone}.; "
                           f"write {text + '.'!r}")
        full = f"{relative}.{zone}"
    if len(full) > MAX_NAME:
        raise BadValue(f"{full} is longer than {MAX_NAME} characters")
    return full + "."


def rname_text(raw: str, zone: str | None) -> str:
    """The SOA RNAME from ``hostmaster@isp.example`` or a name (``hostmaster.isp.example.``)."""
    _refuse_controls(raw, f"SOA rname {raw!r}")
    if "@" in raw.strip()[1:]:
        local, _, domain = raw.strip().rpartition("@")
        if not local or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+", local):
            raise BadValue(f"{raw!r} is not a mailbox for the SOA")
        return local.lower().replace(".", "\\.") + "." + target_name(domain.rstrip(".") + ".", None)
    return target_name(raw, zone)


def default_mname(settings: DnsSettings, ns: tuple[str, ...]) -> str:
    """The SOA MNAME a zone gets without an override: the site's, else the first name server."""
    if settings.soa.mname:
        return settings.soa.mname
    if settings.ns:
        return settings.ns[0]
    return ns[0] if ns else "."


def default_rname(settings: DnsSettings, zone: str) -> str:
    """The SOA RNAME a zone gets without an override: the site's, else hostmaster.<zone>."""
    if settings.soa.rname is not None:
        return rname_text(settings.soa.rname, None)
    return f"hostmaster.{zone}."


def ignored_by(rules: tuple[IgnoreRule, ...], owner: str, rdtype: str) -> int | None:
    """Index of the first ignore rule matching this owner and type, or None."""
    for index, rule in enumerate(rules):
        if rule.matches(owner, rdtype):
            return index
    return None


# --- values --------------------------------------------------------------------------

def _scalar(item: object) -> str:
    if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
        raise BadValue("expected text here")
    if isinstance(item, (int, float)):
        # YAML read it as a number (007 -> 7, 1e3 -> 1000.0): the text written is lost.
        raise BadValue(f"YAML reads this unquoted value as the number {item!r}, not as the text written; put the "
                       "value in quotes")
    return str(item)


def _mx(item: object, zone: str) -> str:
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"priority", "host"})
        if unknown:
            raise BadValue(f"unknown field {unknown[0]!r} in an MX value; allowed here: host, priority")
        priority, host = item.get("priority", 10), item.get("host")
        if not isinstance(host, str):
            raise BadValue("an MX value needs host: <name>")
    else:
        _refuse_controls(_scalar(item), f"MX value {item!r}")
        parts = _scalar(item).split()
        if len(parts) != 2:
            raise BadValue(f"{item!r} is not an MX value: write '10 mx1.example.net.' or {{priority: 10, host: "
                           f"mx1.example.net.}}")
        priority, host = parts
    return f"{number(priority, 'MX priority', 65535)} {target_name(host, zone)}"


def _txt(item: object) -> str:
    if isinstance(item, list):
        strings = []
        for part in item:
            raw = _scalar(part).encode("utf-8")
            if len(raw) > 255:
                raise BadValue(f"an explicitly split TXT string is {len(raw)} bytes; each may hold at most 255 (or "
                               "write the value as one string: ispctl splits it)")
            strings.append(raw)
        if not strings:
            raise BadValue("an explicitly split TXT value needs at least one string")
    else:
        strings = split_txt(_scalar(item))
    if sum(len(s) + 1 for s in strings) > 65535:
        raise BadValue("a TXT value may hold at most 65,535 bytes")
    return txt_text(strings)


# What an address may look like before ipaddress reads it: no IPv6 zone id ("%eth0"), no
# spaces, nothing named's config parser would read as syntax.
_PLAIN_ADDRESS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")


def plain_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address written plainly (no zone id, prefix or port), else BadValue."""
    if not isinstance(text, str) or not _PLAIN_ADDRESS.fullmatch(text):
        shown = repr(text)
        why = " (an IPv6 zone id '%...' names an interface of one machine)" if "%" in shown else ""
        raise BadValue(f"{shown} is not a plain IP address{why}")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise BadValue(f"{text!r} is not an IP address") from None


def primary_address(text: str) -> str:
    """A secondary zone's primary: a plain unicast address, as named's config and the catalog write it."""
    address = plain_address(text)
    if address.is_unspecified or address.is_multicast or str(address) == "255.255.255.255":
        raise BadValue(f"{text} cannot be a primary server (unspecified, broadcast or multicast)")
    return str(address)


def _address(text: str, version: int) -> str:
    try:
        address = plain_address(text.strip(" "))
    except BadValue:
        raise BadValue(f"{text!r} is not an IPv{version} address") from None
    if address.version != version:
        right = "AAAA" if address.version == 6 else "A"
        raise BadValue(f"{text} is an IPv{address.version} address; put it under {right}")
    return str(address)


def record_text(rdtype: str, item: object, zone: str) -> str:
    """The canonical rdata text of one value written in a domain file."""
    import dns.exception

    if rdtype == "MX":
        text = _mx(item, zone)
    elif rdtype == "TXT":
        return _txt(item)
    else:
        if isinstance(item, list):
            raise BadValue("a list of strings inside a value is only allowed for TXT (explicitly split strings)")
        if isinstance(item, dict):
            raise BadValue("expected text here (a mapping is only allowed for MX: {priority, host})")
        value = _scalar(item)
        _refuse_controls(value, f"{rdtype} value {value!r}")
        if rdtype == "A":
            text = _address(value, 4)
        elif rdtype == "AAAA":
            text = _address(value, 6)
        elif rdtype in NAME_TARGETS:
            text = target_name(value, zone)
        elif rdtype == "SRV":
            parts = value.split()
            if len(parts) != 4:
                raise BadValue(f"{value!r} is not an SRV value: write 'PRIORITY WEIGHT PORT TARGET', e.g. '10 5 5060 "
                               "sip.example.net.'")
            names = ("priority", "weight", "port")
            fields = [str(number(p, f"SRV {what}", 65535)) for p, what in zip(parts[:3], names, strict=True)]
            text = " ".join(fields + [target_name(parts[3], zone)])
        else:  # CAA
            text = value
    try:
        return canonical(rdtype, text)
    except dns.exception.DNSException:
        example = {"CAA": " (e.g. 0 issue \"letsencrypt.org\")"}.get(rdtype, "")
        raise BadValue(f"{value if rdtype != 'MX' else text!r} is not valid {rdtype} data{example}") from None


# What one RFC 2136 update may carry of a record set (the provider's messages hold a header, the
# zone, the SOA prerequisite and a TSIG signature besides: providers/dns/updates.py).
UPDATE_LIMIT = 65535 - 1024
# The record set's fingerprint entries (one removed, one added) and the delete of the old set.
_UPDATE_EXTRA = 2 * (MAX_NAME + 2 + 12 + 100) + 12


def update_size(owner: str, zone: str, rdtype: str, texts: list[str]) -> int:
    """An upper bound of the bytes replacing this record set takes in one update message."""
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    full = zone + "." if owner == "@" else f"{owner}.{zone}."
    size = len(dns.name.from_text(full).to_wire() or b"") + _UPDATE_EXTRA
    kind = dns.rdatatype.from_text(rdtype)
    for text in texts:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, kind, text, origin=dns.name.root)
        wire = rdata.to_wire(origin=dns.name.root) or b""
        size += 2 + 10 + len(wire)
    return size


def target_of(rdtype: str, text: str) -> str:
    """The name an MX, NS or SRV record points at (its last field)."""
    return text.split()[-1] if rdtype != "NS" else text
