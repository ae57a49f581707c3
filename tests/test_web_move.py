"""A site moves between two web hosts: real slapd, two real Apache + php-fpm pairs on loopback.

Two "hosts" on one machine, each an Apache and a php-fpm over its own web root (the cluster's
``web_files`` of each is that root, a local path rsync reaches). The central run (``ldap,web``)
keeps the directory and moves the site; each host's run (``ISPCTL_HOST``, ``web``) keeps its
own vhosts, pools and docroots. The site serves PHP and a tree of files uploaded as its user.

The central apply that moves is a real ``ispctl`` process whose rsync is a wrapper that stops
at a chosen call, so it is SIGKILLed during both legs of the first copy (old host -> stage ->
new host, before the switch) and during the final sync (after it), with the site's files
changing on the old host and a file uploaded on the new host after the switch. The next apply
completes the move; the new host serves the site with every file as the old host last had it
(and the upload kept), and the old host's run archives its copy.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from estate_builder import EstateBuilder
from ldap_helpers import changes_by_address, cli_env, ispctl_binary, run_cli, search

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.web.move import MoveError, Rsync, SiteFilesToMove, move_site, site_journal
from ispctl.providers.web.sandbox.component import WebServers

HOSTS = ("w1.example.net", "w2.example.net")
SITE = "acme.example"
WRAPPER = textwrap.dedent("""\
    #!/bin/sh
    # rsync, counting its calls; at call $WRAP_STOP_AT it says so and waits to be killed.
    n=$(( $(cat "$WRAP_COUNT" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$WRAP_COUNT"
    if [ "$n" = "$WRAP_STOP_AT" ]; then touch "$WRAP_WAITING"; exec sleep 600; fi
    exec rsync "$@"
    """)


def _tree(top: Path) -> dict[str, str]:
    """Every regular file below ``top`` -> sha256, with its owner (what a move must keep)."""
    found = {}
    for path in sorted(top.rglob("*")):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            found[str(path.relative_to(top))] = f"{hashlib.sha256(path.read_bytes()).hexdigest()} {st.st_uid}"
    return found


def _get(servers: WebServers, host: str, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", servers.apache.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


class Cluster:
    def __init__(self, slapd: SlapdInstance, tmp_path: Path, web: dict[str, WebServers]) -> None:
        self.slapd = slapd
        self.web = web
        self.journal = tmp_path / "moves"
        self.wrapper = tmp_path / "rsync-wrapper"
        self.wrapper.write_text(WRAPPER, encoding="utf-8")
        self.wrapper.chmod(0o755)
        self.count, self.waiting = tmp_path / "rsync-calls", tmp_path / "rsync-waiting"
        hosts = "".join(f"    {name}: {{roles: [web], web_files: \"{servers.layout.web_root}\"}}\n"
                        for name, servers in web.items())
        site = ("directory:\n  base_dn: ou=ispctl,dc=example,dc=net\nproviders: [ldap, web]\n"
                f"web: {{web_root: /srv/www}}\ncluster:\n  hosts:\n{hosts}")
        self.builder = EstateBuilder(tmp_path, site=site)
        self.builder.tenant("acme")
        self.place("w1.example.net")

    def place(self, host: str) -> None:
        self.builder.domain("acme", SITE, {"services": ["web"], "placement": {"web": host},
                                           "web": {"sites": {"@": {"https": "off", "php": True}}}})

    def central(self, *args: str) -> str:
        result = run_cli(self.slapd, *args, "-d", str(self.builder.root), ISPCTL_PROVIDERS="ldap,web",
                         ISPCTL_MOVE_JOURNAL=str(self.journal))
        assert result.exit_code == 0, result.output
        return result.stdout

    def host(self, name: str, *args: str) -> str:
        result = run_cli(self.slapd, *args, "-d", str(self.builder.root), ISPCTL_PROVIDERS="web", ISPCTL_HOST=name,
                         ISPCTL_WEB_ACME_DIRECTORY="http://127.0.0.1:9/directory", ISPCTL_WEB_PROBE_TIMEOUT="5",
                         **self.web[name].env())
        assert result.exit_code == 0, result.output
        return result.stdout

    def killed_apply(self, stop_at: int) -> None:
        """The central apply as a real process, SIGKILLed (with its rsync) at rsync call ``stop_at``."""
        self.count.unlink(missing_ok=True)
        self.waiting.unlink(missing_ok=True)
        env = dict(os.environ)
        for key, value in cli_env(self.slapd, ISPCTL_PROVIDERS="ldap,web", ISPCTL_MOVE_JOURNAL=str(self.journal),
                                  ISPCTL_RSYNC=str(self.wrapper), WRAP_COUNT=str(self.count),
                                  WRAP_STOP_AT=str(stop_at), WRAP_WAITING=str(self.waiting)).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        apply = subprocess.Popen([ispctl_binary(), "apply", "--auto-approve", "-d", str(self.builder.root)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
        try:
            for _ in range(6000):  # the wrapper's sign, or the apply ended without reaching that call
                if self.waiting.exists() or apply.poll() is not None:
                    break
                time.sleep(0.01)
            assert self.waiting.exists(), apply.communicate()[0] if apply.poll() is not None else "no rsync call"
        finally:
            os.killpg(apply.pid, signal.SIGKILL)
            apply.wait()
            assert apply.stdout is not None
            apply.stdout.close()

    def stored_host(self) -> list[str]:
        [entry] = search(self.slapd, f"(associatedDomain={SITE})", "ispctlWebHost").values()
        return [str(v) for v in entry.get("ispctlwebhost", [])]


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[dict[str, WebServers]]:
    publics = [Path(tempfile.mkdtemp(prefix="ispctl-test-web-")) for _ in HOSTS]
    servers = {}
    try:
        for name, public in zip(HOSTS, publics, strict=True):
            public.chmod(0o755)
            servers[name] = WebServers(tmp_path / name, public=public)
            servers[name].start()
        yield servers
    finally:
        for one in servers.values():
            one.stop()
        for public in publics:
            subprocess.run(["rm", "-rf", str(public)], check=False)


def test_a_site_moves_with_its_files_through_kills_and_the_old_copy_is_archived(
        slapd: SlapdInstance, tmp_path: Path, two_hosts: dict[str, WebServers]) -> None:
    w1, w2 = HOSTS
    cluster = Cluster(slapd, tmp_path, two_hosts)
    cluster.central("apply", "--auto-approve")
    assert cluster.stored_host() == [f"{SITE} {w1}"]
    assert "No changes." in cluster.host(w2, "plan")  # nothing of the site on w2
    cluster.host(w1, "apply", "--auto-approve")
    home = Path(two_hosts[w1].layout.web_root) / "acme" / SITE
    docroot = home / "htdocs"
    uid = docroot.stat().st_uid
    # The customer's files, written as the site's user would.
    files = {"index.php": "<?php echo 'served by PHP ' . (6 * 7);\n", "img/logo.bin": os.urandom(100_000),
             "deep/a/b/c.txt": "deep\n", "old.html": "to be changed\n"}
    for rel, content in files.items():
        path = docroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for path in [docroot, *docroot.rglob("*")]:
        os.chown(path, uid, uid)
    assert _get(two_hosts[w1], SITE) == (200, "served by PHP 42")

    cluster.place(w2)
    changes = changes_by_address(json.loads(cluster.central("plan", "--json")))
    assert list(changes) == [f"webhost.{SITE}"]
    # Until the move switches the directory, the hosts' runs keep the site where it is: git's
    # new placement neither archives it on w1 nor makes an empty one on w2.
    for name in HOSTS:
        assert "No changes." in cluster.host(name, "plan")

    # 1. killed during the first copy (rsync call 1: old host -> stage): the directory still says w1.
    cluster.killed_apply(stop_at=1)
    assert cluster.stored_host() == [f"{SITE} {w1}"]
    plan = cluster.central("plan")
    assert f"moving site {SITE} from {w1} to {w2} stopped before the directory was switched" in plan
    (docroot / "old.html").write_text("changed before the switch\n", encoding="utf-8")
    cluster.host(w1, "apply", "--auto-approve")  # a host's run meanwhile: nothing archived
    assert _get(two_hosts[w1], SITE) == (200, "served by PHP 42")

    # 2. killed while the stage is copied onto w2 (call 2): still before the switch.
    cluster.killed_apply(stop_at=2)
    assert cluster.stored_host() == [f"{SITE} {w1}"]

    # 3. killed during the final sync (calls 1-2 copy, the switch, call 3): the directory says w2.
    cluster.killed_apply(stop_at=3)
    assert cluster.stored_host() == [f"{SITE} {w2}"]
    assert "stopped after the directory was switched" in cluster.central("plan")
    (docroot / "late.txt").write_text("written on w1 after the switch\n", encoding="utf-8")
    new_docroot = Path(two_hosts[w2].layout.web_root) / "acme" / SITE / "htdocs"
    (new_docroot / "upload.txt").write_text("uploaded on w2 after the switch\n", encoding="utf-8")

    # 4. the next apply finishes (the final sync only: nothing on w2 is undone).
    cluster.central("apply", "--auto-approve")
    assert "No changes." in cluster.central("plan")
    assert site_journal(cluster.journal / "web").pending() == {}
    assert cluster.stored_host() == [f"{SITE} {w2}"]
    expected = _tree(docroot)
    copied = _tree(new_docroot)
    assert copied.pop("upload.txt").endswith(f" {os.getuid()}")
    assert copied == expected and "late.txt" in copied and (new_docroot / "old.html").read_text() == (
        "changed before the switch\n")

    # Each host's own run: w2 serves the site from the copied files, w1 archives its copy.
    cluster.host(w2, "apply", "--auto-approve")
    assert _get(two_hosts[w2], SITE) == (200, "served by PHP 42")
    assert _get(two_hosts[w2], SITE, "/deep/a/b/c.txt") == (200, "deep\n")
    assert _tree(new_docroot) == {**expected, "upload.txt": _tree(new_docroot)["upload.txt"]}
    cluster.host(w1, "apply", "--auto-approve")
    assert not home.exists() and _get(two_hosts[w1], SITE)[1] != "served by PHP 42"
    [archived] = Path(two_hosts[w1].layout.archive_dir).iterdir()
    assert _tree(archived / "site" / "htdocs") == expected
    for name in HOSTS:
        assert "No changes." in cluster.host(name, "plan")


def test_a_failed_copy_never_switches(tmp_path: Path) -> None:
    journal = site_journal(tmp_path / "journal")
    files = SiteFilesToMove.of("a.example", "/srv/www/acme", "/srv/www/acme/a.example/htdocs", "/srv/www")
    assert files.paths == ("acme/a.example",)
    switched: list[bool] = []
    locations = {"w1": str(tmp_path / "w1"), "w2": str(tmp_path / "w2")}
    with pytest.raises(MoveError, match="does not exist"):
        move_site(files, "w1", "w2", locations, Rsync(), journal, lambda: switched.append(True))
    assert switched == [] and journal.pending()["a.example"].step == "copy"
    with pytest.raises(MoveError, match="w3 is not a web host"):
        move_site(files, "w1", "w3", locations, Rsync(), journal, lambda: switched.append(True))


def test_a_docroot_outside_the_site_directory_moves_too_and_one_outside_the_root_is_refused() -> None:
    files = SiteFilesToMove.of("a.example", "/srv/www/acme", "/srv/www/acme/main/htdocs", "/srv/www")
    assert files.paths == ("acme/a.example", "acme/main/htdocs")
    with pytest.raises(MoveError, match="not inside the web root"):
        SiteFilesToMove.of("a.example", "/elsewhere/acme", "/elsewhere/acme/a.example/htdocs", "/srv/www")
