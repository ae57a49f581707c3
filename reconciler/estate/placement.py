"""Placement: which cluster host stores each object (README "Cluster: placement and moves").

The site's ``cluster:`` names the hosts, their roles and their ``capacity``. Desired-state
files say where objects go with a ``placement:`` section, the nearest one winning::

    placement: {mail_store: mx2.example.net}     # in tenant.yaml, a domain file, or a mailbox

A mailbox's own ``placement:`` overrides its domain's, which overrides its tenant's (and the
tenant's reseller's). Objects no policy places go to a default host chosen by weighted
rendezvous hashing (highest random weight) of the object's name over the hosts of the role,
each weighted by its capacity. That choice depends only on the object's name and on the
declared hosts (nothing is re-shuffled by adding or removing other objects), and it is made
once: a default host is written when the object is created and belongs to the directory
afterwards (``STICKY``, the engine's ``create_only`` rule, as a password set at creation), so
adding a host or changing a capacity moves nothing that exists; new objects spread over the
new hosts. A host with ``capacity: 0`` takes no new default placement. A pinned host
(``placement:``) is compared: changing it in git is a planned move; removing the pin leaves
the object where it is.

With no host of a role, nothing of that role is placed: the single-host estate of before.
This module names no service; the services whose objects are placed call ``place``.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.catalog import Catalog, Origin
from ispctl.reconciler.estate.cluster import CLUSTER, ClusterSettings, HostName
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.model import Section, Strict

PlacedRole = Literal["mail_store", "web", "ftp"]


class PlacementSpec(Strict):
    """A ``placement:`` section: role -> the host storing the objects below it."""

    mail_store: HostName | None = Field(None, description="the mail_store host keeping the mailboxes below")
    web: HostName | None = Field(None, description="the web host serving the sites below")
    ftp: HostName | None = Field(None, description="the ftp host keeping the FTP homes below")


PLACEMENT_TENANT = Section("tenant", "placement", PlacementSpec, default=None,
                           description="cluster hosts for this tenant's objects (README Cluster)")
PLACEMENT_DOMAIN = Section("domain", "placement", PlacementSpec, default=None,
                           description="cluster hosts for this domain's objects (README Cluster)")
class MailboxPlacement(Strict):
    """A mailbox's own ``placement:``: its mail store only (its FTP login is served where its
    mail is, README "Cluster: placement and moves")."""

    mail_store: HostName | None = Field(None, description="the mail_store host keeping this mailbox")


PLACEMENT_MAILBOX = Section("mailbox", "placement", MailboxPlacement, default=None,
                            description="the cluster host storing this mailbox (README Cluster)")
SECTIONS = (PLACEMENT_TENANT, PLACEMENT_DOMAIN, PLACEMENT_MAILBOX)


# The attribute of a placed resource that names its host, and the names a default-placed
# resource gives the live side once it exists (``Resource.create_only``).
HOST = "host"
STICKY = frozenset({HOST})


@dataclass(frozen=True)
class Placed:
    host: str
    by: str  # "mailbox", "domain", "tenant <name>" or "default": why it is there

    @property
    def pinned(self) -> bool:
        return self.by != "default"

    @property
    def create_only(self) -> frozenset[str]:
        """What a resource placed so leaves to the live side: a default host once it exists."""
        return frozenset() if self.pinned else STICKY


@dataclass
class Placement:
    """Each object's host for one role, and what is wrong with the policy (file:line)."""

    role: str
    hosts: dict[str, Placed] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def on(self, host: str) -> set[str]:
        return {name for name, placed in self.hosts.items() if placed.host == host}


