"""The web provider through the engine against a real Apache 2.4 and php-fpm 8.2 on loopback.

Each test gets its own Apache and php-fpm (the sandbox's, fixture ``web``); what they serve is checked
with plain HTTP requests carrying the Host header, reloads are counted by the wrapper the
reload commands go through, and the files are looked at on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ispctl.providers.web.live import FILE_DRIFT
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.quota import filesystem_of, not_enforced
from ispctl.providers.web.render import Layout
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.contract import Resource, Session
from ispctl.reconciler.engine.apply import ApplyResult, apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import Plan
from tests.web_helpers import ALICE_HASH, WebHost, https_get, self_signed, site
from tests.wiring import open_session

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists()
                                or not Path("/usr/sbin/php-fpm8.2").exists(),
                                reason="needs root (sites are chowned), apache2 and php8.2-fpm (.ci/setup)")


@pytest.fixture
def host(web: WebServers, tmp_path: Path) -> WebHost:
    return WebHost(web, tmp_path / "reloads.log")


def provider(host: WebHost) -> WebProvider:
    return WebProvider(host.layout, host.control)


def plan(p: WebProvider, sites: list[Resource]) -> Plan:
    return compute_plan({s.identity: s for s in sites}, p.read(), archives=p.ARCHIVES)


def apply(p: WebProvider, sites: list[Resource]) -> tuple[Plan, ApplyResult]:
    planned = plan(p, sites)
    return planned, apply_plan(planned, lambda kind: p)


def put(lay: Layout, s: Resource, name: str, body: str) -> None:
    docroot = s.attrs["docroot"]
    assert isinstance(docroot, str)
    Path(docroot, name).write_text(body)


def test_sites_serve_their_content_aliases_redirects_php_and_protected_paths(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    www = site(lay, "www.example.net", aliases=("example.net",),
               redirects=("301 /old https://www.example.net/new", "302 /shop https://shop.example.org/"))
    php = site(lay, "php.example.net", php=True, uid=20002, gid=20003)
    locked = site(lay, "locked.example.net", protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",))
    moved = site(lay, "moved.example.net", redirects=("301 * https://www.example.net/",))
    planned, result = apply(p, [www, php, locked, moved])
    assert result.ok, result.failed
    put(lay, www, "index.html", "hello from www\n")
    put(lay, php, "id.php", "<?php echo 'uid=' . posix_geteuid() . ' gid=' . posix_getegid();")
    Path(str(locked.attrs["docroot"]), "admin").mkdir()
    put(lay, locked, "admin/index.html", "the admin page\n")

    assert host.get("www.example.net")[2] == "hello from www\n"
    assert host.get("example.net")[2] == "hello from www\n"  # the alias
    status, headers, _ = host.get("www.example.net", "/old/page")
    assert (status, headers["location"]) == (301, "https://www.example.net/new/page")
    status, headers, _ = host.get("www.example.net", "/shop")
    assert (status, headers["location"]) == (302, "https://shop.example.org/")
    status, headers, _ = host.get("moved.example.net", "/a/b")
    assert (status, headers["location"]) == (301, "https://www.example.net/a/b")
    assert host.get("php.example.net", "/id.php")[2] == "uid=20002 gid=20003"  # the pool runs as the site
    assert host.get("locked.example.net", "/admin/")[0] == 401
    assert host.get("locked.example.net", "/admin/", auth=("alice", "wrong"))[0] == 401
    assert host.get("locked.example.net", "/admin/", auth=("alice", "s3cret"))[2] == "the admin page\n"
    # The hashes are in a file Apache's workers may read, never in the vhost or the plan.
    secret = Path(lay.htpasswd_path("locked.example.net"))
    assert secret.stat().st_mode & 0o777 == 0o640 and ALICE_HASH in secret.read_text()
    assert ALICE_HASH not in Path(lay.vhost_path("locked.example.net")).read_text()
    assert ALICE_HASH not in str([c.to_dict() for c in planned.changes])
    # One reload of each daemon for the whole apply, and nothing left to do.
    assert host.reloads() == ["php-fpm", "apache"]
    assert plan(p, [www, php, locked, moved]).changes == ()


def test_a_suspended_site_serves_the_suspended_page(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "www.example.net", php=True)
    assert apply(p, [s])[1].ok
    put(lay, s, "index.html", "customer content\n")
    assert host.get("www.example.net")[2] == "customer content\n"
    assert apply(p, [site(lay, "www.example.net", php=True, status="suspended")])[1].ok
    status, _, body = host.get("www.example.net", "/index.html")
    assert status == 503 and "Site suspended" in body and "customer content" not in body
    assert not Path(lay.pool_path("www.example.net")).exists()


def test_many_sites_one_reload(host: WebHost) -> None:
    p = provider(host)
    sites = [site(host.layout, f"s{i}.example.net", php=i % 4 == 0, uid=21000 + i, gid=21000 + i) for i in range(40)]
    assert apply(p, sites)[1].ok
    assert host.reloads() == ["php-fpm", "apache"]
    changed = [site(host.layout, s.key, aliases=(f"alias.{s.key}",), php=s.attrs["php"], uid=s.attrs["uid"],
                    gid=s.attrs["gid"]) for s in sites]
    planned, result = apply(p, changed)
    assert len(planned.changes) == 40 and result.ok
    assert host.reloads() == ["php-fpm", "apache", "apache"]  # the pools did not change
    for i in (1, 39):
        put(host.layout, sites[i], "index.html", f"site {i}\n")
        assert host.get(f"alias.s{i}.example.net")[2] == f"site {i}\n"


def test_a_broken_site_fails_alone_and_the_previous_configuration_keeps_serving(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    old = site(lay, "www.example.net", aliases=("example.net",))
    assert apply(p, [old])[1].ok
    put(lay, old, "index.html", "still here\n")
    # Apache's config test refuses this site's new file (its certificate file is empty).
    Path(lay.certs_dir).mkdir(exist_ok=True)
    Path(lay.certs_dir, "none.pem").write_text("")
    Path(lay.certs_dir, "none.key").write_text("")
    broken = site(lay, "www.example.net", https="custom", cert_file=f"{lay.certs_dir}/none.pem",
                  key_file=f"{lay.certs_dir}/none.key")
    other = site(lay, "other.example.net")
    new = site(lay, "new.example.net")
    _, result = apply(p, [broken, other, new])
    assert [o.change.address for o in result.failed] == ["site.www.example.net"]
    error = result.failed[0].error or ""
    assert "apache configuration test failed" in error and "none.pem" in error
    assert lay.vhost_path("www.example.net") in error  # named where it would have gone live
    assert host.get("example.net")[2] == "still here\n"
    put(lay, new, "index.html", "new site\n")
    assert host.get("new.example.net")[2] == "new site\n"
    assert host.reloads() == ["apache", "apache"]
    assert [c.address for c in plan(p, [broken, other, new]).changes] == ["site.www.example.net"]


def test_a_site_the_probe_cannot_reach_gets_its_previous_files_back(host: WebHost) -> None:
    lay = host.layout
    p = WebProvider(lay, replace(host.control, probe_timeout=2))
    # A vhost ispctl does not own, loaded first, answers for this name: the new site never would.
    Path(lay.sites_dir, "000-foreign.conf").write_text(
        f"<VirtualHost *:{lay.http_port}>\n    ServerName taken.example.net\n</VirtualHost>\n")
    _, result = apply(p, [site(lay, "taken.example.net"), site(lay, "fine.example.net")])
    assert [o.change.address for o in result.failed] == ["site.taken.example.net"]
    assert "probe: http://taken.example.net" in (result.failed[0].error or "")
    assert not Path(lay.vhost_path("taken.example.net")).exists()
    assert Path(lay.sites_dir, "000-foreign.conf").exists()  # never touched
    assert host.reloads() == ["apache", "apache"]  # the run's reload, and the one that took the site back


def test_a_deleted_site_is_archived_byte_for_byte(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "www.example.net", php=True)
    assert apply(p, [s])[1].ok
    content = os.urandom(4096)
    Path(str(s.attrs["docroot"]), "data.bin").write_bytes(content)
    planned, result = apply(p, [])
    assert result.ok and planned.changes[0].archive
    assert not Path(lay.vhost_path("www.example.net")).exists() and not Path(lay.pool_path("www.example.net")).exists()
    assert not Path(lay.web_root, "acme", "www.example.net").exists()
    [archived] = list(Path(lay.archive_dir).iterdir())
    assert (archived / "site" / "htdocs" / "data.bin").read_bytes() == content
    assert "data.bin" in (archived / ".ispctl-archive.json").read_text()
    assert host.get("www.example.net")[0] != 200 or "data" not in host.get("www.example.net", "/data.bin")[2]
    assert plan(p, []).changes == ()


def test_a_hand_edit_is_drift_and_apply_repairs_it(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "www.example.net")
    assert apply(p, [s])[1].ok
    vhost = Path(lay.vhost_path("www.example.net"))
    vhost.write_text(vhost.read_text().replace("</VirtualHost>", "    Redirect 302 / https://evil.example/\n"
                                                                   "</VirtualHost>"))
    planned = plan(p, [s])
    [change] = planned.changes
    assert change.drift == "changed outside ispctl" and FILE_DRIFT in [a.name for a in change.attrs]
    assert apply_plan(planned, lambda kind: p).ok
    assert "evil" not in vhost.read_text() and plan(p, [s]).changes == ()


KILLED_APPLY = """
import json, sys
from ispctl.providers.web.apply_config import Control
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.render import Layout
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from tests.web_helpers import site
given = json.loads(sys.argv[1])
lay = Layout(**given["layout"])
control = Control(**{k: tuple(v) if isinstance(v, list) else v for k, v in given["control"].items()})
p = WebProvider(lay, control)
s = site(lay, "late.example.net")
apply_plan(compute_plan({s.identity: s}, p.read()), lambda kind: p)
"""


def test_an_apply_killed_before_the_reload_is_finished_by_the_next(host: WebHost) -> None:
    lay = host.layout
    # The reload command kills the apply that runs it: its files are swapped in, nothing reloaded.
    killer = replace(host.control, apache_reload=("sh", "-c", "kill -KILL $PPID"))
    given = {"layout": dataclasses.asdict(lay), "control": dataclasses.asdict(killer)}
    done = subprocess.run([sys.executable, "-c", KILLED_APPLY, json.dumps(given)], cwd=Path(__file__).parent.parent,
                          check=False)
    assert done.returncode == -signal.SIGKILL
    assert Path(lay.vhost_path("late.example.net")).exists()
    assert host.get("late.example.net")[0] == 404  # Apache still serves what it had
    p = provider(host)
    s = site(lay, "late.example.net")
    [change] = plan(p, [s]).changes
    assert change.interrupted is not None and "stopped before the web server reloaded" in change.interrupted
    assert change.drift is None
    assert apply_plan(plan(p, [s]), lambda kind: p).ok
    assert host.reloads() == ["apache"]
    put(lay, s, "index.html", "late but there\n")
    assert host.get("late.example.net")[2] == "late but there\n"
    assert plan(p, [s]).changes == ()


def test_a_new_owner_gets_the_files_and_a_move_to_another_tenant_archives_the_old_ones(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "www.example.net", uid=20001, gid=20001)
    assert apply(p, [s])[1].ok
    put(lay, s, "index.html", "mine\n")
    os.symlink("/etc/passwd", f"{s.attrs['docroot']}/link")
    owned = site(lay, "www.example.net", uid=20005, gid=20006)
    assert apply(p, [owned])[1].ok
    page = Path(str(s.attrs["docroot"]), "index.html")
    assert (page.stat().st_uid, page.stat().st_gid) == (20005, 20006)
    assert os.lstat(f"{s.attrs['docroot']}/link").st_uid == 20005 and os.stat("/etc/passwd").st_uid == 0
    moved = site(lay, "www.example.net", tenant="other", uid=20007, gid=20007)
    assert apply(p, [moved])[1].ok
    assert not page.exists()
    [archived] = list(Path(lay.archive_dir).iterdir())
    assert (archived / "site" / "htdocs" / "index.html").read_text() == "mine\n"
    assert Path(str(moved.attrs["docroot"])).is_dir() and plan(p, [moved]).changes == ()


def test_the_example_estate_s_sites_go_live_through_a_session(web: WebServers, tmp_path: Path) -> None:
    """LANG's compiled sites, LANG's build() from the sandbox's ISPCTL_WEB_* variables, this provider."""
    estate = tmp_path / "estate"
    shutil.copytree(Path(__file__).parent.parent / "desired-state", estate)
    # No ACME server here: https: auto sites stay on HTTP (a warning each), which is what is checked.
    env = {"ISPCTL_PROVIDERS": "web", **web.env(), "ISPCTL_WEB_ACME_DIRECTORY": "http://127.0.0.1:9/directory",
           "ISPCTL_WEB_PROBE_TIMEOUT": "5"}
    with open_session(estate, env) as session:
        planned = session.plan()
        result = session.apply(planned)
    assert result.ok, result.failed
    assert len(result.outcomes) >= 4
    host = WebHost(web, tmp_path / "reloads.log")
    assert host.get("northwind.example", "/intranet/")[0] == 401
    assert host.get("www.northwind.example", "/support")[1]["location"] == "https://status.northwind.example/"
    # The site whose operator-provided certificate is not on this machine serves HTTP meanwhile.
    assert host.get("shop.northwind.example", "/")[0] in (403, 404)
    # The derived mail autoconfig site (web.mailconfig) answers with the XML Thunderbird asks for.
    status, headers, body = host.get("autoconfig.northwind.example", "/mail/config-v1.1.xml")
    assert (status, headers["content-type"]) == (200, "application/xml") and "<hostname>imap.example.net<" in body
    # The https: auto sites got no certificate (no CA here): the next plan asks again, as pending work.
    auto = sorted(c.address for c in planned.changes if c.after is not None and c.after.attrs.get("https") == "auto")
    with open_session(estate, env) as session:
        again = session.plan().changes
    assert auto and sorted(c.address for c in again) == auto
    assert all(c.interrupted and "the next apply asks the CA again" in c.interrupted for c in again)


