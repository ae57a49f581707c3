"""The nouns an operator types (``mailbox``, ``mailboxes``, ``ftp-login``) and the names of objects.

A kind is any resource kind the estate compiles to: the estate's own four (tenant, domain,
mailbox, alias) and whatever the services add (``site``, ``ftp_login``, ``access_account``,
``dns`` ...). People write hyphens or underscores, singular or plural; names are normalised as
validation normalises them (an IDN domain in Unicode or ASCII, an address in any case).
"""

from __future__ import annotations

from collections.abc import Collection

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX, TENANT
from ispctl.reconciler.estate.names import InvalidName, normalise_address, normalise_domain

CORE = (TENANT, DOMAIN, MAILBOX, ALIAS)


def plural(kind: str) -> str:
    """``mailbox`` -> ``mailboxes``, ``alias`` -> ``aliases``, ``site`` -> ``sites``; ``dns`` stays."""
    if kind == "dns":
        return kind
    return kind + ("es" if kind.endswith(("s", "x")) else "s")


def resolve_kind(noun: str, kinds: Collection[str]) -> str | None:
    """The kind ``noun`` names (singular or plural, ``-`` or ``_``), or None."""
    word = noun.strip().lower().replace("-", "_")
    for kind in kinds:
        if word in (kind, plural(kind)):
            return kind
    return None


def known_nouns(kinds: Collection[str]) -> str:
    """The kinds as an operator would type them, for a message: ``alias, domain, ftp-login, ...``."""
    return ", ".join(sorted(k.replace("_", "-") for k in kinds))


def object_key(kind: str, name: str) -> str:
    """The key of the object ``name`` of ``kind`` as the estate stores it (ASCII, lower case).

    A service's key that reads as an address or a host name (an access account, a site) is
    normalised the same way; any other (a DNS record's ``zone/name/type``) is taken as typed.
    """
    text = name.strip()
    try:
        if kind in (MAILBOX, ALIAS):
            return normalise_address(text)
        if kind == DOMAIN:
            return normalise_domain(text).ascii
    except InvalidName as exc:
        raise IspctlError(f"{kind} {name!r}: {exc}") from None
    if kind == TENANT:
        return text.lower()
    if "/" not in text:
        try:
            return normalise_address(text) if "@" in text else normalise_domain(text).ascii
        except InvalidName:
            pass
    return text


def shown_address(address: str) -> str:
    """An address (or a domain) as people read it: the domain part in Unicode."""
    local, at, domain = address.rpartition("@")
    try:
        readable = normalise_domain(domain).unicode
    except InvalidName:
        return address
    return f"{local}{at}{readable}"
