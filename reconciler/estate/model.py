"""The desired-state file formats every estate has, as pydantic models.

Three kinds of file make an estate (see README "Desired state"):

* ``ispctl.yaml`` -- site settings (``SiteFile``);
* ``tenants/<reseller>/tenant.yaml`` and ``tenants/<reseller>/<client>/tenant.yaml`` --
  a tenant (``TenantFile``); its kind follows from where the folder is;
* every other ``*.yaml`` in a tenant folder -- one domain with its mailboxes and
  aliases (``DomainFile``, ``Mailbox``).

These are the parts every estate shares. Services add sections of their own (the
directory's ``directory:``, the mail store's ``mail:``, DNS's ``dns:``): the models a run
validates with are composed from these bases and the registered services' sections
(``ispctl.reconciler.estate.schema``), and services read their sections back, typed,
with ``section()``. Models only check what one file can know; rules across files live in
``ispctl.reconciler.estate.validate``. Unknown keys are errors everywhere
(``extra="forbid"``).
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ispctl.reconciler.estate.flags import Flag
from ispctl.reconciler.estate.names import (
    InvalidName,
    check_tenant,
    normalise_address,
    normalise_domain,
    normalise_local,
)
from ispctl.reconciler.estate.passwords import check_hash
from ispctl.reconciler.estate.sourcespec import SourceName, SourceSpec
from ispctl.reconciler.estate.units import parse_duration, parse_size

Status = Literal["active", "suspended"]
DomainType = Literal["primary", "slave", "nodns", "alias"]
DomainService = Literal["mail", "web", "ftp", "dialup", "dns"]
Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
PasswordHash = Annotated[str, BeforeValidator(check_hash)]
Count = Annotated[int, Field(ge=0)]
T = TypeVar("T", bound=BaseModel)


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
    problems; they are normalised later (``ispctl.reconciler.estate.validate``), where two
    spellings of one name are reported as a duplicate instead of being merged silently.
    """
    def check(value: str) -> str:
        try:
            normalise(value)
        except InvalidName as exc:
            raise ValueError(str(exc)) from None
        return value
    return check


def _plain_text(value: str) -> str:
    # A double-quoted YAML scalar can spell any character as an escape ("\n", "\e"), which the
    # file-wide character check cannot see: a display name with a line break or a terminal
    # escape would reach the directory, and every view and log that shows it.
    if value.isprintable():  # the usual case, answered in C: every character printable
        return value
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"contains the control or invisible character U+{ord(bad):04X}; write plain text on one line")
    return value


# Free text for people: display names and descriptions.
PlainText = Annotated[str, AfterValidator(_plain_text)]
LocalPart = Annotated[str, AfterValidator(_checked(normalise_local))]
DomainText = Annotated[str, AfterValidator(_checked(normalise_domain))]
AddressText = Annotated[str, AfterValidator(_checked(normalise_address))]
TenantName = Annotated[str, AfterValidator(_checked(check_tenant))]


# One set object per distinct combination of written fields, shared by the models that have
# it (see Strict.model_post_init). Bounded by the models' own field combinations.
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        # pydantic keeps a set of the fields a file wrote on every model: at 100,000 mailboxes
        # that is over 20 MB of sets holding the same few combinations. The models are frozen,
        # so nothing adds to it; model_copy() copies it before adding (pydantic's __copy__).
        written = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(written), written)
        if shared is not written:
            object.__setattr__(self, "__pydantic_fields_set__", shared)


FileKind = Literal["site", "tenant", "domain", "mailbox"]


@dataclass(frozen=True)
class Section(Generic[T]):
    """A section a service adds to one kind of desired-state file, under its own key.

    ``required`` sections must be written (the directory's ``base_dn``); others take
    ``default`` when left out, or are None without one (a domain's ``dns:``). The key also
    reads the section back, typed: ``site.section(MAIL)``.
    """

    file: FileKind
    name: str
    model: type[T]
    default: T | None = None
    required: bool = False
    description: str = ""


class Sectioned(Strict):
    """A file model that services may add sections to; they read them back with ``section``."""

    def section(self, key: Section[T]) -> T:
        """The section's settings (its default when the file leaves it out)."""
        found = self.get_section(key)
        if found is None:
            raise LookupError(f"{type(self).__name__} has no {key.name!r} section (is its service registered?)")
        return found

    def get_section(self, key: Section[T]) -> T | None:
        """The section, or None when an optional section without default is left out."""
        value = getattr(self, key.name, None)
        if value is not None and not isinstance(value, key.model):
            raise TypeError(f"{key.name!r} holds {type(value).__name__}, not {key.model.__name__}")
        return value

    def has_section(self, key: Section[T]) -> bool:
        """True when the file itself writes the section (defaults do not count)."""
        return key.name in self.model_fields_set


# --- site settings ---------------------------------------------------------------

class MailboxServices(Strict):
    imap: Flag | None = None
    pop3: Flag | None = None
    smtp: Flag | None = None
    ftp: Flag | None = None
    dialup: Flag | None = None


