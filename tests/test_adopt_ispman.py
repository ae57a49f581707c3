"""``ispctl import ispman`` end to end: the ISPMan fixture in a real slapd, imported, applied.

The fixture (tests/data/ispman/estate.ldif) is loaded into a slapd running ISPMan's own
schemas converted for cn=config (tests/data/ispman/*.ldif); the import reads it live with a
read-only account and from the LDIF, writes the estate (compared with the golden files under
tests/data/ispman/golden), which validates, applies to a fresh ispctl subtree of another slapd
(the conftest ``slapd``), and the next plan is empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ispman_helpers import FIXTURE, GOLDEN, ISPMAN_BASE, ISPMAN_SUFFIX, TARGET_BASE, import_ldif, ispman_directory
from ldap_helpers import run_cli, search

from ispctl.providers.adopt.ispman import build_estate
from ispctl.providers.adopt.report import NOT_IMPORTED, WEAK_HASHES
from ispctl.providers.adopt.source import read_ldif
from ispctl.providers.ldap.sandbox.accounts import load_passwords
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance


@pytest.fixture(scope="module")
def ispman_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    instance = ispman_directory(tmp_path_factory.mktemp("ispman-slapd"))
    try:
        yield instance
    finally:
        instance.stop()


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml"))}


def test_the_fixture_loads_into_slapd_with_ispmans_schemas(ispman_slapd: SlapdInstance) -> None:
    users = search(ispman_slapd, "(objectClass=ispmanDomainUser)", "uid", base=ISPMAN_BASE)
    assert len(users) == 10
    zones = search(ispman_slapd, "(objectClass=dNSZone)", "zoneName", base=ISPMAN_BASE)
    assert {v for e in zones.values() for v in e["zonename"]} == {"northwind.example", "baeckerei.example"}


def test_live_import_with_a_read_only_account_equals_the_ldif_import(ispman_slapd: SlapdInstance,
                                                                     tmp_path: Path) -> None:
    import_ldif(tmp_path / "from-ldif")
    secret = tmp_path / "pw"
    secret.write_text(load_passwords(ispman_slapd.accounts_file)["plan"] + "\n", encoding="utf-8")
    result = run_cli(None, "import", "ispman", "--url", ispman_slapd.url, "--base", ISPMAN_BASE,
                     "--bind-dn", f"cn=ispctl-plan,ou=services,{ISPMAN_SUFFIX}", "--password-file", str(secret),
                     "--base-dn", TARGET_BASE, "-d", str(tmp_path / "live"))
    assert result.exit_code == 0, result.output
    assert tree(tmp_path / "live") == tree(tmp_path / "from-ldif")


def test_the_written_estate_equals_the_golden_files(tmp_path: Path) -> None:
    import_ldif(tmp_path / "estate")
    written = tree(tmp_path / "estate")
    # After a deliberate change: rm -r tests/data/ispman/golden, import the fixture into it with
    # the command above (--base-dn ou=ispctl,dc=example,dc=net), and review the diff.
    assert GOLDEN.is_dir()
    assert written == tree(GOLDEN)


def test_the_report_lists_what_was_not_imported_converted_and_weak(tmp_path: Path) -> None:
    report = import_ldif(tmp_path / "estate")
    sections = report["sections"]
    assert isinstance(sections, dict)
    weak = {i["dn"].split(",")[0]: i["detail"] for i in sections["weak_hashes"]["items"]}
    assert set(weak) == {"uid=noc_northwind_example", "uid=old_northwind_example", "uid=anna_baeckerei_example",
                         "uid=karl_baeckerei_example", "uid=r.cole_hartcole_example",
                         "uid=office_riverside-school_example", "uid=tom.reyes_northwind_example"}
    assert weak["uid=tom.reyes_northwind_example"].startswith("{MD5}")
    assert weak["uid=noc_northwind_example"].startswith("{CRYPT} DES")
    converted = {(i["dn"].split(",")[0], i["detail"].split(" ")[0]) for i in sections["converted"]["items"]}
    assert ("uid=karl_baeckerei_example", "FTPStatus") in converted
    assert ("uid=anna_baeckerei_example", "dialupAccess") in converted
    not_imported = sections["not_imported"]["by_detail"]
    for detail in ("database (ispctl does not manage databases)", "queued ISPMan agent task, never run",
                   "ispmanVhostExtraConf (raw Apache configuration), 1 value(s)", "address book (ou=pabs)"):
        assert detail in not_imported, detail
    assert not_imported["address book (ou=pabs)"] == 5
    assert report["imported"] == {"clients": 2, "domains": 5, "mail groups": 2, "mailboxes": 10, "resellers": 2,
                                  "sites": 2}
    # No hash of the directory reaches the report, not even in part.
    text = json.dumps(report)
    hashes = {line.split(": ", 1)[1] for line in FIXTURE.read_text(encoding="utf-8").splitlines()
              if line.startswith("userPassword: ")} - {"noEntry"}
    assert len(hashes) == 7  # DES (3 salts), {md5}, SHA-512 crypt three times
    assert not [h for h in hashes if h in text or h.partition("}")[2][:12] in text]


def test_an_existing_estate_is_not_overwritten(tmp_path: Path) -> None:
    import_ldif(tmp_path / "estate")
    again = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "-d", str(tmp_path / "estate"))
    assert again.exit_code == 1
    assert "would be overwritten" in again.output


def test_imported_estate_validates_applies_and_the_next_plan_is_empty(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    import_ldif(estate)
    valid = run_cli(None, "validate", "-d", str(estate))
    assert valid.exit_code == 0, valid.output
    # The directory's part: DNS and web sites need their servers (named, Apache), not tested here.
    env = {"ISPCTL_PROVIDERS": "ldap"}
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    plan = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.stdout
    # What the applied directory holds is ISPMan's, converted as the report says.
    noc = search(slapd, "(uid=noc@northwind.example)", "ispctlMailQuota", "ispctlMailAlias", "userPassword",
                 base=TARGET_BASE)
    (entry,) = noc.values()
    assert entry["ispctlmailquota"] == [str(50 * 1024 * 1024)]
    assert sorted(entry["ispctlmailalias"]) == ["abuse@northwind.example", "hostmaster@northwind.example"]
    assert "userpassword" not in entry  # DES crypt: kept out of git, so the mailbox has none yet
    anna = search(slapd, "(uid=anna@baeckerei.example)", "ispctlEnabledService", base=TARGET_BASE)
    assert "dialup" in next(iter(anna.values()))["ispctlenabledservice"]
    # pure-ftpd lets in exactly the logins it let in before: the resumed vhost's, and ines's.
    ftp = search(slapd, "(FTPStatus=enabled)", "uid", "FTPQuotaMBytes", base=TARGET_BASE)
    assert sorted((e["uid"][0], e["ftpquotambytes"][0]) for e in ftp.values()) == [
        ("ines@northwind.example", "100"), ("shop.northwind.example", "50")]


def test_an_account_that_cannot_read_hashes_is_named_once() -> None:
    entries = read_ldif(FIXTURE)
    for entry in entries:
        entry.attrs.pop("userpassword", None)
    estate, report = build_estate(entries, "test")
    assert [i.detail.split(":")[0] for i in report.items(NOT_IMPORTED) if "userPassword" in i.detail] == [
        "no user entry has a userPassword"]
    assert report.items(WEAK_HASHES) == []
    assert not any("password" in box for d in estate.domains.values() for box in d.data.get("mailboxes", {}).values())


@pytest.mark.parametrize("schema", ["providers/ftp/schema/pureftpd.ldif", "providers/radius/schema/freeradius.ldif"])
def test_ispctls_ftp_and_radius_schemas_cannot_join_ispmans_directory(ispman_slapd: SlapdInstance,
                                                                     schema: str) -> None:
    # README "One directory or two": ISPMan's PureFTPdUser (STRUCTURAL) and radiusprofile (MUST cn)
    # hold the names and OIDs Debian's and FreeRADIUS's schemas use.
    added = ispman_slapd.external("ldapadd", "-f", str(Path(__file__).parent.parent / schema))
    assert added.returncode != 0
    assert "Duplicate" in added.stderr or "duplicate" in added.stderr, added.stderr
