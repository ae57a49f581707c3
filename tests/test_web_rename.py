"""A web site renamed (``previous:``): its files moved, never archived and recreated, its vhost,
PHP pool and htpasswd file replaced by the new name's in one tested batch, served under the new
name by a real Apache and php-fpm (the ``web`` fixture), the old name no longer; an apply stopped
midway converges on the next (issue 15)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from estate_builder import SITE, EstateBuilder
from ldap_helpers import run_cli
from provision_helpers import NW, edit, example

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.web.placement import HostRun
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.rename import renamed_host
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.contract import ProviderError, Resource, hash_password
from ispctl.reconciler.engine.apply import ApplyResult, apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import Plan
from tests.ldap_helpers import apply_ok, assert_converged, find_one, plan_data
from tests.web_helpers import ALICE_HASH, WebHost, site
from tests.wiring import resources_of

needs_web = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists()
                               or not Path("/usr/sbin/php-fpm8.2").exists(),
                               reason="needs root (sites are chowned), apache2 and php8.2-fpm (.ci/setup)")

OLD, NEW = "shop.example.net", "store.example.net"


@pytest.fixture
def host(web: WebServers, tmp_path: Path) -> WebHost:
    return WebHost(web, tmp_path / "reloads.log")


def plan(p: WebProvider, sites: list[Resource]) -> Plan:
    return compute_plan({s.identity: s for s in sites}, p.read(), archives=p.ARCHIVES)


def apply(p: WebProvider, sites: list[Resource]) -> tuple[Plan, ApplyResult]:
    planned = plan(p, sites)
    return planned, apply_plan(planned, lambda kind: p)


def shop(host: WebHost, name: str = OLD, **attrs: object) -> Resource:
    return site(host.layout, name, php=True, protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",),
                **attrs)  # type: ignore[arg-type]


def renamed(host: WebHost) -> Resource:
    return replace(shop(host, NEW), previous=(OLD,))


def live_site_with_files(host: WebHost) -> dict[str, bytes]:
    """The old site applied and served, with the customer's files (relative path -> bytes)."""
    p = WebProvider(host.layout, host.control)
    assert apply(p, [shop(host)])[1].ok
    docroot = Path(host.layout.web_root, "acme", OLD, "htdocs")
    content = {"index.html": b"the shop\n", "id.php": b"<?php echo 'php ' . $_SERVER['HTTP_HOST'];",
               "admin/index.html": b"admin\n", "data.bin": os.urandom(8192)}
    for name, body in content.items():
        (docroot / name).parent.mkdir(exist_ok=True)
        (docroot / name).write_bytes(body)
    os.chown(docroot / "data.bin", 20001, 20001)
    assert host.get(OLD)[2] == "the shop\n"
    return content


def assert_served_under_the_new_name(host: WebHost, content: dict[str, bytes]) -> None:
    lay = host.layout
    docroot = Path(lay.web_root, "acme", NEW, "htdocs")
    assert {n: (docroot / n).read_bytes() for n in content} == content  # moved, byte for byte
    assert (docroot / "data.bin").stat().st_uid == 20001
    assert not Path(lay.web_root, "acme", OLD).exists()
    assert not Path(lay.archive_dir).exists() or list(Path(lay.archive_dir).iterdir()) == []  # nothing archived
    assert host.get(NEW)[2] == "the shop\n"
    assert host.get(NEW, "/id.php")[2] == f"php {NEW}"
    assert host.get(NEW, "/admin/")[0] == 401
    assert host.get(NEW, "/admin/", auth=("alice", "s3cret"))[2] == "admin\n"
    assert "the shop" not in host.get(OLD)[2]  # the old name is no longer this site
    for old_file in (lay.vhost_path(OLD), lay.pool_path(OLD), lay.htpasswd_path(OLD)):
        assert not Path(old_file).exists(), old_file
    assert Path(lay.vhost_path(NEW)).exists() and Path(lay.pool_path(NEW)).exists()


