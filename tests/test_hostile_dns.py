"""Hostile DNS values: each case validates to exactly what was written, or fails with
file:line:column on the line of the value, with no traceback and no secret in the output.

Owner names, every record type's values, MX/SRV numbers (non-ASCII digits), TTLs, secondary
primaries (zone ids, named config syntax), control and format characters, IDN, and sizes
beyond one DNS message. Each case is one YAML line of a domain file, so the line a problem
must name is known. A few cases also go through the real command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder
from typer.testing import CliRunner

from ispctl.providers.dns.dkim import create_key, private_path
from ispctl.reconciler.cli.app import app
from ispctl.reconciler.engine.errors import ValidationFailed
from tests.wiring import resources_of

ZONE = "acme.example"
REL = f"tenants/acme/{ZONE}.yaml"
FILE = f"desired-state/{REL}"
HEAD = f"domain: {ZONE}\nservices: [mail, web, dns]\ndns:\n  records:\n"
LINE = 5  # the case's line: after domain, services, dns and records
SLAVE_REL = "tenants/acme/sec.example.yaml"
SLAVE_HEAD = "domain: sec.example\ntype: slave\nservices: [dns]\n"

Ok = tuple[str, str, tuple[str, ...]]  # owner, type, the exact records
ERR = None


def dns_site(keys: Path) -> dict[str, Any]:
    return {"ns": ["ns1.example.net.", "ns2.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
            "web": {"a": ["192.0.2.80"]}, "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024}}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real DKIM key pair: its private half must never show up in any output."""
    folder = tmp_path_factory.mktemp("dkim")
    create_key(folder, ZONE, "s1", 1024)
    return folder


def private_lines(keys: Path) -> list[str]:
    text = private_path(keys, ZONE, "s1").read_text(encoding="ascii")
    return [line for line in text.splitlines()[1:-1] if len(line) > 20]


def build(tmp_path: Path, keys: Path, rel: str, text: str) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns_site(keys)})
    builder.tenant("acme")
    if rel != REL:
        builder.write(REL, f"domain: {ZONE}\nservices: [mail, web, dns]\n")
    builder.write(rel, text)
    return builder


