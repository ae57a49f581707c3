"""Dovecot serves the mailboxes ispctl writes to the directory: real Dovecot, real slapd.

The example estate is applied (every mailbox's password is a hash made by ``ispctl
hash-password``) and a Dovecot started from exactly the files ``ispctl render dovecot`` ships.
Refused logins are sent from their own 127.0.1.x source address each: after a failure, Dovecot
delays further logins from the same address by seconds (services.md), and logins that must
succeed come from 127.0.0.1, which never fails.
"""

from __future__ import annotations

import imaplib
import itertools
import os
import poplib
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.dovecot.render import LDAP_CONF_FILE, SETTINGS_FILE, render
from ispctl.providers.dovecot.sandbox.daemon import (
    LMTP_NAME,
    DovecotInstance,
    default_mail_owner,
)
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.ldap_helpers import HASH, copy_example, edit_yaml, find_one, run_cli, search, write_estate

PASSWORD = "imap-Test-pa55"
NORTHWIND = "tenants/northwind/northwind.example.yaml"
HARTCOLE = "tenants/northwind/lawfirm/hartcole.example.yaml"
SPECIAL_LOCAL = "o'neil+team#1"
RIVERSIDE = "tenants/southbay/school/riverside-school.example.yaml"
BAKERY_TENANT = "tenants/northwind/bakery/tenant.yaml"
ANNA = "anna@xn--bckerei-mller-bfb28a.example"
_sources = itertools.count(1)


def fresh_source() -> str:
    """A loopback address no login came from yet, so no earlier failure delays this one."""
    return f"127.0.1.{next(_sources)}"


class _Imap(imaplib.IMAP4):
    def __init__(self, port: int, source: str) -> None:
        self.source = source
        super().__init__("127.0.0.1", port, timeout=20)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


class _Pop3(poplib.POP3):
    def __init__(self, port: int, source: str) -> None:
        self.source = source
        super().__init__("127.0.0.1", port, timeout=20)

    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


@dataclass
class Mail:
    slapd: SlapdInstance
    dovecot: DovecotInstance
    estate: Path
    mail_root: Path

    def apply(self) -> None:
        # --force: suspending a whole tenant updates more than the safety threshold allows.
        result = run_cli(self.slapd, "apply", "--auto-approve", "--force", "-d", str(self.estate), **self.dovecot.env())
        assert result.exit_code == 0 and "Apply complete!" in result.stdout, result.output

    def imap(self, user: str, password: str = PASSWORD) -> _Imap:
        conn = _Imap(self.dovecot.imap_port, "127.0.0.1")
        conn.login(user, password)
        return conn

    def imap_refusal(self, user: str, password: str = PASSWORD) -> str:
        conn = _Imap(self.dovecot.imap_port, fresh_source())
        try:
            with pytest.raises(imaplib.IMAP4.error) as refused:
                conn.login(user, password)
        finally:
            conn.shutdown()
        return str(refused.value)

    def pop3(self, user: str) -> _Pop3:
        conn = _Pop3(self.dovecot.pop3_port, "127.0.0.1")
        conn.user(user)
        conn.pass_(PASSWORD)
        return conn

    def pop3_refusal(self, user: str) -> str:
        conn = _Pop3(self.dovecot.pop3_port, fresh_source())
        try:
            conn.user(user)
            with pytest.raises(poplib.error_proto) as refused:
                conn.pass_(PASSWORD)
        finally:
            conn.close()
        return str(refused.value)


def edit(estate: Path, rel: str, change: Callable[[Any], None]) -> None:
    edit_yaml(estate / rel, change)


def mailbox_files(estate: Path) -> list[Path]:
    return sorted(p for p in (estate / "tenants").rglob("*.yaml") if p.name != "tenant.yaml")


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    base = tmp_path_factory.mktemp("dovecot")
    # pytest's temp base is 0700: the mail owner (uid 5000 as root) could not reach homes
    # below it, so the mail store lives in a directory of its own under /tmp.
    mail_root = Path(tempfile.mkdtemp(prefix="ispctl-test-vmail-"))
    slapd = SlapdInstance(base / "slapd")
    try:
        slapd.start()
        estate = copy_example(base)
        hashed = run_cli(None, "hash-password", input=PASSWORD + "\n").stdout.strip()
        assert hashed.startswith("{CRYPT}$6$rounds=")

        def set_passwords(data: Any) -> None:
            for box in (data.get("mailboxes") or {}).values():
                box["password"] = hashed

        for path in mailbox_files(estate):
            edit_yaml(path, set_passwords)
        edit(estate, NORTHWIND, lambda d: d["mailboxes"]["support"].__setitem__("services", {"imap": False}))
        edit(estate, HARTCOLE, lambda d: d["mailboxes"]["it"].__setitem__("quota", "20 KiB"))
        # A local part with characters Dovecot's default username list would refuse.
        edit(estate, HARTCOLE, lambda d: d["mailboxes"].__setitem__(SPECIAL_LOCAL, {"password": hashed}))
        uid, gid = default_mail_owner()
        dovecot = DovecotInstance(base / "dc", slapd.env(), mail_root=mail_root, mail_uid=uid, mail_gid=gid)
        prepared = Mail(slapd, dovecot, estate, mail_root)
        prepared.apply()
        dovecot.start()
        try:
            yield prepared
        finally:
            dovecot.stop()
    finally:
        slapd.stop()
        shutil.rmtree(mail_root, ignore_errors=True)


