"""Testing candidate site files with the real ``apache2 -t`` and ``php-fpm8.2 -t`` (no daemon
runs: a config test only parses), and finding which changed sites break a test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ispctl.providers.web.apply_config import ConfigTest, failing, named_in
from ispctl.reconciler.contract import ProviderError

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
pytestmark = pytest.mark.skipif(not Path(APACHE).exists() or not Path(FPM).exists(),
                                reason="needs apache2 and php8.2-fpm (.ci/setup installs them)")

GOOD = "<VirtualHost *:8080>\n    ServerName {host}\n</VirtualHost>\n"
BAD = "<VirtualHost *:8080>\n    ServerName {host}\n    NoSuchDirective on\n</VirtualHost>\n"


def apache_setup(tmp_path: Path) -> tuple[ConfigTest, Path]:
    sites = tmp_path / "sites"
    sites.mkdir()
    main = tmp_path / "apache.conf"
    main.write_text(
        f"ServerRoot {tmp_path}\nPidFile {tmp_path}/apache.pid\nErrorLog {tmp_path}/error.log\n"
        "Listen 127.0.0.1:8080\nServerName localhost\n"
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
        "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n"
        f'IncludeOptional "{sites}/*.conf"\n')
    return ConfigTest("apache", (APACHE, "-f", str(main), "-t"), str(sites), 30), sites


def test_candidate_files_are_tested_in_place_of_the_live_ones(tmp_path: Path) -> None:
    test, sites = apache_setup(tmp_path)
    (sites / "live.example.conf").write_text(GOOD.format(host="live.example"))
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "a.example.conf").write_text(GOOD.format(host="a.example"))
    (bad / "b.example.conf").write_text(BAD.format(host="b.example"))
    assert test.check([str(good / "a.example.conf")]) is None
    error = test.check([str(good / "a.example.conf"), str(bad / "b.example.conf")])
    assert error is not None and f"{bad}/b.example.conf" in error and "NoSuchDirective" in error
    assert named_in(error, str(bad), {"a.example", "b.example"}) == {"b.example"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ispctl-test")) == []  # copy removed
    # The live directory was never part of it.
    (sites / "live.example.conf").write_text(BAD.format(host="live.example"))
    assert test.check([str(good / "a.example.conf")]) is None
    assert test.check([str(sites / "live.example.conf")]) is not None


def test_a_main_config_without_the_include_line_is_a_clear_error(tmp_path: Path) -> None:
    test, _ = apache_setup(tmp_path)
    (tmp_path / "apache.conf").write_text("ServerName localhost\n")
    with pytest.raises(ProviderError, match="has no 'IncludeOptional .*/sites/\\*.conf' line"):
        test.check([])


def test_php_fpm_pools_are_tested_the_same_way(tmp_path: Path) -> None:
    pools = tmp_path / "pools"
    pools.mkdir()
    main = tmp_path / "fpm.conf"
    main.write_text(f"[global]\npid = {tmp_path}/fpm.pid\nerror_log = {tmp_path}/fpm.log\ninclude={pools}/*.conf\n")
    test = ConfigTest("php-fpm", (FPM, "--fpm-config", str(main), "-t"), str(pools), 30)
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.example.conf").write_text(
        f"[a.example]\nuser = 20001\ngroup = 20001\nlisten = {tmp_path}/a.sock\npm = ondemand\npm.max_children = 2\n")
    assert test.check([str(good / "a.example.conf")]) is None
    (good / "a.example.conf").write_text("[a.example]\nuser = 20001\npm = sometimes\n")
    assert test.check([str(good / "a.example.conf")]) is not None


def test_failing_finds_the_broken_changes_by_name_or_by_bisection(tmp_path: Path) -> None:
    test, sites = apache_setup(tmp_path)
    hosts = [f"s{i}.example" for i in range(9)]
    texts = {h: (BAD if h in ("s3.example", "s7.example") else GOOD).format(host=h) for h in hosts}

    def check(included: frozenset[str]) -> tuple[str | None, str]:
        directory = tmp_path / f"c{len(list(tmp_path.glob('c*')))}"
        directory.mkdir()
        for host in included:
            (directory / f"{host}.conf").write_text(texts[host])
        return test.check(sorted(str(p) for p in directory.iterdir())), str(directory)

    found = failing(check, set(hosts))
    assert sorted(found) == ["s3.example", "s7.example"]
    assert all("NoSuchDirective" in out for out in found.values())

    # An error that names no candidate file (here: a Listen clash between two sites) is bisected.
    clash = "Listen 127.0.0.1:8080\n"
    texts = {h: GOOD.format(host=h) for h in hosts}
    texts["s5.example"] = clash
    found = failing(check, set(hosts))
    assert sorted(found) == ["s5.example"]
