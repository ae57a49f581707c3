"""Where the directory places the sites' FTP logins, counted per cluster host (``ispctl status``).

A site's owner login names its ftp host in ``host`` (``sites.LOGIN_PART``); a mailbox's FTP login
is served where its mail is and is counted by the Dovecot service with the mailboxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ispctl.providers.ldap.connection import LdapSettings, connect, paged_entries
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import SiteFile

SITE_LOGINS = "(&(objectClass=ispctlFtpUser)(objectClass=account)(host=*))"


def placed_counts(site: SiteFile, env: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Site FTP logins per host, in one paged search below the base."""
    directory = site.section(DIRECTORY)
    conn = connect(LdapSettings.from_env(env))
    counts: Counter[str] = Counter()
    try:
        for entry in paged_entries(conn, directory.base_dn, SITE_LOGINS, ["host"], directory.page_size,
                                   "the FTP logins' hosts"):
            counts.update(str(host) for host in entry.get("host") or [])
    finally:
        conn.unbind()
    return {host: {"site ftp logins": count} for host, count in counts.items()}