def test_an_operator_s_certificate_not_there_yet_serves_http_and_https_once_it_is(host: WebHost, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]
                                                                                   ) -> None:
    lay = host.layout
    cert, key = tmp_path / "ssl" / "shop.pem", tmp_path / "ssl" / "private" / "shop.key"
    s = site(lay, "shop.example.net", https="custom", cert_file=str(cert), key_file=str(key), hsts=600)
    p = provider(host)
    assert apply(p, [s])[1].ok
    warned = f"site.shop.example.net: {cert} and {key} do not exist on the web host; serving HTTP only until it exists"
    assert p.warnings == [warned] and warned in capsys.readouterr().err.replace("\n", " ")
    put(lay, s, "index.html", "the shop\n")
    assert host.get("shop.example.net")[2] == "the shop\n"
    # Nothing to do while the files are missing; the next run says so again, once.
    again = provider(host)
    assert plan(again, [s]).changes == () and again.warnings == [warned]
    self_signed("shop.example.net", cert, key)
    later = provider(host)
    [change] = plan(later, [s]).changes
    assert change.interrupted is not None and "are on the web host now" in change.interrupted and later.warnings == []
    assert apply_plan(plan(later, [s]), lambda kind: later).ok
    assert host.get("shop.example.net")[0] == 301  # port 80 now redirects to HTTPS
    assert https_get(lay.https_port, "shop.example.net", cert) == (200, "the shop\n")
    assert plan(later, [s]).changes == ()


