"""Hostile YAML: structure, typing, encodings, limits and odd file names (names, values and
cross-file rules are in test_hostile_estate, DNS values in test_hostile_dns).

Each case is a small estate run through the real command line (``ispctl validate``; when it is
refused, ``plan --format json`` and ``--format markdown`` too, which stop at the same check). It
either validates to exactly the objects written, names as the text written, or fails with every
problem at file:line:column (a problem with a file's or folder's name or size names the path), one
line per problem, never with a traceback or an internal error. No planted secret (a plaintext
password, a hash) appears in any output. Files too large to read are run in a separate process
whose address space is capped at 1 GiB, which proves they are refused within fixed memory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from estate_builder import HASH
from typer.testing import CliRunner

from ispctl.reconciler.cli.app import app
from ispctl.reconciler.estate.yamlload import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from tests.wiring import resources_of

SECRET = "Sup3rS3cret"  # a plaintext pasted into a password field
SECRETS = (SECRET, "S3cret", HASH, HASH.split("$")[-1])
SITE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\ndns:\n  ns: [ns1.example.net.]\n"
DOMAIN = "tenants/acme/acme.example.yaml"
TENANT = "tenants/acme/tenant.yaml"
LOCATED = re.compile(r"^desired-state/[^:]+:\d+:\d+: ")
KINDS = ("mailbox", "alias", "dns")
Files = dict[str, str | bytes]
BASE_OBJECTS = {"mailbox": {"anna@acme.example"}, "alias": {"info@acme.example"}, "dns": set()}


@dataclass
class Case:
    id: str
    files: Files         # path below desired-state/ -> content
    ok: dict[str, set[str]] | None = None  # the mailbox, alias and DNS objects expected, when valid
    where: tuple[str, int | None, int | None] | None = None  # file, line (and column) of the first problem
    whole_file: bool = False               # a problem about a name or a size has no line to point at
    hidden: tuple[str, ...] = ()           # more text that must not be printed (a tag's text)
    message: str = ""                      # text a problem must contain


def estate(domain: str | bytes, tenant: str = "name: Acme\n", site: str = SITE, **more: str | bytes) -> Files:
    return {"ispctl.yaml": site, TENANT: tenant, DOMAIN: domain, **more}


def base_domain(password: str = f'"{HASH}"', name: str = "Anna", item: str = "anna", key: str = "anna",
                records: str = "") -> str:
    """Line 1 domain, 3 the mailbox key, 4 its password (value at column 15), 5 its name (column
    11), 8 the alias item (column 7); DNS records from line 10."""
    text = (f"domain: acme.example\nmailboxes:\n  {key}:\n    password: {password}\n    name: {name}\n"
            f"aliases:\n  info:\n    - {item}\n")
    return text + (f"dns:\n  records:\n{records}" if records else "")


# --- tags, anywhere ------------------------------------------------------------------------

# (form, column offset of the problem from where the form starts, or None when the parser
# reports it further on); every form hides "Sup3rS3cret" or names something executable.
TAGS = [
    ("!Sup3rS3cret", 0), ("!!Sup3rS3cret", 0), ("!<tag:evil.example,2000:Sup3rS3cret> x", 0),
    ("!!python/object/apply:os.system [Sup3rS3cret]", 0), ("!!str Sup3rS3cret", 0), ("! Sup3rS3cret", 0),
    ("!Sup3rS3cret!x y", 0), ("!<Sup3rS3cret", None), ("!!binary U3VwM3JTM2NyZXQ=", 0), ("!!int 12", 0),
    ("!!float .inf", 0), ("!!null Sup3rS3cret", 0),
]
HIDDEN_TAG_TEXT = ("Sup3r", "evil", "python", "os.system", "binary", "U3VwM3JT")


def tag_cases() -> Iterator[Case]:
    for index, (form, offset) in enumerate(TAGS):
        spots: list[tuple[str, Files, str, int, int]] = [
            ("password", estate(base_domain(password=form)), DOMAIN, 4, 15),
            ("name", estate(base_domain(name=form)), DOMAIN, 5, 11),
            ("alias-item", estate(base_domain(item=form)), DOMAIN, 8, 7),
            ("mailbox-key", estate(base_domain(key=f"{form} anna")), DOMAIN, 3, 3),
            ("tenant-name", estate(base_domain(), tenant=f"name: {form}\n"), TENANT, 1, 7),
            ("site", estate(base_domain(), site=SITE.replace("base_dn: ", f"base_dn: {form} ")), "ispctl.yaml", 2, 12),
            ("dns-value", estate(base_domain(records=f"    www:\n      A: {form}\n")), DOMAIN, 12, 10),
        ]
        for spot, files, file, line, col in spots:
            yield Case(f"tag{index}-{spot}", files, where=(file, line, None if offset is None else col + offset),
                       hidden=HIDDEN_TAG_TEXT)
    for index, form in enumerate(["!Sup3rS3cret", "!!Sup3rS3cret", "!<tag:evil.example,2000:Sup3rS3cret>", "!!map"]):
        mapping = base_domain().replace("  anna:\n", f"  anna: {form}\n")
        yield Case(f"tag{index}-on-a-mapping", estate(mapping), where=(DOMAIN, 3, 9), hidden=HIDDEN_TAG_TEXT)
        yield Case(f"tag{index}-on-the-document", estate(f"{form}\n" + base_domain()), where=(DOMAIN, 1, 1),
                   hidden=HIDDEN_TAG_TEXT)
        listed = base_domain().replace("  info:\n", f"  info: {form.replace('map', 'seq')}\n")
        yield Case(f"tag{index}-on-a-list", estate(listed), where=(DOMAIN, 7, 9), hidden=HIDDEN_TAG_TEXT)
    directive = "%TAG !e! tag:evil.example,2000:\n---\n" + base_domain(password="!e!Sup3rS3cret")
    yield Case("tag-directive", estate(directive), where=(DOMAIN, 6, 15), hidden=HIDDEN_TAG_TEXT)


# --- names YAML would type: keys always text, values refused where text is expected -------------

# How the YAML 1.2 core schema reads each name as a plain value.
NAMES = {
    "007": "number", "0x1f": "number", "1e3": "number", "0o17": "number", "1.50": "number", "+1": "number",
    "-0": "number", "-.5": "number", "null": "null", "~": "null", "NULL": "null", "true": "bool", "False": "bool",
    ".inf": "infinite", "1e400": "infinite",
    "1_000": "text", "2024-01-31": "text", "yes": "text", "off": "text", "y": "text", "0b11": "text",
}
FOUND = {"number": "found a number", "null": "found nothing (null)", "bool": "found true or false",
         "infinite": "numbers must be finite"}
NOT_A_LOCAL_PART = {".inf"}
NOT_A_DNS_LABEL = {"+1", "-0", "-.5", "~", ".inf"}


def name_cases() -> Iterator[Case]:
    for name, typed in NAMES.items():
        slug = re.sub(r"[^A-Za-z0-9]", "_", name)
        local = name.lower()
        quoted = json.dumps(name)
        # As a mailbox key and an alias key: always the text written.
        if name in NOT_A_LOCAL_PART:
            yield Case(f"name-{slug}-mailbox-key", estate(base_domain(key=name)), where=(DOMAIN, 3, 3))
            yield Case(f"name-{slug}-alias-key", estate(base_domain() + f"  {name}: [anna]\n"), where=(DOMAIN, 9, 3))
        else:
            yield Case(f"name-{slug}-mailbox-key", estate(base_domain(key=name, item=quoted)),
                       ok={"mailbox": {f"{local}@acme.example"}, "alias": {"info@acme.example"}, "dns": set()})
            yield Case(f"name-{slug}-alias-key", estate(base_domain() + f"  {name}: [anna]\n"),
                       ok={**BASE_OBJECTS, "alias": {"info@acme.example", f"{local}@acme.example"}})
        # As a DNS owner: the text written, or refused by the DNS name rules; never a converted number.
        records = estate(base_domain(records=f"    {name}:\n      A: 192.0.2.1\n"))
        if name in NOT_A_DNS_LABEL:
            yield Case(f"name-{slug}-dns-owner", records, where=(DOMAIN, 11, 5))
        else:
            yield Case(f"name-{slug}-dns-owner", records, ok={**BASE_OBJECTS, "dns": {f"acme.example/{local}/A"}})
        # As a value where a name (text) is expected: refused unless YAML reads it as text.
        boxes = base_domain(item=name).replace("aliases:\n", f"  {quoted}:\n    password: \"{HASH}\"\naliases:\n")
        target_ok = {**BASE_OBJECTS, "mailbox": {"anna@acme.example", f"{local}@acme.example"}}
        if typed == "text":
            yield Case(f"name-{slug}-alias-target", estate(boxes), ok=target_ok)
        else:
            yield Case(f"name-{slug}-alias-target", estate(boxes), where=(DOMAIN, 10, 7), message=FOUND[typed])
        forward = base_domain().replace("    name: Anna\n", f"    name: Anna\n    forward:\n      to: [{name}]\n")
        forward = forward.replace("aliases:\n", f"  {quoted}:\n    password: \"{HASH}\"\naliases:\n")
        if typed == "text":
            yield Case(f"name-{slug}-forward", estate(forward), ok=target_ok)
        else:
            yield Case(f"name-{slug}-forward", estate(forward), where=(DOMAIN, 7, 12), message=FOUND[typed])
        tenant = f"name: {name}\n"
        if typed == "text":
            yield Case(f"name-{slug}-display-name", estate(base_domain(), tenant=tenant), ok=BASE_OBJECTS)
        else:
            yield Case(f"name-{slug}-display-name", estate(base_domain(), tenant=tenant), where=(TENANT, 1, None),
                       message=FOUND[typed])


# --- anchors, aliases, merge keys --------------------------------------------------------------

def laughs(levels: int, fanout: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fanout)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def anchor_cases() -> Iterator[Case]:
    staff = (f"domain: acme.example\nmailboxes:\n  anna: &staff\n    password: \"{HASH}\"\n    quota: 2 GiB\n"
             "  bob:\n    <<: *staff\n    name: Bob\n  carl: *staff\n"
             "aliases:\n  team: &team [anna, bob]\n  crew: *team\n")
    yield Case("anchors-shared-settings", estate(staff), ok={
        "mailbox": {"anna@acme.example", "bob@acme.example", "carl@acme.example"},
        "alias": {"team@acme.example", "crew@acme.example"}, "dns": set()})
    merged = base_domain() + "  team:\n    <<: [{to: [anna]}, {description: x}]\n"
    yield Case("anchors-merge-list", estate(merged), ok={**BASE_OBJECTS, "alias": {"info@acme.example",
                                                                                   "team@acme.example"}})
    for levels, fanout in ((9, 10), (12, 5), (40, 10), (64, 2)):
        yield Case(f"billion-laughs-{levels}x{fanout}", estate(laughs(levels, fanout) + base_domain()),
                   where=(DOMAIN, None, None), message="anchors/aliases expand to more than")
    cases = [
        ("alias-recursive-seq", "a: &x\n  - *x\n", 2, "recursive alias"),
        ("alias-recursive-map", "a: &x\n  b:\n    c: *x\n", 3, "recursive alias"),
        ("alias-undefined-password", base_domain(password=f"*{SECRET}"), 4, "starting with '*'"),
        ("anchor-unused-password", base_domain(password=f"&{SECRET} x"), 4, "starting with '&'"),
        ("anchor-only-password", base_domain(password=f"&{SECRET}"), 4, "starting with '&'"),
        ("merge-a-scalar", base_domain() + "  team:\n    <<: 5\n", 10, "'<<' must merge a mapping"),
        ("merge-a-list-of-scalars", base_domain() + "  team:\n    <<: [1, 2]\n", 10, "'<<' must merge a mapping"),
        ("alias-as-complex-key", "a: &m {x: 1}\n*m : 2\n", 2, "a mapping key must be plain text"),
        ("alias-depth", f"a: &d {'[' * 40}{']' * 40}\nb: {'[' * 30}*d{']' * 30}\n", 2, "nest more than"),
    ]
    for case_id, text, line, message in cases:
        yield Case(case_id, estate(text if text.startswith("domain") else text + base_domain()),
                   where=(DOMAIN, line, None), message=message)
    yield Case("alias-as-key", estate(base_domain().replace("  anna:", "  &k anna:") + "  *k : [anna]\n"),
               where=(DOMAIN, 9, 3), message="already used")  # "*k" is the text "anna": an alias named like
    # the mailbox, refused by the cross-file rules at the alias key


# --- nesting, sizes ---------------------------------------------------------------------------------

def nesting_cases() -> Iterator[Case]:
    for depth in (MAX_DEPTH + 1, 1000, 100_000):
        yield Case(f"nesting-flow-{depth}", estate(base_domain() + "x: " + "[" * depth + "]" * depth + "\n"),
                   where=(DOMAIN, 9, 4 + MAX_DEPTH - 1), message=f"nested more than {MAX_DEPTH} levels")
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 2))
    yield Case("nesting-block", estate(base_domain() + block), where=(DOMAIN, 9 + MAX_DEPTH, 2 * MAX_DEPTH + 1),
               message=f"nested more than {MAX_DEPTH} levels")
    yield Case("values-over-the-limit", estate(base_domain() + "x:\n" + "- a\n" * MAX_NODES),
               where=(DOMAIN, None, None), message=f"holds more than {MAX_NODES:,} values")


# --- duplicate and non-text keys ---------------------------------------------------------------

def key_cases() -> Iterator[Case]:
    def second(key: str) -> str:
        return f"  {key}:\n    password: \"{HASH}\"\naliases:"

    dup_box = base_domain().replace("aliases:", f"  anna:\n    password: \"{HASH}\"\naliases:")
    cases = [
        ("duplicate-mailbox", dup_box, (DOMAIN, 6, 3), "duplicate key \"anna\""),
        ("duplicate-password", base_domain().replace("    name: Anna\n", f"    password: {SECRET}\n"),
         (DOMAIN, 5, 5), "duplicate key \"password\""),
        ("duplicate-quoted-and-plain", base_domain().replace("aliases:", second("'anna'")),
         (DOMAIN, 6, 3), "duplicate key"),
        ("duplicate-007-quoted", base_domain(key="007").replace("aliases:", second('"007"')),
         (DOMAIN, 6, 3), "duplicate key \"007\""),
        ("duplicate-in-flow", base_domain() + "  team: {to: [anna], to: [anna]}\n", (DOMAIN, 9, 22), "duplicate key"),
        ("complex-key-seq", base_domain() + "  ? [a, b]\n  : [anna]\n", (DOMAIN, 9, 5), "must be plain text"),
        ("complex-key-map", base_domain() + "  ? {a: 1}\n  : [anna]\n", (DOMAIN, 9, 5), "must be plain text"),
        ("second-document", base_domain() + "---\n" + base_domain(), (DOMAIN, 9, 1), "one YAML document"),
    ]
    for case_id, text, where, message in cases:
        yield Case(case_id, estate(text), where=where, message=message)
    # Keys that YAML would read as null, or case variants: the text as written, folded by the name rules
    yield Case("key-empty-quoted", estate(base_domain() + "  '': [anna]\n"), where=(DOMAIN, 9, 3))
    yield Case("key-case-duplicate", estate(base_domain().replace("aliases:", f"  Anna:\n    password: \"{HASH}\"\n"
                                                                              "aliases:")), where=(DOMAIN, 6, 3))


# --- characters, encodings, line ends ------------------------------------------------------------

CONTROLS = [c for c in map(chr, range(0x20)) if c not in "\t\n\r"] + [chr(0x7F)] + list(map(chr, range(0x80, 0xA0)))
CONTROLS += ["\u2028", "\u2029", "\ufeff"]


def character_cases() -> Iterator[Case]:
    for char in CONTROLS:
        where = ord(char) % 3
        if where == 0:  # inside a quoted password, between the halves of a secret
            text, spot = base_domain(password=f'"Sup3r{char}S3cret"'), (4, 21)
        elif where == 1:  # in a mailbox name
            text, spot = base_domain(key=f"an{char}na"), (3, 5)
        else:  # in a comment
            text, spot = base_domain() + f"# note {char} Sup3rS3cret\n", (9, 8)
        yield Case(f"char-U+{ord(char):04X}", estate(text), where=(DOMAIN, *spot), message=f"U+{ord(char):04X}")
    good = base_domain()
    for case_id, raw in [
        ("bom", b"\xef\xbb\xbf" + good.encode()),
        ("crlf", good.replace("\n", "\r\n").encode()),
        ("cr-only", good.replace("\n", "\r").encode()),
        ("bom-crlf", b"\xef\xbb\xbf" + good.replace("\n", "\r\n").encode()),
    ]:
        yield Case(f"line-ends-{case_id}", estate(raw), ok=BASE_OBJECTS)
    crlf_error = base_domain(password=f"!{SECRET}").replace("\n", "\r\n").encode()
    yield Case("crlf-error-position", estate(crlf_error), where=(DOMAIN, 4, 15))
    head = b'domain: acme.example\nmailboxes:\n  anna:\n    password: "'
    for case_id, raw, spot in [
        ("latin1-password", base_domain(password='"Säcret"').encode("latin-1"), (4, 17)),
        ("lone-continuation", head + b"Sup3r\x80S3cret\"\n", (4, 21)),
        ("truncated-multibyte", head + b"Sup3r\xe2\x82", (4, 21)),
        ("overlong-nul", head + b"Sup3r\xc0\x80S3cret\"\n", (4, 21)),
        ("encoded-surrogate", head + b"Sup3r\xed\xa0\x80S3cret\"\n", (4, 21)),
        ("utf16", base_domain().encode("utf-16"), (1, 1)),
        ("second-line-utf8-then-bad", "domain: bäckerei.example\nx: ä\xff".encode("utf-8", "surrogateescape")[:-2]
         + b"\xff\n", (2, 5)),
    ]:
        yield Case(f"utf8-{case_id}", estate(raw), where=(DOMAIN, *spot),
                   message="not valid UTF-8")


# --- values that the parser cannot read: never quoted back --------------------------------------

def parser_secret_cases() -> Iterator[Case]:
    for index, form in enumerate([
        f"@{SECRET}", f"`{SECRET}", f"%{SECRET}", f'"{SECRET}\\q"', f"|{SECRET}", f">{SECRET}", f"{SECRET}: x",
        f"[{SECRET}", f"{{{SECRET}", f"'{SECRET}", f'"{SECRET}', f"? {SECRET}", f"- {SECRET}", f'"\\x{SECRET}"',
        f'"\\u{SECRET}"', f"{SECRET} #x\n   y", f"&{SECRET}\n    &{SECRET} z:", f"*{SECRET}x",
    ]):
        yield Case(f"parser-{index}", estate(base_domain(password=form)), where=(DOMAIN, None, None))


# --- file and folder names -----------------------------------------------------------------------------

def name_file_cases() -> Iterator[Case]:
    for index, odd in enumerate(["acme\n", "acme\r", "acme\t", "acme\u200b", "acme\x1b", "acme\u00a0", "acme\u2028"]):
        files = estate(base_domain(), **{f"tenants/{odd}/tenant.yaml": "name: Twin\n",
                                         f"tenants/{odd}/twin.example.yaml": "domain: twin.example\n"})
        yield Case(f"folder-{index}", files, whole_file=True, message="rename the folder")
    for index, odd in enumerate(["shop.example.yaml\n", "shop\n.yaml", "sh\top.yaml"]):
        files = estate(base_domain(), **{f"tenants/acme/{odd}": "domain: shop.example\n"})
        yield Case(f"file-{index}", files, whole_file=True, message="rename the file")
    upper = estate(base_domain(), **{"tenants/acme/shop.example.YAML": "domain: shop.example\n"})
    yield Case("file-upper-suffix", upper,
               whole_file=True, message="suffix '.YAML' is not read")


CASES = [*tag_cases(), *name_cases(), *anchor_cases(), *nesting_cases(), *key_cases(), *character_cases(),
         *parser_secret_cases(), *name_file_cases()]


def write(root: Path, files: Files) -> Path:
    top = root / "desired-state"
    for rel, content in files.items():
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
    return top


def objects(top: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind, key in resources_of(top):
        if kind in found:
            found[kind].add(key)
    return found


def check_output(output: str, case: Case) -> None:
    assert "Traceback" not in output and "Internal error" not in output, output
    for secret in (*SECRETS, *case.hidden):
        assert secret not in output, f"{secret!r} was printed:\n{output}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_yaml_validates_exactly_or_fails_located(case: Case, tmp_path: Path) -> None:
    top = write(tmp_path, case.files)
    runner = CliRunner()
    result = runner.invoke(app, ["--no-color", "validate", "--dir", str(top)], env={"COLUMNS": "500"})
    output = result.output
    check_output(output, case)
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    if result.exit_code == 0:
        assert case.ok is not None, f"expected a refusal, but the estate is valid:\n{output}"
        assert objects(top) == case.ok
        return
    assert result.exit_code == 1, output
    assert case.ok is None or case.where is not None, f"expected a valid estate:\n{output}"
    lines = output.splitlines()
    problems = [line for line in lines if line.startswith("desired-state/")]
    # One line per problem: a name or value with a line break cannot split one.
    assert len(problems) == int(lines[-1].split()[0]), output
    for line in problems:
        assert case.whole_file or LOCATED.match(line), f"problem without file:line:column: {line}"
    if case.where is not None:
        file, line_no, col = case.where
        mine = [p for p in problems if p.startswith(f"desired-state/{file}:")]
        assert mine, output
        if line_no is not None:
            at = f"desired-state/{file}:{line_no}:{col if col is not None else ''}"
            assert any(p.startswith(at) for p in mine), output
    if case.message:
        assert case.message in output, output
    for fmt in ("json", "markdown"):
        plan = runner.invoke(app, ["--no-color", "plan", "--format", fmt, "--dir", str(top)], env={"COLUMNS": "500"})
        check_output(plan.output, case)
        assert plan.exit_code == 1 and problems[0] in plan.output, plan.output


# --- files too large to read, in a process whose memory is capped -----------------------------------

CAPPED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from ispctl.reconciler.cli.app import app
sys.argv = ["ispctl", "--no-color", "validate", "--dir", sys.argv[1]]
app()
"""


