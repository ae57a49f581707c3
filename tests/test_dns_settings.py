"""The DNS sections of ispctl.yaml and domain files as models: shapes, units, short forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder
from pydantic import ValidationError

from ispctl.providers.dns.settings import DkimSettings, DnsSettings, DomainDns, IgnoreRule, RecordSet
from ispctl.reconciler.estate.units import MAX_TTL, format_duration, parse_duration
from tests.wiring import FILES


@pytest.mark.parametrize(("written", "seconds"), [
    (0, 0), (3600, 3600), ("3600", 3600), ("30m", 1800), ("3h", 10800), ("1d", 86400),
    ("1w", 604800), ("1h30m", 5400), ("2W", 1209600), (" 45s ", 45), (MAX_TTL, MAX_TTL),
])
def test_durations_accept_seconds_and_unit_suffixes(written: object, seconds: int) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize(("written", "message"), [
    (-1, "must be between 0 and 2147483647 seconds"),
    (MAX_TTL + 1, "must be between 0 and 2147483647 seconds"),
    ("1y", "'1y' is not a duration"),
    ("h", "'h' is not a duration"),
    ("1h 30m", "'1h 30m' is not a duration"),
    (True, "expected a duration"),
    (1.5, "expected a duration"),
])
def test_bad_durations_are_refused(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(written)


@pytest.mark.parametrize(("seconds", "text"), [
    (604800, "1w"), (86400, "1d"), (10800, "3h"), (1800, "30m"), (5400, "90m"), (45, 45), (0, 0),
])
def test_format_duration_picks_the_largest_exact_unit(seconds: int, text: object) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_site_defaults_leave_dns_unmanaged_and_dkim_off() -> None:
    site = FILES.site.model_validate(SITE)
    assert "dns" not in site.model_fields_set
    assert site.dns == DnsSettings()
    assert (site.dns.default_ttl, site.dns.ns, site.dns.dkim) == (3600, (), None)
    assert (site.dns.soa.refresh, site.dns.soa.retry, site.dns.soa.expire, site.dns.soa.minimum) == (
        10800, 1800, 604800, 86400
    )
    # Autoconfiguration and MTA-STS are on by default (testing mode, a week), POP3 and TLS-RPT off.
    sts = site.dns.mail.mta_sts
    assert (site.dns.mail.autoconfig, site.dns.mail.pop3) == (True, None)
    assert (sts.enabled, sts.mode, sts.max_age, sts.report) == (True, "testing", 604800, None)
    assert DnsSettings.model_validate({"mail": {"mta_sts": {"max_age": "2w"}}}).mail.mta_sts.max_age == 14 * 86400


def test_site_settings_normalise_host_names_and_accept_mx_text() -> None:
    settings = DnsSettings.model_validate({
        "ns": ["NS1.Example.NET", "ns2.example.net."],
        "default_ttl": "2h",
        "soa": {"refresh": "1h", "minimum": 300},
        "mail": {"mx": ["20 MX2.example.net", {"host": "mx1.example.net."}], "imap": "imap.example.net"},
        "web": {"a": ["192.0.2.1"], "aaaa": ["2001:DB8::0:1"]},
        "dkim": {"selector": "s2024", "key_dir": "/srv/dkim/", "bits": 1024},
        "ignore": [{"name": "_acme-challenge*", "type": "txt"}, {"name": "Legacy"}],
    })
    assert settings.ns == ("ns1.example.net.", "ns2.example.net.")
    assert settings.default_ttl == 7200 and settings.soa.refresh == 3600 and settings.soa.minimum == 300
    assert [(m.priority, m.host) for m in settings.mail.mx] == [(20, "mx2.example.net."), (10, "mx1.example.net.")]
    assert settings.mail.imap == "imap.example.net."
    assert settings.web.aaaa == ("2001:db8::1",)
    assert settings.dkim == DkimSettings(selector="s2024", key_dir="/srv/dkim", bits=1024)
    assert settings.ignore == (IgnoreRule(name="_acme-challenge*", type="TXT"), IgnoreRule(name="legacy", type=None))


@pytest.mark.parametrize(("data", "message"), [
    ({"web": {"a": ["2001:db8::1"]}}, "2001:db8::1 is an IPv6 address; list it under AAAA"),
    ({"web": {"aaaa": ["192.0.2.1"]}}, "192.0.2.1 is an IPv4 address; list it under A"),
    ({"web": {"a": ["192.0.2.300"]}}, "'192.0.2.300' is not an IP address"),
    ({"mail": {"mx": ["mx1.example.net."]}}, "'mx1.example.net.' is not an MX value"),
    ({"mail": {"mx": [{"host": "mx1.example.net.", "priority": 70000}]}}, "less than or equal to 65535"),
    ({"ns": ["ns1"]}, "not a fully qualified domain name"),
    ({"dkim": {"key_dir": "keys"}}, "must be an absolute path"),
    ({"dkim": {"bits": 512}}, "1024, 2048, 3072 or 4096"),
    ({"dkim": {"selector": "Bad_Selector"}}, "should match pattern"),
    ({"ignore": [{"name": "x", "type": "SPF"}]}, "unknown record type 'SPF'"),
    ({"default_ttl": "forever"}, "'forever' is not a duration"),
    ({"mail": {"mta_sts": {"report": "mailto:tls@isp.example; x=1"}}}, "is not a mailto: or https:// address"),
    ({"mail": {"mta_sts": {"report": "tls@isp.example"}}}, "is not a mailto: or https:// address"),
    ({"mail": {"mta_sts": {"max_age": "1h"}}}, "greater than or equal to 86400"),
    ({"mail": {"mta_sts": {"mode": "on"}}}, "'testing', 'enforce' or 'none'"),
])
def test_bad_site_settings_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DnsSettings.model_validate(data)


@pytest.mark.parametrize(("written", "values", "ttl"), [
    ("192.0.2.1", ["192.0.2.1"], None),
    (["192.0.2.1", "192.0.2.2"], ["192.0.2.1", "192.0.2.2"], None),
    (None, [], None),
    ([], [], None),
    ({"priority": 10, "host": "mx1"}, [{"priority": 10, "host": "mx1"}], None),
    ({"ttl": "5m", "values": ["a", "b"]}, ["a", "b"], 300),
    ({"ttl": 60}, [], 60),
    (12345, [12345], None),
    ([["part one", "part two"]], [["part one", "part two"]], None),
])
def test_record_sets_have_short_and_full_forms(written: object, values: list[Any], ttl: int | None) -> None:
    parsed = DomainDns.model_validate({"records": {"www": {"X": written}}}).records["www"]["X"]
    assert parsed == RecordSet(ttl=ttl, values=values)


def test_a_domain_dns_section_keeps_names_as_written_for_validation() -> None:
    spec = FILES.domain.model_validate({
        "domain": "example.org",
        "dns": {"ttl": "30m", "ns": ["ns1", "ns2.example.net."], "soa": {"rname": "dns@example.org", "expire": "2w"},
                "records": {"@": {"A": "192.0.2.1"}}},
    })
    assert spec.dns is not None
    assert spec.dns.ttl == 1800 and spec.dns.ns == ["ns1", "ns2.example.net."]
    assert spec.dns.soa is not None and spec.dns.soa.expire == 1209600 and spec.dns.soa.refresh is None
    assert FILES.domain.model_validate({"domain": "example.org"}).dns is None


def _problems(tmp_path: Path, text: str) -> list[str]:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.write("tenants/acme/acme.example.yaml", text)
    return [str(p) for p in builder.problems()]


def test_model_errors_in_a_dns_section_name_file_line_and_field(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """
        domain: acme.example
        dns:
          ttl: 1y
          records:
            www:
              A: {ttl: -5, valeus: [192.0.2.1]}
            mail: 192.0.2.9
        """)
    assert problems == [
        # The file's other rules run on what is left of it in the same run (this estate's
        # site settings have no dns: section).
        "desired-state/tenants/acme/acme.example.yaml:2:1: dns: DNS is not managed by this estate: add a dns: section "
        "(at least ns:) to ispctl.yaml",
        "desired-state/tenants/acme/acme.example.yaml:3:3: dns.ttl: "
        "'1y' is not a duration: write seconds or e.g. 30m, 3h, 1d, 1w, 1h30m",
        "desired-state/tenants/acme/acme.example.yaml:6:11: dns.records.www.A.ttl: "
        "must be between 0 and 2147483647 seconds",
        "desired-state/tenants/acme/acme.example.yaml:6:20: dns.records.www.A.valeus: "
        "unknown field 'valeus'; did you mean 'values'?",
        "desired-state/tenants/acme/acme.example.yaml:7:5: dns.records.mail: expected a mapping (key: value) here",
    ]


def test_an_unknown_key_in_the_site_dns_section_gets_a_hint(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {"ns": ["ns1.example.net."], "default_tll": 60}})
    problem = builder.only_problem()
    assert str(problem) == (
        "desired-state/ispctl.yaml:6:3: dns.default_tll: unknown field 'default_tll'; did you mean 'default_ttl'?"
    )
