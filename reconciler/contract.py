"""The public contract between ispctl and its services: all a service package may import.

A service (``ispctl.providers.<name>``) is one package that declares everything it brings in
one ``Service`` value: its provider (the kinds it owns, and how to build it from the site
settings and the environment), its sections of the desired-state files and their
per-machine environment overrides, its compile hook, its sandbox component and its
commands. The command line finds services through one registry
(``ispctl.providers.registry``) and hands each layer its part; the engine, the estate and
the sandbox name no service.

Service modules import from ``ispctl.reconciler`` only this module (and, in their
``sandbox`` subpackage, ``ispctl.reconciler.harness``); ``lint-imports`` checks it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer

from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import (
    ApprovalRequired,
    ConfigError,
    IspctlError,
    Location,
    Problem,
    ProviderError,
    ValidationFailed,
)
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.inflight import Done, Pipelined, Submission
from ispctl.reconciler.engine.provider import BatchError, Lockable, Provider, Within
from ispctl.reconciler.engine.resources import Index, Resource, Value, address_of
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.estate.catalog import Catalog, NAlias, NDomain, NMailbox, NTenant, Origin
from ispctl.reconciler.estate.cluster import CLUSTER, ClusterSettings
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX, TENANT, Compiled, Extension
from ispctl.reconciler.estate.desired import Desired, EstateSession
from ispctl.reconciler.estate.facts import Facts, FactsBuilder, FactsHook, FileFacts
from ispctl.reconciler.estate.flags import Flag, env_flag
from ispctl.reconciler.estate.model import (
    DomainFile,
    Duration,
    IPAddress,
    Mailbox,
    Section,
    SiteFile,
    Size,
    Strict,
)
from ispctl.reconciler.estate.names import (
    DomainName,
    InvalidName,
    normalise_address,
    normalise_domain,
    normalise_local,
    split_address,
)
from ispctl.reconciler.estate.passwords import hash_password
from ispctl.reconciler.estate.placement import SECTIONS as PLACEMENT_SECTIONS
from ispctl.reconciler.estate.placement import (
    STICKY,
    Placement,
    PlacementItem,
    place,
    place_mailboxes,
    place_sites,
    placed_facts,
    placed_key,
)
from ispctl.reconciler.estate.schema import EstateSchema, Inputs, NamedExtension, NamedInputs
from ispctl.reconciler.estate.settings import EnvOverride
from ispctl.reconciler.estate.units import MAX_TTL, format_duration, format_size, parse_duration
from ispctl.reconciler.estate.yamlload import Document, FieldPath, format_path
from ispctl.reconciler.provision.editable import Editable

if TYPE_CHECKING:
    from ispctl.reconciler.engine import audit
    from ispctl.reconciler.engine.journal import (
        MoveJournal,
        MoveStep,
        PendingMove,
        interrupted_hosts,
        moving_attrs,
        placed_host,
    )
    from ispctl.reconciler.engine.rendered import write_rendered
    from ispctl.reconciler.engine.replicas import ReplicaState, ReplicaWatch
    from ispctl.reconciler.harness.sandbox import Component
    from ispctl.reconciler.provision.yamlrt import carry_tail_comment, round_trip
else:
    # What only apply, status, the sandbox and the editing commands use is imported the first time
    # a name is looked up (PEP 562), not with the contract: every service module imports the
    # contract, and a plan needs none of these (issue 11; tests/test_plan_imports.py).
    _LATER: dict[str, tuple[str, str | None]] = {
        "audit": ("ispctl.reconciler.engine.audit", None),
        **{name: ("ispctl.reconciler.engine.journal", name) for name in (
            "MoveJournal", "MoveStep", "PendingMove", "interrupted_hosts", "moving_attrs", "placed_host")},
        "write_rendered": ("ispctl.reconciler.engine.rendered", "write_rendered"),
        "ReplicaState": ("ispctl.reconciler.engine.replicas", "ReplicaState"),
        "ReplicaWatch": ("ispctl.reconciler.engine.replicas", "ReplicaWatch"),
        "Component": ("ispctl.reconciler.harness.sandbox", "Component"),
        "carry_tail_comment": ("ispctl.reconciler.provision.yamlrt", "carry_tail_comment"),
        "round_trip": ("ispctl.reconciler.provision.yamlrt", "round_trip"),
    }

    def __getattr__(name: str) -> Any:
        if name not in _LATER:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module, attr = _LATER[name]
        value = importlib.import_module(module)  # the module itself when attr is None
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value  # looked up once
        return value


ProviderFactory = Callable[[SiteFile, Mapping[str, str]], Provider]
# What a service's live side is (e.g. the directory's URL and base DN), never credentials:
# the audit trail records it so ``ispctl history`` can tell estates apart.
IdentityFactory = Callable[[SiteFile, Mapping[str, str]], dict[str, str]]

# A service's part of ``ispctl report quota``: from the live state and the threshold (percent),
# one row per account it keeps usage for, JSON-able, with at least "name", "used" (bytes),
# "quota" (bytes or None), "percent" (or None) and "state" (ok, near, over, unlimited).
QuotaReport = Callable[[Mapping[tuple[str, str], Resource], float], list[dict[str, Any]]]

# A service's live usage in ``ispctl report usage`` and ``ispctl show``: from the live state as
# the providers read it, a column name ("mail_used") -> bytes used by each object, keyed by the
# object's address ("mailbox.anna@example.net").
UsageReport = Callable[[Mapping[tuple[str, str], Resource]], Mapping[str, Mapping[str, int]]]


@dataclass(frozen=True)
class UsagePart:
    """A service's part of ``ispctl report usage``: its kinds counted per tenant (``site``: the
    web sites) and, from the live state, what its objects use (``UsageReport``)."""

    counts: tuple[str, ...] = ()
    used: UsageReport | None = None


# A service's objects per cluster host in the live directory (README "Cluster: placement and
# moves"): host -> what it counts (e.g. "mailboxes") -> how many, from the site settings and this
# machine's environment (the directory connection); one search per service.
PlacedCount = Callable[[SiteFile, Mapping[str, str]], Mapping[str, Mapping[str, int]]]
# A service's replicas (README "Replication"): from the site settings (``cluster:``, the hosts of
# its role) and the environment (its primary's connection), a watch remembering what the primary
# holds now, which apply polls until every replica has it and ``ispctl status`` polls once;
# None when the cluster declares no replica of this service.
ReplicaCheck = Callable[[SiteFile, Mapping[str, str]], "ReplicaWatch | None"]

# The ``--dir`` option every command that reads the desired state takes.
DirOption: Any = typer.Option(
    None, "--dir", "-d", help="desired-state folder [default: $ISPCTL_DESIRED_STATE or ./desired-state]")


class CommandContext(Protocol):
    """What the command line gives a service's commands: the wired estate, and one error handler."""

    def run(self, body: Callable[[], int]) -> None:
        """Run one command body and exit with its code (the single error handler)."""
        ...

    def root(self, value: Path | None) -> Path:
        """The desired-state folder: ``--dir``, else ``$ISPCTL_DESIRED_STATE``, else ./desired-state."""
        ...

    def site(self, root: Path, env: Mapping[str, str] | None = None) -> SiteFile:
        """The site settings alone (no tenant file needed), with this machine's overrides."""
        ...

    def desired(self, root: Path, tolerate: Collection[str] = ()) -> Desired:
        """The validated estate; problems with a code in ``tolerate`` are let through."""
        ...

    def check(self, root: Path) -> tuple[Desired | None, list[Problem]]:
        """The estate as far as it can be read, and every problem (never raises for them)."""
        ...

    def session(self, root: Path) -> AbstractContextManager[EstateSession]:
        """The validated estate with this machine's providers connected; closed on exit."""
        ...

    def estate(self, root: Path) -> dict[str, Any]:
        """Which estate this is (repository, folder, each service's live side), as the audit trail records it."""
        ...

    def quota_reports(self) -> dict[str, QuotaReport]:
        """The registered services' parts of ``ispctl report quota``, by service name."""
        ...


