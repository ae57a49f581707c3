"""``ispctl import ldap`` of an iRedMail-style directory, against a real slapd holding it.

The fixture (tests/data/iredmail/directory.ldif) is loaded into a slapd with iRedMail's
attributes and classes (iredmail-schema.ldif), beside ispctl's own subtree. Imported live (a
paged read) and from ``slapcat``'s dump, it gives the same files, equal to the golden ones.
Then the migration itself: the same directory with its homes in a temp dir holding real
messages is imported, applied to ispctl's subtree with the mail store, the next plan is empty,
and a real Dovecot serving ispctl's subtree lets a user log in with the password of the old
directory and serves the moved mail byte for byte.
"""

from __future__ import annotations

import filecmp
import imaplib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.ldap_helpers import run_cli
from tests.test_mailstore_adopt import MESSAGES, make_home, tree

DATA = Path(__file__).parent / "data" / "iredmail"
FIXTURE = DATA / "directory.ldif"
GOLDEN = DATA / "golden"
SCHEMA = DATA / "iredmail-schema.ldif"


@pytest.fixture(scope="module")
def old_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    """One slapd holding the iRedMail fixture (read by every test; only the last writes, below ou=ispctl)."""
    instance = SlapdInstance(tmp_path_factory.mktemp("iredmail") / "slapd",
                             schemas=(*SlapdInstance.default_schemas, str(SCHEMA)))
    instance.start()
    try:
        added = instance.ldapadd(FIXTURE.read_text(encoding="utf-8"))
        assert added.returncode == 0, added.stderr
        yield instance
    finally:
        instance.stop()


