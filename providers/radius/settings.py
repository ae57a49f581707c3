"""The RADIUS service's parts of the desired-state files, as pydantic models.

* ``RadiusSettings`` -- ``radius:`` in ``ispctl.yaml``: the FreeRADIUS dictionary reply
  attributes are checked against, and ``profiles`` every tenant may use.
* ``TenantRadius`` -- ``radius:`` in a tenant file: that tenant's own ``profiles`` (a name
  found there wins over the site's).
* ``DomainRadius`` -- ``radius:`` in a domain file: standalone ``accounts`` (DSL, VPN, ...),
  keyed by the local part of their login (``dsl-0042`` is ``dsl-0042@<domain>``).
* ``MailboxRadius`` -- ``radius:`` in a mailbox: the access account of a mailbox whose
  ``services.dialup`` is on (its login is the address, its PAP password the mailbox's).

A profile holds what many accounts share (session and idle timeouts, simultaneous use, the
framed pool, more reply items); an account its own values (framed IP, routes, reply items),
its methods (``auth``: pap, chap, mschap) and the credentials they need beyond a ``{CRYPT}``
hash: ``nt_hash`` (MS-CHAP) or ``cleartext`` (CHAP and MS-CHAP). Both are secrets, treated
like a password: never shown, written at creation and then the user's unless ``credentials:
git``. Git need not hold them: ``live_credentials`` names the ones set on the live side
instead (by their user), so validation still knows which methods can work. Reply items
(``Attr op value``) are checked against the dictionary by ``validate``.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import ipaddress
import re
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError

from ispctl.providers.radius.dictionary import DEFAULT_DICTIONARY
from ispctl.reconciler.contract import Duration, EnvOverride, Flag, Mailbox, Section, Strict

AuthMethod = Literal["pap", "chap", "mschap"]
LiveCredential = Literal["nt_hash", "cleartext"]
Status = Literal["active", "suspended"]
Credentials = Literal["user", "git"]
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def _name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    return value


def _no_control(value: str) -> str:
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain a line break, tab or other control character")
    return value


def _nt_hash(value: object) -> object:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{32}", value):
        # Never echo the value: it is a secret.
        raise ValueError("must be an NT hash: 32 hexadecimal digits (e.g. from smbencrypt)")
    return value.upper()


def _cleartext(value: object) -> object:
    if not isinstance(value, str) or not value or len(value) > 128 or any(not c.isprintable() for c in value):
        raise ValueError("must be 1-128 printable characters")
    return value


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _route(value: str) -> str:
    """``<prefix> [gateway] [metric]`` as NAS devices read Framed-Route (RFC 2865 5.22)."""
    _no_control(value)
    words = value.split()
    try:
        ipaddress.IPv4Network(words[0] if words else "", strict=True)
        if len(words) > 1:
            ipaddress.IPv4Address(words[1])
        if len(words) > 2 and not all(w.isdigit() for w in words[2:]):
            raise ValueError
    except ValueError:
        raise ValueError(f"{value!r} is not '<prefix> [gateway] [metric...]' (e.g. '192.0.2.0/28 0.0.0.0 1')") from None
    return " ".join(words)


def _one_or_more(value: object) -> object:
    return [value] if isinstance(value, str) else value


# The estate's own password-hash check (the mailbox's): {CRYPT}$6$ or $2y$, never echoed back.
_MAILBOX_HASH: TypeAdapter[str | None] = TypeAdapter(cast(Any, Mailbox.model_fields["password"].annotation))


def _hash(value: object) -> object:
    try:
        return _MAILBOX_HASH.validate_python(value)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


PasswordHash = Annotated[str, BeforeValidator(_hash)]
Name = Annotated[str, AfterValidator(_name)]
Item = Annotated[str, AfterValidator(_no_control)]
Items = Annotated[tuple[Item, ...], BeforeValidator(_one_or_more)]
NTHash = Annotated[str, BeforeValidator(_nt_hash)]
Cleartext = Annotated[str, BeforeValidator(_cleartext)]
Methods = Annotated[tuple[AuthMethod, ...], BeforeValidator(_one_or_more), Field(min_length=1)]


class ProfileSpec(Strict):
    session_timeout: Duration | None = Field(None, description="Session-Timeout (e.g. 1d)")
    idle_timeout: Duration | None = Field(None, description="Idle-Timeout (e.g. 30m)")
    simultaneous_use: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description="Simultaneous-Use: sessions counted from the NAS's accounting (radutmp)")
    framed_pool: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = Field(
        None, description="Framed-Pool: the NAS's address pool")
    reply: Items = Field((), description="more reply items, 'Attribute op value' (e.g. 'Reply-Message := \"hi\"')")


class AccessSpec(Strict):
    """What a mailbox's and a standalone account's ``radius:`` share."""

    profile: Name | None = Field(None, description="a profile of the tenant (or a parent), else of ispctl.yaml")
    auth: Methods = Field(("pap",), description="methods the NAS uses: pap, chap, mschap")
    nt_hash: NTHash | None = Field(None, description="NT hash for MS-CHAP (secret)")
    cleartext: Cleartext | None = Field(None, description="cleartext password for CHAP (secret)")
    framed_ip: Annotated[str, AfterValidator(_ipv4)] | None = Field(None, description="Framed-IP-Address")
    routes: Annotated[tuple[Annotated[str, AfterValidator(_route)], ...], BeforeValidator(_one_or_more)] = Field(
        (), description="Framed-Route values: '<prefix> [gateway] [metric]'")
    reply: Items = Field((), description="more reply items, 'Attribute op value'")
    live_credentials: Annotated[tuple[LiveCredential, ...], BeforeValidator(_one_or_more)] = Field(
        (), description="credentials the live side holds and git does not (set there by their user; needs "
                        "credentials: user): nt_hash, cleartext")


class MailboxRadius(AccessSpec):
    """A mailbox's access account: its credentials follow the mailbox's ``credentials``."""


class AccountSpec(AccessSpec):
    password: PasswordHash | None = Field(None, description="{CRYPT} hash for PAP (as a mailbox's)")
    credentials: Credentials | None = Field(None, description="user or git [default: lifecycle.credentials]")
    enabled: Flag = True
    status: Status | None = None
    description: Annotated[str, AfterValidator(_no_control)] | None = None
    # Names, not logins: a rename stays in the domain (the entry below it is renamed in place).
    previous: Annotated[tuple[Name, ...], BeforeValidator(_one_or_more)] = Field(
        (), description="this account's former names in the domain, newest first: its entry is renamed "
                        "(the password its user set kept), nothing destroyed")


def _empty(value: object) -> object:
    return {} if value is None else value


class RadiusSettings(Strict):
    dictionary: str = Field(DEFAULT_DICTIONARY, description="FreeRADIUS's dictionary, for checking reply items")
    profiles: dict[Name, Annotated[ProfileSpec, BeforeValidator(_empty)]] = Field(default_factory=dict)


class TenantRadius(Strict):
    profiles: dict[Name, Annotated[ProfileSpec, BeforeValidator(_empty)]] = Field(default_factory=dict)


class DomainRadius(Strict):
    accounts: dict[Name, Annotated[AccountSpec, BeforeValidator(_empty)]] = Field(default_factory=dict)


RADIUS = Section("site", "radius", RadiusSettings, default=RadiusSettings(),
                 description="the FreeRADIUS dictionary and the profiles every tenant may use")
TENANT_RADIUS = Section("tenant", "radius", TenantRadius, default=TenantRadius(),
                        description="this tenant's RADIUS profiles")
DOMAIN_RADIUS = Section("domain", "radius", DomainRadius, default=DomainRadius(),
                        description="standalone access accounts (login <name>@<domain>)")
MAILBOX_RADIUS = Section("mailbox", "radius", MailboxRadius, default=None,
                         description="the mailbox's access account (needs services.dialup)")
# Where this machine has FreeRADIUS's dictionary (a CI runner without freeradius-common may
# point at a copy).
OVERRIDES = (EnvOverride("ISPCTL_RADIUS_DICTIONARY", RADIUS, "dictionary"),)
