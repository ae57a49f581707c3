"""The web sections of ispctl.yaml, domain files and tenant files as models: shapes, short
forms, defaults, host names, and the per-machine ISPCTL_WEB_* overrides."""

from __future__ import annotations

from typing import Any

import pytest
from estate_builder import SITE
from pydantic import ValidationError

from ispctl.providers.web.settings import (
    DEFAULT_SITE,
    LETS_ENCRYPT,
    OVERRIDES,
    DomainWeb,
    HttpsSpec,
    PhpSpec,
    SiteSpec,
    WebSettings,
    argv,
    full_host,
    inside,
)
from ispctl.reconciler.engine.errors import ConfigError
from tests.wiring import FILES, with_overrides

BCRYPT = "$2y$05$mFh/aD1AROXOA.F6Amq7IOyANx/JLSe2o9lIE5ETNXKG6x1L4a8Bu"


def errors(model: type[Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) of every error pydantic reports."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors(include_input=False)]


def test_site_defaults_are_debians_layout_and_lets_encrypt() -> None:
    site = FILES.site.model_validate(SITE)
    web = site.web
    assert isinstance(web, WebSettings) and "web" not in site.model_fields_set
    assert (web.sites_dir, web.pools_dir, web.web_root, web.certs_dir) == (
        "/etc/apache2/ispctl-sites", "/etc/php/8.2/fpm/ispctl-pools", "/srv/www", "/etc/ispctl/certs")
    assert web.archive == "/srv/www/.ispctl-archive"  # beside the homes: one rename away, never a tenant name
    assert (web.https, web.acme_directory, web.acme_challenge) == ("auto", LETS_ENCRYPT, "http-01")
    assert (web.php_memory_limit, web.php_upload_max_filesize) == (128 * 1024**2, 32 * 1024**2)
    assert argv(web.apache_test) == ["apache2ctl", "-t"]


def test_each_field_has_an_override_named_after_it() -> None:
    names = {o.variable: o.field for o in OVERRIDES}
    assert names["ISPCTL_WEB_ROOT"] == "web_root"
    assert names["ISPCTL_WEB_SITES_DIR"] == "sites_dir"
    assert names["ISPCTL_WEB_ACME_DIRECTORY"] == "acme_directory"
    assert set(names.values()) == set(WebSettings.model_fields)


def test_a_sandbox_points_the_settings_at_its_own_instances() -> None:
    site = FILES.site.model_validate({**SITE, "web": {"web_root": "/srv/www"}})
    env = {
        "ISPCTL_WEB_ROOT": "/tmp/box/www/", "ISPCTL_WEB_HTTP_PORT": "18080",
        "ISPCTL_WEB_APACHE_TEST": "apache2ctl -f '/tmp/box/apache 2/apache2.conf' -t",
        "ISPCTL_WEB_ACME_DIRECTORY": "https://127.0.0.1:14000/dir", "ISPCTL_WEB_PROBE": "Off",
    }
    web = with_overrides(site, env).web
    assert (web.web_root, web.http_port, web.acme_directory, web.probe) == (
        "/tmp/box/www", 18080, "https://127.0.0.1:14000/dir", False)
    assert argv(web.apache_test) == ["apache2ctl", "-f", "/tmp/box/apache 2/apache2.conf", "-t"]


@pytest.mark.parametrize(("name", "value", "words"), [
    ("ISPCTL_WEB_PROBE", "maybe", "true/false, yes/no, on/off or 1/0"),
    ("ISPCTL_WEB_ROOT", "relative/www", "absolute path"),
    ("ISPCTL_WEB_SITES_DIR", "/etc/apache2/../x", "absolute path without '..'"),
    ("ISPCTL_WEB_HTTP_PORT", "70000", "less than or equal to 65535"),
    ("ISPCTL_WEB_APACHE_RELOAD", "apache2ctl 'graceful", "cannot be split into words"),
    ("ISPCTL_WEB_UID_MIN", "999", "greater than or equal to 1000"),
    ("ISPCTL_WEB_ACME_DIRECTORY", "ftp://ca.example/dir", "must be an http(s) URL"),
])
def test_bad_overrides_name_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        with_overrides(FILES.site.model_validate(SITE), {name: value})
    assert str(caught.value).startswith(f"{name}: ") and words in str(caught.value)


def test_commands_may_be_lists_of_words() -> None:
    web = WebSettings.model_validate({"php_reload": ["kill", "-USR2", "$(cat /run/x.pid)"]})
    assert argv(web.php_reload) == ["kill", "-USR2", "$(cat /run/x.pid)"]  # words, never a shell


@pytest.mark.parametrize(("data", "message"), [
    ({"acme_contact": "hostmaster@example.net"}, "must be a mailto: URL"),
    ({"apache_test": ""}, "is empty"),
    ({"archive_dir": "/"}, "cannot be / itself"),
    ({"php_memory_limit": "128M"}, "ambiguous size unit"),
])
def test_bad_site_settings(data: dict[str, Any], message: str) -> None:
    assert any(message in text for _, text in errors(WebSettings, data))


@pytest.mark.parametrize(("written", "mode"), [
    ("auto", "auto"), ("off", "off"), (True, "auto"), (False, "off"), ("yes", "auto"), ("No", "off"),
    ("on", "auto"), (1, "auto"), (0, "off"), ("TRUE", "auto"),
])
def test_https_takes_auto_off_and_the_switch_spellings(written: object, mode: str) -> None:
    assert SiteSpec.model_validate({"https": written}).https_mode == mode


def test_a_custom_certificate_is_two_paths() -> None:
    spec = SiteSpec.model_validate({"https": {"cert_file": "/etc/ssl/a.pem", "key_file": "/etc/ssl/private/a.key"}})
    assert spec.https_mode == "custom"
    assert spec.https == HttpsSpec(mode="custom", cert_file="/etc/ssl/a.pem", key_file="/etc/ssl/private/a.key")


@pytest.mark.parametrize(("https", "where", "words"), [
    ("-----BEGIN CERTIFICATE-----\nMIIB...", "https", "never PEM in git"),
    ({"cert_file": "/etc/a.pem", "key_file": "-----BEGIN PRIVATE KEY-----\nMIIE..."}, "https.key_file",
     "never the PEM itself"),
    ({"cert_file": "certs/a.pem", "key_file": "/k"}, "https.cert_file", "absolute path"),
    ({"cert_file": "/a.pem"}, "https", "needs both cert_file and key_file"),
    ({"mode": "auto", "key_file": "/k"}, "https", "not https auto"),
    ({"cert_file": "/a.pem", "key_file": "/k", "chain": "/c"}, "https.chain", "Extra inputs are not permitted"),
    ("sometimes", "https", "must be auto, off or {cert_file, key_file}"),
    ("custom", "https", "must be auto, off or {cert_file, key_file}"),
])
def test_bad_https_values(https: object, where: str, words: str) -> None:
    found = errors(SiteSpec, {"https": https})
    assert any(loc == where and words in text for loc, text in found), found
    assert not any("MII" in text for _, text in found)  # no key material is repeated


@pytest.mark.parametrize(("written", "enabled"), [("on", True), ("off", False), (True, True), ("0", False)])
def test_php_switch_short_form(written: object, enabled: bool) -> None:
    php = SiteSpec.model_validate({"php": written}).php
    assert php == PhpSpec(enabled=enabled)


def test_php_pool_limits_imply_php_on() -> None:
    php = SiteSpec.model_validate({"php": {"max_children": 12, "memory_limit": "512 MiB"}}).php
    assert php is not None and (php.enabled, php.max_children, php.memory_limit) == (True, 12, 512 * 1024**2)
    assert any("less than or equal to 1000" in t for _, t in errors(SiteSpec, {"php": {"max_children": 5000}}))
    assert any("true/false, yes/no" in t for _, t in errors(SiteSpec, {"php": "maybe"}))


@pytest.mark.parametrize(("written", "kept"), [
    ("shop/htdocs", "shop/htdocs"), ("./shop//htdocs/", "shop/htdocs"), ("public", "public"),
])
def test_docroots_are_relative_and_normalised(written: str, kept: str) -> None:
    assert SiteSpec.model_validate({"docroot": written}).docroot == kept


@pytest.mark.parametrize(("written", "words"), [
    ("../other-tenant/htdocs", "leaves the tenant's web home"),
    ("shop/../../x", "leaves the tenant's web home"),
    ("/var/www/html", "is absolute"),
    ("~/htdocs", "is absolute"),
    (".", "names no folder"),
    ("shop/ht docs", "must not contain spaces"),
    ("shop\nx", "control character"),
])
def test_docroots_never_escape_the_home(written: str, words: str) -> None:
    assert any(loc == "docroot" and words in t for loc, t in errors(SiteSpec, {"docroot": written}))


def test_redirect_fields() -> None:
    spec = SiteSpec.model_validate({"redirects": [{"from": "*", "to": "https://www.example.net/"},
                                                  {"from": "/old", "to": "/new", "code": 302}]})
    assert [(r.from_, r.to, r.code) for r in spec.redirects] == [
        ("*", "https://www.example.net/", 301), ("/old", "/new", 302)]
    found = errors(SiteSpec, {"redirects": [
        {"from": "old", "to": "/new"}, {"from": "/a", "to": "www.example.net"}, {"from": "/b", "to": "/c", "code": 200},
        {"from": "/d", "to": "https://x.example/a b"}, {"to": "/e"}]})
    assert found == [
        ("redirects.0.from", "Value error, 'old' must be a URL path starting with '/' (no spaces)"),
        ("redirects.1.to", "Value error, 'www.example.net' must be a URL path (/new) or an http(s) URL "
                           "(https://www.example.net/)"),
        ("redirects.2.code", "Input should be 301, 302, 307 or 308"),
        ("redirects.3.to", "Value error, 'https://x.example/a b' must not contain spaces (encode them as %20)"),
        ("redirects.4.from", "Field required"),
    ]


def test_logins_hold_hashes_only() -> None:
    spec = SiteSpec.model_validate({"logins": {"anna": "{CRYPT}" + BCRYPT}, "protected": {"/admin": ["anna"]}})
    assert spec.logins == {"anna": BCRYPT} and spec.protected == {"/admin": ("anna",)}
    found = errors(SiteSpec, {"logins": {"bob": "letmein"}, "protected": {"admin": ["bob"]}})
    assert [loc for loc, _ in found] == ["protected.admin.[key]", "logins.bob"]
    assert not any("letmein" in t for _, t in found)


@pytest.mark.parametrize(("written", "host"), [
    ("@", "example.net"), ("www", "www.example.net"), ("Shop", "shop.example.net"),
    ("shop.example.net", "shop.example.net"), ("SHOP.example.net.", "shop.example.net"),
    ("*", "*.example.net"), ("*.dev", "*.dev.example.net"), ("*.dev.example.net", "*.dev.example.net"),
    ("www.other.example", "www.other.example"), ("bücher", "xn--bcher-kva.example.net"),
])
def test_host_names_in_a_domain_file(written: str, host: str) -> None:
    assert full_host(written, "example.net") == host


@pytest.mark.parametrize(("written", "words"), [
    ("x*", "'*' is only allowed as the whole leftmost label"), ("a.*.example.net", "only allowed as the whole"),
    (" www", "spaces around it"), ("", "empty"), ("bad_label", "is not a valid domain name"),
])
def test_bad_host_names(written: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        full_host(written, "example.net")


def test_inside_a_domain() -> None:
    assert inside("example.net", "example.net") and inside("a.b.example.net", "example.net")
    assert not inside("badexample.net", "example.net") and not inside("example.org", "example.net")


def test_without_sites_a_domain_has_the_apex_answering_www() -> None:
    web = DomainWeb()
    assert web.effective_sites() == {"@": DEFAULT_SITE}
    assert web.served_hosts("example.net") == ("example.net", "www.example.net")


def test_served_hosts_are_every_site_and_alias_skipping_bad_names() -> None:
    web = DomainWeb.model_validate({"sites": {"shop": None, "www": {"aliases": ["@", "x*", "*.dev", "shop"]}}})
    assert web.sites["shop"] == SiteSpec()  # an empty site is the defaults
    assert web.served_hosts("example.net") == ("shop.example.net", "www.example.net", "example.net",
                                               "*.dev.example.net")


def test_a_tenant_may_pin_its_uid() -> None:
    tenant = FILES.tenant.model_validate({"name": "Acme", "web": {"uid": 123456}})
    assert tenant.web is not None and tenant.web.uid == 123456
    with pytest.raises(ValidationError, match="greater than or equal to 1000"):
        FILES.tenant.model_validate({"name": "Acme", "web": {"uid": 0}})


def test_one_alias_may_be_written_without_a_list() -> None:
    assert SiteSpec.model_validate({"aliases": "www"}).aliases == ("www",)