# Each case: (id, the YAML line under dns.records, what it must become or ERR).
RECORDS: list[tuple[str, str, Ok | None]] = [
    # --- owner names ---------------------------------------------------------------------
    ("owner-plain", "www2: {A: 192.0.2.1}", ("www2", "A", ("192.0.2.1",))),
    ("owner-upper-folds", "WWW2: {A: 192.0.2.1}", ("www2", "A", ("192.0.2.1",))),
    ("owner-apex", "'@': {TXT: x}", ("@", "TXT", ('"x"',))),
    ("owner-underscore", "_sip._tcp: {SRV: 0 5 5060 sip.example.net.}",
     ("_sip._tcp", "SRV", ("0 5 5060 sip.example.net.",))),
    ("owner-wildcard", "'*.dev': {A: 192.0.2.1}", ("*.dev", "A", ("192.0.2.1",))),
    ("owner-quoted-digits", "'007': {A: 192.0.2.1}", ("007", "A", ("192.0.2.1",))),
    ("owner-yaml-octal-looking", "007: {A: 192.0.2.1}", ("007", "A", ("192.0.2.1",))),
    ("owner-yaml-float-looking", "1e5: {A: 192.0.2.1}", ("1e5", "A", ("192.0.2.1",))),
    ("owner-yaml-null-looking", "null: {A: 192.0.2.1}", ("null", "A", ("192.0.2.1",))),
    ("owner-yaml-inf-looking", ".inf: {A: 192.0.2.1}", ERR),
    ("owner-absolute-inside", "host.acme.example.: {A: 192.0.2.1}", ("host", "A", ("192.0.2.1",))),
    ("owner-idn", "bücher: {A: 192.0.2.1}", ("xn--bcher-kva", "A", ("192.0.2.1",))),
    ("owner-a-label", "xn--bcher-kva: {A: 192.0.2.1}", ("xn--bcher-kva", "A", ("192.0.2.1",))),
    ("owner-label-63", f"{'a' * 63}: {{A: 192.0.2.1}}", ("a" * 63, "A", ("192.0.2.1",))),
    ("owner-newline-inside", '"a\\nb": {A: 192.0.2.1}', ERR),
    ("owner-newline-end", '"www3\\n": {A: 192.0.2.1}', ERR),
    ("owner-cr", '"w\\rx": {A: 192.0.2.1}', ERR),
    ("owner-tab", '"w\\tx": {A: 192.0.2.1}', ERR),
    ("owner-nul", '"w\\0x": {A: 192.0.2.1}', ERR),
    ("owner-del", '"w\\x7Fx": {A: 192.0.2.1}', ERR),
    ("owner-nel", '"w\\Nx": {A: 192.0.2.1}', ERR),
    ("owner-line-separator", '"w\\Lx": {A: 192.0.2.1}', ERR),
    ("owner-zero-width", '"w\\u200Bx": {A: 192.0.2.1}', ERR),
    ("owner-bidi-override", '"w\\u202Ex": {A: 192.0.2.1}', ERR),
    ("owner-fullwidth-ascii", "ｗｗｗ2: {A: 192.0.2.1}", ERR),
    ("owner-bad-a-label", "xn--zz: {A: 192.0.2.1}", ERR),
    ("owner-space", "'a b': {A: 192.0.2.1}", ERR),
    ("owner-semicolon", "'a;b': {A: 192.0.2.1}", ERR),
    ("owner-quote", "'a\"b': {A: 192.0.2.1}", ERR),
    ("owner-slash", "'a/b': {A: 192.0.2.1}", ERR),
    ("owner-backslash", "'a\\b': {A: 192.0.2.1}", ERR),
    ("owner-braces", "'a{b}': {A: 192.0.2.1}", ERR),
    ("owner-empty-label", "a..b: {A: 192.0.2.1}", ERR),
    ("owner-leading-hyphen", "-a: {A: 192.0.2.1}", ERR),
    ("owner-trailing-hyphen", "a-: {A: 192.0.2.1}", ERR),
    ("owner-label-64", f"{'a' * 64}: {{A: 192.0.2.1}}", ERR),
    ("owner-too-long", f"{'.'.join(['a' * 60] * 4)}: {{A: 192.0.2.1}}", ERR),
    ("owner-inner-wildcard", "'a.*': {A: 192.0.2.1}", ERR),
    ("owner-double-wildcard", "'**': {A: 192.0.2.1}", ERR),
    ("owner-zone-without-dot", "www.acme.example: {A: 192.0.2.1}", ERR),
    ("owner-outside-zone", "www.other.example.: {A: 192.0.2.1}", ERR),
    ("owner-root", "'.': {A: 192.0.2.1}", ERR),
    ("owner-reserved", "_ispctl-fingerprint: {TXT: x}", ERR),
    # --- A / AAAA ------------------------------------------------------------------------
    ("a-plain", "h: {A: 192.0.2.1}", ("h", "A", ("192.0.2.1",))),
    ("a-list", "h: {A: [192.0.2.2, 192.0.2.1]}", ("h", "A", ("192.0.2.1", "192.0.2.2"))),
    ("a-leading-zero", "h: {A: 192.0.2.01}", ERR),
    ("a-short", "h: {A: 192.0.2}", ERR),
    ("a-v6", "h: {A: '2001:db8::1'}", ERR),
    ("a-cidr", "h: {A: 192.0.2.1/24}", ERR),
    ("a-integer", "h: {A: 3221225985}", ERR),
    ("a-fullwidth-digits", "h: {A: １92.0.2.1}", ERR),
    ("a-arabic-digits", "h: {A: ١92.0.2.1}", ERR),
    ("a-newline", 'h: {A: "192.0.2.1\\n"}', ERR),
    ("a-semicolon", "h: {A: '192.0.2.1;'}", ERR),
    ("a-duplicate", "h: {A: [192.0.2.1, 192.0.2.1]}", ERR),
    ("aaaa-plain", "h: {AAAA: '2001:db8::1'}", ("h", "AAAA", ("2001:db8::1",))),
    ("aaaa-upper-canonical", "h: {AAAA: '2001:DB8::1'}", ("h", "AAAA", ("2001:db8::1",))),
    ("aaaa-zone-id", "h: {AAAA: 'fe80::1%eth0'}", ERR),
    ("aaaa-zone-id-config", "h: {AAAA: 'fe80::1%eth0; }; zone x {'}", ERR),
    ("aaaa-v4", "h: {AAAA: 192.0.2.1}", ERR),
    ("aaaa-prefix", "h: {AAAA: '2001:db8::/64'}", ERR),
    # --- names as values -------------------------------------------------------------------
    ("cname-absolute", "c: {CNAME: target.example.net.}", ("c", "CNAME", ("target.example.net.",))),
    ("cname-relative", "c: {CNAME: target}", ("c", "CNAME", ("target.acme.example.",))),
    ("cname-newline", 'c: {CNAME: "target\\n.example."}', ERR),
    ("cname-space", "c: {CNAME: 'tar get.example.'}", ERR),
    ("cname-two", "c: {CNAME: [a.example., b.example.]}", ERR),
    ("cname-zone-without-dot", "c: {CNAME: x.acme.example}", ERR),
    ("ptr-plain", "p: {PTR: host.example.net.}", ("p", "PTR", ("host.example.net.",))),
    ("ptr-bidi", 'p: {PTR: "host\\u202E.example."}', ERR),
    ("ns-delegation", "sub: {NS: [ns1.example.net.]}", ("sub", "NS", ("ns1.example.net.",))),
    ("ns-at-apex", "'@': {NS: ns9.example.net.}", ERR),
    # --- MX ------------------------------------------------------------------------------
    ("mx-plain", "m: {MX: 10 mx.example.net.}", ("m", "MX", ("10 mx.example.net.",))),
    ("mx-mapping", "m: {MX: {priority: 20, host: mx.example.net.}}", ("m", "MX", ("20 mx.example.net.",))),
    ("mx-null", "m: {MX: 0 .}", ("m", "MX", ("0 .",))),
    ("mx-relative", "m: {MX: 10 mx}", ("m", "MX", ("10 mx.acme.example.",))),
    ("mx-superscript", "m: {MX: ² mx.example.net.}", ERR),
    ("mx-superscript-mapping", "m: {MX: {priority: '²', host: mx.example.net.}}", ERR),
    ("mx-arabic-digit", "m: {MX: ٣ mx.example.net.}", ERR),
    ("mx-fullwidth-digit", "m: {MX: １0 mx.example.net.}", ERR),
    ("mx-too-big", "m: {MX: 65536 mx.example.net.}", ERR),
    ("mx-negative", "m: {MX: -1 mx.example.net.}", ERR),
    ("mx-float", "m: {MX: {priority: 10.5, host: mx.example.net.}}", ERR),
    ("mx-bool", "m: {MX: {priority: true, host: mx.example.net.}}", ERR),
    ("mx-newline", 'm: {MX: "10\\nmx.example.net."}', ERR),
    ("mx-three-fields", "m: {MX: 10 mx.example.net. extra}", ERR),
    ("mx-unknown-field", "m: {MX: {priority: 10, host: mx.example.net., weight: 1}}", ERR),
    # --- SRV -----------------------------------------------------------------------------
    ("srv-plain", "_x._tcp: {SRV: 0 5 5060 sip.example.net.}", ("_x._tcp", "SRV", ("0 5 5060 sip.example.net.",))),
    ("srv-superscript-port", "_x._tcp: {SRV: 0 5 5²60 sip.example.net.}", ERR),
    ("srv-fullwidth-weight", "_x._tcp: {SRV: 0 ５ 5060 sip.example.net.}", ERR),
    ("srv-port-too-big", "_x._tcp: {SRV: 0 5 65536 sip.example.net.}", ERR),
    ("srv-three-fields", "_x._tcp: {SRV: 0 5 5060}", ERR),
    ("srv-tab", '_x._tcp: {SRV: "0 5 5060\\tsip.example.net."}', ERR),
    # --- TXT: any text, represented exactly -------------------------------------------------
    ("txt-plain", "t: {TXT: hello}", ("t", "TXT", ('"hello"',))),
    ("txt-quote", "t: {TXT: 'a\"b'}", ("t", "TXT", ('"a\\"b"',))),
    ("txt-backslash", "t: {TXT: 'a\\b'}", ("t", "TXT", ('"a\\\\b"',))),
    ("txt-newline-kept", 't: {TXT: "a\\nb"}', ("t", "TXT", ('"a\\010b"',))),
    ("txt-nul-kept", 't: {TXT: "a\\0b"}', ("t", "TXT", ('"a\\000b"',))),
    ("txt-unicode", "t: {TXT: é}", ("t", "TXT", ('"\\195\\169"',))),
    ("txt-empty", "t: {TXT: ''}", ("t", "TXT", ('""',))),
    ("txt-semicolon", "t: {TXT: 'v=DMARC1; p=none'}", ("t", "TXT", ('"v=DMARC1; p=none"',))),
    ("txt-split", "t: {TXT: [[ab, cd]]}", ("t", "TXT", ('"ab" "cd"',))),
    ("txt-long-split", f"t: {{TXT: {'x' * 300}}}", ("t", "TXT", (f'"{"x" * 255}" "{"x" * 45}"',))),
    ("txt-split-part-too-long", f"t: {{TXT: [[{'x' * 256}]]}}", ERR),
    ("txt-one-value-too-big", f"t: {{TXT: {'x' * 66000}}}", ERR),
    ("txt-rrset-too-big", f"t: {{TXT: [{', '.join(f'v{i:03}' + 'y' * 240 for i in range(270))}]}}", ERR),
    ("txt-mapping", "t: {TXT: {a: b}}", ERR),
    ("txt-yaml-octal-looking", "t: {TXT: 007}", ERR),
    ("txt-yaml-float", "t: {TXT: 1e3}", ERR),
    ("txt-yaml-hex", "t: {TXT: 0x1f}", ERR),
    ("txt-yaml-number-quoted", "t: {TXT: '007'}", ("t", "TXT", ('"007"',))),
    ("cname-yaml-float", "c: {CNAME: 1e3}", ERR),
    ("cname-yaml-inf", "c: {CNAME: .inf}", ERR),
    ("ptr-yaml-int", "p: {PTR: 1}", ERR),
    # --- CAA -----------------------------------------------------------------------------
    ("caa-plain", "'@': {CAA: '0 issue \"letsencrypt.org\"'}", ("@", "CAA", ('0 issue "letsencrypt.org"',))),
    ("caa-newline-in-quotes", "'@': {CAA: \"0 issue \\\"letsencrypt.org\\nevil\\\"\"}", ERR),
    ("caa-newline-unquoted", "'@': {CAA: \"0 issue le\\nx\"}", ERR),
    ("caa-flag-too-big", "'@': {CAA: '256 issue \"x\"'}", ERR),
    ("caa-no-value", "'@': {CAA: '0 issue'}", ERR),
    ("caa-zero-width", "'@': {CAA: \"0 issue \\\"le\\u200Bt.org\\\"\"}", ERR),
    # --- types -----------------------------------------------------------------------------
    ("type-lower", "h: {a: 192.0.2.1}", ERR),
    ("type-unknown", "h: {TLSA: x}", ERR),
    ("type-soa", "'@': {SOA: x}", ERR),
    ("type-newline", 'h: {"A\\n": 192.0.2.1}', ERR),
    # --- TTLs ------------------------------------------------------------------------------
    ("ttl-seconds", "h: {A: {ttl: 300, values: [192.0.2.1]}}", ("h", "A", ("192.0.2.1",))),
    ("ttl-units", "h: {A: {ttl: 1h30m, values: [192.0.2.1]}}", ("h", "A", ("192.0.2.1",))),
    ("ttl-superscript", "h: {A: {ttl: '²', values: [192.0.2.1]}}", ERR),
    ("ttl-arabic-digit", "h: {A: {ttl: ٣h, values: [192.0.2.1]}}", ERR),
    ("ttl-fullwidth", "h: {A: {ttl: '３００', values: [192.0.2.1]}}", ERR),
    ("ttl-negative", "h: {A: {ttl: -1, values: [192.0.2.1]}}", ERR),
    ("ttl-too-big", "h: {A: {ttl: 2147483648, values: [192.0.2.1]}}", ERR),
    ("ttl-bool", "h: {A: {ttl: true, values: [192.0.2.1]}}", ERR),
    ("ttl-float", "h: {A: {ttl: 1.5, values: [192.0.2.1]}}", ERR),
    ("ttl-newline", 'h: {A: {ttl: "300\\n5", values: [192.0.2.1]}}', ERR),
]

