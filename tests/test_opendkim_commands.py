"""``ispctl render opendkim`` from an estate: the domains with DKIM, and what it tells the operator;
``ispctl dkim status|retire`` with what OpenDKIM's tables sign with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from dns_helpers import converge, provider_for
from estate_builder import SITE, EstateBuilder, mailbox
from typer.testing import CliRunner, Result

from ispctl.providers.dns.dkim import create_key, current_selectors, start_rotation
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.opendkim.commands import postfix_milter
from ispctl.providers.opendkim.tables import Entry, entry_of, format_tables
from ispctl.reconciler.cli.app import app
from ispctl.reconciler.contract import write_rendered


def test_render_writes_the_tables_of_the_primary_mail_domains(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    dns: dict[str, Any] = {"ns": ["ns1.example.net."], "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024}}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    builder.domain("acme", "acme-alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme", "web.example", {"services": ["web", "dns"]})
    create_key(keys, "acme.example", "s1", 1024)
    done = CliRunner().invoke(app, ["--no-color", "render", "opendkim", "--out", str(tmp_path / "out"),
                                    "--dir", str(builder.root)],
                              env={"ISPCTL_DKIM_DIR": None, "ISPCTL_DNS_SERVER": None})
    assert done.exit_code == 0, done.output
    assert "acme.example signs with s1" in done.stdout
    assert "smtpd_milters and non_smtpd_milters = inet:127.0.0.1:8891" in done.stdout
    table = (tmp_path / "out" / "SigningTable").read_text().splitlines()[1:]
    assert table == ["*@acme.example s1._domainkey.acme.example"]


def test_render_without_dkim_settings_says_how_to_enable_them(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {"ns": ["ns1.example.net."]}})
    done = CliRunner().invoke(app, ["--no-color", "render", "opendkim", "--out", str(tmp_path / "out"),
                                    "--dir", str(builder.root)])
    assert done.exit_code == 1 and "DKIM is not enabled: add dns.dkim" in done.stderr


def test_the_milter_socket_is_translated_for_postfix() -> None:
    assert postfix_milter("inet:8891@127.0.0.1") == "inet:127.0.0.1:8891"
    assert postfix_milter("local:/run/opendkim/opendkim.sock") == "unix:/run/opendkim/opendkim.sock"


def test_retire_waits_until_opendkim_signs_with_the_new_key(tmp_path: Path, named: NamedInstance) -> None:
    keys, tables = tmp_path / "keys", tmp_path / "opendkim"
    dns: dict[str, Any] = {"ns": ["ns1.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
                           "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024, "grace_days": 0}}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    create_key(keys, "acme.example", "s1", 1024)
    start_rotation(keys, "acme.example", 1024)
    converge(provider_for(named), [replace(r, depends_on=()) for (kind, _), r in builder.resources().items()
                                   if kind in ("dns_zone", "dns")])  # s2 is served

    def signs_with(selector: str) -> None:
        key_file = str(keys / "acme.example" / f"{selector}.private")
        write_rendered(format_tables([entry_of(Entry("acme.example", selector, key_file).resource())]), tables)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--no-color", "dkim", *args, "--domain", "acme.example", "--conf-dir",
                                        str(tables), "--dir", str(builder.root)],
                                  env={"ISPCTL_DKIM_DIR": None, **named.env()})

    signs_with("s1")
    status = run("status")
    assert status.exit_code == 0, status.output
    assert ("acme.example: keys s1, s2; rotating: s2 is served; the next apply switches signing to it (step 2); "
            "OpenDKIM signs with s1") in status.stdout
    early = run("retire", "--yes")
    assert early.exit_code == 1
    assert f"OpenDKIM still signs acme.example with s1 ({tables}): apply the plan that switches" in early.stderr
    assert current_selectors(keys, "acme.example") == ["s1", "s2"]  # nothing retired

    signs_with("s2")
    assert "rotating: s2 is served; OpenDKIM signs with s2; step 3: 'ispctl dkim retire' now removes s1" in \
        run("status").stdout
    done = run("retire", "--yes")
    assert done.exit_code == 0, done.output
    assert current_selectors(keys, "acme.example") == ["s2"]

    (tables / "KeyTable").write_text("2007._domainkey.example.com example.com:2007:/etc/dkimkeys/dkim.key\n")
    refused = run("status")
    assert refused.exit_code == 1 and f"{tables / 'KeyTable'} was not written by ispctl" in refused.stderr
