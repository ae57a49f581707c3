"""FTP quota report: usage in each FTP home against the quota pure-ftpd enforces.

The logins and their quotas come from the live directory (the FTP attributes of mailboxes and
the sites' ``ftp_login`` entries, as the directory provider reads them); usage from the homes
on this machine, walked once each: regular files below the home (symlinks never followed),
bytes and count, as pure-ftpd counts them. Its own ``.ftpquota`` file is a cache of the same
two numbers that may be stale, so it is not consulted (nor counted). A home pure-ftpd has not
made yet (no login so far) is empty.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ispctl.providers.ftp.settings import MIB
from ispctl.providers.ftp.sites import KIND
from ispctl.reconciler.contract import MAILBOX, Resource, address_of

QUOTA_CACHE = ".ftpquota"  # pure-ftpd's own file in each home


def home_usage(home: str) -> tuple[int, int]:
    """(bytes, files) below ``home``."""
    total = count = 0
    for current, _dirs, files in os.walk(home):
        for name in files:
            if name == QUOTA_CACHE and current == home:
                continue
            try:
                st = os.lstat(os.path.join(current, name))
            except FileNotFoundError:
                continue  # deleted while we walked
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                count += 1
    return total, count


@dataclass(frozen=True)
class FtpUsage:
    login: str
    home: str
    quota: int | None        # bytes (FTPQuotaMBytes x 1 MiB); None = no quota
    quota_files: int | None
    used: int
    files: int
    kind: str = KIND  # whose entry holds the login: a site's ftp_login or a mailbox

    @property
    def percent(self) -> float | None:
        """The larger share of the two quotas used (what refuses the next upload first)."""
        shares = [100 * used / limit for used, limit in ((self.used, self.quota), (self.files, self.quota_files))
                  if limit]
        return round(max(shares), 1) if shares else None

    def state(self, threshold: float) -> str:
        pct = self.percent
        if pct is None:
            return "unlimited"
        if pct >= 100:
            return "over"
        return "near" if pct >= threshold else "ok"

    def to_dict(self, threshold: float) -> dict[str, Any]:
        return {"login": self.login, "home": self.home, "quota": self.quota, "quota_files": self.quota_files,
                "used": self.used, "files": self.files, "percent": self.percent, "state": self.state(threshold)}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def ftp_usage(live: Mapping[tuple[str, str], Resource]) -> list[FtpUsage]:
    """Every FTP login in the live directory (mailboxes with an FTP home, sites' logins)."""
    rows = []
    for (kind, key), resource in sorted(live.items()):
        home = resource.attrs.get("ftp_home")
        if kind not in (MAILBOX, KIND) or not isinstance(home, str):
            continue
        quota_mb = _int(resource.attrs.get("ftp_quota_mb"))
        used, files = home_usage(home)
        rows.append(FtpUsage(key, home, quota_mb * MIB if quota_mb else None,
                             _int(resource.attrs.get("ftp_quota_files")), used, files, kind))
    return rows


def quota_rows(live: Mapping[tuple[str, str], Resource], threshold: float) -> list[dict[str, Any]]:
    """FTP's part of ``ispctl report quota`` (``contract.QuotaReport``): a row per FTP login."""
    return [{"name": r.login, **r.to_dict(threshold)} for r in ftp_usage(live)]


def ftp_used(live: Mapping[tuple[str, str], Resource]) -> dict[str, dict[str, int]]:
    """FTP's part of ``ispctl report usage`` and ``ispctl show`` (``contract.UsageReport``): bytes in
    each login's home, by the address of the object holding the login."""
    return {"ftp_used": {address_of(r.kind, r.login): r.used for r in ftp_usage(live)}}
