"""Apache + php-fpm in ``ispctl sandbox``: found again by later calls, and enough for the web provider."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.request
from pathlib import Path

from web_helpers import ALICE_HASH, https_get, site

from ispctl.providers.web import control, layout
from ispctl.providers.web.certs import acme_settings
from ispctl.providers.web.provider import WebProvider, certify_with_acme
from ispctl.providers.web.sandbox.component import FALLBACK_PARENT, WebComponent, WebServers
from ispctl.providers.web.sandbox.pebble import LoopbackResolver, PebbleInstance
from ispctl.providers.web.settings import OVERRIDES, WebSettings
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.harness import sandbox
from ispctl.reconciler.harness.daemons import pids_matching


def markers(state: dict[str, object]) -> list[int]:
    servers = WebServers.from_state(state)
    return pids_matching(servers.apache.marker) + pids_matching(servers.php.marker)


def get(port: int, host: str, path: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_up_down_and_up_again_keep_ports_and_the_sites_files(web_public: Path) -> None:
    component = WebComponent()
    workdir = web_public / "sandbox" / "web"
    state = component.up(workdir, None, {})
    try:
        status = component.status(state)
        assert status["running"] and status["url"] == f"http://127.0.0.1:{state['port']}/"
        assert status["pid"] == WebServers.from_state(state).apache.pid
        # The sandbox root can be entered by everyone: the public part stays inside it.
        assert state["public"] == str(workdir / "public")
        (Path(state["public"]) / "www" / "kept.txt").write_text("kept\n")
    finally:
        assert component.down(state) is True
    assert markers(state) == [] and not component.status(state)["running"]
    assert component.down(state) is False
    again = component.up(workdir, state, {})
    try:
        assert (again["port"], again["https_port"], again["public"]) == (state["port"], state["https_port"],
                                                                          state["public"])
        assert (Path(again["public"]) / "www" / "kept.txt").read_text() == "kept\n"
    finally:
        component.down(again)
    assert markers(again) == []


def test_a_sandbox_root_others_cannot_enter_keeps_the_public_part_under_var_tmp(tmp_path: Path) -> None:
    component = WebComponent()
    state = component.up(tmp_path / "web", None, {})  # pytest's temp dir is 0700
    public = Path(state["public"])
    try:
        assert public.parent == FALLBACK_PARENT and public.name.startswith("ispctl-sandbox-web-")
        assert (public / "sandbox-root").read_text().strip() == str(tmp_path)
    finally:
        component.down(state)
        component.purge(state)
    assert not public.exists() and markers(state) == []


def test_every_exported_variable_is_a_web_setting_and_the_provider_serves_through_them(web_public: Path) -> None:
    root = web_public / "sandbox"
    report = sandbox.up(root, [WebComponent()])
    try:
        assert report["components"]["web"]["action"] == "started"
        env = sandbox.env(root, [WebComponent()])
        assert env["ISPCTL_PROVIDERS"] == "web"
        known = {o.variable: o.field for o in OVERRIDES}
        exported = {k: v for k, v in env.items() if k.startswith("ISPCTL_WEB_")}
        assert set(exported) <= set(known), set(exported) - set(known)
        settings = WebSettings.model_validate({known[k]: v for k, v in exported.items()})
        lay = layout(settings)
        provider = WebProvider(lay, control(settings))
        locked = site(lay, "locked.example.net", protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",))
        php = site(lay, "php.example.net", php=True, uid=23456, gid=23457)
        desired = {s.identity: s for s in (locked, php)}
        result = apply_plan(compute_plan(desired, provider.read(), archives=provider.ARCHIVES), lambda kind: provider)
        assert result.ok, result.failed
        Path(str(locked.attrs["docroot"]), "admin").mkdir()
        Path(str(locked.attrs["docroot"]), "admin", "index.html").write_text("the admin page\n")
        Path(str(php.attrs["docroot"]), "id.php").write_text("<?php echo posix_geteuid(), ' ', posix_getegid();")
        port = settings.http_port
        assert get(port, "locked.example.net", "/admin/")[0] == 401
        assert get(port, "locked.example.net", "/admin/", auth=("alice", "s3cret")) == (200, "the admin page\n")
        assert get(port, "php.example.net", "/id.php") == (200, "23456 23457")
    finally:
        sandbox.down(root, [WebComponent()], purge=True)
    assert not root.exists()


def test_pebble_issues_over_http_01_through_apache_and_its_roots_outlive_a_restart(web_public: Path) -> None:
    """Every name resolves to the sandbox's Apache (the loopback resolver), whatever the estate's
    zones say; a certificate issued before ``down`` and ``up`` still verifies against the kept roots."""
    component = WebComponent()
    workdir = web_public / "web"
    state = component.up(workdir, None, {})
    pebble = PebbleInstance.from_state(state["pebble"])
    resolver = LoopbackResolver.from_state(state["resolver"])
    try:
        assert (pebble.http_port, pebble.dns_port) == (state["port"], resolver.port)
        env = component.env(state)
        settings = WebSettings.model_validate({o.field: env[o.variable] for o in OVERRIDES if o.variable in env})
        lay = layout(settings)
        provider = WebProvider(lay, control(settings), certify_with_acme(lay, acme_settings(settings, {})))
        shop = site(lay, "shop.bakery.example", https="auto", aliases=("bakery.example",))
        result = apply_plan(compute_plan({shop.identity: shop}, provider.read(), archives=provider.ARCHIVES),
                            lambda kind: provider)
        assert result.ok and provider.notes == [], (result.failed, provider.notes)
        Path(str(shop.attrs["docroot"]), "index.html").write_text("fresh bread\n")
        roots = Path(env["ISPCTL_PEBBLE_ROOTS"])
        assert https_get(settings.https_port, "bakery.example", roots) == (200, "fresh bread\n")
        assert compute_plan({shop.identity: shop}, provider.read()).changes == ()
        assert component.status(state)["running"]
    finally:
        assert component.down(state) is True
    assert markers(state) == [] and not pebble.running() and not resolver.running()
    assert pids_matching(pebble.marker) == [] and pids_matching(resolver.marker) == []
    again = component.up(workdir, state, {})
    try:
        assert again["pebble"]["port"] == state["pebble"]["port"]
        env = component.env(again)
        assert env["ISPCTL_WEB_ACME_CA_BUNDLE"] == str(pebble.ca_file)
        context = ssl.create_default_context(cafile=str(pebble.ca_file))
        with urllib.request.urlopen(env["ISPCTL_WEB_ACME_DIRECTORY"], context=context, timeout=10) as response:
            assert "newOrder" in json.loads(response.read())
        # A new root (pebble makes one per start), the old one kept beside it: the old certificate verifies.
        restarted = PebbleInstance.from_state(again["pebble"])
        assert restarted.root_pem().strip() in roots.read_text() and roots.read_text().count("BEGIN") == 2
        assert https_get(again["https_port"], "shop.bakery.example", roots) == (200, "fresh bread\n")
    finally:
        component.down(again)
