"""The desired-state file formats, as pydantic models.

Three kinds of file make an estate (see README "Desired state"):

* ``ispctl.yaml`` -- site settings (``SiteFile``);
* ``tenants/<reseller>/tenant.yaml`` and ``tenants/<reseller>/<client>/tenant.yaml`` --
  a tenant (``TenantFile``); its kind follows from where the folder is;
* every other ``*.yaml`` in a tenant folder -- one domain with its mailboxes and
  aliases (``DomainFile``).

Models only check what one file can know; rules across files live in
``reconciler.validate``. Unknown keys are errors everywhere (``extra="forbid"``).
Room is left for later services: DNS records, vhosts, FTP and dial-up settings will be
further optional sections of ``DomainFile`` and ``Mailbox``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .model_dns import DnsSettings, DomainDns, Duration
from .names import NameError_, normalise_address, normalise_domain, normalise_local
from .passwords import check_hash
from .units import parse_size

Status = Literal["active", "suspended"]
DomainType = Literal["primary", "slave", "nodns", "alias"]
DomainService = Literal["mail", "web", "ftp", "dialup", "dns"]
Size = Annotated[int, BeforeValidator(parse_size)]
PasswordHash = Annotated[str, BeforeValidator(check_hash)]
Count = Annotated[int, Field(ge=0)]


def _ip_literal(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


# Checked per item so that an error points at the faulty list entry's own line.
IPAddress = Annotated[str, AfterValidator(_ip_literal)]


def _checked(normalise: Callable[[str], object]) -> Callable[[str], str]:
    """A validator that rejects what ``normalise`` rejects but keeps the text as written.

    Names are checked here so that a bad one is reported together with the file's other
    problems; they are normalised later (``reconciler.validate``), where two spellings of
    one name are reported as a duplicate instead of being merged silently.
    """
    def check(value: str) -> str:
        try:
            normalise(value)
        except NameError_ as exc:
            raise ValueError(str(exc)) from None
        return value
    return check


LocalPart = Annotated[str, AfterValidator(_checked(normalise_local))]
DomainText = Annotated[str, AfterValidator(_checked(normalise_domain))]
AddressText = Annotated[str, AfterValidator(_checked(normalise_address))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- site settings ---------------------------------------------------------------

class DirectorySettings(Strict):
    base_dn: str = Field(description="DN of the subtree ispctl owns; it must already exist")
    page_size: Annotated[int, Field(ge=10, le=100_000)] = 1000


class MailSettings(Strict):
    root: str = Field("/var/vmail", description="mail store root; homes are <root>/<domain>/<local>")
    uid: Annotated[int, Field(ge=1, le=2**31 - 1)] = 5000
    gid: Annotated[int, Field(ge=1, le=2**31 - 1)] = 5000
    archive: str | None = Field(
        None,
        description="where removed mailboxes' mail is moved (default <root>/.ispctl-archive); "
        "same filesystem as root, so archiving is one rename",
    )
    archive_retention_days: Annotated[int, Field(ge=0, le=36500)] = Field(
        90, description="archives younger than this are never purged (ispctl archive purge)",
    )

    @field_validator("root", "archive")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/") or "/../" in value + "/" or "\x00" in value:
            raise ValueError("must be an absolute path without '..'")
        return value.rstrip("/") or "/"

    @model_validator(mode="after")
    def _archive_outside_homes(self) -> MailSettings:
        # Below the root only a dot-directory is safe: no domain name starts with a dot, so
        # the scan of the store never mistakes archived mail for a live home.
        archive = self.archive
        if archive is not None:
            rel = archive[len(self.root):].lstrip("/") if archive.startswith(self.root.rstrip("/") + "/") else None
            if archive == self.root or (rel is not None and not rel.startswith(".")):
                raise ValueError("mail.archive must be outside mail.root or a directory there whose name starts with '.'")
        return self

    @property
    def archive_dir(self) -> str:
        return self.archive or f"{self.root.rstrip('/')}/.ispctl-archive"


class MailboxServices(Strict):
    imap: bool | None = None
    pop3: bool | None = None
    smtp: bool | None = None
    ftp: bool | None = None
    dialup: bool | None = None


class Defaults(Strict):
    mailbox_quota: Size = 1024**3
    status: Status = "active"
    domain_services: tuple[DomainService, ...] = ("mail", "dns")
    mailbox_services: MailboxServices = MailboxServices(imap=True, pop3=True, smtp=True, ftp=False, dialup=False)


class SafetySettings(Strict):
    """Gates a plan must pass before apply (see reconciler.gates)."""

    max_change_share: Annotated[float, Field(gt=0, le=1)] = Field(
        0.30, description="updates or deletes of more than this share of a kind's existing objects need --force")
    min_existing: Annotated[int, Field(ge=1)] = Field(10, description="kinds with fewer existing objects are exempt")
    lock_ttl: Duration = Field(2 * 3600, description="a lock older than this is taken to be abandoned")


class PruneSettings(Strict):
    enabled: bool = Field(True, description="apply removes owned objects that are not in git")
    keep: list[str] = Field(default_factory=list, description="address patterns never pruned, only reported")


class SiteFile(Strict):
    providers: tuple[str, ...] = Field(
        ("ldap",),
        description="services this estate reconciles; ISPCTL_PROVIDERS overrides it per machine",
    )
    directory: DirectorySettings
    mail: MailSettings = MailSettings()
    defaults: Defaults = Defaults()
    dns: DnsSettings = DnsSettings()
    safety: SafetySettings = SafetySettings()
    prune: PruneSettings = PruneSettings()


# --- tenants -----------------------------------------------------------------------

class Limits(Strict):
    """Unset means unlimited. A client's usage also counts against its reseller."""

    max_domains: Count | None = None
    max_mailboxes: Count | None = None
    max_aliases: Count | None = None
    mail_quota_pool: Size | None = None


