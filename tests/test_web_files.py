"""The web host's files on a real filesystem: the walk reads only ispctl's files, directories get
their owners and modes without following a customer's symlink, archives keep every byte."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ispctl.providers.web.files import WebFileError, archive_site, owned_files, prepare_site, scan, write_atomic
from ispctl.providers.web.quota import is_subvolume
from ispctl.providers.web.render import Layout, render
from tests.btrfs_helpers import btrfs_mount
from tests.web_helpers import layout, site

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sites are chowned to their uid: needs root")


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    found = layout(tmp_path)
    for directory in (found.sites_dir, found.pools_dir, found.web_root):
        os.makedirs(directory)
    return found


def test_the_walk_reads_only_marked_regular_files_named_after_their_site(lay: Layout, tmp_path: Path) -> None:
    s = site(lay, "www.example.net", php=True)
    out = render(s, lay, cert_exists=False)
    write_atomic(lay.vhost_path("www.example.net"), out.vhost)
    write_atomic(lay.pool_path("www.example.net"), out.pool or "")
    Path(lay.sites_dir, "foreign.conf").write_text("<VirtualHost *:80>\n</VirtualHost>\n")
    Path(lay.sites_dir, "copy.example.net.conf").write_text(out.vhost)  # marker names another site
    os.symlink(lay.vhost_path("www.example.net"), f"{lay.sites_dir}/link.example.net.conf")
    assert sorted(owned_files(lay.sites_dir)) == ["www.example.net"]
    [found] = scan(lay)
    assert found.host == "www.example.net" and found.pool == out.pool and found.docroot is None
    prepare_site(lay, "www.example.net", str(s.attrs["home"]), str(s.attrs["docroot"]), (20001, 20001))
    [found] = scan(lay)
    assert found.docroot is not None and (found.docroot.uid, found.docroot.gid) == (20001, 20001)


def test_a_site_s_directories_get_their_owners_and_modes(lay: Layout) -> None:
    home = f"{lay.web_root}/acme"
    prepare_site(lay, "www.example.net", home, f"{home}/www.example.net/htdocs", (20001, 20002))

    def owner_mode(path: str) -> tuple[int, int, int]:
        st = os.lstat(path)
        return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

    site_dir = f"{home}/www.example.net"
    assert owner_mode(home) == (0, 0, 0o755)
    assert owner_mode(site_dir) == (0, 20002, 0o755)  # the customer cannot swap what is in it
    assert owner_mode(f"{site_dir}/logs") == (0, 20002, 0o750)  # Apache (root) opens these logs
    assert owner_mode(f"{site_dir}/tmp") == (20001, 20002, 0o700)
    assert owner_mode(f"{site_dir}/htdocs") == (20001, 20002, 0o755)


def test_a_planted_symlink_is_refused_not_followed(lay: Layout, tmp_path: Path) -> None:
    home = f"{lay.web_root}/acme"
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.makedirs(f"{home}/www.example.net")
    os.symlink(target, f"{home}/www.example.net/htdocs")
    with pytest.raises(WebFileError, match="htdocs is not a directory ispctl can use"):
        prepare_site(lay, "www.example.net", home, f"{home}/www.example.net/htdocs", (20001, 20001))
    assert os.lstat(target).st_uid == 0  # never chowned through the link
    with pytest.raises(WebFileError, match="is not inside its home"):
        prepare_site(lay, "x.example.net", home, f"{lay.web_root}/other/htdocs", (20001, 20001))
    with pytest.raises(WebFileError, match="is not inside the web root"):
        prepare_site(lay, "x.example.net", str(tmp_path), f"{tmp_path}/x/htdocs", (20001, 20001))


def test_archiving_moves_the_site_with_a_manifest_of_every_file(lay: Layout) -> None:
    home = f"{lay.web_root}/acme"
    prepare_site(lay, "www.example.net", home, f"{home}/www.example.net/htdocs", (20001, 20001))
    data = os.urandom(10000)
    Path(home, "www.example.net", "htdocs", "data.bin").write_bytes(data)
    now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    target = archive_site(lay, "www.example.net", home, f"{home}/www.example.net/htdocs", now)
    assert target == f"{lay.archive_dir}/20261202T140000Z--www.example.net"
    assert not os.path.exists(f"{home}/www.example.net")
    assert Path(target, "site", "htdocs", "data.bin").read_bytes() == data
    manifest = json.loads(Path(target, ".ispctl-archive.json").read_text())
    [entry] = manifest["moved"]["site"]["files"]
    assert entry["path"] == "htdocs/data.bin" and entry["size"] == 10000
    # A second archive of the same name in the same second gets its own directory.
    prepare_site(lay, "www.example.net", home, f"{home}/www.example.net/htdocs", (20001, 20001))
    assert archive_site(lay, "www.example.net", home, None, now) == f"{target}-2"
    assert archive_site(lay, "www.example.net", home, None, now) is None  # nothing left to keep


def test_a_subvolume_site_is_archived_on_its_btrfs_and_never_copied_to_another_filesystem(tmp_path: Path) -> None:
    with btrfs_mount(tmp_path) as mount_point:
        lay = layout(mount_point)
        s = site(lay, "www.example.net")
        home, docroot = str(s.attrs["home"]), str(s.attrs["docroot"])
        prepare_site(lay, s.key, home, docroot, (20001, 20001), subvolume=True)
        assert is_subvolume(f"{home}/www.example.net")  # its own st_dev: a rename still moves it
        content = os.urandom(8192)
        Path(docroot, "data.bin").write_bytes(content)
        elsewhere = replace(lay, archive_dir=str(tmp_path / "archive"))  # not on the btrfs
        with pytest.raises(WebFileError, match="on another filesystem"):
            archive_site(elsewhere, s.key, home, docroot, datetime.now(UTC))
        assert Path(docroot, "data.bin").read_bytes() == content  # nothing moved
        target = archive_site(lay, s.key, home, docroot, datetime.now(UTC))
        assert target is not None and Path(target, "site", "htdocs", "data.bin").read_bytes() == content
        assert is_subvolume(f"{target}/site") and not os.path.lexists(f"{home}/www.example.net")
