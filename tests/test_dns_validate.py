"""DNS rules: each has a failing input whose problem names file, line, field and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.providers.dns.dkim import create_key, start_rotation
from ispctl.providers.dns.names import BadValue, owner_name, rname_text, target_name
from ispctl.providers.dns.validate import check_zones
from ispctl.reconciler.engine.errors import Problem, ValidationFailed
from ispctl.reconciler.estate.yamlload import format_path
from tests.wiring import validate_estate

REL = "tenants/acme/acme.example.yaml"
FILE = f"desired-state/{REL}"
DNS: dict[str, Any] = {
    "ns": ["ns1.example.net.", "ns2.example.net."],
    "mail": {"mx": [{"host": "mx1.example.net.", "priority": 10}], "spf": "v=spf1 mx -all"},
    "web": {"a": ["192.0.2.80"]},
    "ignore": [{"name": "_acme-challenge*", "type": "TXT"}],
}


def estate(tmp_path: Path, text: str, dns: dict[str, Any] | None = None) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": DNS if dns is None else dns})
    builder.tenant("acme")
    builder.write(REL, text)
    return builder


def problems(tmp_path: Path, records: str, dns: dict[str, Any] | None = None, head: str = "") -> list[str]:
    """Problems of acme.example with ``records`` (YAML lines under dns.records)."""
    body = "\n".join("    " + line for line in records.strip("\n").splitlines())
    text = f"domain: acme.example\nservices: [mail, web, dns]\n{head}dns:\n  records:\n{body}\n"
    builder = estate(tmp_path, text, dns)
    try:
        validate_estate(builder.root)
    except ValidationFailed as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_cname_replaces_the_derived_records_at_its_name(tmp_path: Path) -> None:
    # www gets a derived A (web service); an explicit CNAME there is no conflict.
    assert problems(tmp_path, "www: {CNAME: shops.example.}") == []


@pytest.mark.parametrize(("owner", "message"), [
    ("www.other.example.", "'www.other.example.' is outside the zone acme.example"),
    ("www.acme.example",
     "'www.acme.example' has no trailing dot, so it is relative to the zone and means "
     "www.acme.example.acme.example.; write 'www' or 'www.acme.example.'"),
    ("acme.example",
     "'acme.example' has no trailing dot, so it is relative to the zone and means "
     "acme.example.acme.example.; write '@' or 'acme.example.'"),
    ("dev.*", "'*' is only allowed as the whole leftmost label (*.name)"),
    ("a.*.b", "'*' is only allowed as the whole leftmost label (*.name)"),
    ("*x", "'*' is only allowed as the whole leftmost label (*.name)"),
    ("a..b", "has an empty label (two dots in a row?)"),
    ("bad name", "label 'bad name' may contain letters, digits, '-' and '_' (at most 63)"),
    ("_ispctl-fingerprint",
     "_ispctl-fingerprint is where ispctl keeps its fingerprints in the zone; choose another name"),
    ("abc123._ispctl-fingerprint",
     "_ispctl-fingerprint is where ispctl keeps its fingerprints in the zone; choose another name"),
])
def test_bad_owner_names_are_refused(tmp_path: Path, owner: str, message: str) -> None:
    key = f"'{owner}'"
    path = format_path(("dns", "records", owner))
    assert problems(tmp_path, f"{key}: {{A: 192.0.2.1}}") == [f"{FILE}:5:5: {path}: {message}"]


def test_owner_spellings_that_name_the_same_owner_are_duplicates(tmp_path: Path) -> None:
    found = problems(tmp_path, """
