"""A site change's rendered diff in the plan, from data: the files an apply writes are put in a
layout below a temp dir, the provider reads them back, and the session plans against them (no
daemon is needed to read files; tests/test_web_provider.py does the same against the real Apache)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ispctl.providers.web.describe import NO_FILE, PROBE_SHOWN, SiteText, readable, site_diff
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.render import PROBE_HEADER, Layout, render
from ispctl.reconciler.contract import Resource, Session, Value
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.views.markdown import plan_markdown
from ispctl.reconciler.views.text import plan_json, plan_text
from tests.web_helpers import ALICE_HASH, layout, site

HOST = "www.example.net"
# Another user's hash, planted in the live htpasswd file: it must never reach a plan's output.
BOB_HASH = "$apr1$Zq8x3Lk1$8mN2vB5cX7zA1sD4fG6hJ."


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    return layout(tmp_path)


def written(lay: Layout, s: Resource, *, cert: bool = False) -> None:
    """The files an apply writes for ``s``, and its docroot owned by the site's user."""
    out = render(s, lay, cert)
    for path, text in ((f"{lay.sites_dir}/{out.vhost_name}", out.vhost), (lay.pool_path(s.key), out.pool),
                       (lay.htpasswd_path(s.key), out.htpasswd)):
        if text is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
    docroot = Path(str(s.attrs["docroot"]))
    docroot.mkdir(parents=True, exist_ok=True)
    os.chown(docroot, int(str(s.attrs["uid"])), int(str(s.attrs["gid"])))


def planned(lay: Layout, *sites: Resource) -> Plan:
    return Session({s.identity: s for s in sites}, [WebProvider(lay)]).plan()


def outputs(plan: Plan) -> str:
    return plan_text(plan).plain + plan_json(plan) + plan_markdown(plan)


def protected(lay: Layout, **attrs: Value) -> Resource:
    values: dict[str, Value] = {"protected": ("/admin alice",), "htpasswd": (f"alice:{ALICE_HASH}",), **attrs}
    return site(lay, HOST, **values)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a site's docroot belongs to its own uid (chown)")


@needs_root
def test_a_changed_redirect_shows_its_line_diff_in_text_json_and_markdown(lay: Layout) -> None:
    old = protected(lay, redirects=("301 /old https://example.net/a",))
    written(lay, old)
    new = protected(lay, redirects=("301 /old https://example.net/b",))
    plan = planned(lay, new)
    [change] = plan.changes
    name = f"sites/{HOST}.conf"
    assert change.detail[:2] == (f"--- {name}", f"+++ {name}")
    assert [line for line in change.detail[2:] if line[:1] in "+-"] == [
        '-    Redirect 301 "/old" "https://example.net/a"', '+    Redirect 301 "/old" "https://example.net/b"']
    text = plan_text(plan).plain
    assert '        -    Redirect 301 "/old" "https://example.net/a"\n' in text
    assert '        +    Redirect 301 "/old" "https://example.net/b"\n        ' in text
    assert text.index("~ redirects") < text.index(f"--- {name}") < text.index("    }\n")
    [data] = json.loads(plan_json(plan))["changes"]
    assert data["detail"] == list(change.detail)
    markdown = plan_markdown(plan)
    assert '\n+    Redirect 301 "/old" "https://example.net/b"\n' in markdown
    assert markdown.index("```diff") < markdown.index(f"+++ {name}")
    # Written and read back, nothing to do: no change, so no detail either.
    written(lay, new)
    assert planned(lay, new).empty


@needs_root
def test_no_password_hash_ever_reaches_a_plan(lay: Layout) -> None:
    written(lay, protected(lay, htpasswd=(f"alice:{ALICE_HASH}", f"bob:{BOB_HASH}")))
    # A new path for bob and alice's hash replaced: the vhost changes, the htpasswd file too.
    new = protected(lay, protected=("/admin alice", "/staff bob"),
                    htpasswd=(f"alice:{BOB_HASH}", f"bob:{BOB_HASH}"))
    plan = planned(lay, new)
    [change] = plan.changes
    assert '+    <Location "/staff">' in change.detail and "+        Require user bob" in change.detail
    assert not any(".htpasswd" in line and line.startswith(("---", "+++")) for line in change.detail)
    shown = outputs(plan)
    for secret in (ALICE_HASH, BOB_HASH, ALICE_HASH.split("$")[-1], BOB_HASH.split("$")[-1]):
        assert secret not in shown
    # Only a hash changes: no file a person reads changes, so there is no detail at all.
    only_hash = planned(lay, protected(lay, htpasswd=(f"alice:{BOB_HASH}", f"bob:{BOB_HASH}")))
    [change] = only_hash.changes
    assert change.detail == () and BOB_HASH not in outputs(only_hash)