class Commands(Protocol):
    """Where a service adds its commands: to a group (``render``, ``dkim``, ...) of the CLI."""

    @property
    def context(self) -> CommandContext: ...

    def group(self, name: str, help: str) -> typer.Typer:
        """The sub-command group ``name``, made with ``help`` if no service made it yet."""
        ...

    def command(self, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """A command of its own at the top level (``ispctl passwd``): the decorator registering it."""
        ...


@dataclass(frozen=True)
class DirectoryPart:
    """What a service stores in the directory, declared as data for the service that keeps it.

    For an existing kind (``kind`` is another service's, e.g. ``mailbox``): ``fields`` are more
    resource attributes (from the service's ``Compiled.attrs``) stored in the kind's entries,
    and ``object_classes`` the auxiliary classes those entries carry while any of them has a
    value (and lose when none has). For a new kind (``rdn_attr`` set): entries of their own
    below their parent's, with ``object_classes`` (``identifying_class`` among them; the
    directory adds its marker class) and ``fields`` (compiled as ``Compiled.resources``).
    ``schemas`` are the cn=config LDIF files defining the classes: the sandbox's slapd loads it, the
    service's render tells operators to. Conversions are the directory's: ``str``, ``int``,
    ``multi`` (a sorted set) and ``bool`` (``TRUE``/``FALSE``).
    """

    kind: str
    # resource attribute -> (LDAP attributes written with its value, conversion)
    fields: Mapping[str, tuple[tuple[str, ...], str]]
    object_classes: tuple[str, ...] = ()
    schemas: tuple[Path, ...] = ()
    rdn_attr: str | None = None  # set for a new kind only
    identifying_class: str | None = None
    sensitive: frozenset[str] = frozenset()

    @property
    def new_kind(self) -> bool:
        return self.rdn_attr is not None

    def ldap_attrs(self) -> tuple[str, ...]:
        names = [name for ldap_names, _ in self.fields.values() for name in ldap_names]
        return tuple(names + ([self.rdn_attr] if self.rdn_attr else []))


@dataclass(frozen=True)
class Service:
    """Everything one service brings, declared in one place (its package's ``SERVICE``)."""

    name: str
    summary: str
    # The live-state provider: its class (kinds in SUPPORTS, ARCHIVES wording, capabilities
    # as protocols it inherits) and how to build it. None for a service that only renders
    # configuration (Dovecot and Postfix read the directory themselves).
    provider: type[Provider] | None = None
    build: ProviderFactory | None = None
    identity: IdentityFactory | None = None
    # Reconciled unless ``providers:`` in ispctl.yaml says otherwise.
    enabled_by_default: bool = False
    sections: tuple[Section[Any], ...] = ()
    overrides: tuple[EnvOverride, ...] = ()
    compile: Extension | None = None
    # What its compile hook's rules across files read of each file (``estate.facts``); a
    # service with a compile hook and no facts keeps every narrowed plan on the whole estate.
    facts: FactsHook | None = None
    # A digest of everything outside the estate's files its compile hook reads (``Inputs``:
    # the DKIM key store, ...), from the site settings and the environment; a narrowed plan's
    # snapshot is of these too. None: the hook reads nothing but the estate's files.
    inputs: Inputs | None = None
    sandbox: Callable[[], Component] | None = None
    commands: Callable[[Commands], None] | None = None
    # What this service stores in the directory's entries (see ``DirectoryPart``).
    directory: tuple[DirectoryPart, ...] = ()
    # Only for the service that keeps the directory: itself, extended with every service's
    # parts (its provider class then knows the new kinds, its sandbox loads their schemas).
    hosts_directory: Callable[[tuple[DirectoryPart, ...]], Service] | None = None
    # Its accounts' usage beside the mail store's in ``ispctl report quota`` (see ``QuotaReport``).
    quota: QuotaReport | None = None
    # The objects it adds to domain files that provisioning commands edit (see ``Editable``).
    editables: tuple[Editable, ...] = ()
    # Its columns in ``ispctl report usage`` (see ``UsagePart``).
    usage: UsagePart | None = None
    # How apply waits for its replicas and ``ispctl status`` shows them (see ``ReplicaCheck``).
    replicas: ReplicaCheck | None = None
    # Its objects per cluster host, as the directory places them, for ``ispctl status``.
    placed: PlacedCount | None = None

    @property
    def kinds(self) -> frozenset[str]:
        return self.provider.SUPPORTS if self.provider is not None else frozenset()


@dataclass(frozen=True)
class Registry:
    """The services of one run, in registration order."""

    services: tuple[Service, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        problems = self._host_directory_parts()
        names: set[str] = set()
        owners: dict[str, str] = {}
        for service in self.services:
            if service.name in names:
                problems.append(f"two services are named {service.name!r}")
            names.add(service.name)
            if (service.provider is None) != (service.build is None):
                problems.append(f"service {service.name!r} declares a provider class without a factory or the reverse")
            for kind in sorted(service.kinds):
                if kind in owners:
                    problems.append(f"resource kind {kind!r} is claimed by {owners[kind]} and {service.name}")
                owners[kind] = service.name
        if problems:
            raise ConfigError("; ".join(problems))

    def _host_directory_parts(self) -> list[str]:
        """Hand every service's directory parts to the service keeping the directory (replacing
        it by its extended self); what two services both claim is a problem."""
        problems: list[str] = []
        parts: list[DirectoryPart] = []
        attrs: dict[str, str] = {}
        new_kinds: dict[str, str] = {}
        for service in self.services:
            for part in service.directory:
                # A new kind's attributes are on entries of its own (uid, userPassword on a
                # RADIUS account and on an FTP login do not meet); what two services add to
                # the entries of existing kinds is what must not overlap.
                for name in () if part.new_kind else part.ldap_attrs():
                    owner = attrs.get(name.lower())
                    if owner is not None and owner != service.name:
                        problems.append(f"LDAP attribute {name!r} is claimed by {owner} and {service.name}")
                    attrs.setdefault(name.lower(), service.name)
                if part.new_kind:
                    if part.kind in new_kinds:
                        problems.append(f"directory kind {part.kind!r} is claimed by {new_kinds[part.kind]} and "
                                        f"{service.name}")
                    new_kinds.setdefault(part.kind, service.name)
                parts.append(part)
        hosts = [s for s in self.services if s.hosts_directory is not None]
        if len(hosts) > 1:
            problems.append(f"two services keep the directory: {', '.join(s.name for s in hosts)}")
        if hosts and parts and not problems:
            host = hosts[0]
            assert host.hosts_directory is not None
            try:
                extended = host.hosts_directory(tuple(parts))
            except ConfigError as exc:
                return [str(exc)]
            object.__setattr__(self, "services", tuple(extended if s is host else s for s in self.services))
        return problems

    @property
    def directory_parts(self) -> tuple[DirectoryPart, ...]:
        return tuple(part for s in self.services for part in s.directory)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def get(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    @property
    def editables(self) -> dict[str, Editable]:
        """Every service's editable objects by noun (``record``, ``site``, ...)."""
        return {e.noun: e for s in self.services for e in s.editables}

    @cached_property
    def schema(self) -> EstateSchema:
        return EstateSchema.build(
            # The cluster's hosts are every service's (each reads the hosts of its roles).
            sections=[CLUSTER, *PLACEMENT_SECTIONS, *(section for s in self.services for section in s.sections)],
            overrides=[override for s in self.services for override in s.overrides],
            extensions=[NamedExtension(s.name, s.compile, s.facts) for s in self.services if s.compile is not None],
            default_providers=[s.name for s in self.services if s.enabled_by_default and s.provider is not None],
            attributes=self._part_attributes(),
            inputs=[NamedInputs(s.name, s.inputs) for s in self.services if s.inputs is not None],
        )

    def _part_attributes(self) -> dict[str, set[str]]:
        """The attributes services' directory parts add to existing kinds' objects (kind -> names)."""
        found: dict[str, set[str]] = {}
        for part in self.directory_parts:
            if not part.new_kind:
                found.setdefault(part.kind, set()).update(part.fields)
        return found

    def components(self) -> list[Component]:
        return [s.sandbox() for s in self.services if s.sandbox is not None]

    def extended(self, more: Iterable[Service]) -> Registry:
        """These services and ``more`` (third-party packages, a test's own service)."""
        return Registry(self.services + tuple(more))


__all__ = [
    "CLUSTER", "ClusterSettings", "PlacedCount", "Placement", "PlacementItem", "STICKY", "place", "place_mailboxes",
    "place_sites", "placed_facts", "placed_key", "ReplicaCheck", "ReplicaState", "ReplicaWatch",
    "ALIAS", "DOMAIN", "MAILBOX", "MAX_TTL", "TENANT", "ApprovalRequired", "BatchError", "Catalog",
    "CommandContext", "Commands", "Compiled", "Component", "ConfigError", "Desired", "DirOption", "DirectoryPart",
    "Document", "Editable",
    "DomainFile", "DomainName", "Done", "Duration", "EnvOverride", "EstateSchema", "EstateSession", "Extension",
    "Facts", "FactsBuilder", "FactsHook", "FileFacts", "Inputs",
    "FieldPath", "Flag", "IPAddress", "Index", "InvalidName", "IspctlError", "Location", "Lockable", "Mailbox",
    "MoveJournal", "MoveStep", "PendingMove", "interrupted_hosts", "moving_attrs", "placed_host",
    "NAlias", "NDomain", "NMailbox", "NTenant", "Origin", "Pipelined", "Problem", "Provider", "ProviderError",
    "ProviderFactory", "QuotaReport", "Registry", "Resource", "Section", "Service", "Session", "SiteFile", "Size",
    "Strict", "Submission", "UsagePart", "UsageReport", "ValidationFailed", "Value", "Within", "address_of",
    "audit", "carry_tail_comment", "collector_paused",
    "env_flag", "format_duration", "format_path", "format_size", "hash_password",
    "normalise_address", "normalise_domain", "normalise_local", "output", "parse_duration", "round_trip",
    "split_address",
    "write_rendered",
]
