"""Web hosting: Apache 2.4 virtual hosts and PHP-FPM pools per site, certificates from ACME.

The service's part of the desired-state language: ``settings`` (the ``web:`` sections of
``ispctl.yaml``, domain files and tenant files, and the ``ISPCTL_WEB_*`` overrides),
``users`` (the tenant's system user: uid/gid from a hash of its name; the login hashes
Apache accepts), ``validate`` (every site resolved and checked, with file:line problems) and
``compile`` (sites as resources of kind ``site``). The DNS service's derived A/AAAA records
follow the sites (``DomainWeb.served_hosts``).

``sandbox/`` runs a real Apache and php-fpm for the tests and ``ispctl sandbox``.
"""

from __future__ import annotations

from ispctl.providers.web.compile import KIND, compile_web
from ispctl.providers.web.settings import DOMAIN_WEB, OVERRIDES, TENANT_WEB, WEB, DomainWeb, WebSettings
from ispctl.reconciler.contract import Service

SERVICE = Service(
    name="web",
    summary="web sites: Apache virtual hosts, PHP-FPM pools per site, certificates from ACME",
    sections=(WEB, DOMAIN_WEB, TENANT_WEB),
    overrides=OVERRIDES,
    compile=compile_web,
)

__all__ = ["DOMAIN_WEB", "KIND", "SERVICE", "TENANT_WEB", "WEB", "DomainWeb", "WebSettings"]
