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

import idna

TENANT_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ATEXT = r"[a-z0-9!#$%&'*+=?^_`{|}~-]"
LOCAL_RE = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$")


class InvalidName(ValueError):
    """A name that cannot be used; the message says why in operator terms."""


def check_tenant(name: str) -> str:
    if not TENANT_RE.match(name):
        raise InvalidName(
            f"tenant name {name!r} must be 1-63 lower-case letters, digits and inner hyphens"
        )
    return name


def normalise_local(local: str) -> str:
    folded = local.strip().lower()
    if not folded:
        raise InvalidName("the local part (before @) is empty")
    if len(folded.encode()) > 64:
        raise InvalidName(f"local part {local!r} is longer than 64 bytes")
    if not folded.isascii():
        raise InvalidName(f"local part {local!r} must be ASCII (internationalised local parts are not supported)")
    if not LOCAL_RE.match(folded):
        raise InvalidName(
            f"local part {local!r} may contain letters, digits and !#$%&'*+=?^_`{{|}}~- "
            "with single dots between them (no '/', no leading, trailing or double dots)"
        )
    return folded


@dataclass(frozen=True)
class DomainName:
    ascii: str
    unicode: str


def normalise_domain(name: str) -> DomainName:
    raw = name.strip().rstrip(".")
    if not raw:
        raise InvalidName("the domain name is empty")
    try:
        ascii_form = idna.encode(raw, uts46=True).decode("ascii").lower()
        unicode_form = idna.decode(ascii_form)
    except idna.IDNAError as exc:
        raise InvalidName(f"{name!r} is not a valid domain name ({exc})") from None
    labels = ascii_form.split(".")
    if len(labels) < 2:
        raise InvalidName(f"{name!r} is not a fully qualified domain name (it needs a dot)")
    if len(ascii_form) > 253:
        raise InvalidName(f"{name!r} is longer than 253 characters in ASCII form")
    for label in labels:
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label):
            raise InvalidName(f"{name!r}: label {label!r} must be letters, digits and inner hyphens")
    return DomainName(ascii_form, unicode_form)


def split_address(address: str) -> tuple[str, DomainName]:
    """Normalise ``local@domain``; raises InvalidName naming the faulty half."""
    if address.count("@") != 1:
        raise InvalidName(f"{address!r} is not an e-mail address (local@domain)")
    local, domain = address.rsplit("@", 1)
    return normalise_local(local), normalise_domain(domain)


def normalise_address(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain.ascii}"
