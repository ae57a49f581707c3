"""The OpenLDAP directory: tenants, domains, mailboxes and aliases as entries under one base.

Modules: ``settings`` (the ``directory:`` section), ``connection`` (``ISPCTL_LDAP_*``), ``dn``
(DN parsing and escaping), ``mapping`` (resources <-> entries, pure), ``lock`` (the estate's
apply lock, an entry in the directory), ``provider``, ``passwd`` and ``commands``
(``ispctl passwd``), ``replication`` (the consumers' contextCSN against the provider's, after
apply and in ``ispctl status``) and ``replication_config`` (the cn=config LDIF of a
delta-syncrepl provider and consumer); ``schema/`` (the LDIF schema) and ``sandbox/`` (a real
slapd for tests and ``ispctl sandbox``; a provider/consumer pair in ``sandbox/replica.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.mapping import DirectoryMap, extend
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.settings import DIRECTORY, DirectorySettings
from ispctl.reconciler.contract import Commands, DirectoryPart, Service, SiteFile

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component, ReplicaWatch


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> LdapProvider:
    directory = site.section(DIRECTORY)
    return LdapProvider(LdapSettings.from_env(env), directory.base_dn, directory.page_size)


def _builder(provider: type[LdapProvider]) -> Callable[[SiteFile, Mapping[str, str]], LdapProvider]:
    def build_with_parts(site: SiteFile, env: Mapping[str, str]) -> LdapProvider:
        directory = site.section(DIRECTORY)
        return provider(LdapSettings.from_env(env), directory.base_dn, directory.page_size)

    return build_with_parts


def with_parts(parts: tuple[DirectoryPart, ...]) -> Service:
    """This service storing the other services' ``DirectoryPart``s too (``Service.hosts_directory``):
    its provider knows their kinds and fields, its sandbox's slapd loads their schemas."""
    dmap: DirectoryMap = extend(parts)
    provider = LdapProvider.with_parts(dmap)
    return replace(SERVICE, provider=provider, build=_builder(provider), sandbox=lambda: _sandbox(dmap.schemas))


def identity(site: SiteFile, env: Mapping[str, str]) -> dict[str, str]:
    """The directory an apply writes, for the audit trail: URL (without user, password or
    query) and base DN. Read without connecting, so ``ispctl history`` works offline."""
    raw = env.get("ISPCTL_LDAP_URL", "").strip()
    parts = urlsplit(raw)
    host = parts.netloc.rsplit("@", 1)[-1]
    url = urlunsplit((parts.scheme, host, parts.path, "", "")) if parts.scheme else ""
    return {"directory": url, "base_dn": site.section(DIRECTORY).base_dn}


def _replicas(site: SiteFile, env: Mapping[str, str]) -> ReplicaWatch | None:
    # Imported when apply or ``ispctl status`` looks at the replicas, not with the registry: a plan
    # never does (issue 11).
    from ispctl.providers.ldap.replication import replicas

    return replicas(site, env)


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.ldap.access import register as register_access
    from ispctl.providers.ldap.commands import register
    from ispctl.providers.ldap.replication_commands import register as register_replication

    register(commands)
    register_access(commands)  # ispctl render access
    register_replication(commands)  # ispctl render replication provider|consumer


def _sandbox(schemas: tuple[str, ...] = ()) -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.ldap.sandbox.component import LdapComponent

    return LdapComponent(schemas)


SERVICE = Service(
    name="ldap",
    summary="the OpenLDAP directory every other service reads (tenants, domains, mailboxes, aliases)",
    provider=LdapProvider,
    build=build,
    identity=identity,
    enabled_by_default=True,
    sections=(DIRECTORY,),
    sandbox=_sandbox,
    commands=_commands,
    hosts_directory=lambda parts: with_parts(parts),
    replicas=_replicas,
)

__all__ = ["DIRECTORY", "SERVICE", "DirectorySettings", "LdapProvider", "LdapSettings", "build"]
