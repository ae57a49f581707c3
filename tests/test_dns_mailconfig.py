"""MTA-STS and TLS-RPT records: the policy's text and id from the settings and the zone's MX, the
TXT records a domain with mail and web gets, and what a real named serves after the apply."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from dns_helpers import converge, provider_for, query
from estate_builder import SITE, EstateBuilder

from ispctl.providers.dns import mailconfig
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.settings import DnsMail
from ispctl.providers.registry import BUILTIN
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.contract import Registry
from ispctl.reconciler.engine.resources import Resource

MAIL: dict[str, Any] = {"mx": ["20 mx2.isp.example.", "10 mx1.isp.example."], "imap": "imap.isp.example."}
DNS: dict[str, Any] = {"ns": ["ns1.isp.example."], "web": {"a": ["192.0.2.80"]}}


def mail(**more: Any) -> DnsMail:
    return DnsMail.model_validate({**MAIL, **more})


def policy_of(mode: str, *mx: str, max_age: int = 604800) -> str:
    return "".join(f"{line}\r\n" for line in ("version: STSv1", f"mode: {mode}", *(f"mx: {h}" for h in mx),
                                              f"max_age: {max_age}"))


def test_the_policy_names_the_mx_hosts_and_its_id_follows_the_text() -> None:
    settings = mail()
    text = mailconfig.policy(settings, ("20 mx2.isp.example.", "10 mx1.isp.example."))
    assert text == policy_of("testing", "mx1.isp.example", "mx2.isp.example")
    assert mailconfig.txt_records(settings, ("10 mx1.isp.example.",)) == {
        "_mta-sts": f"v=STSv1; id={hashlib.sha256(policy_of('testing', 'mx1.isp.example').encode()).hexdigest()[:32]}"}
    ids = {mailconfig.txt_records(m, ("10 mx1.isp.example.",))["_mta-sts"] for m in (
        settings, mail(mta_sts={"mode": "enforce"}), mail(mta_sts={"max_age": 86400}))}
    assert len(ids) == 3  # any change of the policy is a new id: senders fetch it again (RFC 8461 3.1)


def test_tls_rpt_only_with_a_report_address_and_nothing_without_mx() -> None:
    reported = mail(mta_sts={"report": "mailto:tls@isp.example"})
    assert mailconfig.txt_records(reported, ("10 mx1.isp.example.",))["_smtp._tls"] == (
        "v=TLSRPTv1; rua=mailto:tls@isp.example")
    assert mailconfig.txt_records(mail(), ()) == {}
    assert mailconfig.txt_records(mail(), ("0 .",)) == {}  # RFC 7505's null MX: no mail, no policy
    assert mailconfig.txt_records(mail(mta_sts={"enabled": False}), ("10 mx1.isp.example.",)) == {}
    assert mailconfig.hosts(mail(autoconfig=False, mta_sts={"enabled": False}), ("10 mx1.isp.example.",)) == ()
    assert mailconfig.hosts(mail(imap=None), ("10 mx1.isp.example.",)) == ("mta-sts",)  # nothing to configure


def estate(tmp_path: Path, mail_settings: dict[str, Any], domain: dict[str, Any] | None = None,
           web: bool = True) -> EstateBuilder:
    tmp_path.mkdir()
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {**DNS, "mail": mail_settings},
                                            **({"web": {"https": "off"}} if web else {})})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"services": ["mail", "web", "dns"], **(domain or {})})
    return builder


def dns_resources(builder: EstateBuilder) -> list[Resource]:
    return [replace(r, depends_on=()) for (kind, _), r in builder.resources().items() if kind in ("dns_zone", "dns")]


def test_named_serves_the_records_after_the_apply(tmp_path: Path, named: NamedInstance) -> None:
    provider = provider_for(named)
    reporting = {**MAIL, "mta_sts": {"report": "mailto:tls@isp.example"}}
    converge(provider, dns_resources(estate(tmp_path / "a", reporting)))
    first = query(named, "_mta-sts.acme.example.", "TXT")[1]
    expected = hashlib.sha256(policy_of("testing", "mx1.isp.example", "mx2.isp.example").encode()).hexdigest()[:32]
    assert first == {f'"v=STSv1; id={expected}"'}
    assert query(named, "_smtp._tls.acme.example.", "TXT")[1] == {'"v=TLSRPTv1; rua=mailto:tls@isp.example"'}
    for name in ("autoconfig.acme.example.", "mta-sts.acme.example."):
        assert query(named, name, "A")[1] == {"192.0.2.80"}
    assert query(named, "_pop3s._tcp.acme.example.", "SRV")[1] == set()  # no POP3 host set

    # The domain file's own MX changes the policy, so the id named serves; TLS-RPT off removes its record.
    own_mx = {"dns": {"records": {"@": {"MX": "5 in.filter.example."}}}}
    converge(provider, dns_resources(estate(tmp_path / "b", MAIL, own_mx)))
    assert query(named, "_mta-sts.acme.example.", "TXT")[1] == {
        f'"v=STSv1; id={hashlib.sha256(policy_of("testing", "in.filter.example").encode()).hexdigest()[:32]}"'}
    assert query(named, "_smtp._tls.acme.example.", "TXT")[1] == set()

    # Switched off: the records and the sites' addresses go.
    off = {**MAIL, "autoconfig": False, "mta_sts": {"enabled": False}}
    converge(provider, dns_resources(estate(tmp_path / "c", off)))
    for name, rdtype in (("_mta-sts.acme.example.", "TXT"), ("autoconfig.acme.example.", "A"),
                         ("mta-sts.acme.example.", "A")):
        assert query(named, name, rdtype)[1] == set()


def test_a_registry_without_the_web_service_publishes_none_of_them(tmp_path: Path) -> None:
    builder = estate(tmp_path / "e", MAIL, web=False)
    alone = Wiring(Registry(tuple(s for s in BUILTIN if s.name != "web")))
    found = {r.key for r in alone.desired(builder.root).resources.values() if r.kind == "dns"}
    assert "acme.example/_imaps._tcp/SRV" in found
    assert not [k for k in found if "mta-sts" in k or "autoconfig" in k]