@needs_web
def test_a_renamed_site_keeps_its_files_and_is_served_under_its_new_name_only(host: WebHost) -> None:
    content = live_site_with_files(host)
    p = WebProvider(host.layout, host.control)
    planned, result = apply(p, [renamed(host)])
    [change] = planned.changes  # one planned rename: nothing archived, nothing created
    assert (change.action, change.key, change.before.key if change.before else None) == ("update", NEW, OLD)
    assert not change.archive
    assert result.ok, result.failed
    assert_served_under_the_new_name(host, content)
    assert host.reloads().count("apache") == 2 and host.reloads().count("php-fpm") == 2  # one each per apply
    assert plan(p, [renamed(host)]).changes == ()
    assert plan(p, [shop(host, NEW)]).changes == ()  # the previous: line may go once applied


@needs_web
def test_an_apply_stopped_after_the_folder_moved_converges_on_the_next(host: WebHost) -> None:
    content = live_site_with_files(host)
    home = Path(host.layout.web_root, "acme")
    os.rename(home / OLD, home / NEW)  # where a kill right after the apply's first step leaves it
    p = WebProvider(host.layout, host.control)
    [change] = plan(p, [renamed(host)]).changes
    assert change.before is not None and change.before.key == OLD
    assert apply(p, [renamed(host)])[1].ok
    assert_served_under_the_new_name(host, content)
    assert plan(p, [renamed(host)]).changes == ()


KILLED = """
import json, sys
from dataclasses import replace
from ispctl.providers.web.apply_config import Control
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.render import Layout
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from tests.web_helpers import ALICE_HASH, site
given = json.loads(sys.argv[1])
lay = Layout(**given["layout"])
control = Control(**{k: tuple(v) if isinstance(v, list) else v for k, v in given["control"].items()})
p = WebProvider(lay, control)
s = replace(site(lay, "store.example.net", php=True, protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",)),
            previous=("shop.example.net",))
apply_plan(compute_plan({s.identity: s}, p.read(), archives=p.ARCHIVES), lambda kind: p)
"""


@needs_web
@pytest.mark.parametrize("daemon", ["php_reload", "apache_reload"])
def test_an_apply_killed_at_a_reload_converges_on_the_next(host: WebHost, daemon: str) -> None:
    content = live_site_with_files(host)
    killer = replace(host.control, **{daemon: ("sh", "-c", "kill -KILL $PPID")})
    given = {"layout": dataclasses.asdict(host.layout), "control": dataclasses.asdict(killer)}
    done = subprocess.run([sys.executable, "-c", KILLED, json.dumps(given)], cwd=Path(__file__).parent.parent,
                          check=False)
    assert done.returncode == -signal.SIGKILL
    p = WebProvider(host.layout, host.control)
    [change] = plan(p, [renamed(host)]).changes
    assert change.key == NEW and not change.archive
    assert apply(p, [renamed(host)])[1].ok
    assert_served_under_the_new_name(host, content)
    assert plan(p, [renamed(host)]).changes == ()


@needs_web
def test_a_rename_onto_a_folder_that_is_not_the_sites_is_refused_and_the_old_name_serves_on(host: WebHost) -> None:
    content = live_site_with_files(host)
    stranger = Path(host.layout.web_root, "acme", NEW)
    stranger.mkdir()
    (stranger / "theirs").write_text("someone else's\n")
    p = WebProvider(host.layout, host.control)
    planned, result = apply(p, [renamed(host)])
    assert not result.ok and "exists already" in str(result.failed)
    assert (stranger / "theirs").read_text() == "someone else's\n"
    docroot = Path(host.layout.web_root, "acme", OLD, "htdocs")
    assert {n: (docroot / n).read_bytes() for n in content} == content
    assert host.get(OLD)[2] == "the shop\n"


