"""The probe against the sandbox's real Apache: a site answers with its own token, or the reason
it does not is given (another vhost, an older file, nothing listening, no PHP socket)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ispctl.providers.web.probe import Target, fetch_header, probe
from ispctl.providers.web.render import render
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.harness.daemons import free_port
from tests.web_helpers import WebHost, site

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists(),
                                reason="needs root, apache2 and php8.2-fpm (.ci/setup)")


def test_a_site_answers_with_its_token_and_others_say_why_not(web: WebServers, tmp_path: Path) -> None:
    host = WebHost(web, tmp_path / "reloads.log")
    lay = host.layout
    s = site(lay, "www.example.net")
    out = render(s, lay, cert_exists=False)
    Path(lay.vhost_path("www.example.net")).write_text(out.vhost)
    os.makedirs(f"{lay.web_root}/acme/www.example.net/logs")
    mark = len(web.apache.log_text())
    web.apache.graceful()
    web.apache.wait_resumed(mark)
    port, tls_port = lay.http_port, lay.https_port
    assert fetch_header("127.0.0.1", port, "www.example.net", tls=False) == out.token
    assert probe([Target("www.example.net", out.token, False, None)], "127.0.0.1", port, tls_port, 2) == {}
    failed = probe([Target("www.example.net", "older", False, None),
                    Target("nobody.example.net", out.token, False, None)], "127.0.0.1", port, tls_port, 0.2)
    assert "http://www.example.net at 127.0.0.1:" in failed["www.example.net"]
    assert "answers with an older configuration" in failed["www.example.net"]
    assert "answers with another configuration" in failed["nobody.example.net"]
    no_pool = probe([Target("www.example.net", out.token, False, f"{lay.run_dir}/none.sock")],
                    "127.0.0.1", port, tls_port, 0.2)
    assert f"the PHP pool's socket {lay.run_dir}/none.sock is not there" in no_pool["www.example.net"]
    closed = probe([Target("www.example.net", out.token, False, None)], "127.0.0.1", free_port(), tls_port, 0.2)
    assert "probe: http://www.example.net at 127.0.0.1:" in closed["www.example.net"]
    assert "(0.2 s after the reload)" in closed["www.example.net"]