def slapcat(slapd: SlapdInstance, target: Path) -> Path:
    done = subprocess.run(["slapcat", "-F", str(slapd.config_dir), "-b", slapd.suffix, "-l", str(target)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return target


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_live_and_slapcat_imports_write_the_golden_estate(tmp_path: Path, old_directory: SlapdInstance) -> None:
    dump = slapcat(old_directory, tmp_path / "dump.ldif")
    from_ldif = run_cli(None, "import", "ldap", "--from-ldif", str(dump), "-d", str(tmp_path / "a"))
    assert from_ldif.exit_code == 0, from_ldif.output
    live = run_cli(None, "import", "ldap", "--url", old_directory.url, "--base", old_directory.suffix,
                   "--bind-dn", old_directory.bind_dn, "--password-file", str(old_directory.password_file),
                   "-d", str(tmp_path / "b"))
    assert live.exit_code == 0, live.output
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b") == files_of(GOLDEN)
    for rel in files_of(GOLDEN):
        assert (tmp_path / "a" / rel).read_text() == (GOLDEN / rel).read_text(), rel
        assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False), rel
    # The report is the same apart from where it was read.
    assert from_ldif.stdout.split("\n", 1)[1] == live.stdout.split("\n", 1)[1].replace(
        str(tmp_path / "b"), str(tmp_path / "a"))


def test_the_report_names_every_entry_not_taken_as_it_was_and_no_hash(tmp_path: Path) -> None:
    done = run_cli(None, "import", "ldap", "--from-ldif", str(FIXTURE), "-d", str(tmp_path / "e"), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["problems"] == []
    assert report["imported"] == {
        "alias domains": 1, "aliases": 2, "catch-alls": 1, "domains": 3, "mailboxes": 8, "mailing lists": 1,
        "maildirs adopted in place": 0, "maildirs moved into the store": 7, "tenants": 1}
    items = {key: {(i["dn"].split(",")[0], i["detail"]) for i in s["items"]} for key, s in report["sections"].items()}
    assert items["not_imported"] == {
        ("domainName=backup.example", "domainBackupMX: yes (a backup MX relay, not a hosted domain)"),
        ("domainName=example.org", "domainSenderBccAddress (not modelled)"),
        ("mail=dave@example.org", "userRecipientBccAddress (not modelled)"),
        ("mail=eve@example.org", "mail not adopted: mdbox in <home>/Maildir (ispctl's store keeps maildir in "
                                 "<home>/Maildir)"),
        ("mail=eve@example.org", "mailForwardingAddress without forward in enabledService (not in effect)"),
        ("mail=frank@shop.example", "allowNets (not modelled)"),
        ("mail=noreply@example.org", "an alias without mailForwardingAddress"),
        ("mail=postmaster@example.org", "a mail administrator of the old panel (ispctl's accounts are declared in "
                                        "ispctl.yaml)"),
        ("mail=staff@example.org", "accessPolicy (not modelled)"),
    }
    assert items["weak_hashes"] == {("mail=dave@example.org", "{CRYPT} DES: left out, rotate it"),
                                    ("mail=eve@example.org", "{MD5}: left out, rotate it")}
    assert items["unsupported_hashes"] == {("mail=carol@example.org", "{SSHA512}: left out")}
    assert ("mail=alice@example.org", "shadowAddress alice@example.info: left to the alias domain example.info") in \
        items["converted"]
    assert ("mail=dave@example.org", "enabledService without mail: imported as suspended") in items["converted"]
    for secret in ("abGyCpKanMv7w", "+mqR75uqJC3gs1SiEujPgg==", "BoAzWRgzwmDqG8V8", "$6$rounds=5000$Utav8bjP"):
        assert secret not in done.stdout


# -- the migration: homes with real mail, applied with the mail store, served by Dovecot ----------

@pytest.fixture
def old_homes() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-iredmail-"))
    top.chmod(0o755)  # the mail owner must reach the homes (pytest's base is 0700)
    try:
        yield top / "vmail"
    finally:
        shutil.rmtree(top)


def test_a_migrated_user_logs_in_with_the_old_password_and_reads_the_moved_mail(
        tmp_path: Path, old_directory: SlapdInstance, old_homes: Path) -> None:
    # The same directory as a dump whose homes are below a temp dir, as slapcat would give it there.
    text = slapcat(old_directory, tmp_path / "dump.ldif").read_text(encoding="utf-8")
    ldif = tmp_path / "moved.ldif"
    ldif.write_text(text.replace("/var/vmail", str(old_homes)), encoding="utf-8")
    owner = default_mail_owner()
    frank_old = old_homes / "vmail1" / "shop.example" / "f" / "r" / "a" / "frank-2020.01.01.00.00.00"
    hashes = make_home(frank_old, owner)
    for path in [old_homes, *frank_old.parents]:
        if str(path).startswith(str(old_homes)):
            path.chmod(0o755)
    estate = tmp_path / "estate"
    done = run_cli(None, "import", "ldap", "--from-ldif", str(ldif), "-d", str(estate))
    assert done.exit_code == 0, done.output
    site = (estate / "ispctl.yaml").read_text()
    assert f"root: {old_homes}\n" in site and f"uid: {owner[0]}\n" in site
    env = {"ISPCTL_PROVIDERS": "ldap,mailstore"}
    plan = run_cli(old_directory, "plan", "--json", "-d", str(estate), **env)
    assert plan.exit_code == 0, plan.output
    detail = {c["address"]: c.get("detail") for c in json.loads(plan.stdout)["changes"]}
    assert detail["maildir.frank@shop.example"] == [
        f"moves the existing mail {frank_old} -> {old_homes}/shop.example/frank (5 messages, one rename)"]
    assert detail["maildir.alice@example.org"][0].startswith("nothing at ")
    applied = run_cli(old_directory, "apply", "--auto-approve", "--force", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    again = run_cli(old_directory, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert again.exit_code == 0 and "No changes." in again.stdout, again.output
    home = old_homes / "shop.example" / "frank"
    assert not frank_old.exists()
    assert {rel: digest for rel, (digest, _ino) in tree(home).items()} == hashes
    dovecot = DovecotInstance(tmp_path / "dc", old_directory.env(), mail_root=old_homes, mail_uid=owner[0],
                              mail_gid=owner[1])
    dovecot.start()
    try:
        conn = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
        try:
            conn.login("frank@shop.example", "frank-Pa55")
            served = []
            for folder in ("INBOX", "Archive"):
                assert conn.select(folder, readonly=True)[0] == "OK"
                status, data = conn.fetch("1:*", "(BODY.PEEK[])")
                served += [item[1] for item in data if isinstance(item, tuple)]
            assert sorted(served) == sorted(m for messages in MESSAGES.values() for m in messages)
        finally:
            conn.logout()
    finally:
        dovecot.stop()
    assert os.path.isdir(home / "Maildir" / "cur")
