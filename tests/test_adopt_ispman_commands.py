"""The command line of ``ispctl import ispman``: which source, the password, the site file, output."""

from __future__ import annotations

import json
from pathlib import Path

from ispman_helpers import FIXTURE
from ldap_helpers import run_cli


def test_exactly_one_source_is_needed(tmp_path: Path) -> None:
    neither = run_cli(None, "import", "ispman", "-d", str(tmp_path))
    both = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "--url", "ldap://127.0.0.1:1", "-d",
                   str(tmp_path))
    for result in (neither, both):
        assert result.exit_code == 1
        assert "give either --ldif FILE (a slapcat dump) or --url URL" in result.output
    assert not (tmp_path / "tenants").exists()


def test_a_live_read_needs_an_account_and_its_password(tmp_path: Path) -> None:
    no_dn = run_cli(None, "import", "ispman", "--url", "ldap://127.0.0.1:1", "-d", str(tmp_path))
    assert no_dn.exit_code == 1 and "--url needs --bind-dn" in no_dn.output
    no_pw = run_cli(None, "import", "ispman", "--url", "ldap://127.0.0.1:1", "--bind-dn", "cn=ro,o=ispman",
                    "-d", str(tmp_path), ISPCTL_ISPMAN_PASSWORD=None)
    assert no_pw.exit_code == 1 and "--password-file FILE or ISPCTL_ISPMAN_PASSWORD" in no_pw.output


def test_an_unreachable_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    result = run_cli(None, "import", "ispman", "--url", "ldap://127.0.0.1:1", "--bind-dn", "cn=ro,o=ispman",
                     "-d", str(tmp_path), ISPCTL_ISPMAN_PASSWORD="x")
    assert result.exit_code == 1
    assert "ldap://127.0.0.1:1" in result.output


def test_an_existing_site_file_is_kept_and_the_text_report_is_printed(tmp_path: Path) -> None:
    site = tmp_path / "ispctl.yaml"
    site.write_text("directory:\n  base_dn: ou=mine,dc=example,dc=net\n", encoding="utf-8")
    result = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "-d", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert site.read_text(encoding="utf-8") == "directory:\n  base_dn: ou=mine,dc=example,dc=net\n"
    assert result.stdout.startswith(f"Imported from {FIXTURE}: 2 clients, 5 domains, 2 mail groups, 10 mailboxes")
    assert "Weak password hashes (kept as they are; rotate them): 7" in result.stdout
    assert "Wrote 9 file(s)." in result.stdout
    # What the domain files rely on and the kept file lacks is named.
    assert ("kept as it is; the import would have set: dns.ns, dns.soa, dns.mail, radius.profiles, web.https"
            in result.stdout)


def test_force_replaces_the_files_of_an_earlier_import(tmp_path: Path) -> None:
    first = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "--json", "-d", str(tmp_path))
    assert first.exit_code == 0, first.output
    target = tmp_path / "tenants/northwind/northwind.example.yaml"
    target.write_text("domain: edited.example\n", encoding="utf-8")
    again = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "--json", "--force", "-d", str(tmp_path))
    assert again.exit_code == 0, again.output
    assert target.read_text(encoding="utf-8").startswith("domain: northwind.example\n")
    # The site file the first import wrote is the operator's now: never rewritten.
    assert json.loads(again.stdout)["written"] == [p for p in json.loads(first.stdout)["written"]
                                                   if not p.endswith("/ispctl.yaml")]
