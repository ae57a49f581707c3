"""The ``ispctl import ldap`` command: its options, refusals and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from ispctl.providers.adopt.ldap_commands import target_base
from ispctl.providers.adopt.source import SourceEntry
from tests.ldap_helpers import run_cli

FIXTURE = Path(__file__).parent / "data" / "iredmail" / "directory.ldif"


def test_print_mapping_prints_the_default() -> None:
    done = run_cli(None, "import", "ldap", "--print-mapping")
    assert done.exit_code == 0
    assert "object_class: mailUser" in done.stdout and "quota_unit: B" in done.stdout


def test_the_source_must_be_one_ldif_or_one_url_with_a_base(tmp_path: Path) -> None:
    for args, message in [
        ((), "give either --from-ldif FILE or --url URL with --base DN"),
        (("--from-ldif", str(FIXTURE), "--url", "ldap://127.0.0.1:1"), "give either --from-ldif FILE or --url URL"),
        (("--url", "ldap://127.0.0.1:1"), "--url needs --base"),
        (("--url", "ldap://127.0.0.1:1", "--base", "dc=x", "--bind-dn", "cn=r,dc=x"),
         "--bind-dn needs --password-file (or ISPCTL_IMPORT_LDAP_PASSWORD_FILE); a password is never an argument"),
    ]:
        done = run_cli(None, "import", "ldap", *args, "-d", str(tmp_path / "e"))
        assert done.exit_code == 1, args
        assert message in done.stderr, done.stderr
    assert not (tmp_path / "e").exists()


def test_existing_files_are_refused_unless_forced(tmp_path: Path) -> None:
    first = run_cli(None, "import", "ldap", "--from-ldif", str(FIXTURE), "-d", str(tmp_path))
    assert first.exit_code == 0, first.output
    again = run_cli(None, "import", "ldap", "--from-ldif", str(FIXTURE), "-d", str(tmp_path))
    assert again.exit_code == 1
    assert "5 file(s) exist and would be overwritten" in again.stderr  # ispctl.yaml is kept, not refused
    forced = run_cli(None, "import", "ldap", "--from-ldif", str(FIXTURE), "-d", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.output


def test_an_estate_that_does_not_validate_exits_1_with_its_problems(tmp_path: Path) -> None:
    # A catch-all whose mail all leaves the estate: valid in the old directory, refused by ispctl.
    ldif = tmp_path / "relay.ldif"
    ldif.write_text(FIXTURE.read_text().replace("mail: @example.org\naccountStatus: active\n"
                                                "mailForwardingAddress: henry@example.org",
                                                "mail: @example.org\naccountStatus: active\n"
                                                "mailForwardingAddress: bob@example.org"))
    done = run_cli(None, "import", "ldap", "--from-ldif", str(ldif), "-d", str(tmp_path / "e"), "--json")
    assert done.exit_code == 1
    problems = json.loads(done.stdout)["problems"]
    assert len(problems) == 1 and "mail.catch_all: the catch-all sends mail for every unknown address out" in \
        problems[0]
    assert "1 problem(s) in the written estate" in done.stderr


def test_the_target_base_is_ispctls_subtree_beside_the_data() -> None:
    assert target_base([SourceEntry("domainName=a.example,o=domains,dc=example,DC=com")], None) == \
        "ou=ispctl,dc=example,DC=com"
    assert target_base([], "o=domains,dc=isp,dc=net") == "ou=ispctl,dc=isp,dc=net"


def test_an_existing_site_file_is_kept_and_the_suggested_settings_are_shown(tmp_path: Path) -> None:
    (tmp_path / "ispctl.yaml").write_text("directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n"
                                          "mail:\n  root: /var/vmail\n")
    done = run_cli(None, "import", "ldap", "--from-ldif", str(FIXTURE), "-d", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "ispctl.yaml").read_text().endswith("root: /var/vmail\n")
    assert "ispctl.yaml exists and was left as it is; the import suggests these site settings: " in done.stderr
    assert '"mail": {"root": "/var/vmail"}' in done.stderr