def test_a_hand_broken_site_is_repaired_and_a_broken_foreign_file_blocks_with_a_clear_error(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "www.example.net")
    assert apply(p, [s])[1].ok
    vhost = Path(lay.vhost_path("www.example.net"))
    vhost.write_text(vhost.read_text().replace("</VirtualHost>", "    NoSuchDirective on\n</VirtualHost>"))
    # The repair is part of the candidate configuration, so the new site next to it goes live too.
    new = site(lay, "new.example.net")
    planned, result = apply(p, [s, new])
    assert len(planned.changes) == 2 and result.ok
    Path(lay.sites_dir, "zz-foreign.conf").write_text("AnotherUnknownDirective on\n")
    planned, result = apply(p, [s, new, site(lay, "third.example.net"), site(lay, "fourth.example.net")])
    assert sorted(o.change.address for o in result.failed) == ["site.fourth.example.net", "site.third.example.net"]
    error = result.failed[0].error or ""
    assert "fails its test without any of this run's changes" in error and "zz-foreign.conf" in error
    assert Path(lay.sites_dir, "zz-foreign.conf").read_text() == "AnotherUnknownDirective on\n"  # never touched


def test_the_longest_redirect_wins_and_a_path_target_stays_on_the_site(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    # Sorted as text, "301 /a ..." comes before "302 /a/b ...": Apache must still pick /a/b for /a/b/c.
    s = site(lay, "www.example.net", redirects=("301 /a https://other.example/a", "302 /a/b /new",
                                                "301 * https://www.example.org/"))
    assert apply(p, [s])[1].ok
    status, headers, _ = host.get("www.example.net", "/a/b/c")
    assert (status, headers["location"]) == (302, "http://www.example.net/new/c")  # the Host asked for
    status, headers, _ = host.get("www.example.net", "/a/x")
    assert (status, headers["location"]) == (301, "https://other.example/a/x")
    status, headers, _ = host.get("www.example.net", "/elsewhere")
    assert (status, headers["location"]) == (301, "https://www.example.org/elsewhere")


def test_a_php_page_sees_the_site_s_pool_limits(host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    s = site(lay, "php.example.net", php=True, php_memory_limit="96M", php_upload_max_filesize="7M",
             php_max_execution_time=45, uid=20011, gid=20011)
    assert apply(p, [s])[1].ok
    put(lay, s, "limits.php", "<?php foreach (['memory_limit', 'upload_max_filesize', 'post_max_size', "
                              "'max_execution_time'] as $k) echo $k, '=', ini_get($k), ' ';")
    assert host.get("php.example.net", "/limits.php")[2].split() == [
        "memory_limit=96M", "upload_max_filesize=7M", "post_max_size=7M", "max_execution_time=45"]


def test_a_site_with_a_wildcard_alias_is_read_last_and_takes_only_the_names_no_other_site_has(
        host: WebHost) -> None:
    lay = host.layout
    p = provider(host)
    # "a..." sorts before "b...": were its file read first, its *.example.net would take b's name,
    # and x.shop.example.net, which the narrower *.shop.example.net of "shop" should get.
    wild = site(lay, "a.example.net", aliases=("*.example.net",))
    other = site(lay, "b.example.net", uid=20002, gid=20002)
    shop = site(lay, "shop.example.net", aliases=("*.shop.example.net",), uid=20003, gid=20003)
    assert apply(p, [wild, other, shop])[1].ok
    for s, text in ((wild, "catch-all\n"), (other, "site b\n"), (shop, "the shops\n")):
        put(lay, s, "index.html", text)
    assert host.get("b.example.net")[2] == "site b\n"
    assert host.get("anything.example.net")[2] == "catch-all\n"
    assert host.get("x.shop.example.net")[2] == "the shops\n"
    assert sorted(os.listdir(lay.sites_dir))[-2:] == ["~995-shop.example.net.conf", "~996-a.example.net.conf"]
    assert plan(p, [wild, other, shop]).changes == ()
    # Without the wildcard the file takes the plain name again (the old one removed), and back.
    plain = site(lay, "a.example.net", aliases=("c.example.net",))
    assert apply(p, [plain, other, shop])[1].ok
    assert not Path(lay.vhost_path("a.example.net", ("*.example.net",))).exists()
    assert host.get("c.example.net")[2] == "catch-all\n" and host.get("b.example.net")[2] == "site b\n"
    assert plan(p, [plain, other, shop]).changes == ()
    assert apply(p, [wild, other, shop])[1].ok and not Path(lay.vhost_path("a.example.net")).exists()
    assert host.get("b.example.net")[2] == "site b\n" and plan(p, [wild, other, shop]).changes == ()


def test_a_site_quota_is_said_once_per_run_to_be_not_enforced(host: WebHost,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    lay = host.layout
    p = provider(host)
    sites = [site(lay, "www.example.net", quota=1024**2), site(lay, "free.example.net")]
    assert apply(p, sites)[1].ok
    fs = filesystem_of(lay.web_root)
    assert fs is not None and lay.web_root.startswith(fs.mount_point)
    # The read does not know the new site, the change does: one warning for the run, naming the filesystem.
    assert p.warnings == [not_enforced("site.www.example.net", 1024**2, lay.web_root, fs)]
    assert f"quota 1 MiB is not enforced: {fs.describe()} (holding {lay.web_root})" in p.warnings[0]
    assert capsys.readouterr().err.count("quota 1 MiB is not enforced") == 1
    again = provider(host)
    assert plan(again, sites).changes == () and again.warnings == p.warnings  # a plan says it too


def test_a_plan_shows_the_vhost_change_it_puts_live(host: WebHost) -> None:
    """The detail is the diff from the file Apache serves now to the one the apply writes."""
    lay = host.layout
    p = provider(host)
    old = site(lay, "www.example.net", redirects=("301 /old https://example.net/a",))
    assert apply(p, [old])[1].ok
    new = site(lay, "www.example.net", redirects=("301 /old https://example.net/b",))
    session = Session({new.identity: new}, [p])
    [change] = session.plan().changes
    assert [line for line in change.detail if line[:1] in "+-"] == [
        "--- sites/www.example.net.conf", "+++ sites/www.example.net.conf",
        '-    Redirect 301 "/old" "https://example.net/a"', '+    Redirect 301 "/old" "https://example.net/b"']
    assert host.get("www.example.net", "/old")[1]["location"] == "https://example.net/a"
    assert session.apply(session.plan()).ok
    assert host.get("www.example.net", "/old")[1]["location"] == "https://example.net/b"
    assert session.plan().empty
