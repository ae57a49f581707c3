"""OpenLDAP directory provider (tenants, domains, mailboxes, aliases)."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model import SiteFile

from .connection import LdapSettings
from .provider import LdapProvider


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> LdapProvider:
    """Entry point used by the engine's provider registry."""
    return LdapProvider(LdapSettings.from_env(env), site.directory.base_dn, site.directory.page_size)


__all__ = ["LdapProvider", "LdapSettings", "build"]
