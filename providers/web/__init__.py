"""Web hosting: Apache 2.4 virtual hosts and PHP-FPM pools per site, certificates from ACME.

The service's part of the desired-state language: ``settings`` (the ``web:`` sections of
``ispctl.yaml``, domain files and tenant files, and the ``ISPCTL_WEB_*`` overrides),
``users`` (the tenant's system user: uid/gid from a hash of its name; the login hashes
Apache accepts), ``validate`` (every site resolved and checked, with file:line problems) and
``compile`` (sites as resources of kind ``site``), ``mailconfig`` (the derived
``autoconfig.<domain>`` and ``mta-sts.<domain>`` sites of domains with mail, their content as
``generated`` files). The DNS service's derived A/AAAA records
follow the sites (``DomainWeb.served_hosts``).

Reconciling: ``render`` (a site's Apache file, pool and htpasswd file), ``files`` and ``live``
(reading them back), ``apply``/``apply_config``/``probe`` (stage, test, swap, one reload,
probe, roll back per site), ``provider`` (kind ``site``); certificates: ``acme``, ``certs``;
``quota`` (btrfs qgroup limits where quotas are on) and ``commands`` (``ispctl report web``: disk use).
In a cluster with web hosts (README "Cluster: placement and moves"): ``placement`` (which run
keeps which sites), ``hosts`` (kind ``webhost``: each site's host in the directory, its schema
in ``schema/``) and ``move`` (a site's files copied with rsync, journaled, before the switch).
``sandbox/`` runs a real Apache and php-fpm for the tests and ``ispctl sandbox``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ispctl.providers.web.compile import KIND, compile_web
from ispctl.providers.web.editable import SITE
from ispctl.providers.web.facts import web_facts
from ispctl.providers.web.placement import SCHEMA_PART, cluster_run
from ispctl.providers.web.provider import WebProvider, certify_with_acme
from ispctl.providers.web.settings import DOMAIN_WEB, OVERRIDES, TENANT_WEB, WEB, DomainWeb, WebSettings, argv
from ispctl.reconciler.contract import Commands, Service, SiteFile, UsagePart

if TYPE_CHECKING:  # the write path's modules (imported by ``build``), the sandbox's: not with the registry (issue 11)
    from ispctl.providers.web.apply_config import Control
    from ispctl.providers.web.render import Layout
    from ispctl.reconciler.contract import Component


def layout(web: WebSettings) -> Layout:
    from ispctl.providers.web.render import Layout

    return Layout(
        sites_dir=web.sites_dir, pools_dir=web.pools_dir, web_root=web.web_root, archive_dir=web.archive,
        certs_dir=web.certs_dir, challenge_dir=web.challenge_dir, run_dir=web.socket_dir,
        http_port=web.http_port, https_port=web.https_port, listen_owner=web.listen_owner,
        listen_group=web.listen_group, renew_days=web.acme_renew_days,
    )


def control(web: WebSettings) -> Control:
    from ispctl.providers.web.apply_config import Control

    return Control(
        apache_test=tuple(argv(web.apache_test)), apache_reload=tuple(argv(web.apache_reload)),
        php_test=tuple(argv(web.php_test)), php_reload=tuple(argv(web.php_reload)),
        probe=web.probe, probe_address=web.probe_address, probe_timeout=float(web.probe_timeout),
    )


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> WebProvider:
    """The provider from the site settings with this machine's overrides applied; ``https: auto``
    sites get certificates from the ACME server the settings name."""
    from ispctl.providers.web.certs import acme_settings  # the ACME client, only for a provider

    web = site.section(WEB)
    where = layout(web)
    hosts, host_run = cluster_run(site, web, env)
    return WebProvider(where, control(web), certify_with_acme(where, acme_settings(web, env), web.acme_challenge),
                       hosts, host_run)


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.web.commands import register

    register(commands)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.web.sandbox.component import WebComponent

    return WebComponent()


SERVICE = Service(
    name="web",
    summary="web sites: Apache virtual hosts, PHP-FPM pools per site, certificates from ACME",
    provider=WebProvider,
    build=build,
    sections=(WEB, DOMAIN_WEB, TENANT_WEB),
    overrides=OVERRIDES,
    compile=compile_web,
    facts=web_facts,
    sandbox=_sandbox,
    commands=_commands,
    usage=UsagePart(counts=(KIND,)),
    editables=(SITE,),
    directory=(SCHEMA_PART,),
)

__all__ = ["DOMAIN_WEB", "KIND", "SERVICE", "TENANT_WEB", "WEB", "DomainWeb", "WebProvider", "WebSettings", "build"]
