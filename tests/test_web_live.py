"""Reading live sites back from their files, from data: owned files only, hand edits as drift,
a certificate's arrival as ispctl's own unfinished step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ispctl.providers.web.live import CERT_PENDING, FILE_DRIFT, Owner, SiteFiles, owner_of, parse_site
from ispctl.providers.web.render import Layout, render
from ispctl.reconciler.contract import Resource
from ispctl.reconciler.engine.diff import attr_changes
from tests.web_helpers import ALICE_HASH, layout, site


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    return layout(tmp_path)


def files_of(s: Resource, lay: Layout, *, cert: bool = False, **more: object) -> SiteFiles:
    out = render(s, lay, cert_exists=cert)
    uid, gid = s.attrs["uid"], s.attrs["gid"]
    assert isinstance(uid, int) and isinstance(gid, int)
    found: dict[str, object] = {"host": s.key, "vhost": out.vhost, "pool": out.pool, "htpasswd": out.htpasswd,
                                "docroot": Owner(uid, gid), "cert_exists": cert}
    found.update(more)
    return SiteFiles(**found)  # type: ignore[arg-type]


SITES = [
    {},
    {"aliases": ("example.net",), "redirects": ("301 /a https://x.example/", "302 * https://y.example/")},
    {"php": True, "php_max_children": 3, "php_memory_limit": "64M"},
    {"protected": ("/admin alice", "/private alice"), "htpasswd": (f"alice:{ALICE_HASH}",)},
    {"status": "suspended", "php": True},
    {"status": "suspended", "protected": ("/admin alice",), "htpasswd": (f"alice:{ALICE_HASH}",)},
    {"htpasswd": (f"alice:{ALICE_HASH}",)},  # logins, no protected path (yet)
    {"https": "custom", "cert_file": "/etc/ssl/a.pem", "key_file": "/etc/ssl/a.key", "hsts": 600},
]


@pytest.mark.parametrize("attrs", SITES)
def test_a_rendered_site_reads_back_as_itself_without_drift(lay: Layout, attrs: dict[str, object]) -> None:
    s = site(lay, "www.example.net", **attrs)  # type: ignore[arg-type]
    live = parse_site(files_of(s, lay), lay)
    assert live is not None
    assert attr_changes(live, s) == () and live.parent == s.parent and live.sensitive == s.sensitive
    assert live.recorded_fingerprint == s.fingerprint()
    assert live.drifted() is None and live.interrupted is None


def test_files_without_the_marker_or_for_another_host_are_not_ours(lay: Layout) -> None:
    s = site(lay, "www.example.net")
    assert parse_site(SiteFiles("www.example.net", "<VirtualHost *:80>\n</VirtualHost>\n"), lay) is None
    assert parse_site(files_of(s, lay, host="other.example.net"), lay) is None
    assert owner_of("; managed by ispctl: site=a.example fingerprint=sha256:ab\n[a]\n") == ("a.example", "sha256:ab")
    assert owner_of("# a comment\n") is None


def test_a_hand_edited_vhost_is_drift_that_the_plan_repairs(lay: Layout) -> None:
    s = site(lay, "www.example.net")
    found = files_of(s, lay)
    edited = found.vhost.replace("</VirtualHost>", "    Alias /x /etc\n</VirtualHost>")
    live = parse_site(SiteFiles(**{**found.__dict__, "vhost": edited}), lay)
    assert live is not None
    assert live.attrs[FILE_DRIFT] == f"changed outside ispctl: {lay.vhost_path('www.example.net')}"
    assert live.drifted() == "changed outside ispctl"


def test_an_edited_attribute_line_is_drift(lay: Layout) -> None:
    s = site(lay, "www.example.net")
    found = files_of(s, lay)
    edited = found.vhost.replace('"user": "web-acme"', '"user": "root"')
    live = parse_site(SiteFiles(**{**found.__dict__, "vhost": edited}), lay)
    assert live is not None and live.attrs["user"] == "root" and live.drifted() == "changed outside ispctl"


def test_an_edited_pool_or_password_file_is_drift(lay: Layout) -> None:
    s = site(lay, "www.example.net", php=True, protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",))
    found = files_of(s, lay)
    assert found.pool is not None and found.htpasswd is not None
    pool = parse_site(SiteFiles(**{**found.__dict__, "pool": found.pool.replace("= 5", "= 500")}), lay)
    assert pool is not None and pool.attrs[FILE_DRIFT] == f"changed outside ispctl: {lay.pool_path(s.key)}"
    gone = parse_site(SiteFiles(**{**found.__dict__, "pool": None}), lay)
    assert gone is not None and lay.pool_path(s.key) in str(gone.attrs[FILE_DRIFT])
    other = found.htpasswd + "mallory:$apr1$pjl0q13Z$q4M6Pj6hRbF1wCwKbzjyQ.\n"
    secret = parse_site(SiteFiles(**{**found.__dict__, "htpasswd": other}), lay)
    assert secret is not None and secret.drifted() == "changed outside ispctl"
    assert "htpasswd" in secret.sensitive and len(secret.attrs["htpasswd"] or ()) == 2


def test_a_missing_or_foreign_docroot_shows_what_the_disk_holds(lay: Layout) -> None:
    s = site(lay, "www.example.net")
    missing = parse_site(files_of(s, lay, docroot=None), lay)
    assert missing is not None and missing.attrs["docroot"] is None and missing.drifted() is not None
    foreign = parse_site(files_of(s, lay, docroot=Owner(0, 0)), lay)
    assert foreign is not None and (foreign.attrs["uid"], foreign.attrs["gid"]) == (0, 0)


def test_a_new_certificate_is_pending_work_not_drift(lay: Layout) -> None:
    s = site(lay, "www.example.net", https="auto")
    live = parse_site(files_of(s, lay, cert=False, cert_exists=True), lay)
    assert live is not None and "HTTPS is not served yet" in str(live.attrs[CERT_PENDING])
    assert live.drifted() is None and live.interrupted is not None
    served = parse_site(files_of(s, lay, cert=True), lay)
    assert served is not None and CERT_PENDING not in served.attrs
    gone = parse_site(files_of(s, lay, cert=True, cert_exists=False), lay)
    assert gone is not None and "is gone" in str(gone.attrs[CERT_PENDING])


def test_an_operator_s_certificate_installed_after_the_site_is_pending_work(lay: Layout) -> None:
    s = site(lay, "shop.example.net", https="custom", cert_file="/etc/ssl/s.pem", key_file="/etc/ssl/s.key")
    waiting = parse_site(files_of(s, lay, cert=False), lay)
    assert waiting is not None and CERT_PENDING not in waiting.attrs and waiting.interrupted is None
    arrived = parse_site(files_of(s, lay, cert=False, cert_exists=True), lay)
    assert arrived is not None and arrived.drifted() is None
    assert "/etc/ssl/s.pem and /etc/ssl/s.key) are on the web host now" in str(arrived.attrs[CERT_PENDING])
    gone = parse_site(files_of(s, lay, cert=True, cert_exists=False), lay)
    assert gone is not None and "are gone; HTTPS is still configured" in str(gone.attrs[CERT_PENDING])


def test_an_unreadable_attribute_line_is_planned_for_rewriting(lay: Layout) -> None:
    s = site(lay, "www.example.net")
    found = files_of(s, lay)
    lines = found.vhost.split("\n")
    lines[1] = "# ispctl-site: {broken"
    live = parse_site(SiteFiles(**{**found.__dict__, "vhost": "\n".join(lines)}), lay)
    assert live is not None and "unreadable" in str(live.attrs[FILE_DRIFT])


def test_a_certificate_near_its_end_is_pending_renewal(lay: Layout) -> None:
    s = site(lay, "www.example.net", https="auto")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = parse_site(files_of(s, lay, cert=True, cert_expires=now + timedelta(days=60)), lay, now)
    assert fresh is not None and CERT_PENDING not in fresh.attrs
    ending = parse_site(files_of(s, lay, cert=True, cert_expires=now + timedelta(days=29)), lay, now)
    assert ending is not None and "expires on 2026-01-30" in str(ending.attrs[CERT_PENDING])
    assert ending.drifted() is None and ending.interrupted is not None


def test_a_limit_btrfs_enforces_is_the_live_quota(lay: Layout) -> None:
    s = site(lay, "www.example.net", quota=8 * 1024**2)
    # Where nothing enforces quotas (no limit read), the recorded quota stands.
    assert attr_changes(parse_site(files_of(s, lay), lay), s) == ()  # type: ignore[arg-type]
    assert attr_changes(parse_site(files_of(s, lay, quota=(8 * 1024**2,)), lay), s) == ()  # type: ignore[arg-type]
    by_hand = parse_site(files_of(s, lay, quota=(5 * 1024**2,)), lay)
    assert by_hand is not None and by_hand.attrs["quota"] == 5 * 1024**2 and by_hand.interrupted is None
    [change] = attr_changes(by_hand, s)
    assert (change.name, change.before, change.after) == ("quota", 5 * 1024**2, 8 * 1024**2)
    cleared = parse_site(files_of(s, lay, quota=(None,)), lay)
    assert cleared is not None and cleared.attrs["quota"] is None
    free = site(lay, "www.example.net", quota=0)  # 0: no quota, as no limit
    assert attr_changes(parse_site(files_of(free, lay, quota=(None,)), lay), free) == ()  # type: ignore[arg-type]
