"""Quota report: usage on disk against the quota in the directory (ISPMan's listOverQuotaMailboxes).

Quotas come from the live directory (the mailbox entries, read by the directory provider in
its one paged search) and usage from the live store: the maildirs the mail-store provider
finds, each walked once. Usage is the total size of message files, i.e. regular files in
``cur/`` and ``new/`` of the inbox and of every Maildir++ folder (``.Sent/cur``, ...); ``tmp/``
(deliveries in progress) and Dovecot's index, cache and ``maildirsize`` files are not mail.
``maildirsize`` is deliberately not consulted: it exists only with Dovecot's ``maildir``
quota backend and is a cache that can be stale, while the files are the truth.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ispctl.providers.mailstore.provider import KIND
from ispctl.providers.mailstore.store import MAILDIR
from ispctl.reconciler.contract import MAILBOX, Resource, address_of

MESSAGE_DIRS = frozenset({"cur", "new"})


def maildir_usage(home: str) -> tuple[int, int]:
    """(bytes, messages) of the mail below ``home``; symlinks are never followed."""
    total = count = 0
    for current, _dirs, files in os.walk(os.path.join(home, MAILDIR)):
        if os.path.basename(current) not in MESSAGE_DIRS:
            continue
        for name in files:
            try:
                st = os.lstat(os.path.join(current, name))
            except FileNotFoundError:
                continue  # expunged or moved while we walked
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                count += 1
    return total, count


@dataclass(frozen=True)
class Usage:
    address: str
    quota: int | None  # bytes; None = no quota
    used: int
    messages: int
    has_maildir: bool

    @property
    def percent(self) -> float | None:
        return round(100 * self.used / self.quota, 1) if self.quota else None

    def state(self, threshold: float) -> str:
        pct = self.percent
        if pct is None:
            return "unlimited"
        if self.quota is not None and self.used >= self.quota:
            return "over"
        return "near" if pct >= threshold else "ok"

    def to_dict(self, threshold: float) -> dict[str, Any]:
        return {"address": self.address, "quota": self.quota, "used": self.used, "messages": self.messages,
                "percent": self.percent, "state": self.state(threshold), "maildir": self.has_maildir}


def quota_usage(live: Mapping[tuple[str, str], Resource]) -> list[Usage]:
    """Every mailbox in the live directory with its usage in the live store, by address."""
    homes = {key: r.attrs.get("path") for (kind, key), r in live.items() if kind == KIND}
    rows = []
    for (kind, key), box in sorted(live.items()):
        if kind != MAILBOX:
            continue
        quota = box.attrs.get("quota")
        home = homes.get(key)
        used, messages = maildir_usage(home) if isinstance(home, str) else (0, 0)
        rows.append(Usage(key, quota if isinstance(quota, int) and quota > 0 else None, used, messages,
                          isinstance(home, str)))
    return rows


def mail_used(live: Mapping[tuple[str, str], Resource]) -> dict[str, dict[str, int]]:
    """The mail store's part of ``ispctl report usage`` and ``ispctl show`` (``contract.UsageReport``):
    bytes of mail in each maildir read, by its mailbox's address."""
    used = {}
    for (kind, key), home in live.items():
        path = home.attrs.get("path")
        if kind == KIND and isinstance(path, str):
            used[address_of(MAILBOX, key)] = maildir_usage(path)[0]
    return {"mail_used": used}
