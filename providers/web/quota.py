"""Sites' disk quotas: enforced as btrfs qgroup limits where the web root allows it, measured always.

Enforcing a per-site limit needs the filesystem to count a site's directory on its own (every
site runs as its tenant's uid, so user quotas would count a whole tenant):

* btrfs with quotas on (``btrfs quota enable``): each new site directory ``<home>/<host>`` is
  made a subvolume, whose qgroup limits what it refers to (``btrfs qgroup limit``: writes past
  it fail with EDQUOT). ``BtrfsQuotas.read`` gets every limit on the web root's filesystem in
  one ``btrfs qgroup show`` per read, so a limit changed by hand reads as drift that the next
  apply sets back. A site directory made
  before (a plain directory) cannot be limited: ispctl says so and leaves it alone (turning it
  into a subvolume means copying the customer's files while they may be written; not done);
* ext4 or XFS project quotas (``prjquota``) would do it too, but ispctl does not set them: it
  could not be run here (this kernel has no quota support) and ispctl writes nothing it has not
  run. ``filesystem_of`` finds, from ``/proc/mounts``, the filesystem holding the web root and
  its quota options; ``not_enforced`` is the warning plan and apply give once per site;
* ``site_usage`` measures each site with one walk of its directory (and of its docroot when that
  lies outside it), for ``ispctl report web``: blocks on disk, as a quota would count them, each
  hard-linked file once, symlinks never followed.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    """What plan and apply say about a site's quota where nothing enforces it (see the module docstring)."""
    size = format_size(quota)
    if fs is None:
        where = f"the filesystem holding {web_root} (unknown: {MOUNTS} is unreadable)"
        return f"{address}: quota {size} is not enforced: {where}; 'ispctl report web' shows the usage"
    if fs.fstype == "btrfs":
        why = ("has quotas off (after 'btrfs quota enable' there, ispctl makes each new site directory a "
               "subvolume and limits it)")
    elif fs.project_quotas:
        why = "has project quotas on, but ispctl does not set them (set them with setquota -P or xfs_quota)"
    else:
        why = "has no project quotas (mount option prjquota), which per-site limits need"
    return (f"{address}: quota {size} is not enforced: {fs.describe()} (holding {web_root}) {why}; "
            "'ispctl report web' shows the usage")


# -- btrfs: subvolumes and qgroup limits -----------------------------------------------------------

BTRFS = ("btrfs",)
TIMEOUT = 60.0
# The inode number of every btrfs subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
_SUBVOLUME_INODE = 256


class QuotaError(Exception):
    """A btrfs command failed; the message names it and what it said."""


