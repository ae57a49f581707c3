"""Site quotas: which filesystem holds the web root and whether it has quotas on (from a mounts
file, as /proc/mounts writes it), the warning that a quota is not enforced, and disk use
measured on real files."""

from __future__ import annotations

import os
from pathlib import Path

from ispctl.providers.web.quota import filesystem_of, not_enforced, site_usage
from tests.web_helpers import layout, site

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
