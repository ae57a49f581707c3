"""Sites' disk use against their declared ``quota``, and whether the filesystem could enforce it.

ispctl does NOT enforce a site's quota. Enforcing one per site needs project quotas (one
project per site directory: ext4 or XFS mounted with ``prjquota``, limits set with
``setquota -P`` or ``xfs_quota``); user quotas would count a whole tenant (every site runs as
the tenant's uid). Setting project quotas is not implemented: it could not be run here (this
kernel has no quota support) and ispctl writes nothing it has not run. What it does instead:

* ``filesystem_of`` finds, from ``/proc/mounts`` (no quotactl), the filesystem holding the web
  root and the quota options it is mounted with; ``not_enforced`` is the warning plan and apply
  give once per site with a quota, naming the site, the filesystem and why;
* ``site_usage`` measures each site with one walk of its directory (and of its docroot when that
  lies outside it), for ``ispctl report web``: blocks on disk, as a quota would count them, each
  hard-linked file once, symlinks never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from ispctl.reconciler.contract import Resource, format_size

MOUNTS = "/proc/mounts"
# Mount options that turn quota accounting on (ext4, XFS and tmpfs spellings).
_PROJECT = ("prjquota", "pquota", "pqnoenforce", "prjjquota")
_USER = ("usrquota", "uquota", "quota", "usrjquota", "grpquota", "gquota", "grpjquota", "uqnoenforce")


@dataclass(frozen=True)
class Filesystem:
    mount_point: str
    device: str
    fstype: str
    options: tuple[str, ...]

    def _has(self, names: tuple[str, ...]) -> bool:
        return any(option.split("=", 1)[0] in names for option in self.options)

    @property
    def project_quotas(self) -> bool:
        return self._has(_PROJECT)

    @property
    def user_quotas(self) -> bool:
        return self._has(_USER)

    def describe(self) -> str:
        return f"{self.fstype} {self.device} mounted at {self.mount_point}"


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash in octal (\040 ...).
    out, index = [], 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1:index + 4].isdigit():
            out.append(chr(int(field[index + 1:index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def filesystem_of(path: str, mounts: str = MOUNTS) -> Filesystem | None:
    """The filesystem holding ``path`` (or its nearest existing parent); None if unreadable."""
    # Symlinks resolved in the part that exists; the rest (a web root not made yet) taken as written.
    existing, rest = os.path.abspath(path), ""
    while not os.path.exists(existing) and existing != "/":
        existing, tail = os.path.split(existing)
        rest = f"{tail}/{rest}" if rest else tail
    real = os.path.join(os.path.realpath(existing), rest) if rest else os.path.realpath(existing)
    try:
        with open(mounts, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    found: Filesystem | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        point = _unescape(fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        # The longest mount point holding the path; of equal ones the later (it is on top).
        if inside and (found is None or len(point) >= len(found.mount_point)):
            found = Filesystem(point, _unescape(fields[0]), fields[2], tuple(fields[3].split(",")))
    return found


def not_enforced(address: str, quota: int, web_root: str, fs: Filesystem | None) -> str:
    """What plan and apply say about a site's quota (it is never enforced; see the module docstring)."""
    size = format_size(quota)
    if fs is None:
        where = f"the filesystem holding {web_root} (unknown: {MOUNTS} is unreadable)"
        return f"{address}: quota {size} is not enforced: {where}; 'ispctl report web' shows the usage"
    if fs.project_quotas:
        why = "has project quotas on, but ispctl does not set them (set them with setquota -P or xfs_quota)"
    else:
        why = "has no project quotas (mount option prjquota), which per-site limits need"
    return (f"{address}: quota {size} is not enforced: {fs.describe()} (holding {web_root}) {why}; "
            "'ispctl report web' shows the usage")


# -- usage ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteUsage:
    host: str
    quota: int | None
    used: int  # bytes on disk (blocks)
    files: int
    present: bool  # the site's directory exists

    @property
    def percent(self) -> float | None:
        return 100.0 * self.used / self.quota if self.quota else None

    def state(self, threshold: float) -> str:
        percent = self.percent
        if percent is None:
            return "no quota"
        return "over" if percent > 100 else ("near" if percent >= threshold else "ok")

    def to_dict(self, threshold: float) -> dict[str, object]:
        return {"site": self.host, "quota": self.quota, "used": self.used, "files": self.files,
                "percent": None if self.percent is None else round(self.percent, 1),
                "state": self.state(threshold), "present": self.present}


def _walk(top: str, seen: set[tuple[int, int]]) -> tuple[int, int]:
    """Bytes on disk and files below ``top`` (never through a symlink; a hard link counted once)."""
    used = files = 0
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            used += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            else:
                files += 1
    return used, files


def site_usage(sites: Iterable[Resource]) -> list[SiteUsage]:
    """Each site's use of disk: its directory ``<home>/<host>`` and its docroot if outside it."""
    rows = []
    for site in sorted(sites, key=lambda s: s.key):
        home, docroot, quota = site.attrs.get("home"), site.attrs.get("docroot"), site.attrs.get("quota")
        top = f"{str(home).rstrip('/')}/{site.key}" if isinstance(home, str) else None
        tops = [p for p in (top, docroot) if isinstance(p, str) and os.path.isdir(p) and not os.path.islink(p)]
        if top in tops and isinstance(docroot, str) and (docroot + "/").startswith(top + "/"):
            tops.remove(docroot)
        seen: set[tuple[int, int]] = set()
        used = files = 0
        for path in tops:
            more, count = _walk(path, seen)
            used, files = used + more, files + count
        rows.append(SiteUsage(site.key, quota if isinstance(quota, int) and not isinstance(quota, bool) else None,
                              used, files, bool(tops)))
    return rows
