"""Validation reports every independent mistake in one run, and nothing that follows from one.

Eighteen mistakes of every stage are planted in a copy of the example estate: YAML syntax,
the file models (site settings, tenant and domain files, DNS sections), rules across files
(a domain declared twice, references, renames, limits, the delivery graph) and the DNS
service's own checks. Before, one run showed seven of them: a file with one bad field left
the estate, so its other mistakes (and every rule across files that needed it) waited for
the next run, and an unknown key in ispctl.yaml stopped everything after the models.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from ispctl.reconciler.cli.app import app
from tests.wiring import problems_of

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
NORTHWIND = "tenants/northwind/northwind.example.yaml"
SOUTHBAY = "tenants/southbay/southbay.example.yaml"
BAKERY = "tenants/northwind/bakery/bäckerei-müller.example.yaml"

# (file, field path as reported, words of the message): each exactly once.
PLANTED = [
    ("ispctl.yaml", "mail.rooot", "unknown field"),
    ("tenants/northwind/lawfirm/hartcole.example.yaml", "", "YAML syntax"),
    ("tenants/northwind/lawfirm/tenant.yaml", "colour", "unknown field"),
    ("tenants/northwind/bakery/tenant.yaml", "limits.max_mailboxes", "over its limit of 2"),
    (BAKERY, "dns.records['filiale-süd'].A.ttl", "between 0 and"),
    (NORTHWIND, "mailboxes.noc.quota", "is not a size"),
    (NORTHWIND, "mailboxes.billing.status", ""),
    (NORTHWIND, "mailboxes['ines.okafor'].forward.to[0]", "ghost@northwind.example does not exist"),
    (NORTHWIND, "aliases.loop1.to[0]", "mail loops"),
    (NORTHWIND, "dns.records.vpn.CNAME", "cannot share its name"),
    (SOUTHBAY, "mailboxes.noc.pasword", "did you mean 'password'"),
    (SOUTHBAY, "mailboxes.dialup-test.previous[0]", "is in use"),
    (SOUTHBAY, "aliases.helpdesk.to[0]", "nobody@southbay.example does not exist"),
    (SOUTHBAY, "dns.records.radius.A[1]", "not an IPv4 address"),
    ("tenants/southbay/dup.example.yaml", "domain", "already declared"),
    ("tenants/southbay/school/tenant.yaml", "contact", "not an e-mail address"),
    ("tenants/southbay/school/tenant.yaml", "limits.max_domains", "over its limit of 1"),
    ("tenants/southbay/school/second-school.example.yaml", "mail.catch_all", "open relay"),
]


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def planted(tmp_path: Path) -> Path:
    root = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, root)
    edit(root, "ispctl.yaml", "  gid: 5000\n", "  gid: 5000\n  rooot: /srv\n")
    edit(root, "tenants/northwind/lawfirm/hartcole.example.yaml", "\nmailboxes:", "\nmailboxes: [\n")
    edit(root, "tenants/northwind/lawfirm/tenant.yaml", "limits:", "colour: blue\nlimits:")
    edit(root, "tenants/northwind/bakery/tenant.yaml", "max_mailboxes: 10", "max_mailboxes: 2")
    edit(root, BAKERY, "filiale-süd: {A: 203.0.113.40}", "filiale-süd: {A: {ttl: -5, values: [203.0.113.40]}}")
    edit(root, NORTHWIND, "quota: 5 GiB", "quota: lots")
    edit(root, NORTHWIND, "    services: {pop3: false}\n", "    services: {pop3: false}\n    status: frozen\n")
    edit(root, NORTHWIND, "    aliases: [ines]\n", "    aliases: [ines]\n    forward: {to: [ghost]}\n")
    edit(root, NORTHWIND, "  postmaster: noc\n", "  postmaster: noc\n  loop1: loop2\n  loop2: loop1\n")
    edit(root, NORTHWIND, 'vpn: {A: 198.51.100.7, AAAA: "2001:db8:100::7"}', "vpn: {A: 198.51.100.7, CNAME: www}")
    edit(root, SOUTHBAY, "    quota: 10 GiB\n", "    quota: 10 GiB\n    pasword: x\n")
    edit(root, SOUTHBAY, "    quota: 50 MB\n", "    quota: 50 MB\n    previous: [noc]\n")
    edit(root, SOUTHBAY, "  abuse: noc\n", "  abuse: noc\n  helpdesk: nobody\n")
    edit(root, SOUTHBAY, "[198.51.100.12, 198.51.100.13]", "[198.51.100.12, 999.1.1.1]")
    (root / "tenants/southbay/dup.example.yaml").write_text("domain: northwind.example\n", encoding="utf-8")
    edit(root, "tenants/southbay/school/tenant.yaml", "office@riverside-school.example", "not an address")
    (root / "tenants/southbay/school/second-school.example.yaml").write_text(
        "domain: second-school.example\nservices: [mail]\nmail:\n  catch_all: all@elsewhere.example\n",
        encoding="utf-8")
    return root


def test_every_planted_mistake_is_reported_in_one_run_and_nothing_else(tmp_path: Path) -> None:
    problems = problems_of(planted(tmp_path))
    found = sorted((p.location.file.removeprefix("desired-state/"), p.path, p.message) for p in problems)
    unmatched = list(found)
    for file, path, words in PLANTED:
        hits = [f for f in unmatched if f[0] == file and f[1] == path and words in f[2]]
        assert len(hits) == 1, (file, path, words, found)
        unmatched.remove(hits[0])
    assert unmatched == []  # no follow-on noise


def test_the_command_shows_them_all_at_once(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "-d", str(planted(tmp_path))])
    assert result.exit_code == 1
    assert f"{len(PLANTED)} error(s) in the desired state" in result.output
    assert "Traceback" not in result.output