def _btrfs(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([*BTRFS, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess([*BTRFS, *args], 127, "", str(exc))


def _check(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise QuotaError(f"{' '.join(str(a) for a in done.args)}: {said}")
    return done.stdout


def is_subvolume(path: str) -> bool:
    """Whether ``path`` (never through a symlink) is the root of a btrfs subvolume."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_ino == _SUBVOLUME_INODE


def create_subvolume(path: str) -> None:
    _check(_btrfs("subvolume", "create", path))


def set_limit(path: str, quota: int | None, qgroup: str | None = None) -> None:
    """The referenced-bytes limit of the subvolume at ``path`` (None: no limit); ``qgroup`` its
    ``0/<id>`` when known. The limit is set through the parent directory: the kernel charges the
    change's own transaction to the subvolume it is asked through, and one over its limit (the
    very case for raising it) would refuse with EDQUOT."""
    if qgroup is None:
        qgroup = "0/" + _check(_btrfs("inspect-internal", "rootid", path)).strip()
    _check(_btrfs("qgroup", "limit", str(quota) if quota else "none", qgroup, os.path.dirname(path)))


def quota_of(site: Resource) -> int | None:
    """A site's quota in bytes; None when it has none (0 included, as the settings mean it)."""
    quota = site.attrs.get("quota")
    return quota if isinstance(quota, int) and not isinstance(quota, bool) and quota > 0 else None


def dir_of(site: Resource) -> str | None:
    """``<home>/<host>`` (``render.site_dir``), None when the site has no home."""
    home = site.attrs.get("home")
    return f"{home.rstrip('/')}/{site.key}" if isinstance(home, str) else None


@dataclass
class BtrfsQuotas:
    """btrfs quotas below one web root: whether they are on, and (``read``) every subvolume's limit."""

    web_root: str
    fs: Filesystem | None = None
    enabled: bool = False
    limits: dict[str, int | None] = field(default_factory=dict)  # subvolume path -> referenced limit
    qgroups: dict[str, str] = field(default_factory=dict)  # subvolume path -> its qgroup (0/<id>)

    @classmethod
    def probe(cls, web_root: str, mounts: str = MOUNTS) -> BtrfsQuotas:
        """Where ``web_root`` is, whether btrfs quotas are on there and the limits (one ``qgroup show``)."""
        found = cls(web_root, filesystem_of(web_root, mounts))
        found.read()
        return found

    def read(self) -> None:
        """Every subvolume's limit on the filesystem: one ``qgroup show``, whose Path column (btrfs-progs
        6.1 on, Debian 12 has 6.2) names them from the top level. Without it no limit is known: the
        recorded quotas stand (no drift is seen) and an apply sets the limits of the sites it changes."""
        self.limits, self.qgroups = {}, {}
        fs = self.fs
        root = self.web_root
        while not os.path.isdir(root) and root not in ("", "/"):
            root = os.path.dirname(root)  # a web root not made yet: ask about its nearest parent
        if fs is None or fs.fstype != "btrfs":
            self.enabled = False
            return
        shown = _btrfs("qgroup", "show", "-re", "--raw", root)
        self.enabled = shown.returncode == 0  # "quotas not enabled" otherwise
        if not self.enabled:
            return
        lines = shown.stdout.splitlines()
        named = bool(lines) and lines[0].split()[-1:] == ["Path"]
        by_id: dict[str, int | None] = {}
        paths: dict[str, str] = {}
        for line in lines:
            fields = line.split(None, 5)
            if len(fields) >= 5 and fields[0].startswith("0/") and fields[0][2:].isdigit():
                by_id[fields[0][2:]] = int(fields[3]) if fields[3].isdigit() else None
                if named and len(fields) == 6:
                    paths[fields[0][2:]] = fields[5]
        mounted = next((o.split("=", 1)[1] for o in fs.options if o.startswith("subvol=")), "/").strip("/")
        for ident, path in paths.items():
            if mounted:  # paths are the filesystem's, from its top level; this mount shows one subvolume
                if not path.startswith(mounted + "/"):
                    continue
                path = path[len(mounted) + 1:]
            where = f"{fs.mount_point.rstrip('/')}/{path}"
            self.limits[where], self.qgroups[where] = by_id.get(ident), f"0/{ident}"

    def enforced(self, where: str) -> tuple[int | None] | None:
        """(the limit btrfs enforces on a site's directory,) when it is a subvolume with quotas on."""
        if not self.enabled or not is_subvolume(where):
            return None
        real = os.path.realpath(where)
        for path in (real, where):
            if path in self.limits:
                return (self.limits[path],)
        return None  # a subvolume the listing did not name: the recorded quota stands

    def limit(self, site: Resource, where: str) -> None:
        """The site's quota as the limit of its subvolume ``where``, when btrfs enforces quotas and it
        is one (a plain directory is left alone: ``note`` says why); only when it differs."""
        if not self.enabled or not is_subvolume(where):
            return
        wanted, real = quota_of(site), os.path.realpath(where)
        if wanted != self.limits.get(real):
            set_limit(where, wanted, self.qgroups.get(real))
            self.limits[real] = wanted

    def note(self, site: Resource) -> str | None:
        """What plan and apply say about a site's quota; None when btrfs enforces it (or will: a new
        site's directory is made a subvolume)."""
        quota = quota_of(site)
        where = dir_of(site)
        if quota is None:
            return None
        if self.enabled and where is not None:
            if is_subvolume(where) or not os.path.lexists(where):
                return None
            return (f"{site.address}: quota {format_size(quota)} cannot be enforced: {where} is a plain directory, "
                    f"not a btrfs subvolume (only sites made since quotas were on at {self.web_root} are); "
                    "ispctl leaves it as it is; 'ispctl report web' shows the usage")
        return not_enforced(site.address, quota, self.web_root, self.fs)


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