def quota_limit(mail: Mail, user: str) -> str:
    """The STORAGE limit column of ``doveadm quota get`` (KiB, or "-" for none)."""
    done = mail.dovecot.doveadm("quota", "get", "-u", user)
    assert done.returncode == 0, done.stderr
    found = re.search(r"^User quota\s+STORAGE\s+(\d+)\s+(\S+)", done.stdout, re.MULTILINE)
    assert found, done.stdout
    return found.group(2)


def test_instance_runs_exactly_the_shipped_files(mail: Mail) -> None:
    # The instance's only differences from a production render: where its LMTP socket is,
    # and that it belongs to the user running the tests rather than to postfix.
    shipped = render(mail.dovecot.site(), LdapSettings.from_env(mail.slapd.env()), str(mail.dovecot.ldap_conf),
                     LMTP_NAME, pwd.getpwuid(os.geteuid()).pw_name)
    for name in (LDAP_CONF_FILE, SETTINGS_FILE):
        assert (mail.dovecot.workdir / name).read_text(encoding="utf-8") == shipped[name]
    doveconf = subprocess.run(["doveconf", "-c", str(mail.dovecot.config_file), "-n"],
                              capture_output=True, text=True, check=False)
    assert doveconf.returncode == 0 and doveconf.stderr == "", doveconf.stderr
    assert f"first_valid_uid = {mail.dovecot.mail_uid}\n" in doveconf.stdout


def test_imap_login_with_a_hash_from_ispctl_and_home_created(mail: Mail) -> None:
    conn = mail.imap("noc@northwind.example")
    try:
        typ, caps = conn.capability()
        assert typ == "OK" and b"QUOTA" in caps[0].split()
        typ, data = conn.getquotaroot("INBOX")
        # 5 GiB in the YAML, in KiB as IMAP QUOTA reports it.
        assert typ == "OK" and data[1] == [b'"User quota" (STORAGE 0 5242880)']
    finally:
        conn.logout()
    home = mail.mail_root / "northwind.example" / "noc"
    assert (home / "Maildir").is_dir()
    assert (home.stat().st_uid, home.stat().st_gid) == (mail.dovecot.mail_uid, mail.dovecot.mail_gid)
    assert "[AUTHENTICATIONFAILED]" in mail.imap_refusal("noc@northwind.example", "not-the-password")