def test_a_new_php_site_shows_its_vhost_and_pool_as_added_lines(lay: Layout) -> None:
    new = site(lay, "shop.example.net", php=True, php_memory_limit="64M")
    [change] = planned(lay, new).changes
    out = render(new, lay, False)
    vhost, pool = readable(out.vhost), readable(out.pool)
    assert change.detail == (f"--- {NO_FILE}", "+++ sites/shop.example.net.conf", f"@@ -0,0 +1,{len(vhost)} @@",
                             *(f"+{line}" for line in vhost),
                             f"--- {NO_FILE}", "+++ pools/shop.example.net.conf", f"@@ -0,0 +1,{len(pool)} @@",
                             *(f"+{line}" for line in pool))
    assert "+php_admin_value[memory_limit] = 64M" in change.detail
    assert not any("managed by ispctl" in line or "ispctl-site:" in line for line in change.detail)


def test_a_new_https_site_is_shown_with_the_certificate_the_apply_would_find(lay: Layout) -> None:
    new = site(lay, HOST, https="auto", hsts=600)
    [change] = planned(lay, new).changes
    assert not any("SSLEngine" in line for line in change.detail)  # no certificate yet: HTTP only
    for path in lay.cert_paths(HOST):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("(a certificate file)")
    [change] = planned(lay, new).changes
    assert "+    SSLEngine on" in change.detail
    assert '+    Header always set Strict-Transport-Security "max-age=600"' in change.detail


@needs_root
def test_a_hand_edit_shows_as_what_the_apply_puts_back(lay: Layout) -> None:
    s = site(lay, HOST)
    written(lay, s)
    vhost = Path(lay.vhost_path(HOST))
    vhost.write_text(vhost.read_text().replace("</VirtualHost>", "    Redirect 302 / https://evil.example/\n"
                                                                   "</VirtualHost>"))
    [change] = planned(lay, s).changes
    assert change.drift and [line for line in change.detail if line[:1] in "+-"][2:] == [
        "-    Redirect 302 / https://evil.example/"]


@needs_root
def test_a_deleted_site_has_no_detail_and_a_renamed_file_is_named_on_both_sides(lay: Layout) -> None:
    s = site(lay, HOST)
    written(lay, s)
    [gone] = planned(lay).changes
    assert gone.action == "delete" and gone.archive and gone.detail == ()
    wildcard = site(lay, HOST, aliases=("*.example.net",))
    [change] = planned(lay, wildcard).changes
    assert change.detail[:2] == (f"--- sites/{HOST}.conf", f"+++ sites/~996-{HOST}.conf")
    assert "+    ServerAlias *.example.net" in change.detail


def test_bookkeeping_lines_are_left_out_and_the_probe_token_is_not_noise(lay: Layout) -> None:
    old, new = render(site(lay, HOST), lay, False), render(site(lay, HOST, hsts=5, php=True), lay, False)
    assert old.token and readable(old.vhost)[0] == "<VirtualHost *:80>"
    assert f'        Header always set {PROBE_HEADER} "{PROBE_SHOWN}"' in readable(old.vhost)
    assert old.token not in "".join(readable(old.vhost))
    # hsts alone (no HTTPS) renders nothing different; php adds the handler and the pool.
    diff = site_diff(SiteText.of(old), SiteText.of(new))
    assert [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))][:2] == [
        '+    <FilesMatch "\\.php$">', f'+        SetHandler "proxy:unix:{lay.socket_path(HOST)}|fcgi://localhost"']
    assert f"+++ pools/{HOST}.conf" in diff and f"--- {NO_FILE}" in diff
    assert site_diff(SiteText.of(old), SiteText.of(old)) == ()
