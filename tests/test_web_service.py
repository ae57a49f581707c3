"""The web service's declaration: the provider is built from the web: settings and this
machine's ISPCTL_WEB_* overrides (what the sandbox sets to reach its own Apache and php-fpm)."""

from __future__ import annotations

from ispctl.providers.registry import services
from ispctl.providers.web import SERVICE, build
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
    assert web is SERVICE and web.kinds == {"site"} and not web.enabled_by_default
