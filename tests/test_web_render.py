"""The web renderer from data: what each site attribute turns into in the Apache and PHP-FPM
files, and the values it refuses (each error names the site and the field)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ispctl.providers.web.render import PROBE_HEADER, Layout, RenderError, recorded, render, tls_paths
from tests.web_helpers import ALICE_HASH, layout, site


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    return layout(tmp_path, http_port=8080, https_port=8443)


def test_every_file_starts_with_the_marker_and_a_fingerprint(lay: Layout) -> None:
    s = site(lay, "www.example.net", php=True, protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",))
    out = render(s, lay, cert_exists=False)
    assert out.vhost.splitlines()[0] == f"# managed by ispctl: site=www.example.net fingerprint={s.fingerprint()}"
    for text, comment in ((out.pool, ";"), (out.htpasswd, "#")):
        assert text is not None
        head, body = text.split("\n", 1)
        digest = hashlib.sha256(body.encode()).hexdigest()
        assert head == f"{comment} managed by ispctl: site=www.example.net fingerprint=sha256:{digest}"


def test_the_pool_changes_only_when_it_must(lay: Layout) -> None:
    one = render(site(lay, "www.example.net", php=True), lay, cert_exists=False)
    two = render(site(lay, "www.example.net", php=True, aliases=("example.net",)), lay, cert_exists=False)
    assert one.pool == two.pool and one.vhost != two.vhost


def test_the_vhost_records_its_attributes_but_never_the_hashes(lay: Layout) -> None:
    s = site(lay, "www.example.net", protected=("/admin alice",), htpasswd=(f"alice:{ALICE_HASH}",))
    out = render(s, lay, cert_exists=False)
    data = recorded(out.vhost.splitlines()[1])
    assert data is not None
    assert data["@parent"] == "domain.example.net" and data["@tls"] is False
    assert data["docroot"] == s.attrs["docroot"] and "htpasswd" not in data
    assert ALICE_HASH not in out.vhost and ALICE_HASH in (out.htpasswd or "")
    assert f'AuthUserFile "{lay.htpasswd_path("www.example.net")}"' in out.vhost
    assert "Require user alice" in out.vhost


def test_names_docroot_logs_and_redirects(lay: Layout) -> None:
    s = site(lay, "www.example.net", aliases=("example.net", "web.example.net"),
             redirects=("301 * https://example.org/", "302 /old https://www.example.net/new"))
    vhost = render(s, lay, cert_exists=False).vhost
    assert "<VirtualHost *:8080>" in vhost and "ServerName www.example.net" in vhost
    assert "ServerAlias example.net web.example.net" in vhost
    assert f'DocumentRoot "{s.attrs["docroot"]}"' in vhost
    assert f'ErrorLog "{lay.web_root}/acme/www.example.net/logs/error.log"' in vhost
    # The path redirect comes before the whole-host one (mod_alias takes the first match).
    assert vhost.index('Redirect 302 "/old"') < vhost.index("RedirectMatch 301")
    assert '"https://example.org/$1"' in vhost
    assert f'Alias "/.well-known/acme-challenge/" "{lay.challenge_dir}/"' in vhost


def test_the_probe_token_follows_the_content(lay: Layout) -> None:
    one = render(site(lay, "www.example.net"), lay, cert_exists=False)
    two = render(site(lay, "www.example.net", aliases=("example.net",)), lay, cert_exists=False)
    assert one.token != two.token
    assert f'{PROBE_HEADER} "{one.token}"' in one.vhost
    assert render(site(lay, "www.example.net"), lay, cert_exists=False) == one


def test_a_suspended_site_serves_the_suspended_page_and_no_php(lay: Layout) -> None:
    s = site(lay, "www.example.net", status="suspended", php=True, redirects=("301 /a https://x.example/",))
    out = render(s, lay, cert_exists=False)
    assert "RedirectMatch 503" in out.vhost and "Site suspended" in out.vhost
    assert "proxy:unix" not in out.vhost and out.pool is None
    assert "Redirect 301" not in out.vhost


def test_https_auto_serves_http_until_the_certificate_exists(lay: Layout) -> None:
    s = site(lay, "www.example.net", https="auto", hsts=31536000)
    before = render(s, lay, cert_exists=False)
    assert not before.tls and "SSLEngine" not in before.vhost and "Strict-Transport-Security" not in before.vhost
    after = render(s, lay, cert_exists=True)
    cert, key = lay.cert_paths("www.example.net")
    assert after.tls and "<VirtualHost *:8443>" in after.vhost
    assert f'SSLCertificateFile "{cert}"' in after.vhost and f'SSLCertificateKeyFile "{key}"' in after.vhost
    assert '"https://www.example.net:8443/$1"' in after.vhost  # port 80 redirects, except the reserved paths
    assert 'Strict-Transport-Security "max-age=31536000"' in after.vhost
    assert json.loads(after.vhost.splitlines()[1].split(": ", 1)[1])["@tls"] is True


def test_custom_certificates_come_from_the_site(lay: Layout) -> None:
    s = site(lay, "www.example.net", https="custom", cert_file="/etc/ssl/a.pem", key_file="/etc/ssl/a.key")
    assert tls_paths(s.key, s.attrs, lay) == ("/etc/ssl/a.pem", "/etc/ssl/a.key")
    vhost = render(s, lay, cert_exists=True).vhost
    assert 'SSLCertificateFile "/etc/ssl/a.pem"' in vhost and 'SSLCertificateKeyFile "/etc/ssl/a.key"' in vhost
    # Until the operator installs the files the site is served over HTTP (Apache refuses a missing file).
    waiting = render(s, lay, cert_exists=False)
    assert not waiting.tls and "SSLCertificateFile" not in waiting.vhost and "RedirectMatch 301" not in waiting.vhost


def test_the_pool_runs_as_the_numeric_ids_inside_the_home(lay: Layout) -> None:
    s = site(lay, "www.example.net", php=True, uid=23456, gid=23457, php_max_children=7, php_memory_limit="256M",
             php_upload_max_filesize="64M", php_max_execution_time=90)
    out = render(s, lay, cert_exists=False)
    pool = out.pool or ""
    home = f"{lay.web_root}/acme"
    for line in ("[www.example.net]", "user = 23456", "group = 23457", "pm.max_children = 7",
                 f"listen = {lay.run_dir}/www.example.net.sock", "listen.owner = www-data", "listen.mode = 0660",
                 f"env[TMP] = {home}/www.example.net/tmp", f"php_admin_value[open_basedir] = {home}/",
                 "php_admin_value[memory_limit] = 256M", "php_admin_value[upload_max_filesize] = 64M",
                 "php_admin_value[max_execution_time] = 90"):
        assert line in pool.splitlines()
    assert f'SetHandler "proxy:unix:{lay.run_dir}/www.example.net.sock|fcgi://localhost"' in out.vhost


@pytest.mark.parametrize(("attrs", "words"), [
    ({"docroot": "/etc"}, "docroot /etc is not inside the home"),
    ({"docroot": "/srv/www/acme/../../etc"}, "docroot"),
    ({"aliases": ("Bad Name",)}, "aliases: 'Bad Name'"),
    ({"redirects": ("303 /a https://x.example/",)}, "is not '<301|302|307|308>"),
    ({"redirects": ("301 /a javascript:alert(1)",)}, "is not a path or an http(s) URL"),
    ({"redirects": ('301 /a" https://x.example/',)}, "is not a path"),
    ({"https": "maybe"}, "https must be auto, off or custom"),
    ({"https": "custom"}, "cert_file is missing"),
    ({"status": "gone"}, "status must be active or suspended"),
    ({"php": True, "uid": 0}, "never runs as root"),
    ({"php": True, "php_memory_limit": "1T; evil"}, "php_memory_limit"),
    ({"php": True, "php_max_execution_time": -1}, "php_max_execution_time"),
    ({"protected": ("/admin bob",), "htpasswd": (f"alice:{ALICE_HASH}",)}, "without a password hash: bob"),
])
def test_refuses_what_it_cannot_render_safely(lay: Layout, attrs: dict[str, object], words: str) -> None:
    s = site(lay, "www.example.net", **attrs)  # type: ignore[arg-type]
    with pytest.raises(RenderError) as caught:
        render(s, lay, cert_exists=False)
    assert str(caught.value).startswith("site.www.example.net: ") and words in str(caught.value)


def test_a_bad_hash_is_refused_without_showing_it(lay: Layout) -> None:
    s = site(lay, "www.example.net", protected=("/admin alice",), htpasswd=("alice:not a hash\nInclude /etc",))
    with pytest.raises(RenderError) as caught:
        render(s, lay, cert_exists=False)
    assert "not a hash" not in str(caught.value) and "alice" in str(caught.value)


def test_a_socket_path_too_long_is_refused(tmp_path: Path) -> None:
    lay = layout(tmp_path, run_dir="/run/" + "x" * 100)
    with pytest.raises(RenderError, match="longer than 107 bytes"):
        render(site(lay, "www.example.net", php=True), lay, cert_exists=False)
