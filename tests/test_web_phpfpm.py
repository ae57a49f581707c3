"""The real php-fpm used by tests and the sandbox: a pool per site as a numeric uid, behind Apache."""

from __future__ import annotations

import shlex
import subprocess
import urllib.request
from pathlib import Path

import pytest

from ispctl.providers.web.sandbox.apache import ApacheInstance, exited
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.providers.web.sandbox.phpfpm import INTERNAL_POOL, PhpFpmInstance, unix_accepts
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching

# A uid/gid with no passwd or group entry: the design derives them and never adds NSS entries.
SITE_UID = 23456


def pool(php: PhpFpmInstance, name: str, uid: int = SITE_UID) -> Path:
    """A minimal hand-written pool (the real renderer is the provider's); returns its socket."""
    sock = php.layout.socket_dir / f"{name}.sock"
    (php.pools_dir / f"{name}.conf").write_text(
        f"[{name}]\nuser = {uid}\ngroup = {uid}\nlisten = {sock}\nlisten.owner = www-data\n"
        "listen.group = www-data\nlisten.mode = 0660\npm = ondemand\npm.max_children = 2\n", encoding="utf-8")
    return sock


def php_site(web: WebServers, host: str, uid: int = SITE_UID) -> Path:
    """A vhost whose .php files go through proxy_fcgi to the site's own pool; returns its docroot."""
    sock = pool(web.php, host, uid)
    docroot = web.layout.web_root / host / "htdocs"
    docroot.mkdir(parents=True)
    for path in (docroot.parent, docroot):
        path.chmod(0o755)
    (docroot / "whoami.php").write_text(
        '<?php echo posix_getuid(), " ", posix_getgid(), " ", posix_geteuid(), "\\n";', encoding="utf-8")
    (web.apache.sites_dir / f"{host}.conf").write_text(f"""<VirtualHost *:{web.apache.port}>
    ServerName {host}
    DocumentRoot {docroot}
    <Directory {docroot}>
        Require all granted
    </Directory>
    <FilesMatch "\\.php$">
        SetHandler "proxy:unix:{sock}|fcgi://{host}"
    </FilesMatch>
</VirtualHost>
""", encoding="utf-8")
    return docroot


def get(apache: ApacheInstance, host: str, path: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{apache.port}{path}", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status), response.read().decode()


def test_a_php_page_runs_as_the_site_s_numeric_uid_behind_apache(web: WebServers) -> None:
    php_site(web, "www.example.net")
    php_site(web, "shop.example.net", uid=SITE_UID + 1)
    web.php.reload()
    web.apache.graceful()
    assert get(web.apache, "www.example.net", "/whoami.php") == (200, f"{SITE_UID} {SITE_UID} {SITE_UID}\n")
    # Another site, another pool, another user: the pools are really separate.
    other = SITE_UID + 1
    assert get(web.apache, "shop.example.net", "/whoami.php") == (200, f"{other} {other} {other}\n")
    # The pools' workers carry no path of ours in their titles ("php-fpm: pool <name>"); they
    # must go with their master all the same.
    master = web.php.pid
    assert master is not None
    workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert {Path(f"/proc/{w}/status").read_text().split("Uid:")[1].split()[0] for w in workers} == {
        str(SITE_UID), str(other)}
    web.stop()
    assert all(exited(w) for w in workers)  # gone, or a zombie until init reaps it


def test_the_environment_s_commands_test_and_reload_this_php_fpm(php_fpm: PhpFpmInstance) -> None:
    env = php_fpm.env()
    sock = pool(php_fpm, "cmd.example.net")
    tested = subprocess.run(shlex.split(env["ISPCTL_WEB_PHP_TEST"]), capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stderr
    mark = len(php_fpm.log_text())
    done = subprocess.run(shlex.split(env["ISPCTL_WEB_PHP_RELOAD"]), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    php_fpm.wait_ready(mark)
    assert unix_accepts(sock)


def test_a_new_pool_is_served_after_a_reload_by_the_same_master(php_fpm: PhpFpmInstance) -> None:
    master = php_fpm.pid
    # The master re-executes itself on every reload (its argv is briefly empty meanwhile):
    # reloads in a row, each adding a pool, must each find it serving again.
    for n in range(5):
        sock = pool(php_fpm, f"new{n}.example.net")
        assert not unix_accepts(sock)
        php_fpm.reload()
        assert unix_accepts(sock) and php_fpm.pid == master
    # The socket is Apache's to use (www-data), nobody else's.
    assert sock.stat().st_uid == 33 and sock.stat().st_mode & 0o777 == 0o660


def test_a_broken_pool_fails_the_config_test_and_the_running_master_is_kept(php_fpm: PhpFpmInstance) -> None:
    sock = pool(php_fpm, "good.example.net")
    php_fpm.reload()
    broken = php_fpm.pools_dir / "broken.example.net.conf"
    broken.write_text("[broken.example.net]\nuser = 23456\nlisten = /nonexistent/x.sock\npm = static\n",
                      encoding="utf-8")
    tested = php_fpm.config_test()
    assert tested.returncode != 0 and "[pool broken.example.net] pm.max_children" in tested.stderr
    with pytest.raises(DaemonError, match="pm.max_children"):
        php_fpm.reload()
    assert php_fpm.running() and unix_accepts(sock)


def test_without_any_site_the_internal_pool_keeps_php_fpm_up(php_fpm: PhpFpmInstance) -> None:
    assert list(php_fpm.pools_dir.iterdir()) == []
    assert f"[{INTERNAL_POOL}]" in php_fpm.config_file.read_text()
    assert php_fpm.running() and unix_accepts(php_fpm.internal_socket)
    # Its socket is root's alone: the internal pool is no way into PHP for anybody else.
    assert php_fpm.internal_socket.stat().st_uid == 0 and php_fpm.internal_socket.stat().st_mode & 0o077 == 0


def test_two_instances_side_by_side_and_nothing_left_after_stop(tmp_path: Path, web_public: Path) -> None:
    first = PhpFpmInstance(tmp_path / "first", public=web_public / "first")
    second = PhpFpmInstance(tmp_path / "second", public=web_public / "second")
    first.start()
    try:
        second.start()
        try:
            assert first.internal_socket != second.internal_socket
            sockets = [pool(first, "a.example.net"), pool(second, "a.example.net")]
            first.reload()
            second.reload()
            assert all(unix_accepts(s) for s in sockets)
            with pytest.raises(DaemonError, match="already running"):
                first.start()
        finally:
            second.stop()
        assert first.running() and unix_accepts(sockets[0]) and not unix_accepts(sockets[1])
    finally:
        first.stop()
    assert pids_matching(first.marker) == [] and pids_matching(second.marker) == []
    assert not first.internal_socket.exists() and not first.fpm_pidfile.exists()