@needs_web
def test_a_rename_the_config_test_refuses_moves_the_folder_back_and_the_old_name_serves_on(host: WebHost) -> None:
    content = live_site_with_files(host)
    lay = host.layout
    # Apache's config test refuses the new name's file (its certificate file is empty).
    Path(lay.certs_dir).mkdir(exist_ok=True)
    Path(lay.certs_dir, "none.pem").write_text("")
    Path(lay.certs_dir, "none.key").write_text("")
    broken = replace(renamed(host), attrs={**renamed(host).attrs, "https": "custom",
                                           "cert_file": f"{lay.certs_dir}/none.pem",
                                           "key_file": f"{lay.certs_dir}/none.key"})
    p = WebProvider(lay, host.control)
    _, result = apply(p, [broken])
    assert [o.change.address for o in result.failed] == [f"site.{NEW}"]
    assert "apache configuration test failed" in (result.failed[0].error or "")
    docroot = Path(lay.web_root, "acme", OLD, "htdocs")
    assert {n: (docroot / n).read_bytes() for n in content} == content  # back where the old vhost serves it
    assert not Path(lay.web_root, "acme", NEW).exists()
    assert Path(lay.vhost_path(OLD)).exists() and not Path(lay.vhost_path(NEW)).exists()
    assert host.get(OLD)[2] == "the shop\n"
    assert apply(p, [renamed(host)])[1].ok  # fixed: the rename goes through
    assert_served_under_the_new_name(host, content)

# -- the command: ispctl site rename -----------------------------------------------------------

SB = "tenants/southbay/southbay.example.yaml"
SHOP_LINE = "shop:                                  # shop.northwind.example, its own docroot and pool"


def test_site_rename_writes_previous_and_the_ftp_login_follows(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert edit(root, "site", "add", "www.southbay.example")[0].exit_code == 0
    added = edit(root, "ftp-site", "add", "www.southbay.example", "--password-stdin", input="ftp pw 1\n")[0]
    assert added.exit_code == 0, added.output
    result, diff = edit(root, "site", "rename", "www.southbay.example", "web.southbay.example")
    assert result.exit_code == 0, result.output
    assert diff == {SB: ["-    www:", "+    web:", "+      previous: [www]", "-    www:", "+    web:"]}
    found = resources_of(root)
    assert found[("site", "web.southbay.example")].previous == ("www.southbay.example",)
    login = found[("ftp_login", "web.southbay.example")]
    assert login.previous == ("www.southbay.example",)  # its entry renamed: the password its user set kept
    assert ("site", "www.southbay.example") not in found and ("ftp_login", "www.southbay.example") not in found
    # Renamed back: its own name leaves previous:, the other stays (newest first).
    result, diff = edit(root, "site", "rename", "web.southbay.example", "www.southbay.example")
    assert result.exit_code == 0 and "+      previous: [web]" in diff[SB]
    # The login alone still follows its site.
    result, diff = edit(root, "ftp-site", "rename", "www.southbay.example", "ftp.southbay.example")
    assert result.exit_code == 1 and diff == {} and "follows its site" in result.output


def test_the_batch_operation_renames_the_same_way(tmp_path: Path) -> None:
    root = example(tmp_path)
    line = json.dumps({"op": "site.rename", "object": "shop.northwind.example", "new": "store.northwind.example"})
    result, diff = edit(root, "batch", "-", input=line + "\n")
    assert result.exit_code == 0, result.output
    assert "+      previous: [shop]" in diff[NW] and f"-    {SHOP_LINE}" in diff[NW]
    assert resources_of(root)[("site", "store.northwind.example")].previous == ("shop.northwind.example",)


def test_a_rename_onto_a_taken_name_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "site", "rename", "shop.northwind.example", "northwind.example")
    assert result.exit_code == 1 and diff == {} and "already exists" in result.output


