"""Mail client autoconfiguration and MTA-STS sites: derived from the same settings as the SRV and
MX records, switched off by settings, conflicting declared sites refused with file:line; and served
by a real Apache 2.4 (the sandbox's) at the paths clients fetch."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dns_helpers import converge, provider_for, rrset, zone
from estate_builder import SITE, EstateBuilder

from ispctl.providers.web import files as web_files
from ispctl.providers.web import mailconfig
from ispctl.providers.web.certs import CertRequest, ensure
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.render import Layout, render
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.resources import Resource
from tests.web_helpers import WebHost, https_get, site
from tests.wiring import problems_of, resources_of

if TYPE_CHECKING:
    from acme_daemons import AcmeEnv

pytest_plugins = ("acme_daemons",)

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
NW = "desired-state/tenants/northwind/northwind.example.yaml"
MAIL: dict[str, Any] = {"mx": ["10 mx1.isp.example.", "20 mx2.isp.example."], "imap": "imap.isp.example.",
                        "submission": "smtp.isp.example."}
DNS: dict[str, Any] = {"ns": ["ns1.isp.example."], "web": {"a": ["192.0.2.80"]}}
XML = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
POLICY = "/.well-known/mta-sts.txt"


def compiled(tmp_path: Path, mail: dict[str, Any] | None = None, *, web: dict[str, Any] | None = None,
             services: tuple[str, ...] = ("mail", "web", "dns"), name: str = "acme.example") -> dict[str, Resource]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {**DNS, "mail": {**MAIL, **(mail or {})}},
                                            "web": {"https": "off"}})
    builder.tenant("acme")
    builder.domain("acme", name, {"services": list(services), **({"web": web} if web else {})})
    return {r.address: r for r in resources_of(builder.root).values()}


def files(resource: Resource) -> dict[str, str]:
    """url-path -> content of a site's generated files."""
    raw = resource.attrs.get("generated") or ()
    assert isinstance(raw, tuple)
    return dict(str(entry).split("\n", 1) for entry in raw)


def servers(xml: str) -> list[tuple[str, str, str, str, str]]:
    """(element, type, host, port, socketType) of each server the autoconfig file lists."""
    root = ET.fromstring(xml)
    assert root.tag == "clientConfig" and root.attrib["version"] == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    out = []
    for server in provider:
        if server.tag in ("incomingServer", "outgoingServer"):
            assert server.findtext("username") == "%EMAILADDRESS%"
            out.append((server.tag, server.attrib["type"], server.findtext("hostname") or "",
                        server.findtext("port") or "", server.findtext("socketType") or ""))
    return out


def test_the_example_domains_with_mail_and_web_get_autoconfig_and_mta_sts() -> None:
    found = {r.key: r for r in resources_of(EXAMPLE).values() if r.kind == "site"}
    auto, sts = found["autoconfig.northwind.example"], found["mta-sts.northwind.example"]
    own = found["northwind.example"]
    # ordinary sites of the domain's tenant: its uid and home, sourced at the domain's own site
    assert (auto.parent, auto.attrs["uid"], auto.attrs["home"], auto.attrs["https"]) == (
        "domain.northwind.example", own.attrs["uid"], own.attrs["home"], "auto")
    assert auto.source == own.source and auto.source is not None and auto.source.file == NW
    xml = files(auto)[XML]
    assert servers(xml) == [("incomingServer", "imap", "imap.example.net", "993", "SSL"),
                            ("outgoingServer", "smtp", "smtp.example.net", "587", "STARTTLS")]
    assert ET.fromstring(xml).find("emailProvider/domain").text == "northwind.example"  # type: ignore[union-attr]
    assert files(own) == {WELL_KNOWN: xml}  # the domain's own site serves the same file
    assert files(sts) == {POLICY: "version: STSv1\r\nmode: testing\r\nmx: mx1.example.net\r\nmx: mx2.example.net\r\n"
                                  "max_age: 604800\r\n"}


@pytest.mark.parametrize("text", ["acme.example", "xn--bcher-kva.example", "a&b<c>d", "say \"hi\"", "it's",
                                  "both ' and \"", "tab\tnew\nline\rreturn", "&amp; already", "", "<'\"&>"])
def test_the_xml_escapes_are_the_standard_librarys(text: str) -> None:
    # Ours, so that compiling the web service imports no xml.sax (issue 11): the same text out.
    from xml.sax.saxutils import escape, quoteattr

    assert mailconfig.escape(text) == escape(text)
    assert mailconfig.quoteattr(text) == quoteattr(text)


