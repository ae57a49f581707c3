"""Hostile estates: names, values, cross-file rules and secrets (YAML structure and DNS values have
suites of their own, test_hostile_yaml and test_hostile_dns).

Each case is a small estate run through the real command line. It either validates to exactly the
objects written (names as text, as typed) or fails with every problem at file:line:column, and
never with a traceback or an internal error. No planted secret (a password hash, a plaintext pasted
into a password field) appears in any output. A sample of the failing cases is also applied to a
real slapd, which must be left byte for byte as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ldap_helpers import BASE, HASH, cli_env, snapshot
from typer.testing import CliRunner

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli.app import app
from tests.wiring import resources_of

# A plaintext pasted where a hash belongs, and a second valid hash: neither may ever be printed.
PLAIN = "Sup3r-S3cret-Pa55"
HASH2 = "{CRYPT}$6$rounds=1000$Zz7J3F83IWxu57kA$" + "Q" * 86
SECRETS = (HASH, HASH2, PLAIN, HASH.split("$")[-1], HASH2.split("$")[-1])
LOCATED = re.compile(r"^desired-state/\S+?:\d+:\d+: ", re.M)


@dataclass
class Case:
    id: str
    files: dict[str, str]               # path below tenants/ -> YAML text
    ok: set[str] = field(default_factory=set)   # addresses of the mailboxes/aliases expected, when valid
    errors: tuple[str, ...] = ()        # field paths expected among the problems, when invalid
    # A problem with a file or folder name has no line to point at; every other names line:column.
    whole_file: bool = False
    site: str = f"directory:\n  base_dn: {BASE}\n"   # ispctl.yaml


def domain_file(domain: str, body: str) -> str:
    return f"domain: {json.dumps(domain, ensure_ascii=False)}\n{body}"


def boxes(*locals_: str, extra: str = "") -> str:
    entry = f"    password: \"{HASH}\"\n{extra}"
    return "mailboxes:\n" + "".join(f"  {json.dumps(local, ensure_ascii=False)}:\n{entry}" for local in locals_)


TENANT = {"acme/tenant.yaml": "name: Acme\n"}
BETA = {"beta/tenant.yaml": "name: Beta\n", "beta/beta.example.yaml": domain_file("beta.example", boxes("boss"))}


def acme(body: str, domain: str = "acme.example", **more: str) -> dict[str, str]:
    return {**TENANT, f"acme/{domain}.yaml": domain_file(domain, body), **more}


# -- names: local parts, written as mapping keys, exactly as typed or refused ---------------------

GOOD_LOCALS = ["anna", "a.b", "o'neil", "a+tag", "x=y", "#hash", "*star", "{curly}", "~tilde", "a-b_c", "007",
               "0x1f", "1e3", "1_000", "true", "null", "NaN", "a" * 64, "a!b", "a$b", "a%b", "a&b", "a^b", "a|b",
               "`tick`", "a?b", "1", "0", "-", "_"]
# Control and invisible characters are refused for the whole file, before any field is read.
UNREADABLE = {"a\u0000b", "a\u007fb", "\u200ba", "a\u2028b", "a\u00adb"}
BAD_LOCALS = ["a/b", "../x", "a..b", ".a", "a.", "a b", "a\tb", "a\nb", " a", "a ", "a\u0000b", "a\u007fb", "é",
              "ａｂｃ", "a" * 65, "a@b", "a,b", "a;b", "(a)", "<a>", 'a"b', "a\\b", "a[b]", "a:b", "", "\u200ba",
              "a\u2028b", "ｓ", "a\rb", "a\u00adb"]


def local_cases() -> Iterator[Case]:
    for local in GOOD_LOCALS:
        yield Case(f"local ok {local!r}", acme(boxes(local)), ok={f"{local.lower()}@acme.example"})
    for local in BAD_LOCALS:
        yield Case(f"local bad {local!r}", acme(boxes(local)), errors=() if local in UNREADABLE else ("mailboxes",))


# -- names: domains ------------------------------------------------------------------------------

GOOD_DOMAINS = {"acme.example": "acme.example", "ACME.Example": "acme.example", "münchen.example":
                "xn--mnchen-3ya.example", "a-b.example": "a-b.example", "xn--mnchen-3ya.example":
                "xn--mnchen-3ya.example", "1acme.example": "1acme.example", "acme.example.": "acme.example"}
BAD_DOMAINS = ["192.0.2.1", "10.0.0.256", "[192.0.2.1]", "::1", "acme", "acme..example", "-acme.example",
               "acme-.example", "ac me.example", "acme.example\n", " acme.example", "acme_x.example",
               "a" * 64 + ".example", ".".join(["abcdefghi"] * 26), "acme.123", "acme.example/x", "acme.exa*mple",
               "acme.exam\u0000ple", "*.acme.example", "acme@example", "xn--zz.example", "acme.example..", "."]


def domain_cases() -> Iterator[Case]:
    for written, ascii_name in GOOD_DOMAINS.items():
        yield Case(f"domain ok {written!r}", {**TENANT, "acme/d.yaml": domain_file(written, boxes("anna"))},
                   ok={f"anna@{ascii_name}"})
    for written in BAD_DOMAINS:
        yield Case(f"domain bad {written!r}", {**TENANT, "acme/d.yaml": domain_file(written, boxes("anna"))},
                   errors=("domain",))


# -- values --------------------------------------------------------------------------------------

GOOD_QUOTAS = ["1 GiB", "512MiB", "0", "1.5 GiB", "10GB", "2048 KiB", " 1 GiB\n"]
BAD_QUOTAS = ["-1 GiB", "1e3 GiB", "² GiB", "\u0663 GiB", "NaN", ".inf", "10G", "1 XiB", "GiB", "1,5 GiB",
              "99999999999999999999999 TiB", "0x10 MiB", "1_0 MiB", "[1]", "{a: 1}", "true", "1 GiB; rm -rf /"]


def quota_cases() -> Iterator[Case]:
    for quota in GOOD_QUOTAS:
        yield Case(f"quota ok {quota!r}", acme(boxes("anna", extra=f"    quota: {json.dumps(quota)}\n")),
                   ok={"anna@acme.example"})
    for quota in BAD_QUOTAS:
        value = quota if quota.startswith(("[", "{")) or quota in ("true", ".inf", "NaN") else json.dumps(quota)
        yield Case(f"quota bad {quota!r}", acme(boxes("anna", extra=f"    quota: {value}\n")),
                   errors=() if quota == ".inf" else ("mailboxes.anna.quota",))


STATUS_AND_FLAGS = [
    ("status", '"Active"'), ("status", "deleted"), ("status", '"active\\n"'), ("status", "1"),
    ("services", "{imap: maybe}"), ("services", "{imap: 2}"), ("services", "{smtp: [true]}"),
    ("services", "{nntp: true}"),
    ("name", json.dumps("x" * 257)), ("name", "[a, b]"), ("aliases", "not-a-list"), ("forward", "{to: []}"),
    ("forward", "{to: [x@elsewhere.example], keep_copy: sometimes}"), ("previous", "{a: b}"),
]


def value_cases() -> Iterator[Case]:
    for index, (name, value) in enumerate(STATUS_AND_FLAGS):
        yield Case(f"value bad {index} {name}={value}", acme(boxes("anna", extra=f"    {name}: {value}\n")),
                   errors=(f"mailboxes.anna.{name}",))


# -- cross-file rules: tenant boundaries and the delivery graph ----------------------------------

def cross_cases() -> Iterator[Case]:
    prev = '    previous: ["boss@beta.example"]\n'
    yield Case("takeover by previous", {**acme(boxes("anna", extra=prev)), **BETA},
               errors=("mailboxes.anna.previous[0]",))
    yield Case("takeover by a client's previous", {**acme(boxes("anna", extra='    previous: ["c@client.example"]\n')),
                                                   "acme/client/tenant.yaml": "name: C\n",
                                                   "acme/client/client.example.yaml":
                                                       domain_file("client.example", boxes("c2"))},
               errors=("mailboxes.anna.previous[0]",))
    yield Case("extra address in another tenant's domain",
               {**acme(boxes("anna", extra='    aliases: ["x@beta.example"]\n')), **BETA},
               errors=("mailboxes.anna.aliases[0]",))
    yield Case("alias domain of another tenant's domain",
               {**acme(boxes("anna")), "acme/mirror.example.yaml": "domain: mirror.example\ntype: alias\n"
                                                                   "alias_of: beta.example\n", **BETA},
               errors=("alias_of",))
    yield Case("the same domain in two tenants", {**acme(boxes("anna")), **BETA,
                                                   "beta/acme.example.yaml": domain_file("ACME.example", "")},
               errors=("domain",))
    loops = {
        "two-step alias loop": "aliases:\n  a: b\n  b: a\n",
        "three-step alias loop": "aliases:\n  a: b\n  b: c\n  c: a\n",
        "forward loop": boxes("x", extra="    forward: {to: [y]}\n") + f'  y:\n    password: "{HASH}"\n'
                        "    forward: {to: [x]}\n",
        "catch-all into a loop": "aliases:\n  info: nobody\nmail:\n  catch_all: info\n",
        "external catch-all": boxes("anna") + "mail:\n  catch_all: spam@elsewhere.example\n",
        "catch-all via a forwarding alias": "aliases:\n  all: [x@elsewhere.example]\nmail:\n  catch_all: all\n",
        "alias to self": "aliases:\n  a: A\n",
        "forward to self": boxes("anna", extra="    forward: {to: [ANNA]}\n"),
    }
    for name, body in loops.items():
        yield Case(name, acme(body), errors=("",))
    yield Case("loop through an alias domain",
               {**acme("aliases:\n  a: a@other.example\n"),
                "acme/other.example.yaml": "domain: other.example\ntype: alias\nalias_of: acme.example\n"},
               errors=("aliases.a.to[0]",))
    for folder in ("ac me", "Acme", "acme\n", "acme ", "-acme", "a" * 64, "acme\u200b"):
        yield Case(f"tenant folder {folder!r}", {f"{folder}/tenant.yaml": "name: A\n"}, whole_file=True)
    yield Case("domain file outside a tenant", {"stray.example.yaml": domain_file("stray.example", "")},
               whole_file=True)
    yield Case("an address 255 bytes long", acme(boxes("a" * 64), domain=".".join(["d" * 60] * 3) + ".example"),
               errors=("mailboxes",))


# -- secrets -------------------------------------------------------------------------------------

BAD_PASSWORDS = [PLAIN, f"{{CLEARTEXT}}{PLAIN}", f"{{CRYPT}}{PLAIN}", f"{HASH}\n", f" {HASH}", f"{HASH} ",
                 f"{HASH}x", HASH.replace("$6$", "$5$"), f"{{SSHA}}{PLAIN}", f"${PLAIN}", f"{{{PLAIN}}}",
                 f"{PLAIN}\u0000", f"{PLAIN}\n{PLAIN}"]


def secret_cases() -> Iterator[Case]:
    for index, password in enumerate(BAD_PASSWORDS):
        body = f"mailboxes:\n  anna:\n    password: {json.dumps(password)}\n"
        yield Case(f"password bad {index}", acme(body), errors=("mailboxes.anna.password",))
    for index, password in enumerate((PLAIN, HASH2)):
        for where in ("list", "mapping"):
            value = f"[{json.dumps(password)}]" if where == "list" else f"{{x: {json.dumps(password)}}}"
            yield Case(f"password as a {where} {index}", acme(f"mailboxes:\n  anna:\n    password: {value}\n"),
                       errors=("mailboxes.anna.password",))


# -- site settings: values that become every home's path or the base of everything owned -----

BAD_SITE = {
    "base_dn": ['"ou=ispctl,dc=example,dc=net\\n"', '""', "notadn", '"ou=a,,dc=x"', '"dc=x "', '"dc=x;dc=y"',
                '"dc=ex)(uid=*"'],
    "root": ['"/var/vmail\\n"', "var/vmail", "/", '"/var/../etc"', "/var//vmail", "/var/./vmail", '"/var/\\tx"'],
}


def site_cases() -> Iterator[Case]:
    for value in BAD_SITE["base_dn"]:
        yield Case(f"site base_dn {value}", acme(boxes("anna")), errors=("directory.base_dn",),
                   site=f"directory:\n  base_dn: {value}\n")
    for value in BAD_SITE["root"]:
        yield Case(f"site mail root {value}", acme(boxes("anna")), errors=("mail.root",),
                   site=f"directory:\n  base_dn: {BASE}\nmail:\n  root: {value}\n")


CASES = [*local_cases(), *site_cases(), *domain_cases(), *quota_cases(), *value_cases(), *cross_cases(),
         *secret_cases()]


def write(root: Path, case: Case) -> Path:
    files = case.files
    estate = root / "desired-state"
    (estate / "tenants").mkdir(parents=True)
    (estate / "ispctl.yaml").write_text(case.site, encoding="utf-8")
    for rel, text in files.items():
        path = estate / "tenants" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return estate


def no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, "a secret was printed"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_estate_validates_exactly_or_fails_located(case: Case, tmp_path: Path) -> None:
    estate = write(tmp_path, case)
    result = CliRunner().invoke(app, ["--no-color", "validate", "--dir", str(estate)], env={"COLUMNS": "500"})
    output = result.output
    assert "Traceback" not in output and "Internal error" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), output
    no_secret_in(output)
    if case.ok:
        assert result.exit_code == 0, output
        found = {key for (kind, key) in resources_of(estate) if kind in ("mailbox", "alias")}
        assert found == case.ok
        return
    assert result.exit_code == 1, output
    problems = [line for line in output.splitlines() if line.startswith("desired-state/")]
    assert problems, output
    for line in problems:
        assert case.whole_file or LOCATED.match(line), f"problem without file:line:column: {line}"
    for path in case.errors:
        assert any(f": {path}" in line for line in problems), (path, output)


FAILING_SAMPLE = [c for c in CASES if c.errors][::9]


@pytest.mark.parametrize("case", FAILING_SAMPLE, ids=[c.id for c in FAILING_SAMPLE])
def test_a_refused_estate_leaves_the_directory_as_it_was(case: Case, slapd_session: SlapdInstance,
                                                          tmp_path: Path) -> None:
    estate = write(tmp_path, case)
    audit = tmp_path / "audit.jsonl"
    env = cli_env(slapd_session, ISPCTL_AUDIT_LOG=str(audit))
    before = snapshot(slapd_session, BASE)
    for command in (["plan", "--json"], ["apply", "--auto-approve"]):
        result = CliRunner().invoke(app, ["--no-color", *command, "--dir", str(estate)], env=env)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        no_secret_in(result.output)
        assert slapd_session.password not in result.output
    assert snapshot(slapd_session, BASE) == before
    if audit.exists():
        no_secret_in(audit.read_text(encoding="utf-8"))
        assert slapd_session.password not in audit.read_text(encoding="utf-8")