def test_former_names_are_checked_with_file_and_line(tmp_path: Path) -> None:
    root = example(tmp_path)
    text = (root / NW).read_text(encoding="utf-8")
    written = text.replace(f"    {SHOP_LINE}\n", "    store:\n      previous: [old, '*.x', store]\n")
    written = written.replace("    old:                                   #",
                              "    legacy: {previous: [gone], docroot: gone.northwind.example/htdocs}\n"
                              "    old:                                   #")
    assert written.count("previous:") == text.count("previous:") + 2
    (root / NW).write_text(written, encoding="utf-8")
    result = run_cli(None, "validate", "-d", str(root))
    assert result.exit_code == 1
    out = " ".join(result.output.split()).replace("estate/", "")
    lines = written.splitlines()
    store = next(i for i, t in enumerate(lines, 1) if "previous: [old, " in t)
    legacy = next(i for i, t in enumerate(lines, 1) if "legacy:" in t)
    assert f"{NW}:{store}:" in out and f"{NW}:{legacy}:" in out
    assert "old.northwind.example cannot be renamed into store.northwind.example: it is claimed at" in out
    assert out.count("a former name is another plain host name of the domain northwind.example") == 2  # *.x, store
    assert "gone.northwind.example/htdocs is inside the former name's folder gone.northwind.example/" in out


def test_the_sites_ftp_login_is_renamed_in_the_directory_its_entry_and_password_kept(
        slapd: SlapdInstance, tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "web": {"web_root": "/srv/web"}})
    builder.write("tenants/acme/tenant.yaml", "name: Acme\n")
    hashed = hash_password("ftp pw 1", rounds=1000)
    rel = "tenants/acme/acme.example.yaml"
    builder.write(rel, "domain: acme.example\nservices: [mail, web, ftp]\nweb:\n  sites:\n    shop: {}\n"
                       f"ftp:\n  sites:\n    shop: {{password: \"{hashed}\"}}\n")
    apply_ok(slapd, builder.root)
    dn, before = find_one(slapd, "(uid=shop.acme.example)", "entryUUID", "userPassword")
    result, diff = edit(builder.root, "site", "rename", "shop.acme.example", "store.acme.example")
    assert result.exit_code == 0, result.output
    login = f'{{password: "{hashed}"}}'
    assert diff[rel] == ["-    shop: {}", "+    store:", "+      previous: [shop]", f"-    shop: {login}",
                         f"+    store: {login}"]
    data = plan_data(slapd, builder.root)
    assert [(c["address"], c["action"], c.get("renamed_from")) for c in data["changes"]] == [
        ("ftp_login.store.acme.example", "update", "ftp_login.shop.acme.example")]
    assert "password" not in json.dumps(data["changes"])
    apply_ok(slapd, builder.root)
    assert_converged(slapd, builder.root)
    new_dn, after = find_one(slapd, "(uid=store.acme.example)", "entryUUID", "userPassword")
    assert after["entryuuid"] == before["entryuuid"] and after["userpassword"] == before["userpassword"]
    assert new_dn != dn


# -- several web hosts: the site stays where its files are ----------------------------------------


def test_a_renamed_site_stays_on_the_host_its_files_are_on() -> None:
    live = Resource("webhost", OLD, {"host": "web1"})
    sticky = Resource("webhost", NEW, {"host": "web2"}, create_only=frozenset({"host"}), previous=(OLD,))
    assert renamed_host(live, sticky).attrs["host"] == "web1"  # a default host: the old one's
    pinned = replace(sticky, create_only=frozenset())
    with pytest.raises(ProviderError, match="rename it first"):
        renamed_host(live, pinned)  # a rename and a move at once: refused
    assert renamed_host(live, replace(pinned, attrs={"host": "web1"})).attrs["host"] == "web1"
    # A host's own run keeps the renamed site where the directory has its former name until the
    # central run wrote the new one (never on the host git would place a new site on).
    site_there = Resource("site", NEW, {"host": "web2"}, previous=(OLD,))
    assert HostRun("web1", lambda: {OLD: "web1"}).keeps(site_there)
    assert not HostRun("web2", lambda: {OLD: "web1"}).keeps(site_there)
    assert HostRun("web2", lambda: {NEW: "web2"}).keeps(site_there)
