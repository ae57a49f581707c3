"""``ispctl render opendkim`` from an estate: the domains with DKIM, and what it tells the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder, mailbox
from typer.testing import CliRunner

from ispctl.providers.dns.dkim import create_key
from ispctl.providers.opendkim.commands import postfix_milter
from ispctl.reconciler.cli.app import app


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
