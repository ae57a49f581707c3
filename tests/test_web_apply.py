"""One apply run's certificate step against real daemons: an ``https: auto`` site is served over
HTTP first, gets its certificate from pebble through HTTP-01 answered by its own live vhost, and is
switched to HTTPS in the same run; clients verify it against pebble's root."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ispctl.providers.web.apply_config import Control
from ispctl.providers.web.live import CERT_PENDING
from ispctl.providers.web.provider import WebProvider, certify_with_acme
from ispctl.providers.web.render import Layout
from ispctl.providers.web.sandbox.pebble import PebbleInstance
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from tests.web_helpers import site

if TYPE_CHECKING:
    from acme_daemons import AcmeEnv

pytest_plugins = ("acme_daemons",)


def provider_for(env: AcmeEnv, certify: bool = True,
                 pebble: PebbleInstance | None = None) -> tuple[WebProvider, Layout]:
    apache = env.apache
    public = apache.layout
    lay = Layout(sites_dir=str(apache.sites_dir), pools_dir=str(public.public / "pools"),
                 web_root=str(public.web_root), archive_dir=str(public.archive_dir), certs_dir=str(env.certs_dir),
                 challenge_dir=str(env.challenge_dir), run_dir=str(public.socket_dir), http_port=apache.port,
                 https_port=apache.https_port)
    control = Control(apache_test=tuple(apache.test_argv()), apache_reload=tuple(apache.reload_argv()))
    pebble = pebble or env.pebble()
    hook = certify_with_acme(lay, env.settings(pebble)) if certify else None
    provider = WebProvider(lay, control, hook)
    provider.pebble = pebble  # type: ignore[attr-defined]
    return provider, lay


def get(port: int, host: str, path: str = "/") -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_https_auto_is_issued_and_switched_on_in_the_same_run(acme_env: AcmeEnv, tmp_path: Path) -> None:
    p, lay = provider_for(acme_env)
    s = site(lay, "www.example.net", aliases=("example.net",), https="auto", hsts=600)
    planned = compute_plan({s.identity: s}, p.read(), archives=p.ARCHIVES)
    result = apply_plan(planned, lambda kind: p)
    assert result.ok, result.failed
    assert p.notes == []
    # HTTP first (and the challenge answered from it), then one more reload for HTTPS.
    assert p.reloads == ["apache", "apache"]
    root = p.pebble.write_root(tmp_path / "pebble-root.pem")  # type: ignore[attr-defined]
    assert acme_env.https_serial("www.example.net", root) == acme_env.https_serial("example.net", root)
    status, headers = get(lay.http_port, "example.net", "/a/b")
    assert (status, headers["location"]) == (301, f"https://www.example.net:{lay.https_port}/a/b")
    assert get(lay.http_port, "www.example.net", "/.well-known/acme-challenge/missing")[0] == 404  # not redirected
    assert compute_plan({s.identity: s}, p.read()).changes == ()


def test_a_failed_issuance_leaves_the_site_on_http_and_the_next_plan_says_so(
        acme_env: AcmeEnv, capsys: pytest.CaptureFixture[str]) -> None:
    p, lay = provider_for(acme_env)
    # "elsewhere" points at an address where nothing answers the CA's challenge.
    s = site(lay, "elsewhere.example.net", https="auto")
    result = apply_plan(compute_plan({s.identity: s}, p.read()), lambda kind: p)
    assert result.ok  # the site itself went live
    assert len(p.notes) == 1 and "elsewhere.example.net" in p.notes[0]
    assert "Warning: site.elsewhere.example.net" in capsys.readouterr().err  # the operator hears of it
    assert get(lay.http_port, "elsewhere.example.net", "/.well-known/ispctl-probe/")[0] == 404
    # The next plan asks again: ispctl's own unfinished step, not drift.
    [retry] = compute_plan({s.identity: s}, p.read()).changes
    assert retry.interrupted and "the next apply asks the CA again" in retry.interrupted and retry.drift is None
    # A certificate that appears later (here: copied in by hand) is pending work for the next run.
    cert_dir = Path(lay.certs_dir, "elsewhere.example.net")
    cert_dir.mkdir(parents=True)
    for name in ("fullchain.pem", "privkey.pem"):
        (cert_dir / name).write_text("")
    [change] = compute_plan({s.identity: s}, p.read()).changes
    assert change.interrupted and change.drift is None and CERT_PENDING in [a.name for a in change.attrs]


def test_a_certificate_near_its_end_is_renewed_by_the_next_apply_and_served(acme_env: AcmeEnv,
                                                                             tmp_path: Path) -> None:
    apache = acme_env.apache
    pebble = acme_env.pebble(validity=10 * 86400)  # inside the 30-day renewal window from the start
    p, lay = provider_for(acme_env, pebble=pebble)
    s = site(lay, "www.example.net", https="auto")
    assert apply_plan(compute_plan({s.identity: s}, p.read()), lambda kind: p).ok
    root = pebble.write_root(tmp_path / "pebble-root.pem")
    first = acme_env.https_serial("www.example.net", root)
    [change] = compute_plan({s.identity: s}, p.read()).changes
    assert change.interrupted is not None and "expires on" in change.interrupted and change.drift is None
    before, mark = len(p.reloads), len(apache.log_text())
    assert apply_plan(compute_plan({s.identity: s}, p.read()), lambda kind: p).ok and p.notes == []
    assert p.reloads[before:] == ["apache"]  # the vhost is the same; the reload serves the new certificate
    apache.wait_resumed(mark)  # a graceful reload lands asynchronously
    assert acme_env.https_serial("www.example.net", root) != first
