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

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import output
from reconciler.engine import open_session
from reconciler.errors import IspctlError
from reconciler.units import format_size

from .store import MAILDIR

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


def quota_usage(root: Path) -> list[Usage]:
    """Every mailbox in the live directory with its usage in the live store, by address."""
    with open_session(root) as session:
        owners = {kind: [p for p in session.providers if kind in p.SUPPORTS] for kind in ("mailbox", "maildir")}
        if not owners["maildir"]:
            raise IspctlError("the quota report reads the mail store on this machine: enable the mailstore "
                              "provider (providers: [ldap, mailstore] in ispctl.yaml, or ISPCTL_PROVIDERS=ldap,mailstore)")
        if not owners["mailbox"]:
            raise IspctlError("the quota report reads quotas from the directory: enable the ldap provider too")
        live = session.read_live()
    homes = {key: r.attrs.get("path") for (kind, key), r in live.items() if kind == "maildir"}
    rows = []
    for (kind, key), box in sorted(live.items()):
        if kind != "mailbox":
            continue
        quota = box.attrs.get("quota")
        home = homes.get(key)
        used, messages = maildir_usage(home) if isinstance(home, str) else (0, 0)
        rows.append(Usage(key, quota if isinstance(quota, int) and quota > 0 else None, used, messages,
                          isinstance(home, str)))
    return rows


def report_quota_cmd(root: Path, json_out: bool, threshold: float, show_all: bool) -> int:
    if not 0 < threshold <= 1000:
        raise IspctlError("--threshold must be a percentage above 0")
    rows = quota_usage(root)
    listed = [r for r in rows if show_all or r.state(threshold) in ("near", "over")]
    if json_out:
        output.write_raw(json.dumps({
            "threshold": threshold,
            "checked": len(rows),
            "over": sum(1 for r in rows if r.state(threshold) == "over"),
            "near": sum(1 for r in rows if r.state(threshold) == "near"),
            "mailboxes": [r.to_dict(threshold) for r in listed],
        }, indent=2, sort_keys=True))
        return 0
    if not listed:
        output.out().print(f"No mailbox is over its quota or at or over {threshold:g}% of it ({len(rows)} checked).",
                           markup=False)
        return 0
    width = max(len(r.address) for r in listed)
    heading = "All mailboxes" if show_all else f"Mailboxes over their quota or at or over {threshold:g}% of it"
    output.out().print(f"{heading} ({len(rows)} checked):", markup=False)
    output.out().print(f"  {'ADDRESS'.ljust(width)}  {'USED':>10}  {'QUOTA':>10}  {'%':>6}  STATE", markup=False)
    for r in listed:
        quota = format_size(r.quota) if r.quota else "none"
        pct = f"{r.percent:.1f}" if r.percent is not None else "-"
        note = "" if r.has_maildir else " (no maildir)"
        style = "red" if r.state(threshold) == "over" else ("yellow" if r.state(threshold) == "near" else "")
        output.out().print(f"  {r.address.ljust(width)}  {format_size(r.used):>10}  {quota:>10}  {pct:>6}  "
                           f"{r.state(threshold)}{note}", style=style or None, markup=False)
    return 0
