"""Where the directory places the sites' FTP logins, counted per cluster host (``ispctl status``).

A site's owner login names its ftp host in ``host`` (``sites.LOGIN_PART``); a mailbox's FTP login
is served where its mail is and is counted by the Dovecot service with the mailboxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ldap3.core.exceptions import LDAPException

from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import ProviderError, SiteFile

SITE_LOGINS = "(&(objectClass=ispctlFtpUser)(objectClass=account)(host=*))"


def placed_counts(site: SiteFile, env: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Site FTP logins per host, in one paged search below the base."""
    directory = site.section(DIRECTORY)
    conn = connect(LdapSettings.from_env(env))
    counts: Counter[str] = Counter()
    try:
        for item in conn.extend.standard.paged_search(directory.base_dn, SITE_LOGINS, attributes=["host"],
                                                      paged_size=directory.page_size, generator=True):
            if item.get("type") == "searchResEntry":
                counts.update(str(host) for host in item["attributes"].get("host") or [])
    except LDAPException as exc:
        raise ProviderError(f"cannot read the FTP logins' hosts below {directory.base_dn}: {exc}") from None
    finally:
        conn.unbind()
    return {host: {"site ftp logins": count} for host, count in counts.items()}