filiale-süd: {A: 192.0.2.1}
xn--filiale-sd-ieb: {AAAA: "2001:db8::1"}
WWW.acme.example.: {A: 192.0.2.2}
www: {TXT: x}
""")
    assert found == [
        f"{FILE}:6:5: dns.records.xn--filiale-sd-ieb: "
        "'xn--filiale-sd-ieb' names the same owner as 'filiale-süd' at line 5 (xn--filiale-sd-ieb); merge them",
        f"{FILE}:8:5: dns.records.www: 'www' names the same owner as 'WWW.acme.example.' at line 7 (www); merge them",
    ]


@pytest.mark.parametrize(("head", "message"), [
    ("type: nodns\n", "a nodns domain has no dns: section (its DNS is elsewhere)"),
    ("type: slave\nprimaries: [192.0.2.53]\n",
     "a slave domain has no dns: section (its zone is a secondary copy of the primaries)"),
    ("services: [mail]\n", "this domain does not enable the dns service (add 'dns' to services)"),
])
def test_a_dns_section_where_no_zone_is_managed_is_refused(tmp_path: Path, head: str, message: str) -> None:
    builder = estate(tmp_path, f"domain: acme.example\n{head}dns:\n  ttl: 1h\n")
    line = builder.line_of(REL, "dns:")
    assert [str(p) for p in builder.problems()] == [f"{FILE}:{line}:1: dns: {message}"]


def test_a_dns_section_without_site_dns_settings_is_refused(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.write(REL, "domain: acme.example\ndns:\n  ttl: 1h\n")
    assert str(builder.only_problem()) == (
        f"{FILE}:2:1: dns: DNS is not managed by this estate: add a dns: section (at least ns:) to ispctl.yaml"
    )


def test_a_zone_needs_name_servers(tmp_path: Path) -> None:
    builder = estate(tmp_path, "domain: acme.example\n", dns={"default_ttl": 60})
    assert str(builder.only_problem()) == (
        f"{FILE}:1:1: domain: zone acme.example has no name servers: "
        "list them as dns.ns in ispctl.yaml (or in this file's dns: section)"
    )


def test_an_empty_ns_override_is_refused(tmp_path: Path) -> None:
    builder = estate(tmp_path, "domain: acme.example\ndns:\n  ns: []\n")
    assert str(builder.only_problem()) == f"{FILE}:3:3: dns.ns: needs at least one name server"


def test_a_missing_dkim_key_says_how_to_make_it(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    builder = estate(tmp_path, "domain: acme.example\n", dns={**DNS, "dkim": {"key_dir": str(keys)}})
    assert str(builder.only_problem()) == (
        f"{FILE}:1:1: domain: no DKIM key for acme.example (selector ispctl1) in {keys}/acme.example: "
        "run 'ispctl dkim init' to create it; plan and apply never make keys"
    )
    assert not keys.exists()  # validation never makes one


def test_an_explicit_dkim_record_needs_no_key(tmp_path: Path) -> None:
    dns = {**DNS, "dkim": {"key_dir": str(tmp_path / "keys")}}
    assert problems(tmp_path, "ispctl1._domainkey: {TXT: 'v=DKIM1; k=rsa; p=MIIB'}", dns=dns) == []


def test_problems_in_several_zones_and_files_are_reported_together(tmp_path: Path) -> None:
    builder = estate(tmp_path, "domain: acme.example\ndns:\n  records:\n    '@': {CNAME: x.example.}\n")
    builder.tenant("beta")
    builder.write("tenants/beta/beta.example.yaml", {"domain": "beta.example", "mailboxes": {"bob": mailbox()},
                                                       "dns": {"records": {"x": {"A": "::1"}}}})
    found: list[Problem] = builder.problems()
    assert [(p.location.file, p.location.line, p.path) for p in found] == [
        (FILE, 4, "dns.records['@'].CNAME"),
        ("desired-state/tenants/beta/beta.example.yaml", 8, "dns.records.x.A"),
    ]


@pytest.mark.parametrize(("raw", "zone", "expected"), [
    ("@", "acme.example", "acme.example."),
    ("mail", "acme.example", "mail.acme.example."),
    ("Mail.Other.Example.", "acme.example", "mail.other.example."),
    ("bücher.example.", "acme.example", "xn--bcher-kva.example."),
    (".", "acme.example", "."),
    ("mx1.isp.example", None, "mx1.isp.example."),
])
def test_target_names_follow_zone_file_rules(raw: str, zone: str | None, expected: str) -> None:
    assert target_name(raw, zone) == expected


def test_owner_and_rname_helpers() -> None:
    assert owner_name("*.Dev", "acme.example") == "*.dev"
    assert owner_name("ACME.example.", "acme.example") == "@"
    assert rname_text("host.master@Example.net", None) == "host\\.master.example.net."
    assert rname_text("hostmaster.example.net.", "acme.example") == "hostmaster.example.net."
    with pytest.raises(BadValue, match="is longer than 253 characters"):
        owner_name(".".join(["a" * 60] * 4), "acme.example")


def test_the_zones_are_built_once_per_estate_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS and OpenDKIM compile hooks share one build; a new read of the estate builds anew."""
    monkeypatch.delenv("ISPCTL_DKIM_DIR", raising=False)
    keys = tmp_path / "keys"
    site = {**SITE, "dns": {"ns": ["ns1.example.net."], "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024}}}
    builder = EstateBuilder(tmp_path, site=site)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    create_key(keys, "acme.example", "s1", 1024)
    catalog = validate_estate(builder.root)
    zones, problems = check_zones(catalog)
    assert check_zones(catalog)[0] is zones and check_zones(catalog)[1] == problems == []
    start_rotation(keys, "acme.example", 1024)
    assert ("s2._domainkey", "TXT") not in check_zones(catalog)[0].zones["acme.example"].rrsets  # the same read
    fresh = check_zones(validate_estate(builder.root))[0]
    assert ("s2._domainkey", "TXT") in fresh.zones["acme.example"].rrsets