def test_pop3_mode_and_max_age_come_from_the_settings(tmp_path: Path) -> None:
    found = compiled(tmp_path, {"pop3": "pop.isp.example.", "mta_sts": {"mode": "enforce", "max_age": "86400"}})
    assert servers(files(found["site.autoconfig.acme.example"])[XML]) == [
        ("incomingServer", "imap", "imap.isp.example", "993", "SSL"),
        ("incomingServer", "pop3", "pop.isp.example", "995", "SSL"),
        ("outgoingServer", "smtp", "smtp.isp.example", "587", "STARTTLS")]
    assert files(found["site.mta-sts.acme.example"])[POLICY] == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.isp.example\r\nmx: mx2.isp.example\r\nmax_age: 86400\r\n")


def test_the_switches_turn_them_off(tmp_path: Path) -> None:
    off = compiled(tmp_path / "off", {"autoconfig": False, "mta_sts": {"enabled": False}})
    assert sorted(r.key for r in off.values() if r.kind == "site") == ["acme.example"]
    assert "generated" not in off["site.acme.example"].attrs
    assert not [a for a in off if "autoconfig" in a or "mta-sts" in a]  # no sites, no address or TXT records
    sts_only = compiled(tmp_path / "sts", {"autoconfig": False})
    assert sorted(r.key for r in sts_only.values() if r.kind == "site") == ["acme.example", "mta-sts.acme.example"]
    no_mx = compiled(tmp_path / "nomx", {"mx": []})  # no MX: no policy to publish
    assert sorted(r.key for r in no_mx.values() if r.kind == "site") == ["acme.example", "autoconfig.acme.example"]


def test_the_site_answering_the_apex_as_an_alias_serves_the_well_known_file(tmp_path: Path) -> None:
    found = compiled(tmp_path, web={"sites": {"www": {"aliases": ["@"]}, "shop": {}}})
    assert list(files(found["site.www.acme.example"])) == [WELL_KNOWN]
    assert files(found["site.shop.acme.example"]) == {}


@pytest.mark.parametrize("services", [("mail", "dns"), ("web", "dns")])
def test_only_domains_with_mail_and_web_get_them(tmp_path: Path, services: tuple[str, ...]) -> None:
    found = compiled(tmp_path, services=services)
    assert not [r.key for r in found.values() if r.kind == "site" and r.key != "acme.example"]


def test_a_declared_site_at_a_derived_name_is_refused_with_its_line(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {**DNS, "mail": MAIL}})
    builder.tenant("acme")
    rel = builder.domain("acme", "acme.example", "domain: acme.example\nservices: [mail, web, dns]\nweb:\n  sites:\n"
                                                 "    '@': {}\n    autoconfig: {}\n    www:\n"
                                                 "      aliases: [mta-sts]\n")
    assert [str(p) for p in problems_of(builder.root)] == [
        f"{rel}:6:5: web.sites: autoconfig.acme.example is derived for acme.example's mail (client "
        "autoconfiguration / MTA-STS) and cannot also be a site or alias here; to serve it yourself set "
        "dns.mail.autoconfig: false in ispctl.yaml",
        f"{rel}:7:5: web.sites: mta-sts.acme.example is derived for acme.example's mail (client "
        "autoconfiguration / MTA-STS) and cannot also be a site or alias here; to serve it yourself set "
        "dns.mail.mta_sts: {enabled: false} in ispctl.yaml",
    ]


# -- served by the real Apache ------------------------------------------------------------------

needs_apache = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists()
                                  or not Path("/usr/sbin/php-fpm8.2").exists(),
                                  reason="needs root (sites are chowned), apache2 and php8.2-fpm (.ci/setup)")


@pytest.fixture
def host(web: Any, tmp_path: Path) -> WebHost:
    return WebHost(web, tmp_path / "reloads.log")


def served(host: WebHost, derived: dict[str, Resource]) -> list[Resource]:
    """The compiled sites moved onto the sandbox's layout, keeping what they generate."""
    return [site(host.layout, r.key, generated=r.attrs.get("generated")) for r in derived.values() if r.kind == "site"]


def apply(p: WebProvider, sites: list[Resource]) -> None:
    planned = compute_plan({s.identity: s for s in sites}, p.read(), archives=p.ARCHIVES)
    result = apply_plan(planned, lambda kind: p)
    assert result.ok, result.failed