def _score(host: str, key: str, weight: int) -> float:
    # Weighted rendezvous hashing: -w / ln(u) with u uniform in (0, 1) from a stable hash
    # (not Python's hash(), which is salted per process).
    digest = hashlib.blake2b(f"{host}\0{key}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)
    return -weight / math.log(u)


def default_host(key: str, weights: Mapping[str, int]) -> str | None:
    """The host of highest weighted random score for ``key`` (ties: the name decides)."""
    best = max(((_score(h, key, w), h) for h, w in sorted(weights.items()) if w > 0), default=None)
    return None if best is None else best[1]


def _checked(cluster: ClusterSettings, role: str, host: str | None, origin: Origin,
             path: tuple[str | int, ...], problems: list[Problem]) -> str | None:
    if host is None:
        return None
    where = origin.doc.location(origin.path + path)
    if host not in cluster.hosts:
        problems.append(Problem(where, "", f"{host!r} is not a host of cluster.hosts in ispctl.yaml"))
        return None
    if role not in cluster.hosts[host].roles:
        problems.append(Problem(where, "", f"{host} does not have the {role} role (cluster.hosts.{host}.roles)"))
        return None
    return host


def _policies(catalog: Catalog, cluster: ClusterSettings, role: PlacedRole,
              problems: list[Problem]) -> tuple[dict[str, Placed], dict[str, Placed]]:
    """The tenants' and domains' policies for ``role`` (a tenant's applies to its clients)."""
    tenants: dict[str, Placed] = {}
    for name in sorted(catalog.tenants):
        for tenant in catalog.tenant_chain(name):
            spec = tenant.spec.get_section(PLACEMENT_TENANT)
            host = _checked(cluster, role, getattr(spec, role) if spec else None, tenant.origin,
                            ("placement", role), problems if tenant.name == name else [])
            if host is not None:
                tenants[name] = Placed(host, f"tenant {tenant.name}")
                break
    domains: dict[str, Placed] = {}
    for domain in catalog.domains.values():
        spec = domain.spec.get_section(PLACEMENT_DOMAIN)
        host = _checked(cluster, role, getattr(spec, role) if spec else None, domain.origin,
                        ("placement", role), problems)
        if host is not None:
            domains[domain.name] = Placed(host, "domain")
        elif domain.tenant in tenants:
            domains[domain.name] = tenants[domain.tenant]
    return tenants, domains


@dataclass(frozen=True)
class PlacementItem:
    """An object to place: its key, its domain, and its own ``placement:`` (where it is written)."""

    key: str
    domain: str
    origin: Origin
    own: PlacementSpec | MailboxPlacement | None = None


def place(catalog: Catalog, role: PlacedRole, items: Iterable[PlacementItem]) -> Placement:
    """Each item's host of ``role``: its own placement, its domain's, its tenant's, else the
    default (``default_host``); empty when the cluster has no host of the role."""
    cluster = catalog.estate.site.section(CLUSTER)
    out, domains, weights = _placing(catalog, cluster, role)
    if not weights:
        return out
    for item in items:
        own = _checked(cluster, role, getattr(item.own, role, None) if item.own else None, item.origin,
                       ("placement", role), out.problems)
        if own is not None:
            out.hosts[item.key] = Placed(own, "mailbox" if role == "mail_store" else "own")
        elif item.domain in domains:
            out.hosts[item.key] = domains[item.domain]
        elif (chosen := default_host(item.key, weights)) is not None:
            out.hosts[item.key] = Placed(chosen, "default")
        else:
            out.problems.append(Problem(item.origin.location(), "", f"no {role} host takes new objects (every "
                                        "capacity is 0): give this one a placement: or a host capacity"))
    _over_capacity(catalog, cluster, out)
    return out


def place_mailboxes(catalog: Catalog) -> Placement:
    """Every mailbox's mail_store host; empty when the cluster has no mail_store host."""
    return place(catalog, "mail_store", (PlacementItem(box.address, box.domain, box.origin, box.spec.get_section(
        PLACEMENT_MAILBOX)) for box in catalog.mailboxes.values()))


def place_sites(catalog: Catalog, sites: Mapping[str, str]) -> Placement:
    """Every site's web host (``sites``: site host name -> its domain): the domain's or tenant's
    ``placement: {web: ...}``, else the default by the domain's name; empty without a web host."""
    cluster = catalog.estate.site.section(CLUSTER)
    out, domains, weights = _placing(catalog, cluster, "web")
    if not weights:
        return out
    for site, domain in sorted(sites.items()):
        if domain in domains:
            out.hosts[site] = domains[domain]
        elif (chosen := default_host(domain, weights)) is not None:
            # By the domain's name: a domain's sites land together by default (one host per
            # domain, as ISPMan's webHost), the derived autoconfig/mta-sts sites with them.
            out.hosts[site] = Placed(chosen, "default")
        else:
            out.problems.append(Problem(catalog.domains[domain].origin.location(), "", f"no web host takes new "
                                        f"sites (every capacity is 0): give {domain} a placement: {{web: ...}}"))
    _over_capacity(catalog, cluster, out)
    return out


def _placing(catalog: Catalog, cluster: ClusterSettings,
             role: PlacedRole) -> tuple[Placement, dict[str, Placed], dict[str, int]]:
    """The placement to fill, the domains' own placements and each host's weight (its capacity);
    no weights (and a problem for each object that needs a host) without a host of the role."""
    out = Placement(role)
    hosts = cluster.with_role(role)
    if not hosts:
        _unplaceable(catalog, role, out)
        return out, {}, {}
    _tenants, domains = _policies(catalog, cluster, role, out.problems)
    return out, domains, {name: host.capacity for name, host in hosts}


def placed_key(role: str, host: str) -> str:
    """The ``Facts.totals`` key of the objects of ``role`` a file places on ``host``."""
    return f"placed:{role}:{host}"


def placed_facts(placement: Placement, file_of: Callable[[str], str | None]) -> dict[str, Facts]:
    """The totals the capacity rule needs of each file (``estate.facts``): how many of the
    placement's objects each file places on each host. ``file_of`` names the file an object
    (by its key in ``placement.hosts``) is written in (``Document.file``); None: not counted,
    which only a key no file holds may be. A service that places objects returns these from
    its facts hook, so a narrowed plan counts the files it did not load (``Catalog.outside``)."""
    counts: dict[str, dict[str, int]] = {}
    for key, placed in placement.hosts.items():
        file = file_of(key)
        if file is not None:
            totals = counts.setdefault(file, {})
            name = placed_key(placement.role, placed.host)
            totals[name] = totals.get(name, 0) + 1
    return {file: Facts(totals=totals) for file, totals in counts.items()}


def _over_capacity(catalog: Catalog, cluster: ClusterSettings, out: Placement) -> None:
    counts = Counter(placed.host for placed in out.hosts.values())
    if catalog.outside:  # a narrowed run: what the files it did not load place (``placed_facts``)
        for host in cluster.hosts:
            counts[host] += catalog.outside.get(placed_key(out.role, host), 0)
    for host, count in sorted(counts.items()):
        capacity = cluster.hosts[host].capacity
        if count > capacity and capacity > 0:
            where = catalog.estate.site_doc.location(("cluster", "hosts", host, "capacity"))
            out.problems.append(Problem(where, "", f"{host} would store {count:,} {out.role} objects, more than its "
                                        f"capacity {capacity:,}: raise it, add a host or place objects elsewhere"))


def _unplaceable(catalog: Catalog, role: PlacedRole, out: Placement) -> None:
    """A ``placement:`` written where the cluster has no host of the role is a mistake, not a no-op."""
    found: Iterable[tuple[Origin, object]] = [
        *((t.origin, t.spec.get_section(PLACEMENT_TENANT)) for t in catalog.tenants.values()),
        *((d.origin, d.spec.get_section(PLACEMENT_DOMAIN)) for d in catalog.domains.values()),
        *((b.origin, b.spec.get_section(PLACEMENT_MAILBOX)) for b in catalog.mailboxes.values()),
    ]
    for origin, spec in found:
        if spec is not None and getattr(spec, role, None) is not None:
            out.problems.append(Problem(origin.doc.location(origin.path + ("placement", role)), "",
                                        f"cluster.hosts in ispctl.yaml has no host with the {role} role"))