def test_doveadm_quota_get_shows_the_yaml_quota(mail: Mail) -> None:
    expected = {
        "noc@northwind.example": 5 * 1024**3,           # quota: 5 GiB
        "office@riverside-school.example": 512 * 1024**2,  # domain default_quota: 512 MiB
        "it@hartcole.example": 20 * 1024,               # quota: 20 KiB (set by the fixture)
    }
    for user, quota in expected.items():
        _dn, entry = find_one(mail.slapd, f"(uid={user})", "ispctlMailQuota")
        assert entry["ispctlmailquota"] == [str(quota)]
        assert quota_limit(mail, user) == str(quota // 1024)


def test_append_over_quota_is_refused(mail: Mail) -> None:
    conn = mail.imap("it@hartcole.example")
    try:
        first = b"Subject: fits\r\n\r\n" + b"x" * 10_000 + b"\r\n"
        assert conn.append("INBOX", None, None, first)[0] == "OK"
        # Fits on its own (15,000 < 20 KiB), not on top of the first one.
        typ, data = conn.append("INBOX", None, None, b"Subject: too big\r\n\r\n" + b"y" * 15_000 + b"\r\n")
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
        assert conn.status("INBOX", "(MESSAGES)")[1] == [b'INBOX (MESSAGES 1)']
    finally:
        conn.logout()


def test_suspension_at_any_level_refuses_login_until_reactivated(mail: Mail) -> None:
    users = ["m.chen@hartcole.example", "office@riverside-school.example", ANNA]
    for user in users + ["r.cole@hartcole.example"]:
        mail.imap(user).logout()

    edit(mail.estate, HARTCOLE, lambda d: d["mailboxes"]["m.chen"].__setitem__("status", "suspended"))
    edit(mail.estate, RIVERSIDE, lambda d: d.__setitem__("status", "suspended"))
    edit(mail.estate, BAKERY_TENANT, lambda d: d.__setitem__("status", "suspended"))
    mail.apply()
    try:
        # Each refusal takes ~0.5 s and comes from its own address: ask all at once.
        with ThreadPoolExecutor(len(users)) as pool:
            refusals = list(pool.map(mail.imap_refusal, users))
        assert all("[AUTHENTICATIONFAILED]" in message for message in refusals), refusals
        for user in users:
            _dn, entry = find_one(mail.slapd, f"(uid={user})", "ispctlAccountStatus")
            assert entry["ispctlaccountstatus"] == ["suspended"]
            # Still a user for deliveries and doveadm: only logins are refused.
            local, domain = user.split("@")
            found = mail.dovecot.doveadm("user", "-f", "home", user)
            assert (found.returncode, found.stdout) == (0, f"{mail.mail_root}/{domain}/{local}\n"), found.stderr
        mail.imap("r.cole@hartcole.example").logout()  # same domain, still active
    finally:
        edit(mail.estate, HARTCOLE, lambda d: d["mailboxes"]["m.chen"].pop("status"))
        edit(mail.estate, RIVERSIDE, lambda d: d.pop("status"))
        edit(mail.estate, BAKERY_TENANT, lambda d: d.pop("status"))
        mail.apply()
    for user in users:
        mail.imap(user).logout()


def test_imap_flag_off_refuses_imap_but_pop3_works(mail: Mail) -> None:
    assert "[AUTHENTICATIONFAILED]" in mail.imap_refusal("support@northwind.example")
    conn = mail.pop3("support@northwind.example")
    assert conn.stat() == (0, 0)
    conn.quit()


def test_pop3_flag_off_refuses_pop3_but_imap_works(mail: Mail) -> None:
    assert "-ERR [AUTH] Authentication failed." in mail.pop3_refusal("billing@northwind.example")
    mail.imap("billing@northwind.example").logout()


def test_a_local_part_with_any_accepted_character_logs_in(mail: Mail) -> None:
    conn = mail.imap(f"{SPECIAL_LOCAL}@hartcole.example")
    try:
        assert conn.select("INBOX")[0] == "OK"
    finally:
        conn.logout()


def test_doveadm_user_lists_every_mailbox(mail: Mail) -> None:
    done = mail.dovecot.doveadm("user", "*")
    assert done.returncode == 0, done.stderr
    in_directory = {entry["uid"][0] for entry in search(mail.slapd, "(objectClass=ispctlMailUser)", "uid").values()}
    assert len(in_directory) == 26  # the example's 25 mailboxes and the fixture's own
    assert sorted(done.stdout.split()) == sorted(in_directory)


def test_hostile_ldap_password_is_read_verbatim_and_quota_0_is_none(tmp_path: Path) -> None:
    password = 'p"a\\ss #w %u $ENV:HOME  '
    mail_root = Path(tempfile.mkdtemp(prefix="ispctl-test-vmail-"))
    slapd = SlapdInstance(tmp_path / "slapd", root_password=password)
    uid, gid = default_mail_owner()
    dovecot = DovecotInstance(tmp_path / "dc", slapd.env(), mail_root=mail_root, mail_uid=uid, mail_gid=gid)
    try:
        slapd.start()
        # A tenant without a quota pool: only there may a mailbox have no quota at all.
        estate = write_estate(tmp_path / "estate", {
            "t/tenant.yaml": "name: T\n",
            "t/t.example.yaml": f"domain: t.example\nmailboxes:\n  bob:\n    name: Bob\n    quota: 0\n"
                                f"    password: \"{HASH}\"\n",
        })
        result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **dovecot.env())
        assert result.exit_code == 0, result.output
        dovecot.start()
        found = dovecot.doveadm("user", "-f", "home", "bob@t.example")
        assert (found.returncode, found.stdout) == (0, f"{mail_root}/t.example/bob\n"), found.stderr
        quota = dovecot.doveadm("quota", "get", "-u", "bob@t.example")
        assert re.search(r"^User quota\s+STORAGE\s+0\s+-\s", quota.stdout, re.MULTILINE), quota
    finally:
        dovecot.stop()
        slapd.stop()
        shutil.rmtree(mail_root, ignore_errors=True)


def test_lmtp_delivers_into_the_mailbox_and_enforces_the_directory_quota(mail: Mail) -> None:
    """What Postfix does (virtual_transport = lmtp:...): deliver through the rendered LMTP socket."""
    message = b"From: a@elsewhere.example\r\nSubject: via lmtp\r\n\r\nhello over LMTP\r\n"
    lmtp = smtplib.LMTP(str(mail.dovecot.lmtp_socket))
    try:
        assert lmtp.sendmail("a@elsewhere.example", ["d.osei@hartcole.example"], message) == {}
        # 25,000 bytes is over it@'s 20 KiB quota on its own: refused, nothing stored.
        with pytest.raises(smtplib.SMTPDataError) as refused:
            lmtp.sendmail("a@elsewhere.example", ["it@hartcole.example"],
                          b"Subject: big\r\n\r\n" + b"z" * 25_000 + b"\r\n")
        assert refused.value.smtp_code == 552 and b"Quota exceeded" in refused.value.smtp_error
        # An address the directory does not know is refused at RCPT.
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            lmtp.sendmail("a@elsewhere.example", ["nobody@hartcole.example"], message)
    finally:
        lmtp.quit()
    conn = mail.imap("d.osei@hartcole.example")
    try:
        conn.select("INBOX")
        typ, data = conn.search(None, '(SUBJECT "via lmtp")')
        assert typ == "OK" and len(data[0].split()) == 1
    finally:
        conn.logout()
