"""DNS: zones and record sets on an authoritative primary (RFC 2136 + AXFR, tested with BIND 9).

The service's part of the desired-state language: ``settings`` (the ``dns:`` sections of
``ispctl.yaml`` and of domain files), ``names`` (names and record values as zone files write
them), ``validate`` (every zone built and checked, with file:line problems), ``compile`` (the
records a domain derives, and zones as resources), ``dkim`` (the DKIM key store), ``facts``
(what a zone reads of other domain files, for plans narrowed to some files).

Reconciling: ``connection`` (``ISPCTL_DNS_*``/``ISPCTL_RNDC_*``), ``axfr`` (reading),
``catalog`` (the RFC 9432 catalog of ispctl's zones), ``mapping`` (zones <-> resources,
fingerprints), ``updates`` (RFC 2136 messages), ``rndc`` (zone creation and deletion),
``provider``. Commands: ``commands`` (``ispctl dkim``, ``ispctl import dns``, with ``zonefile``
and ``yamledit``). ``sandbox/`` runs a real named for the tests and ``ispctl sandbox``.

Setting up a production primary (BIND 9.18) once::

    key "ispctl" { algorithm hmac-sha256; secret "...";  };   # tsig-keygen -a hmac-sha256 ispctl
    key "ispctl-rndc" { algorithm hmac-sha256; secret "..."; };
    controls { inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { "ispctl-rndc"; }; };
    options {
        allow-new-zones yes;                       # rndc addzone / delzone
        allow-transfer { key "ispctl"; <the ISP's secondaries>; };
        ...
    };
    zone "catalog.ispctl.invalid" {              # the zones ispctl owns (ISPCTL_DNS_CATALOG)
        type primary; file "catalog.ispctl.invalid.db";
        allow-update { key "ispctl"; };
        allow-query { key "ispctl"; <the ISP's secondaries>; };
    };

with ``catalog.ispctl.invalid.db`` holding ``@ SOA invalid. invalid. 1 3600 600 86400 0``,
``@ NS invalid.`` and ``version TXT "2"``. Secondaries of the ISP may consume the catalog
(``catalog-zones { zone "catalog.ispctl.invalid" default-primaries { <primary>; }; };``)
to follow zone additions and removals. Zones that are not in the catalog are never read,
changed or deleted; adopting an existing zone means listing it in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ispctl.providers.dns.compile import zoneset_resources
from ispctl.providers.dns.dkim import store_inputs
from ispctl.providers.dns.editable import RECORD
from ispctl.providers.dns.facts import dns_facts
from ispctl.providers.dns.provider import DnsProvider
from ispctl.providers.dns.settings import DNS, DOMAIN_DNS, DnsSettings, DomainDns
from ispctl.providers.dns.validate import check_zones
from ispctl.reconciler.contract import Catalog, Commands, Compiled, Service, SiteFile

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component, ReplicaWatch


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> DnsProvider:
    # The zones' reads and the server's connection: when a provider is made, not with the registry (issue 11).
    from ispctl.providers.dns.connection import DnsConnection
    from ispctl.providers.dns.mapping import ignore_rules

    return DnsProvider(DnsConnection.from_env(env), ignore_rules(site.section(DNS).ignore))


def compile_zones(catalog: Catalog) -> Compiled:
    """Every zone of the estate, checked, as resources (none unless ispctl.yaml has dns:)."""
    zones, problems = check_zones(catalog)
    return Compiled(resources=zoneset_resources(zones), problems=problems)


def dkim_inputs(site: SiteFile, env: Mapping[str, str]) -> bytes:
    """What the zones read outside the estate's files: the DKIM key store (``dkim.store_inputs``);
    nothing while ispctl.yaml publishes no keys."""
    settings = site.section(DNS).dkim if site.has_section(DNS) else None
    return b"" if settings is None else store_inputs(settings.key_dir, env)


def _replicas(site: SiteFile, env: Mapping[str, str]) -> ReplicaWatch | None:
    # Imported when apply or ``ispctl status`` looks at the replicas, not with the registry: a plan
    # never does (issue 11).
    from ispctl.providers.dns.catalog_check import replicas

    return replicas(site, env)


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.dns.commands import register

    register(commands)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.dns.sandbox.component import DnsComponent

    return DnsComponent()


SERVICE = Service(
    name="dns",
    summary="zones and records on an authoritative primary (RFC 2136 + AXFR, BIND 9)",
    provider=DnsProvider,
    build=build,
    sections=(DNS, DOMAIN_DNS),
    compile=compile_zones,
    facts=dns_facts,
    inputs=dkim_inputs,
    sandbox=_sandbox,
    commands=_commands,
    replicas=_replicas,
    editables=(RECORD,),
)

__all__ = ["DNS", "DOMAIN_DNS", "SERVICE", "DnsProvider", "DnsSettings", "DomainDns", "build",
           "dkim_inputs"]
