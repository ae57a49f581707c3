"""The real Apache used by tests and the sandbox: serving by Host, graceful reload, config test, isolation."""

from __future__ import annotations

import shlex
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ispctl.providers.web.sandbox.apache import ApacheInstance, untraversable
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching


def site(apache: ApacheInstance, host: str, body: str) -> Path:
    """A minimal hand-written site (the real renderer is the provider's): a docroot and a vhost."""
    docroot = apache.layout.web_root / host / "htdocs"
    docroot.mkdir(parents=True)
    for path in (docroot.parent, docroot):
        path.chmod(0o755)
    (docroot / "index.html").write_text(body, encoding="utf-8")
    (apache.sites_dir / f"{host}.conf").write_text(
        f"<VirtualHost *:{apache.port}>\n    ServerName {host}\n    DocumentRoot {docroot}\n"
        f"    <Directory {docroot}>\n        Require all granted\n    </Directory>\n</VirtualHost>\n",
        encoding="utf-8")
    return docroot


def get(apache: ApacheInstance, host: str, path: str = "/") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{apache.port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def apache_children(apache: ApacheInstance) -> list[int]:
    return [pid for pid in pids_matching(apache.marker) if pid != apache.pid]


def test_serves_each_site_by_its_host_header_and_nothing_for_other_names(apache: ApacheInstance) -> None:
    site(apache, "www.example.net", "hello from www\n")
    site(apache, "shop.example.net", "the shop\n")
    apache.graceful()
    assert get(apache, "www.example.net") == (200, "hello from www\n")
    assert get(apache, "shop.example.net") == (200, "the shop\n")
    assert get(apache, "unknown.example.org")[0] == 404  # the default host, not some customer's site
    # The workers are www-data, not root; the parent is root and the one we started.
    owners = {Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0] for pid in apache_children(apache)}
    assert owners == {"33"}


def test_graceful_reload_picks_up_a_new_site_and_keeps_the_parent(apache: ApacheInstance) -> None:
    parent = apache.pid
    site(apache, "one.example.net", "one\n")
    apache.graceful()
    assert get(apache, "one.example.net") == (200, "one\n")
    for n in range(5):
        host = f"new{n}.example.net"
        assert get(apache, host)[0] == 404
        site(apache, host, f"{host}\n")
        apache.graceful()
        assert get(apache, host) == (200, f"{host}\n")
    assert apache.pid == parent and apache.running()


def test_the_reload_command_in_the_environment_reloads_this_instance(apache: ApacheInstance) -> None:
    env = apache.env()
    site(apache, "cmd.example.net", "via the command\n")
    mark = len(apache.log_text())
    done = subprocess.run(shlex.split(env["ISPCTL_WEB_APACHE_RELOAD"]), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    # The command returns once the signal is sent; the reload itself is asynchronous.
    apache.wait_resumed(mark)
    assert "SIGUSR1 received" in apache.log_text()[mark:]
    assert get(apache, "cmd.example.net") == (200, "via the command\n")


def test_a_broken_site_file_fails_the_config_test_and_the_old_config_keeps_serving(apache: ApacheInstance) -> None:
    site(apache, "good.example.net", "good\n")
    apache.graceful()
    broken = apache.sites_dir / "broken.example.net.conf"
    broken.write_text("<VirtualHost *:80>\n    NoSuchDirective on\n</VirtualHost>\n", encoding="utf-8")
    tested = apache.config_test()
    assert tested.returncode != 0
    assert "Invalid command 'NoSuchDirective'" in tested.stderr and str(broken) in tested.stderr
    test_cmd = subprocess.run(shlex.split(apache.env()["ISPCTL_WEB_APACHE_TEST"]), capture_output=True, text=True,
                              check=False)
    assert test_cmd.returncode == tested.returncode and "NoSuchDirective" in test_cmd.stderr
    with pytest.raises(DaemonError, match="NoSuchDirective"):
        apache.graceful()
    # apache2 -k graceful reads the config before it signals: a broken one is refused.
    refused = subprocess.run(apache.reload_argv(), capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "NoSuchDirective" in refused.stderr
    assert apache.running() and get(apache, "good.example.net") == (200, "good\n")


def test_https_port_speaks_tls(apache: ApacheInstance) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(apache.https_url, headers={"Host": "unknown.example.org"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10, context=context)
    assert raised.value.code == 404
    assert (apache.workdir / "default.key").stat().st_mode & 0o077 == 0


def test_two_instances_side_by_side_do_not_collide(tmp_path: Path, web_public: Path) -> None:
    first = ApacheInstance(tmp_path / "first", public=web_public / "first")
    second = ApacheInstance(tmp_path / "second", public=web_public / "second")
    first.start()
    try:
        second.start()
        try:
            assert len({first.port, first.https_port, second.port, second.https_port}) == 4
            site(first, "a.example.net", "first\n")
            site(second, "a.example.net", "second\n")
            first.graceful()
            second.graceful()
            assert get(first, "a.example.net") == (200, "first\n")
            assert get(second, "a.example.net") == (200, "second\n")
            second.stop()
            assert first.running() and get(first, "a.example.net") == (200, "first\n")
        finally:
            second.stop()
    finally:
        first.stop()


def test_start_stop_leave_nothing_running_and_a_restart_keeps_ports(tmp_path: Path, web_public: Path) -> None:
    instance = ApacheInstance(tmp_path / "apache", public=web_public)
    instance.start()
    try:
        assert instance.running() and instance.pid in pids_matching(instance.marker)
        with pytest.raises(DaemonError, match="already running"):
            instance.start()
    finally:
        instance.stop()
    assert not instance.running() and pids_matching(instance.marker) == []
    assert not instance.apache_pidfile.exists()
    again = ApacheInstance.from_state(instance.to_state())
    again.start()
    try:
        assert (again.port, again.https_port) == (instance.port, instance.https_port)
    finally:
        again.stop()
    assert pids_matching(instance.marker) == []


def test_a_port_taken_by_someone_else_is_refused(tmp_path: Path, web_public: Path, apache: ApacheInstance) -> None:
    intruder = ApacheInstance(tmp_path / "intruder", public=web_public, port=apache.port)
    with pytest.raises(DaemonError, match="already in use"):
        intruder.start()
    assert not intruder.running()


def test_a_public_dir_others_cannot_enter_is_refused(tmp_path: Path) -> None:
    # pytest's own temp dir is 0700: www-data and the sites' uids could not reach a docroot there.
    assert untraversable(tmp_path) is not None
    instance = ApacheInstance(tmp_path / "apache", public=tmp_path / "public")
    with pytest.raises(DaemonError, match="not world-traversable"):
        instance.start()
    assert not instance.running()
