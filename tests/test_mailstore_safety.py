"""Issue 3's required data-safety tests: mail is never lost. Real slapd, real filesystem, real Dovecot.

* A message delivered by IMAP APPEND is in the archive byte for byte after its mailbox is
  deleted from the YAML and applied.
* After a rename, the message is still readable over IMAP under the new address.
* ``ispctl apply`` killed with SIGKILL between the directory change and the maildir move
  (run through the test-only launcher in tests/faults/, which kills it at exactly that point):
  the next apply converges and nothing is lost.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import os
import signal
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.faults.process import finish, launch
from tests.ldap_helpers import ENV_NAMES, cli_env, run_cli, search, write_estate

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root (CI runs as root)"
)

PASSWORD = "safety-Test-pa55"
OWNER = 5000
MESSAGE = (b"From: sender@elsewhere.example\r\nTo: karl@example.net\r\nSubject: keep me\r\n"
           b"Message-ID: <safety-1@elsewhere.example>\r\n\r\nThis mail must survive.\r\n\x7f\xc3\xa9\r\n")


def estate(root: Path, boxes: dict[str, str], password_hash: str) -> Path:
    body = "domain: example.net\nmailboxes:\n"
    for local, extra in boxes.items():
        body += f"  {local}:\n    password: \"{password_hash}\"\n" + "".join(
            f"    {line}\n" for line in extra.splitlines()
        )
    return write_estate(root, {"acme/tenant.yaml": "name: Acme\n", "acme/example.net.yaml": body})


@pytest.fixture(scope="module")
def password_hash() -> str:
    hashed = run_cli(None, "hash-password", "--rounds", "5000", input=PASSWORD + "\n").stdout.strip()
    assert hashed.startswith("{CRYPT}$6$rounds=5000$")
    return hashed


def env(root: Path) -> dict[str, str]:
    return {"ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(root),
            "ISPCTL_MAIL_UID": str(OWNER), "ISPCTL_MAIL_GID": str(OWNER)}


def apply(slapd: SlapdInstance, estate_dir: Path, root: Path) -> str:
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate_dir), **env(root))
    assert result.exit_code == 0 and "Apply complete!" in result.stdout, result.output
    return result.stdout


def converged(slapd: SlapdInstance, estate_dir: Path, root: Path) -> None:
    result = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate_dir), **env(root))
    assert result.exit_code == 0 and "No changes." in result.stdout, result.output


def messages(home: Path) -> dict[str, bytes]:
    """Every message file below a home's Maildir, by path relative to it."""
    found = {}
    for folder in ("new", "cur"):
        for path in sorted((home / "Maildir" / folder).iterdir()):
            found[f"{folder}/{path.name}"] = path.read_bytes()
    return found


def killed_at(slapd: SlapdInstance, estate_dir: Path, root: Path, address: str) -> None:
    """Run the real ``ispctl apply``, SIGKILL it just before the change to ``address``."""
    process_env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    process_env.update({k: v for k, v in cli_env(slapd, **env(root)).items() if v is not None})
    proc = launch("kill", f"change:{address}", ["apply", "--auto-approve", "-d", str(estate_dir)], process_env)
    code, _, err = finish(proc)
    assert code == -signal.SIGKILL, err


def entries(slapd: SlapdInstance) -> list[str]:
    return sorted(e["uid"][0] for e in search(slapd, "(objectClass=ispctlMailUser)", "uid").values())