TTLS = {"ttl-seconds": 300, "ttl-units": 5400}

PRIMARIES: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("primary-v4", "192.0.2.53", ("192.0.2.53",)),
    ("primary-v6", "'2001:db8::53'", ("2001:db8::53",)),
    ("primary-two", "192.0.2.53, '2001:db8::53'", ("192.0.2.53", "2001:db8::53")),
    ("primary-zone-id", "'fe80::1%eth0'", ERR),
    ("primary-zone-id-injection", "'fe80::1%eth0; }; also-notify { 203.0.113.1; }; #'", ERR),
    ("primary-semicolon", "'192.0.2.53;'", ERR),
    ("primary-brace", "'192.0.2.53 }'", ERR),
    ("primary-quote", "'\"192.0.2.53\"'", ERR),
    ("primary-port", "'192.0.2.53 port 5353'", ERR),
    ("primary-key", "'192.0.2.53 key x'", ERR),
    ("primary-newline", '"192.0.2.53\\n"', ERR),
    ("primary-unspecified", "0.0.0.0", ERR),
    ("primary-unspecified-v6", "'::'", ERR),
    ("primary-multicast", "224.0.0.1", ERR),
    ("primary-broadcast", "255.255.255.255", ERR),
    ("primary-leading-zero", "192.0.2.053", ERR),
    ("primary-fullwidth", "１92.0.2.53", ERR),
    ("primary-name", "ns1.example.net", ERR),
    ("primary-duplicate", "192.0.2.53, 192.0.2.53", ERR),
]


