"""Site quotas: which filesystem holds the web root and whether it has quotas on (from a mounts
file, as /proc/mounts writes it), the warning that a quota is not enforced, disk use measured
on real files, and enforcement on a real btrfs (a loop-mounted image, quotas on) with the real
kernel's EDQUOT and the real Apache serving the site from its subvolume."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.quota import BtrfsQuotas, filesystem_of, is_subvolume, not_enforced, site_usage
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.contract import Resource
from ispctl.reconciler.engine.apply import ApplyResult, apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import Plan
from tests.btrfs_helpers import MiB, btrfs_mount, unmount
from tests.web_helpers import WebHost, layout, site

MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=1608504k,mode=755 0 0
/dev/vdb1 /srv ext4 rw,relatime,usrquota 0 0
/dev/vdc1 /srv/web\\040sites xfs rw,relatime,prjquota 0 0
"""


def test_the_filesystem_holding_a_path_and_its_quota_options(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    # Paths that do not exist here are looked up by their text (the nearest existing parent is /).
    www = filesystem_of("/srv/web sites/www", str(mounts))
    assert www is not None and (www.device, www.mount_point, www.project_quotas) == ("/dev/vdc1", "/srv/web sites",
                                                                                     True)
    srv = filesystem_of("/srv/www", str(mounts))
    assert srv is not None and srv.device == "/dev/vdb1" and srv.user_quotas and not srv.project_quotas
    root = filesystem_of("/var/www", str(mounts))
    assert root is not None and root.device == "/dev/vda1" and not root.user_quotas and not root.project_quotas
    assert filesystem_of("/srv/www", str(tmp_path / "missing")) is None
    # This machine's own mounts: whatever holds the temp dir is found.
    here = filesystem_of(str(tmp_path))
    assert here is not None and str(tmp_path).startswith(here.mount_point)


def test_a_quota_is_never_said_to_be_enforced(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    plain = not_enforced("site.www.example.net", 1024**3, "/var/www", filesystem_of("/var/www", str(mounts)))
    assert plain == ("site.www.example.net: quota 1 GiB is not enforced: ext4 /dev/vda1 mounted at / (holding "
                     "/var/www) has no project quotas (mount option prjquota), which per-site limits need; "
                     "'ispctl report web' shows the usage")
    project = not_enforced("site.a.example", 5 * 1024**2, "/srv/web sites", filesystem_of("/srv/web sites",
                                                                                          str(mounts)))
    assert "is not enforced: xfs /dev/vdc1" in project and "ispctl does not set them" in project
    assert "unreadable" in not_enforced("site.a.example", 1, "/srv/www", None)


def test_usage_is_one_walk_of_the_site_counting_blocks_once_and_never_through_a_symlink(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    s = site(lay, "www.example.net", quota=64 * 1024)
    outside = site(lay, "shop.example.net", docroot=f"{lay.web_root}/acme/shop/current/public", quota=1024**2)
    gone = site(lay, "gone.example.net", quota=1024)
    docroot = Path(str(s.attrs["docroot"]))
    docroot.mkdir(parents=True)
    (docroot / "big.bin").write_bytes(os.urandom(100 * 1024))
    os.link(docroot / "big.bin", docroot / "same.bin")  # one file on disk
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "huge.bin").write_bytes(os.urandom(300 * 1024))
    (docroot / "link").symlink_to(tmp_path / "elsewhere")
    Path(lay.web_root, "acme", "www.example.net", "logs").mkdir()
    shop_root = Path(str(outside.attrs["docroot"]))
    shop_root.mkdir(parents=True)
    (shop_root / "index.php").write_bytes(b"x" * 5000)
    rows = {r.host: r for r in site_usage([s, outside, gone])}
    www = rows["www.example.net"]
    assert 100 * 1024 <= www.used < 300 * 1024 and www.files == 2  # the file (and its hard link) once, the symlink
    assert www.state(90) == "over" and www.percent is not None and www.percent > 100
    assert rows["shop.example.net"].files == 1 and rows["shop.example.net"].state(90) == "ok"
    assert not rows["gone.example.net"].present and rows["gone.example.net"].used == 0
    assert rows["www.example.net"].to_dict(90)["state"] == "over"


# -- btrfs: the real kernel's qgroups, the real Apache ------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists(),
                                reason="needs root (mount, chown), apache2 and php8.2-fpm (.ci/setup)")


@pytest.fixture
def btrfs_public(tmp_path: Path) -> Iterator[Path]:
    with btrfs_mount(tmp_path) as mount_point:
        yield mount_point


@pytest.fixture
def btrfs_host(btrfs_public: Path, tmp_path: Path) -> Iterator[WebHost]:
    """Apache and php-fpm whose web root (and archive) is on ``btrfs_public``; stopped before it is unmounted."""
    servers = WebServers(tmp_path / "web", public=btrfs_public)
    servers.start()
    try:
        yield WebHost(servers, tmp_path / "reloads.log")
    finally:
        servers.stop()


def _plan(p: WebProvider, sites: list[Resource]) -> Plan:
    return compute_plan({s.identity: s for s in sites}, p.read(), archives=p.ARCHIVES)


def _apply(p: WebProvider, sites: list[Resource]) -> tuple[Plan, ApplyResult]:
    planned = _plan(p, sites)
    return planned, apply_plan(planned, lambda kind: p)


def _write(path: Path, mib: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(MiB))
        handle.flush()
        os.fsync(handle.fileno())


def _limit(web_root: str, where: str) -> tuple[int | None] | None:
    return BtrfsQuotas.probe(web_root).enforced(where)


@needs_root
def test_a_quota_on_btrfs_is_the_limit_of_the_site_s_subvolume(btrfs_host: WebHost) -> None:
    lay = btrfs_host.layout
    p = WebProvider(lay, btrfs_host.control)
    s = site(lay, "www.example.net", quota=8 * MiB)
    assert _apply(p, [s])[1].ok
    where = f"{lay.web_root}/acme/www.example.net"
    assert is_subvolume(where) and _limit(lay.web_root, where) == (8 * MiB,)
    assert not [w for w in p.warnings if "enforced" in w]  # plan and apply never say "not enforced" here
    docroot = Path(str(s.attrs["docroot"]))
    (docroot / "index.html").write_text("from the subvolume\n")
    status, _, body = btrfs_host.get("www.example.net")
    assert (status, body) == (200, "from the subvolume\n")  # Apache serves it from the subvolume
    _write(docroot / "small.bin", 4)
    with pytest.raises(OSError) as refused:
        _write(docroot / "big.bin", 10)
    assert refused.value.errno == errno.EDQUOT
    (docroot / "big.bin").unlink()
    os.sync()
    assert _plan(p, [s]).changes == ()

    # A raised quota is a new limit: the same write succeeds.
    raised = site(lay, "www.example.net", quota=32 * MiB)
    planned, result = _apply(p, [raised])
    assert result.ok and [a.name for a in planned.changes[0].attrs] == ["quota"]
    assert _limit(lay.web_root, where) == (32 * MiB,)
    _write(docroot / "big.bin", 10)

    # A limit changed by hand is drift: the plan shows it, the apply sets it back.
    subprocess.run(["btrfs", "qgroup", "limit", str(5 * MiB), where], check=True)
    [change] = _plan(p, [raised]).changes
    [attr] = change.attrs
    assert (attr.name, attr.before, attr.after) == ("quota", 5 * MiB, 32 * MiB)
    assert _apply(p, [raised])[1].ok and _limit(lay.web_root, where) == (32 * MiB,)
    assert _plan(p, [raised]).changes == ()
    assert not [w for w in p.warnings if "enforced" in w]

    # No quota: no limit.
    free = site(lay, "www.example.net")
    assert _apply(p, [free])[1].ok and _limit(lay.web_root, where) == (None,)
    assert _plan(p, [free]).changes == ()

    # Deleted: the subvolume moves into the archive (the same btrfs), every byte with it.
    content = (docroot / "big.bin").read_bytes()
    planned, result = _apply(p, [])
    assert result.ok and planned.changes[0].archive and not os.path.lexists(where)
    [archived] = list(Path(lay.archive_dir).iterdir())
    assert (archived / "site" / "htdocs" / "big.bin").read_bytes() == content
    assert "big.bin" in (archived / ".ispctl-archive.json").read_text()


@needs_root
def test_a_plain_directory_on_btrfs_is_said_not_to_be_limited_and_left_alone(btrfs_host: WebHost) -> None:
    lay = btrfs_host.layout
    p = WebProvider(lay, btrfs_host.control)
    where = Path(lay.web_root, "acme", "old.example.net")
    where.mkdir(parents=True)  # made before ispctl (or before quotas were on): a plain directory
    (where / "keep.txt").write_text("kept\n")
    s = site(lay, "old.example.net", quota=8 * MiB)
    assert _apply(p, [s])[1].ok
    assert not is_subvolume(str(where)) and (where / "keep.txt").read_text() == "kept\n"
    [warning] = p.warnings
    assert warning.startswith(f"site.old.example.net: quota 8 MiB cannot be enforced: {where} is a plain directory")
    again = WebProvider(lay, btrfs_host.control)
    assert _plan(again, [s]).changes == () and again.warnings == [warning]  # said, not planned over and over


@needs_root
def test_btrfs_with_quotas_off_says_how_to_turn_them_on(tmp_path: Path) -> None:
    with btrfs_mount(tmp_path, quotas=False) as mount_point:
        web_root = str(mount_point / "www")
        quotas = BtrfsQuotas.probe(web_root)  # a web root not made yet: its filesystem is asked
        assert quotas.fs is not None and quotas.fs.fstype == "btrfs" and not quotas.enabled
        note = quotas.note(site(layout(mount_point), "www.example.net", quota=MiB))
        assert note is not None and "quota 1 MiB is not enforced: btrfs" in note and "'btrfs quota enable'" in note


@needs_root
def test_limits_are_found_below_a_mounted_subvolume(tmp_path: Path) -> None:
    """Distributions mount a subvolume (subvol=@www): 'subvolume list' names paths from the top."""
    with btrfs_mount(tmp_path) as top:
        subprocess.run(["btrfs", "subvolume", "create", str(top / "@www")], check=True, capture_output=True)
        device = filesystem_of(str(top))
        assert device is not None
        inner = tmp_path / "srv-www"
        inner.mkdir()
        subprocess.run(["mount", "-o", "subvol=@www", device.device, str(inner)], check=True)
        try:
            site_dir = str(inner / "acme" / "www.example.net")
            (inner / "acme").mkdir()
            subprocess.run(["btrfs", "subvolume", "create", site_dir], check=True, capture_output=True)
            subprocess.run(["btrfs", "qgroup", "limit", str(3 * MiB), site_dir], check=True)
            quotas = BtrfsQuotas.probe(str(inner))
            assert quotas.enabled and quotas.enforced(site_dir) == (3 * MiB,)
            assert quotas.enforced(str(inner / "acme")) is None  # a plain directory: nothing enforced
        finally:
            unmount(inner)
