"""``ispctl import ldap-passwords``: iRedMail's {SSHA512} users log in after the migration.

The iRedMail fixture (carol made active; her hash is {SSHA512} of "carol") is imported, applied
to ispctl's subtree of a real slapd, the old hashes are carried, and a real Dovecot reading
ispctl's subtree logs carol in with her old password; the {MD5} one is refused and listed, and
the next plan is empty.
"""

from __future__ import annotations

import imaplib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.adopt.ldap_passwords import carriable
from ispctl.providers.adopt.mapping import Mapping
from ispctl.providers.adopt.source import read_ldif
from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.ldap_helpers import run_cli, search

FIXTURE = Path(__file__).parent / "data" / "iredmail" / "directory.ldif"
SCHEMA = Path(__file__).parent / "data" / "iredmail" / "iredmail-schema.ldif"


def test_what_is_carried_and_what_is_refused() -> None:
    carry, refused = carriable(read_ldif(FIXTURE), Mapping())
    assert sorted(carry) == ["carol@example.org", "dave@example.org"]
    assert carry["carol@example.org"].startswith("{SSHA512}BoAzWRgz")
    assert carry["dave@example.org"] == "{CRYPT}abGyCpKanMv7w"
    assert refused == {"eve@example.org": "{MD5}: not verified alike by slapd and Dovecot; rotate it ('ispctl "
                                          "passwd')"}


def carry_of(address: str) -> str:
    return carriable(read_ldif(FIXTURE), Mapping())[0][address]


@pytest.fixture
def mail_root() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-ldap-passwords-"))
    top.chmod(0o755)
    try:
        yield top / "vmail"
    finally:
        shutil.rmtree(top)


def test_a_ssha512_user_logs_in_with_the_old_password_after_the_carry(tmp_path: Path, mail_root: Path) -> None:
    slapd = SlapdInstance(tmp_path / "slapd", schemas=(*SlapdInstance.default_schemas, str(SCHEMA)))
    slapd.start()
    try:
        ldif = tmp_path / "old.ldif"
        text = FIXTURE.read_text(encoding="utf-8")
        carol = text.index("dn: mail=carol@")
        ldif.write_text(text[:carol] + text[carol:].replace("accountStatus: disabled", "accountStatus: active", 1))
        owner = default_mail_owner()
        estate = tmp_path / "estate"
        done = run_cli(None, "import", "ldap", "--from-ldif", str(ldif), "-d", str(estate), "--no-adopt-mail",
                       "--mail-root", str(mail_root), "--mail-uid", str(owner[0]), "--mail-gid", str(owner[1]))
        assert done.exit_code == 0, done.output
        applied = run_cli(slapd, "apply", "--auto-approve", "--force", "-d", str(estate))
        assert applied.exit_code == 0, applied.output
        carried = run_cli(slapd, "import", "ldap-passwords", "--from-ldif", str(ldif), "-d", str(estate))
        assert carried.exit_code == 0, carried.output
        assert "Carried 2 password hash(es) from the old directory" in carried.stdout
        assert "eve@example.org: {MD5}: not verified alike" in carried.stdout
        for secret in ("BoAzWRgz", "abGyCpKanMv7w", "+mqR75uqJC3gs1SiEujPgg=="):
            assert secret not in carried.output
        entry = search(slapd, "(mail=carol@example.org)", "userPassword")
        assert [v for e in entry.values() for v in e["userpassword"]] == [carry_of("carol@example.org")]
        again = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate))
        assert again.exit_code == 0 and "No changes." in again.stdout, again.output
        second = run_cli(slapd, "import", "ldap-passwords", "--from-ldif", str(ldif), "-d", str(estate))
        assert "Carried 0 password hash(es)" in second.stdout and "already has a password" in second.stdout
        dovecot = DovecotInstance(tmp_path / "dc", slapd.env(), mail_root=mail_root, mail_uid=owner[0],
                                  mail_gid=owner[1])
        dovecot.start()
        try:
            conn = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
            try:
                assert conn.login("carol@example.org", "carol")[0] == "OK"
            finally:
                conn.logout()
        finally:
            dovecot.stop()
    finally:
        slapd.stop()