# The site's dns: section (ispctl.yaml line 5): (id, the YAML line, the derived record it must give or ERR).
SITE_HEAD = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\ndns:\n  ns: [ns1.example.net., ns2.example.net.]\n"
SITE_CASES: list[tuple[str, str, Ok | None]] = [
    ("site-mx-short", "mail: {mx: ['20 mx9.example.net.']}", ("@", "MX", ("20 mx9.example.net.",))),
    ("site-mx-superscript", "mail: {mx: ['² mx1.example.net.']}", ERR),
    ("site-mx-arabic-priority", "mail: {mx: [{host: mx1.example.net., priority: '٣'}]}", ERR),
    ("site-mx-fullwidth-priority", "mail: {mx: [{host: mx1.example.net., priority: '１0'}]}", ERR),
    ("site-spf-newline-kept", 'mail: {spf: "v=spf1\\n-all"}', ("@", "TXT", ('"v=spf1\\010-all"',))),
    ("site-imap-bidi", 'mail: {imap: "imap\\u202E.example.net."}', ERR),
    ("site-web-aaaa-zone-id", "web: {aaaa: ['fe80::1%eth0']}", ERR),
    ("site-web-a-fullwidth", "web: {a: ['１92.0.2.80']}", ERR),
    ("site-web-a", "web: {a: [192.0.2.81]}", ("www", "A", ("192.0.2.81",))),
    ("site-ignore-newline", 'ignore: [{name: "_acme\\n*"}]', ERR),
    ("site-dkim-dir-newline", 'dkim: {key_dir: "/etc/x\\n"}', ERR),
    ("site-dkim-selector-newline", 'dkim: {selector: "s1\\n"}', ERR),
    ("site-rname-newline", 'soa: {rname: "host\\nmaster@example.net"}', ERR),
    ("site-mname-newline", 'soa: {mname: "ns1.example.net.\\n"}', ERR),
    ("site-ttl-superscript", "default_ttl: '²'", ERR),
    ("site-refresh-arabic", "soa: {refresh: '٣h'}", ERR),
]


