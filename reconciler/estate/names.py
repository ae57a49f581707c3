"""Names an ISP hands out: tenant slugs, mailbox local parts, domain names.

Local parts are restricted to RFC 5322 dot-atoms without "/" (they become path
components of home directories later) and are folded to lower case, because every
mail system the ISP runs treats them case-insensitively. Domains are normalised to
their IDNA 2008 ASCII form (what DNS and the directory store); the Unicode form is kept
for display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import idna

# Always used with fullmatch: "$" alone also matches before a trailing newline, which
# once let a tenant folder named "acme\n" through as a second tenant.
TENANT_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ATEXT = r"[a-z0-9!#$%&'*+=?^_`{|}~-]"
LOCAL_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets.
MAX_ADDRESS = 254


class InvalidName(ValueError):
    """A name that cannot be used; the message says why in operator terms."""


def check_tenant(name: str) -> str:
    if not TENANT_RE.fullmatch(name):
        raise InvalidName(
            f"tenant name {name!r} must be 1-63 lower-case letters, digits and inner hyphens"
        )
    return name


def normalise_local(local: str) -> str:
    if not local.strip():
        raise InvalidName("the local part (before @) is empty")
    if local != local.strip():
        raise InvalidName(f"local part {local!r} has spaces or line breaks around it")
    folded = local.lower()
    folded = local if folded == local else folded  # (lower() always copies: keep the one string)
    if not folded:
        raise InvalidName("the local part (before @) is empty")
    if len(folded.encode()) > 64:
        raise InvalidName(f"local part {local!r} is longer than 64 bytes")
    if not folded.isascii():
        raise InvalidName(f"local part {local!r} must be ASCII (internationalised local parts are not supported)")
    if not LOCAL_RE.fullmatch(folded):
        raise InvalidName(
            f"local part {local!r} may contain letters, digits and !#$%&'*+=?^_`{{|}}~- "
            "with single dots between them (no '/', no leading, trailing or double dots)"
        )
    return folded


@dataclass(frozen=True)
class DomainName:
    ascii: str
    unicode: str


# An estate names the same few thousand domains tens of thousands of times (every address,
# target and extra address carries one), and IDNA 2008 checks cost ~40 us a name: the result
# of each distinct name (or the reason it is refused) is kept. Bounded, so a huge estate
# only evicts; the function is pure, so a hit answers exactly what a miss would.
_DOMAIN_CACHE = 65536
# A name that is already what IDNA 2008 (with UTS 46) gives back for it: at most 253
# characters of lower-case ASCII letters, digits and inner hyphens in two or more labels, none
# with "--" in its 3rd and 4th position (IDNA refuses that, and it is how an "xn--" label
# starts, which IDNA decodes).
# Such a name is its own ASCII and Unicode form, so it needs no IDNA library call (about
# 0.35 ms a name there: a tenth of validating a 30,000-mailbox estate). Everything else,
# and every refusal, goes through the library. tests/test_names.py compares both ways.
_PLAIN_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_PLAIN_DOMAIN = re.compile(rf"{_PLAIN_LABEL}(?:\.{_PLAIN_LABEL})+")
_IDNA_HYPHENS = re.compile(r"(?:^|\.)[^.]{2}--")


def normalise_domain(name: str) -> DomainName:
    found = _normalised(name)
    if isinstance(found, str):
        raise InvalidName(found)
    return found


@lru_cache(maxsize=_DOMAIN_CACHE)
def _normalised(name: str) -> DomainName | str:
    """The domain name, or the message saying why it is refused."""
    try:
        return _normalise_domain(name)
    except InvalidName as exc:
        return str(exc)


def _normalise_domain(name: str) -> DomainName:
    if name != name.strip():
        raise InvalidName(f"domain name {name!r} has spaces or line breaks around it")
    # One final dot is the absolute form ("example.net."); two are a typo, not a name.
    raw = name[:-1] if name.endswith(".") else name
    if not raw:
        raise InvalidName("the domain name is empty")
    if _plain(raw):
        # Two or more labels that each pass the label check below, within 253 characters
        # (``_PLAIN_DOMAIN``): only an all-numeric last label is left to refuse.
        if raw[raw.rfind(".") + 1:].isdigit():
            raise InvalidName(f"{name!r} is an IP address or ends in a numeric label, not a domain name")
        return DomainName(raw, raw)
    ascii_form, unicode_form = _idna_forms(raw, name)
    labels = ascii_form.split(".")
    if len(labels) < 2:
        raise InvalidName(f"{name!r} is not a fully qualified domain name (it needs a dot)")
    if len(ascii_form) > 253:
        raise InvalidName(f"{name!r} is longer than 253 characters in ASCII form")
    if labels[-1].isascii() and labels[-1].isdigit():
        # RFC 3696 2: no top-level domain is all-numeric, so this is an IP address, which
        # mail and DNS would read as one (and "a domain" must never mean a host literal).
        raise InvalidName(f"{name!r} is an IP address or ends in a numeric label, not a domain name")
    for label in labels:
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label):
            raise InvalidName(f"{name!r}: label {label!r} must be letters, digits and inner hyphens")
    return DomainName(ascii_form, unicode_form)


def _plain(raw: str) -> bool:
    """Whether ``raw`` is already its own IDNA 2008 ASCII and Unicode form (``_PLAIN_DOMAIN``)."""
    return len(raw) <= 253 and _PLAIN_DOMAIN.fullmatch(raw) is not None and _IDNA_HYPHENS.search(raw) is None


def _idna_forms(raw: str, name: str) -> tuple[str, str]:
    """The ASCII and Unicode forms of ``raw`` as the IDNA library gives them."""
    try:
        ascii_form = idna.encode(raw, uts46=True).decode("ascii").lower()
        return ascii_form, idna.decode(ascii_form)
    except idna.IDNAError as exc:
        raise InvalidName(f"{name!r} is not a valid domain name ({exc})") from None


def split_address(address: str) -> tuple[str, DomainName]:
    """Normalise ``local@domain``; raises InvalidName naming the faulty half."""
    if address.count("@") != 1:
        raise InvalidName(f"{address!r} is not an e-mail address (local@domain)")
    local, domain = address.rsplit("@", 1)
    return normalise_local(local), normalise_domain(domain)


def check_address_length(address: str) -> str:
    if len(address.encode()) > MAX_ADDRESS:
        raise InvalidName(f"address {address!r} is longer than {MAX_ADDRESS} bytes (RFC 5321)")
    return address


def normalise_address(address: str) -> str:
    local, domain = split_address(address)
    return check_address_length(f"{local}@{domain.ascii}")