@needs_apache
def test_apache_serves_the_autoconfig_file_and_the_policy(host: WebHost, tmp_path: Path) -> None:
    p = WebProvider(host.layout, host.control)
    apply(p, served(host, compiled(tmp_path / "a")))
    for name, path in (("autoconfig.acme.example", XML), ("acme.example", WELL_KNOWN)):
        status, headers, body = host.get(name, path)
        assert (status, headers["content-type"]) == (200, "application/xml")
        assert servers(body) == [("incomingServer", "imap", "imap.isp.example", "993", "SSL"),
                                 ("outgoingServer", "smtp", "smtp.isp.example", "587", "STARTTLS")]
    status, headers, body = host.get("mta-sts.acme.example", POLICY)
    assert (status, headers["content-type"].split(";")[0]) == (200, "text/plain")
    assert body == ("version: STSv1\r\nmode: testing\r\nmx: mx1.isp.example\r\nmx: mx2.isp.example\r\n"
                    "max_age: 604800\r\n")
    # The files are ispctl's, beside the vhosts: not in the customer's docroot.
    docroot = Path(host.layout.web_root, "acme", "mta-sts.acme.example", "htdocs")
    assert not any(docroot.rglob("*.txt")) and host.get("mta-sts.acme.example", "/mta-sts.txt")[0] == 404

    # A new policy is a new file: served after the apply, the old one gone from disk.
    enforced = served(host, compiled(tmp_path / "b", {"mta_sts": {"mode": "enforce"}}))
    apply(p, enforced)
    assert "mode: enforce\r\n" in host.get("mta-sts.acme.example", POLICY)[2]
    kept = Path(host.layout.sites_dir, ".generated", "mta-sts.acme.example")
    assert [f.read_bytes().decode() for f in kept.iterdir()] == [host.get("mta-sts.acme.example", POLICY)[2]]
    assert compute_plan({s.identity: s for s in enforced}, p.read(), archives=p.ARCHIVES).changes == ()


@needs_apache
def test_the_policy_is_served_over_https_with_a_certificate_from_acme(acme_env: AcmeEnv, tmp_path: Path) -> None:
    """RFC 8461 3.3: senders fetch the policy over HTTPS only, with a certificate valid for mta-sts.<domain>."""
    host = "mta-sts.example.net"
    from acme_daemons import ADDRESSES, ZONE  # what acme_env put in named: kept, with the policy host added

    converge(provider_for(acme_env.named), [zone(ZONE)] + [
        rrset(ZONE, owner, "A", [address]) for owner, address in {**ADDRESSES, "mta-sts": "127.0.0.1"}.items()])
    acme_env.serve(host)
    pebble = acme_env.pebble()
    ensure(CertRequest(host, (host,), acme_env.certs_dir / host, acme_env.challenge_dir, "http-01"),
           acme_env.settings(pebble))
    acme_env.serve()  # the challenge vhost goes: the derived site answers the name now
    apache = acme_env.apache
    lay = Layout(sites_dir=str(apache.sites_dir), pools_dir=str(tmp_path / "pools"), web_root=str(tmp_path / "www"),
                 archive_dir=str(tmp_path / "archive"), certs_dir=str(acme_env.certs_dir),
                 challenge_dir=str(acme_env.challenge_dir), run_dir=str(tmp_path / "run"),
                 http_port=apache.port, https_port=apache.https_port)
    derived = compiled(tmp_path / "estate", {"mta_sts": {"mode": "enforce"}}, name="example.net")
    sts = site(lay, host, https="auto", generated=derived[f"site.{host}"].attrs["generated"])
    rendered = render(sts, lay, cert_exists=True)
    assert rendered.tls
    for sub in ("logs", "htdocs"):
        Path(lay.web_root, "acme", host, sub).mkdir(parents=True)
    Path(lay.sites_dir, rendered.vhost_name).write_text(rendered.vhost)
    web_files.write_generated(sts, lay.sites_dir)
    apache.graceful()

    root = pebble.write_root(tmp_path / "pebble-root.pem")
    assert https_get(apache.https_port, host, root, POLICY) == (
        200, "version: STSv1\r\nmode: enforce\r\nmx: mx1.isp.example\r\nmx: mx2.isp.example\r\nmax_age: 604800\r\n")