class TenantFile(Strict):
    name: str = Field(min_length=1, max_length=256, description="display name")
    contact: AddressText | None = None
    status: Status | None = None
    limits: Limits = Limits()
    protect: bool = Field(False, description="refuse any plan that destroys this tenant or anything in it")


# --- domains -------------------------------------------------------------------------

class Forward(Strict):
    to: list[str] = Field(min_length=1)
    keep_copy: bool = False


class Mailbox(Strict):
    name: str | None = Field(None, max_length=256, description="display name")
    password: PasswordHash
    quota: Size | None = None
    status: Status | None = None
    services: MailboxServices = MailboxServices()
    aliases: list[str] = Field(default_factory=list, description="extra addresses")
    forward: Forward | None = None
    previous: list[str] = Field(
        default_factory=list,
        description="addresses this mailbox had before: a rename that keeps its entry and its mail",
    )


class AliasSpec(Strict):
    to: list[str] = Field(min_length=1)
    status: Status | None = None
    description: str | None = None


def _alias_short_form(value: object) -> object:
    """``sales: [a, b]`` and ``sales: a`` are shorthand for ``sales: {to: [...]}``."""
    if isinstance(value, str):
        return {"to": [value]}
    if isinstance(value, list):
        return {"to": value}
    return value


AliasValue = Annotated[AliasSpec, BeforeValidator(_alias_short_form)]


class DomainMail(Strict):
    default_quota: Size | None = None
    catch_all: str | None = None


class DomainFile(Strict):
    domain: DomainText
    type: DomainType = "primary"
    alias_of: str | None = Field(None, description="target domain of an alias domain")
    primaries: list[IPAddress] = Field(default_factory=list, description="primary servers of a slave zone")
    services: list[DomainService] | None = None
    status: Status | None = None
    protect: bool = Field(False, description="refuse any plan that destroys this domain or anything in it")
    description: str | None = None
    mail: DomainMail = DomainMail()
    mailboxes: dict[LocalPart, Mailbox] = Field(default_factory=dict)
    aliases: dict[LocalPart, AliasValue] = Field(default_factory=dict)
    dns: DomainDns | None = None


AnyFile = Union[SiteFile, TenantFile, DomainFile]