def outcome(tmp_path: Path, keys: Path, rel: str, text: str) -> tuple[dict[tuple[str, str], Any], list[Any]]:
    builder = build(tmp_path, keys, rel, text)
    try:
        return resources_of(builder.root), []
    except ValidationFailed as exc:
        return {}, list(exc.problems)


def assert_refused_at(problems: list[Any], file: str, line: int) -> None:
    assert problems, "refused"
    here = [p for p in problems if p.location.file == file and p.location.line == line]
    assert here, [str(p) for p in problems]
    assert all(p.location.column > 0 for p in here), [str(p) for p in here]
    for problem in problems:
        text = str(problem)
        assert "\n" not in text and "\r" not in text and "\u2028" not in text, repr(text)
        assert "Traceback" not in text and "Internal error" not in text


@pytest.mark.parametrize(("line", "expected"), [pytest.param(text, want, id=case) for case, text, want in RECORDS])
def test_a_record_value(tmp_path: Path, keys: Path, line: str, expected: Ok | None,
                        request: pytest.FixtureRequest) -> None:
    resources, problems = outcome(tmp_path, keys, REL, HEAD + "    " + line + "\n")
    if expected is None:
        assert_refused_at(problems, FILE, LINE)
    else:
        assert not problems, [str(p) for p in problems]
        owner, rdtype, records = expected
        found = resources[("dns", f"{ZONE}/{owner}/{rdtype}")]
        assert found.attrs["records"] == records
        case = request.node.callspec.id
        if case in TTLS:
            assert found.attrs["ttl"] == TTLS[case]
    secrets = private_lines(keys)
    assert not any(s in str(p) for p in problems for s in secrets)


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=case) for case, v, e in PRIMARIES])
def test_a_secondary_zones_primaries(tmp_path: Path, keys: Path, value: str, expected: tuple[str, ...] | None) -> None:
    resources, problems = outcome(tmp_path, keys, SLAVE_REL, SLAVE_HEAD + f"primaries: [{value}]\n")
    if expected is None:
        assert_refused_at(problems, f"desired-state/{SLAVE_REL}", 4)
    else:
        assert not problems, [str(p) for p in problems]
        assert resources[("dns_zone", "sec.example")].attrs["primaries"] == expected


