"""``ispctl report web``: the live sites of a real Apache (the sandbox's, fixture ``web``) and the
disk use of their files against their quotas, which the report says are not enforced (on the
temp filesystem) or are, as btrfs qgroup limits (a loop-mounted btrfs with quotas on)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from tests.btrfs_helpers import btrfs_mount
from tests.ldap_helpers import run_cli
from tests.web_helpers import WebHost, site

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists(),
                                reason="needs root (sites are chowned) and apache2 (.ci/setup)")


def test_the_report_lists_sites_over_their_quota_from_one_walk(web: WebServers, tmp_path: Path) -> None:
    host = WebHost(web, tmp_path / "reloads.log")
    lay = host.layout
    p = WebProvider(lay, host.control)
    full = site(lay, "full.example.net", quota=64 * 1024)
    roomy = site(lay, "roomy.example.net", quota=1024**3, uid=20002, gid=20002)
    free = site(lay, "free.example.net", uid=20003, gid=20003)
    sites = {s.identity: s for s in (full, roomy, free)}
    assert apply_plan(compute_plan(sites, p.read()), lambda kind: p).ok
    Path(str(full.attrs["docroot"]), "photos.bin").write_bytes(os.urandom(200 * 1024))
    Path(str(roomy.attrs["docroot"]), "index.html").write_text("small\n")
    estate = tmp_path / "estate"
    shutil.copytree(Path(__file__).parent.parent / "desired-state", estate)
    env = {"ISPCTL_PROVIDERS": "web", **web.env()}

    result = run_cli(None, "report", "web", "-d", str(estate), "--json", **env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["enforced"] is False and report["checked"] == 3 and report["over"] == 1
    [row] = report["sites"]
    assert row["site"] == "full.example.net" and row["state"] == "over" and row["used"] >= 200 * 1024
    assert "quota 64 KiB is not enforced" in result.stderr  # the provider's read says so too

    result = run_cli(None, "report", "web", "-d", str(estate), "--all", **env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Web root {lay.web_root} (") and "no site quota is enforced" in lines[0]
    states = {line.split()[0]: line.split()[-1] for line in lines[3:]}
    assert states == {"free.example.net": "quota", "full.example.net": "over", "roomy.example.net": "ok"}


def test_the_report_needs_the_web_provider(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    shutil.copytree(Path(__file__).parent.parent / "desired-state", estate)
    result = run_cli(None, "report", "web", "-d", str(estate), ISPCTL_PROVIDERS="mailstore")
    assert result.exit_code == 1 and "enable the web provider" in result.stderr


def test_on_btrfs_with_quotas_on_the_report_says_they_are_enforced_and_where_not(tmp_path: Path) -> None:
    with btrfs_mount(tmp_path) as public:
        servers = WebServers(tmp_path / "web", public=public)
        servers.start()
        try:
            host = WebHost(servers, tmp_path / "reloads.log")
            lay = host.layout
            p = WebProvider(lay, host.control)
            Path(lay.web_root, "acme", "plain.example.net").mkdir(parents=True)  # made before quotas were on
            limited = site(lay, "limited.example.net", quota=8 * 1024**2)
            plain = site(lay, "plain.example.net", quota=8 * 1024**2)
            sites = {s.identity: s for s in (limited, plain)}
            assert apply_plan(compute_plan(sites, p.read()), lambda kind: p).ok
            estate = tmp_path / "estate"
            shutil.copytree(Path(__file__).parent.parent / "desired-state", estate)
            env = {"ISPCTL_PROVIDERS": "web", **servers.env()}
            result = run_cli(None, "report", "web", "-d", str(estate), "--json", **env)
            assert result.exit_code == 0, result.output
            report = json.loads(result.stdout)
            assert report["enforced"] is True and report["not_enforced"] == ["plain.example.net"]
            assert report["filesystem"].startswith("btrfs ") and report["checked"] == 2
            result = run_cli(None, "report", "web", "-d", str(estate), **env)
            assert "enforced as btrfs qgroup limits" in result.stdout.splitlines()[0]
            assert "(not on plain.example.net: a plain directory)" in result.stdout.splitlines()[0]
        finally:
            servers.stop()
