"""The web service's declaration: the provider is built from the web: settings and this
machine's ISPCTL_WEB_* overrides (what the sandbox sets to reach its own Apache and php-fpm)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ispctl.providers.registry import services
from ispctl.providers.web import SERVICE, build
from ispctl.providers.web.live import CERT_PENDING, Owner, SiteFiles, parse_site
from ispctl.providers.web.render import render
from tests.web_helpers import site as web_site
from tests.wiring import site, with_overrides


def test_the_provider_follows_the_settings_and_the_overrides() -> None:
    env = {"ISPCTL_WEB_ROOT": "/tmp/box/www", "ISPCTL_WEB_SOCKET_DIR": "/tmp/box/run", "ISPCTL_WEB_HTTP_PORT": "18080",
           "ISPCTL_WEB_APACHE_TEST": "apache2 -f '/tmp/box/apache 2.conf' -t", "ISPCTL_WEB_PROBE": "no"}
    settings = with_overrides(site(directory={"base_dn": "o=x"}, web={"sites_dir": "/etc/x/sites"}), env)
    provider = build(settings, env)
    where, control = provider.layout, provider.control
    assert (where.sites_dir, where.web_root, where.archive_dir, where.run_dir, where.http_port) == (
        "/etc/x/sites", "/tmp/box/www", "/tmp/box/www/.ispctl-archive", "/tmp/box/run", 18080)
    assert control.apache_test == ("apache2", "-f", "/tmp/box/apache 2.conf", "-t") and control.probe is False
    assert provider.certify is not None  # https: auto sites get certificates


def test_the_service_owns_sites_and_is_off_unless_enabled() -> None:
    web = services().get("web")
    assert web is SERVICE and web.kinds == {"site", "webhost"} and not web.enabled_by_default


def test_the_renewal_window_is_web_acme_renew_days() -> None:
    """A certificate 45 days from its end is due with a 60-day window, not with the default 30."""
    settings = with_overrides(site(directory={"base_dn": "o=x"}, web={"acme_renew_days": 60}), {})
    provider = build(settings, {})
    assert provider.layout.renew_days == 60
    default = build(with_overrides(site(directory={"base_dn": "o=x"}), {}), {})
    assert default.layout.renew_days == 30
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for where, due in ((provider.layout, True), (default.layout, False)):
        s = web_site(where, "www.example.net", https="auto")
        out = render(s, where, cert_exists=True)
        found = SiteFiles(s.key, out.vhost, docroot=Owner(20001, 20001), cert_exists=True,
                          cert_expires=now + timedelta(days=45))
        live = parse_site(found, where, now)
        assert live is not None and (CERT_PENDING in live.attrs) is due