class Defaults(Strict):
    mailbox_quota: Size = 1024**3
    status: Status = "active"
    domain_services: tuple[DomainService, ...] = ("mail", "dns")
    mailbox_services: MailboxServices = MailboxServices(imap=True, pop3=True, smtp=True, ftp=False, dialup=False)


class SafetySettings(Strict):
    """Gates a plan must pass before apply (see ispctl.reconciler.engine.gates)."""

    max_change_share: Annotated[float, Field(gt=0, le=1)] = Field(
        0.30, description="updates or deletes of more than this share of a kind's existing objects need --force")
    min_existing: Annotated[int, Field(ge=1)] = Field(10, description="kinds with fewer existing objects are exempt")
    lock_ttl: Duration = Field(2 * 3600, description="a lock older than this is taken to be abandoned")


class PruneSettings(Strict):
    enabled: Flag = Field(True, description="apply removes owned objects that are not in git")
    keep: list[str] = Field(default_factory=list, description="address patterns never pruned, only reported")


Credentials = Literal["user", "git"]


class Lifecycle(Strict):
    """Which values belong to the live side once an object exists (README "Passwords")."""

    credentials: Credentials = Field(
        "user", description="user: a credential (a mailbox password) is set at creation and then belongs to its "
                            "user; git: the hash in git is kept, a change outside ispctl is reverted")
    ignore_changes: dict[str, list[str]] = Field(
        default_factory=dict, description="kind -> attributes written at creation and never compared afterwards")


class SiteFile(Sectioned):
    # The default is the services that enable themselves by default (the schema sets it).
    providers: tuple[str, ...] = Field(
        (), description="services this estate reconciles; ISPCTL_PROVIDERS overrides it per machine",
    )
    defaults: Defaults = Defaults()
    safety: SafetySettings = SafetySettings()
    prune: PruneSettings = PruneSettings()
    lifecycle: Lifecycle = Lifecycle()
    # Other repositories the estate's tenants are read from (estate.sources).
    sources: dict[SourceName, SourceSpec] = Field(default_factory=dict)


# --- tenants -----------------------------------------------------------------------

class Limits(Strict):
    """Unset means unlimited. A client's usage also counts against its reseller."""

    max_domains: Count | None = None
    max_mailboxes: Count | None = None
    max_aliases: Count | None = None
    mail_quota_pool: Size | None = None


class TenantFile(Sectioned):
    name: PlainText = Field(min_length=1, max_length=256, description="display name")
    contact: AddressText | None = None
    status: Status | None = None
    limits: Limits = Limits()
    protect: Flag = Field(False, description="refuse any plan that destroys this tenant or anything in it")
    ignore_changes: list[str] = Field(default_factory=list, description="attributes set at creation only")
    previous: tuple[TenantName, ...] = Field(
        (), description="names this tenant had before: a rename that keeps its directory entry and all below it",
    )


# --- domains -------------------------------------------------------------------------

class Forward(Strict):
    to: list[str] = Field(min_length=1)
    keep_copy: Flag = False


class Mailbox(Sectioned):
    # Lists as tuples: nothing changes a validated mailbox, and the empty ones (most) are
    # then one shared () instead of three new lists per mailbox.
    name: PlainText | None = Field(None, max_length=256, description="display name")
    password: PasswordHash | None = Field(
        None, description="the initial password hash; none: the mailbox cannot log in until 'ispctl passwd'")
    credentials: Credentials | None = Field(None, description="user or git [default: lifecycle.credentials]")
    ignore_changes: tuple[str, ...] = Field((), description="attributes set at creation only")
    quota: Size | None = None
    status: Status | None = None
    services: MailboxServices = MailboxServices()
    aliases: tuple[str, ...] = Field((), description="extra addresses")
    forward: Forward | None = None
    previous: tuple[str, ...] = Field(
        (), description="addresses this mailbox had before: a rename that keeps its entry and its mail",
    )


class AliasSpec(Strict):
    to: list[str] = Field(min_length=1)
    status: Status | None = None
    description: PlainText | None = None
    ignore_changes: list[str] = Field(default_factory=list, description="attributes set at creation only")


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


class DomainFile(Sectioned):
    domain: DomainText
    type: DomainType = "primary"
    alias_of: str | None = Field(None, description="target domain of an alias domain")
    primaries: list[IPAddress] = Field(default_factory=list, description="primary servers of a slave zone")
    services: list[DomainService] | None = None
    status: Status | None = None
    protect: Flag = Field(False, description="refuse any plan that destroys this domain or anything in it")
    description: PlainText | None = None
    ignore_changes: list[str] = Field(default_factory=list, description="attributes set at creation only")
    mail: DomainMail = DomainMail()
    # The composed model narrows this to its own Mailbox (with the services' sections).
    mailboxes: dict[LocalPart, Mailbox] = Field(default_factory=dict)
    aliases: dict[LocalPart, AliasValue] = Field(default_factory=dict)


@dataclass(frozen=True)
class FileModels:
    """The model of each kind of file, composed with the services' sections (``schema``)."""

    site: type[SiteFile] = SiteFile
    tenant: type[TenantFile] = TenantFile
    domain: type[DomainFile] = DomainFile
    mailbox: type[Mailbox] = Mailbox