def big_mailboxes(size: int) -> str:
    """Plain mailboxes, no anchors or aliases: the file is refused for its size alone."""
    def entry(n: int) -> str:
        return f"  user{n}:\n    name: User {n}\n    password: \"{HASH}\"\n    quota: 1 GiB\n"
    count = size // len(entry(0)) + 1  # the shortest entry: the text is at least size long
    return "domain: acme.example\nmailboxes:\n" + "".join(entry(n) for n in range(count))


@pytest.mark.parametrize(("case_id", "size", "message"), [
    ("50MB-of-mailboxes", 50 * 1024 * 1024, "ispctl reads YAML files of up to"),
    ("just-over-the-size-limit", MAX_FILE_BYTES + 1, "ispctl reads YAML files of up to"),
    ("under-the-size-limit-over-the-value-limit", 0, f"holds more than {MAX_NODES:,} values"),
])
def test_large_files_are_refused_within_fixed_memory(case_id: str, size: int, message: str, tmp_path: Path) -> None:
    text = big_mailboxes(size) if size else "domain: acme.example\nx:\n" + "- a\n" * (MAX_NODES + 1)
    if size:
        text = text[:size]
    top = write(tmp_path, estate(text))
    result = subprocess.run([sys.executable, "-c", CAPPED, str(top)], capture_output=True, text=True, timeout=300,
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "MemoryError" not in output and "Traceback" not in output and "Internal error" not in output, output
    assert message in output, output
    for secret in SECRETS:
        assert secret not in output
    [problem] = [line for line in output.splitlines() if line.startswith("desired-state/")]
    assert problem.startswith(f"desired-state/{DOMAIN}:" if not size else f"desired-state/{DOMAIN}: file is")
