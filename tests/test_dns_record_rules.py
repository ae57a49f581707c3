"""DNS record rules (providers/dns/record_rules.py): each record set, and the zone's sets together,
checked through the estate's validation so every problem carries its file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_dns_validate import FILE, estate, problems


def test_cname_beside_other_data_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "shop: {CNAME: shops.example., TXT: hello}") == [
        f"{FILE}:5:12: dns.records.shop.CNAME: "
        "a CNAME cannot share its name with other records (here: TXT); RFC 1034 3.6.2",
    ]


def test_cname_at_the_apex_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {CNAME: other.example.}") == [
        f"{FILE}:5:11: dns.records['@'].CNAME: "
        "a CNAME cannot be at the zone apex (it would hide the SOA and NS); use A/AAAA records",
    ]


def test_a_cname_has_one_value(tmp_path: Path) -> None:
    assert problems(tmp_path, "shop: {CNAME: [a.example., b.example.]}") == [
        f"{FILE}:5:12: dns.records.shop.CNAME: a name has at most one CNAME value",
    ]


def test_mx_ns_and_srv_targets_must_not_be_cnames(tmp_path: Path) -> None:
    found = problems(tmp_path, """
'@': {MX: "10 mail"}
mail: {CNAME: mx1.example.net.}
lab: {NS: [mail, ns2.example.net.]}
_sip._tcp: {SRV: "10 5 5060 mail.acme.example."}
""")
    assert found == [
        f"{FILE}:5:11: dns.records['@'].MX: MX target mail.acme.example. is a CNAME (at 'mail'); "
        "MX records must point at a name with address records (RFC 2181 10.3)",
        f"{FILE}:7:11: dns.records.lab.NS: NS target mail.acme.example. is a CNAME (at 'mail'); "
        "NS records must point at a name with address records (RFC 2181 10.3)",
        f"{FILE}:8:17: dns.records['_sip._tcp'].SRV: SRV target mail.acme.example. is a CNAME (at 'mail'); "
        "SRV records must point at a name with address records (RFC 2181 10.3)",
    ]


def test_an_apex_name_server_inside_the_zone_must_not_be_a_cname(tmp_path: Path) -> None:
    text = "domain: acme.example\ndns:\n  ns: [ns, ns2.example.net.]\n  records:\n    ns: {CNAME: ns1.example.net.}\n"
    assert [str(p) for p in estate(tmp_path, text).problems()] == [
        f"{FILE}:3:8: dns.ns[0]: name server ns.acme.example. is a CNAME (at 'ns'); "
        "NS records must point at a name with address records",
    ]


@pytest.mark.parametrize(("record", "path", "col", "message"), [
    ("A: '2001:db8::1'", "A", 7, "2001:db8::1 is an IPv6 address; put it under AAAA"),
    ("AAAA: 192.0.2.1", "AAAA", 7, "192.0.2.1 is an IPv4 address; put it under A"),
    ("A: [192.0.2.1, 192.0.2.256]", "A[1]", 22, "'192.0.2.256' is not an IPv4 address"),
    ("A: 192.0.2.01", "A", 7, "'192.0.2.01' is not an IPv4 address"),
    ("AAAA: {values: ['2001:db8::g']}", "AAAA.values[0]", 23, "'2001:db8::g' is not an IPv6 address"),
    ("MX: '10'", "MX", 7,
     "'10' is not an MX value: write '10 mx1.example.net.' or {priority: 10, host: mx1.example.net.}"),
    ("MX: {priority: 70000, host: mx}", "MX", 7, "MX priority 70000 must be a whole number 0..65535"),
    ("MX: {prio: 1, host: mx}", "MX", 7, "unknown field 'prio' in an MX value; allowed here: host, priority"),
    ("SRV: '10 5 sip.example.net.'", "SRV", 7,
     "'10 5 sip.example.net.' is not an SRV value: "
     "write 'PRIORITY WEIGHT PORT TARGET', e.g. '10 5 5060 sip.example.net.'"),
    ("CAA: 'issue letsencrypt.org'", "CAA", 7,
     "'issue letsencrypt.org' is not valid CAA data (e.g. 0 issue \"letsencrypt.org\")"),
    ("CNAME: mail.acme.example", "CNAME", 7,
     "'mail.acme.example' has no trailing dot, so it is relative to the zone and means "
     "mail.acme.example.acme.example.; write 'mail.acme.example.'"),
    ("PTR: true", "PTR", 7, "expected text here"),
    ("A: [[192.0.2.1]]", "A[0]", 11,
     "a list of strings inside a value is only allowed for TXT (explicitly split strings)"),
    ("a: 192.0.2.1", "a", 7, "record type 'a' must be upper case: 'A'"),
    ("SPF: 'v=spf1 -all'", "SPF", 7,
     "unsupported record type 'SPF'; supported: A, AAAA, CNAME, MX, TXT, SRV, CAA, NS, PTR"),
])
def test_bad_record_values_are_refused(tmp_path: Path, record: str, path: str, col: int, message: str) -> None:
    assert problems(tmp_path, f"x:\n  {record}") == [f"{FILE}:6:{col}: dns.records.x.{path}: {message}"]


def test_soa_and_apex_ns_are_settings_not_records(tmp_path: Path) -> None:
    found = problems(tmp_path, """
'@':
  SOA: ns1.example.net. hostmaster.example.net. 1 2 3 4 5
  NS: [ns3.example.net.]
lab: {NS: ns3.example.net.}
""")
    assert found == [
        f"{FILE}:6:7: dns.records['@'].SOA: the SOA is set with dns.soa (in ispctl.yaml or this file), not as a record",
        f"{FILE}:7:7: dns.records['@'].NS: the apex NS set is dns.ns (in ispctl.yaml or this file), not a record; "
        "NS records here are delegations below the apex",
    ]


def test_explicitly_split_txt_strings_hold_at_most_255_bytes(tmp_path: Path) -> None:
    ok = "a" * 255
    too_long = "ü" * 128  # 256 bytes in UTF-8
    found = problems(tmp_path, f"""
one: {{TXT: "{'b' * 700}"}}
two: {{TXT: [["{ok}", "{too_long}"]]}}
three: {{TXT: [[]]}}
""")
    assert found == [
        f"{FILE}:6:17: dns.records.two.TXT[0]: an explicitly split TXT string is 256 bytes; "
        "each may hold at most 255 (or write the value as one string: ispctl splits it)",
        f"{FILE}:7:19: dns.records.three.TXT[0]: an explicitly split TXT value needs at least one string",
    ]


def test_duplicate_values_are_refused_after_normalisation(tmp_path: Path) -> None:
    found = problems(tmp_path, """
x:
  AAAA: ['2001:db8::1', '2001:DB8:0::1']
  MX: ['10 mail', {priority: 10, host: mail.acme.example.}]
""")
    assert found == [
        f"{FILE}:6:29: dns.records.x.AAAA[1]: duplicate value: the same record as value 1 (2001:db8::1)",
        f"{FILE}:7:23: dns.records.x.MX[1]: duplicate value: the same record as value 1 (10 mail.acme.example.)",
    ]


def test_records_an_ignore_rule_gives_away_are_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "_acme-challenge.www: {TXT: token, A: 192.0.2.1}") == [
        f"{FILE}:5:27: dns.records['_acme-challenge.www'].TXT: "
        "matches ignore rule 1 of dns.ignore in ispctl.yaml ('_acme-challenge*'): "
        "those records belong to another tool; remove the rule or these records",
    ]