def test_kill_between_archive_and_directory_delete_then_apply_converges(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    home = mail_root / "example.net" / "karl"
    (home / "Maildir" / "new" / "1.eml").write_bytes(MESSAGE)
    smaller = estate(tmp_path / "v2", {"anna": ""}, password_hash)
    # A delete archives first and deletes the directory entry after: stop in between.
    killed_at(slapd, smaller, mail_root, "mailbox.karl@example.net")
    (archived,) = (mail_root / ".ispctl-archive").iterdir()
    assert not home.exists() and entries(slapd) == ["anna@example.net", "karl@example.net"]
    out = apply(slapd, smaller, mail_root)
    assert "mailbox.karl@example.net: destroyed" in out and "maildir." not in out
    converged(slapd, smaller, mail_root)
    assert entries(slapd) == ["anna@example.net"]
    assert [p.name for p in (mail_root / ".ispctl-archive").iterdir()] == [archived.name]
    assert (archived / "Maildir" / "new" / "1.eml").read_bytes() == MESSAGE


def test_kill_between_directory_rename_and_maildir_move_then_apply_converges(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    old, new = mail_root / "example.net" / "karl", mail_root / "example.net" / "k.mueller"
    (old / "Maildir" / "cur" / "1.eml:2,S").write_bytes(MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    # A rename renames the directory entry first and the maildir after: stop in between.
    killed_at(slapd, renamed, mail_root, "maildir.k.mueller@example.net")
    assert entries(slapd) == ["anna@example.net", "k.mueller@example.net"] and old.is_dir() and not new.exists()
    out = apply(slapd, renamed, mail_root)
    assert "maildir.k.mueller@example.net: updated" in out and "mailbox." not in out
    converged(slapd, renamed, mail_root)
    assert not old.exists() and messages(new) == {"cur/1.eml:2,S": MESSAGE}
    home_attr = search(slapd, "(uid=k.mueller@example.net)", "homeDirectory")
    assert [e["homedirectory"] for e in home_attr.values()] == [[str(new)]]


# -- with a real Dovecot -------------------------------------------------------------------------

@pytest.fixture
def dovecot(slapd: SlapdInstance, mail_root: Path, tmp_path: Path) -> Iterator[DovecotInstance]:
    instance = DovecotInstance(tmp_path / "dovecot", slapd.env(), mail_root=mail_root, mail_uid=OWNER, mail_gid=OWNER)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def imap(dovecot: DovecotInstance, user: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
    conn.login(user, PASSWORD)
    return conn


def append(dovecot: DovecotInstance, user: str, message: bytes) -> None:
    conn = imap(dovecot, user)
    try:
        typ, data = conn.append("INBOX", None, None, message)
        assert typ == "OK", data
    finally:
        conn.logout()


def test_imap_appended_mail_is_in_the_archive_byte_for_byte(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    home = mail_root / "example.net" / "karl"
    (name, stored), = messages(home).items()
    # Dovecot stores lines with LF by default (mail_save_crlf = no): the same message.
    assert stored.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")
    smaller = estate(tmp_path / "v2", {"anna": ""}, password_hash)
    out = apply(slapd, smaller, mail_root)
    assert "maildir.karl@example.net will be archived" in out and "(1 of them archived)" in out
    converged(slapd, smaller, mail_root)
    (archived,) = (mail_root / ".ispctl-archive").iterdir()
    assert (archived / "Maildir" / name).read_bytes() == stored
    listed = {f["path"]: f for f in json.loads((archived / ".ispctl-archive.json").read_text())["files"]}
    assert listed[f"Maildir/{name}"]["sha256"] == hashlib.sha256(stored).hexdigest()


def test_after_a_rename_the_mail_is_readable_over_imap_under_the_new_address(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    out = apply(slapd, renamed, mail_root)
    assert "# maildir.karl@example.net has moved to maildir.k.mueller@example.net" in out
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in out
    converged(slapd, renamed, mail_root)
    conn = imap(dovecot, "k.mueller@example.net")
    try:
        typ, data = conn.select("INBOX")
        assert typ == "OK" and data == [b"1"]
        typ, fetched = conn.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK"
        body = fetched[0][1]
        assert isinstance(body, bytes) and body.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")
    finally:
        conn.logout()
    assert not (mail_root / "example.net" / "karl").exists()


def test_the_approval_question_counts_archives_apart_from_destroys(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    smaller = estate(tmp_path / "v2", {"anna": ""}, password_hash)
    refused = run_cli(slapd, "apply", "-d", str(smaller), input="no\n", **env(root=mail_root))
    assert refused.exit_code == 1
    # The directory entry goes; the mail is archived, and the question says which is which.
    assert "1 object(s) will be DESTROYED. 1 will be archived (kept, not destroyed)." in refused.stdout
    assert (mail_root / "example.net" / "karl").is_dir() and "karl@example.net" in entries(slapd)


def lmtp_deliver(dovecot: DovecotInstance, to: str, message: bytes) -> None:
    lmtp = smtplib.LMTP(str(dovecot.lmtp_socket))
    try:
        assert lmtp.sendmail("sender@elsewhere.example", [to], message) == {}
    finally:
        lmtp.quit()


LATE = MESSAGE.replace(b"keep me", b"sent during the rename").replace(b"safety-1@", b"safety-2@")


def inbox_count(dovecot: DovecotInstance, user: str) -> int:
    conn = imap(dovecot, user)
    try:
        typ, data = conn.select("INBOX")
        assert typ == "OK" and data[0] is not None
        return int(data[0])
    finally:
        conn.logout()


def test_mail_for_the_new_address_mid_rename_is_deferred_until_the_home_has_moved(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    """The directory entry is renamed before the home moves. In between, a delivery to the new
    address finds no home, and the domain folder ispctl made (root's, 0751) lets Dovecot make
    none: a temporary failure, which Postfix retries, not a bounce and not a stray home."""
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    killed_at(slapd, renamed, mail_root, "maildir.k.mueller@example.net")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        lmtp_deliver(dovecot, "k.mueller@example.net", LATE)
    ((code, _text),) = refused.value.recipients.values()
    assert 400 <= code < 500
    assert not (mail_root / "example.net" / "k.mueller").exists()
    apply(slapd, renamed, mail_root)
    lmtp_deliver(dovecot, "k.mueller@example.net", LATE)  # the retry
    assert inbox_count(dovecot, "k.mueller@example.net") == 2


def test_mail_delivered_to_the_new_address_mid_rename_joins_the_moved_home(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    """Where the domain folder belongs to the mail owner (an estate adopted with its own layout),
    Dovecot does make a home at the new path in that window. The move takes its mail along
    instead of stopping for a person, and keeps Dovecot's own files of it in the archive."""
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    killed_at(slapd, renamed, mail_root, "maildir.k.mueller@example.net")
    os.chown(mail_root / "example.net", OWNER, OWNER)
    lmtp_deliver(dovecot, "k.mueller@example.net", LATE)
    old, new = mail_root / "example.net" / "karl", mail_root / "example.net" / "k.mueller"
    assert new.is_dir() and old.is_dir()  # Dovecot made a home of its own at the new path
    out = apply(slapd, renamed, mail_root)
    assert "maildir.k.mueller@example.net: updated" in out
    converged(slapd, renamed, mail_root)
    assert not old.exists() and inbox_count(dovecot, "k.mueller@example.net") == 2
    (kept,) = (mail_root / ".ispctl-archive").iterdir()
    assert kept.name.startswith("k.mueller@example.net.delivered-during-rename.")
    assert not [p for p in kept.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")]