@pytest.mark.parametrize(("line", "expected"), [pytest.param(text, want, id=case) for case, text, want in SITE_CASES])
def test_a_site_dns_setting(tmp_path: Path, line: str, expected: Ok | None) -> None:
    builder = EstateBuilder(tmp_path, site=SITE_HEAD + "  " + line + "\n")
    builder.tenant("acme")
    builder.write(REL, f"domain: {ZONE}\nservices: [mail, web, dns]\n")
    try:
        resources, problems = resources_of(builder.root), []
    except ValidationFailed as exc:
        resources, problems = {}, list(exc.problems)
    if expected is None:
        assert_refused_at(problems, "desired-state/ispctl.yaml", 5)
    else:
        assert not problems, [str(p) for p in problems]
        owner, rdtype, records = expected
        assert resources[("dns", f"{ZONE}/{owner}/{rdtype}")].attrs["records"] == records


# --- through the command line: one error per line, file:line:column, exit 1, no secret ----------

CLI_CASES = ["owner-newline-inside", "mx-superscript", "srv-superscript-port", "caa-newline-in-quotes",
             "txt-rrset-too-big", "aaaa-zone-id-config", "ttl-arabic-digit", "owner-bidi-override"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_the_command_line_reports_it_plainly(tmp_path: Path, keys: Path, case: str) -> None:
    line = next(text for name, text, _ in RECORDS if name == case)
    builder = build(tmp_path, keys, REL, HEAD + "    " + line + "\n")
    done = CliRunner().invoke(app, ["--no-color", "validate", "--dir", str(builder.root)],
                              env={"ISPCTL_DKIM_DIR": None, "COLUMNS": "400"})
    assert done.exit_code == 1, done.output
    output = done.output + (done.stderr if done.stderr_bytes is not None else "")
    assert "Traceback" not in output and "Internal error" not in output
    assert f"{FILE}:{LINE}:" in output
    assert not any(s in output for s in private_lines(keys))
    assert done.exception is None or isinstance(done.exception, SystemExit)

