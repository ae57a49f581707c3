"""DNS provider: zones and record sets on an authoritative primary (RFC 2136 + AXFR, tested with BIND 9).

Modules: ``connection`` (settings from ``ISPCTL_DNS_*``/``ISPCTL_RNDC_*``), ``axfr`` (reading,
and ``axfr_source`` for ``ispctl import``), ``catalog`` (the RFC 9432 catalog of ispctl's
zones), ``mapping`` (zones <-> resources, fingerprints), ``updates`` (RFC 2136 messages),
``rndc`` (zone creation and deletion), ``provider``, ``named`` (a real named for tests and the
sandbox) and ``sandbox_component``.

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

from reconciler.model import SiteFile

from .axfr import axfr_source
from .connection import DnsConnection
from .mapping import ignore_rules
from .provider import DnsProvider


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> DnsProvider:
    """Entry point used by the engine's provider registry."""
    return DnsProvider(DnsConnection.from_env(env), ignore_rules(site))


__all__ = ["DnsConnection", "DnsProvider", "axfr_source", "build"]
