"""The mail archive: what removed mailboxes left behind, and the one command that deletes it.

``ispctl archive list`` reads the manifests; ``ispctl archive purge`` is the only code path in
ispctl that ever deletes mail. It removes only archives whose manifest ispctl wrote, only
when they are older than the retention (``mail.archive_retention_days``, default 90; a
shorter ``--older-than`` is refused), and only after the operator typed ``yes`` (or passed
``--yes``). Anything else in the archive directory is listed as unknown and never touched.

The archive's location comes from the site settings alone (``ispctl.yaml`` plus the
environment's overrides), so the commands (``commands``) work even while a tenant file is
broken.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ispctl.providers.mailstore import store
from ispctl.providers.mailstore.disk import is_real_dir
from ispctl.reconciler.contract import IspctlError, format_size

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class ArchiveEntry:
    """One directory in the archive; ``address`` is None when it has no readable manifest."""

    name: str
    path: str
    address: str | None = None
    archived_at: datetime | None = None
    original_path: str | None = None
    file_count: int = 0
    total_bytes: int = 0

    @property
    def known(self) -> bool:
        return self.address is not None and self.archived_at is not None

    def age_days(self, now: datetime) -> float | None:
        if self.archived_at is None:
            return None
        return (now - self.archived_at).total_seconds() / 86400

    def to_dict(self, now: datetime, retention_days: int) -> dict[str, Any]:
        age = self.age_days(now)
        return {
            "name": self.name,
            "path": self.path,
            "address": self.address,
            "archived_at": self.archived_at.strftime(STAMP_FORMAT) if self.archived_at else None,
            "original_path": self.original_path,
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
            "age_days": None if age is None else round(age, 2),
            "purgeable": self.known and age is not None and age >= retention_days,
        }


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def read_entry(archive: str, name: str) -> ArchiveEntry:
    path = os.path.join(archive, name)
    data = store.read_json(os.path.join(path, store.MANIFEST)) if is_real_dir(path) else None
    if data is None or not isinstance(data.get("address"), str) or _parse_time(data.get("archived_at")) is None:
        return ArchiveEntry(name, path)
    return ArchiveEntry(
        name, path, data["address"], _parse_time(data["archived_at"]),
        data.get("original_path") if isinstance(data.get("original_path"), str) else None,
        int(data.get("file_count") or 0), int(data.get("total_bytes") or 0),
    )


def list_archives(archive: str) -> list[ArchiveEntry]:
    """Every entry of the archive directory, oldest first (unknown ones last)."""
    try:
        names = sorted(os.listdir(archive))
    except FileNotFoundError:
        return []
    entries = [read_entry(archive, name) for name in names]
    oldest = datetime.max.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: (not e.known, e.archived_at or oldest, e.name))


def purgeable(entries: list[ArchiveEntry], older_than_days: int, retention_days: int,
              now: datetime) -> list[ArchiveEntry]:
    """The known entries at least ``older_than_days`` old; refuses a limit below the retention."""
    if older_than_days < retention_days:
        raise IspctlError(
            f"refusing to purge archives younger than the retention of {retention_days} days "
            "(mail.archive_retention_days); --older-than must be at least that"
        )
    return [e for e in entries if e.known and (e.age_days(now) or 0) >= older_than_days]


def remove(archive: str, entry: ArchiveEntry) -> None:
    """Delete one archived mailbox: the only place ispctl deletes mail."""
    path = os.path.join(archive, entry.name)
    if entry.path != path or os.path.dirname(path) != archive.rstrip("/") or not is_real_dir(path):
        raise IspctlError(f"refusing to purge {entry.path}: not a directory directly in the archive {archive}")
    # shutil.rmtree refuses a symlink at the top and never follows one below it.
    shutil.rmtree(path)


def describe(entry: ArchiveEntry, now: datetime, retention: int) -> str:
    if not entry.known:
        return f"  {entry.name}: no readable ispctl manifest; not ispctl's, never purged"
    assert entry.archived_at is not None
    age = entry.age_days(now) or 0.0
    until = (entry.archived_at + timedelta(days=retention)).strftime("%Y-%m-%d")
    keep = "may be purged" if age >= retention else f"kept until {until}"
    return (f"  {entry.archived_at.strftime(STAMP_FORMAT)}  {entry.address}  {entry.file_count} files, "
            f"{format_size(entry.total_bytes)}, {age:.0f} days old, {keep}  ({entry.name})")
