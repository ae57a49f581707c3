"""Dovecot proxying in a cluster, proven between two real Dovecots on one real slapd.

Two mail_store hosts named by their loopback addresses (``127.0.0.1``, ``127.0.0.2``: what
``mailHost`` holds is what Dovecot connects to; in production names resolving to the hosts),
each a Dovecot listening on its own address at the standard IMAP and LMTP ports (a proxied
login or delivery goes to the port of its protocol), each over its own mail root. Both read
the directory through the rendered ``dovecot-ldap.conf.ext`` (``ispctl render dovecot`` for the
cluster: ``mailHost`` as the proxy host, ``proxy_maybe``) bound as Dovecot's own account under
the sandbox's rendered access rules, so that account must be able to read ``mailHost``. Only
the home is the instance's own (``override_fields``): one machine holds both roots.

An IMAP login on A for a mailbox stored on B is proxied to B and sees B's mail; LMTP to A for
B's mailbox lands on B (nothing in A's root); the other way round as well.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dovecot_helpers import imap_subjects, lmtp_deliver, start_dovecot, stop_group
from ldap_helpers import run_cli, search

from ispctl.providers.dovecot.render import LDAP_CONF_FILE, SETTINGS_FILE, render, write_files
from ispctl.providers.dovecot.sandbox.daemon import default_mail_owner
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.harness.daemons import port_accepts
from tests.wiring import load_desired

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Dovecots on the standard ports: root only")

A, B = "127.0.0.1", "127.0.0.2"
ANNA, BOB = "anna@acme.example", "bob@acme.example"  # anna stored on A, bob on B
CARL = "carl@acme.example"  # stored on B, suspended: no logins, but mail still reaches it
PASSWORD = "pw-Proxy-1"


@dataclass
class Host:
    ip: str
    work: Path
    root: Path
    process: subprocess.Popen[bytes] | None = None

    def config(self, ldap_conf: Path, uid: int, gid: int) -> str:
        return textwrap.dedent(f"""\
            instance_name = ispctl-proxy-{self.ip}
            base_dir = {self.work}/run
            state_dir = {self.work}/state
            log_path = {self.work}/dovecot.log
            protocols = imap lmtp
            listen = {self.ip}
            ssl = no
            disable_plaintext_auth = no
            auth_failure_delay = 0
            mail_location = maildir:~/Maildir
            first_valid_uid = {uid}
            lmtp_proxy = yes
            service imap-login {{
              inet_listener imap {{
                port = 143
              }}
              inet_listener imaps {{
                port = 0
              }}
            }}
            service lmtp {{
              inet_listener lmtp {{
                address = {self.ip}
                port = 24
              }}
            }}
            passdb {{
              driver = ldap
              args = {ldap_conf}
            }}
            userdb {{
              driver = ldap
              args = {ldap_conf}
              override_fields = home={self.root}/%d/%n uid={uid} gid={gid}
            }}
            """)

    def start(self, ldap_conf: Path, uid: int, gid: int) -> None:
        conf = self.work / "dovecot.conf"
        conf.write_text(self.config(ldap_conf, uid, gid), encoding="utf-8")
        self.process = start_dovecot(shutil.which("dovecot") or "/usr/sbin/dovecot", conf, self.ip, (143, 24),
                                     f"on {self.ip}")

    def stop(self) -> None:
        stop_group(self.process)

    def subjects(self, user: str) -> list[str]:
        return imap_subjects(self.ip, 143, user, PASSWORD)

    def deliver(self, user: str, subject: str) -> None:
        lmtp_deliver(self.ip, 24, user, [subject])

    def holds(self, user: str) -> bool:
        local, domain = user.split("@")
        return (self.root / domain / local / "Maildir").exists()


def _estate(root: Path, uid: int, gid: int) -> Path:
    from ispctl.reconciler.contract import hash_password

    hashed = hash_password(PASSWORD)
    (root / "tenants/acme").mkdir(parents=True)
    (root / "ispctl.yaml").write_text(textwrap.dedent(f"""\
        directory:
          base_dn: ou=ispctl,dc=example,dc=net
        mail:
          uid: {uid}
          gid: {gid}
        cluster:
          hosts:
            {A}: {{roles: [mail_store, imap]}}
            {B}: {{roles: [mail_store, imap]}}
        """), encoding="utf-8")
    (root / "tenants/acme/tenant.yaml").write_text("name: Acme\n", encoding="utf-8")
    (root / "tenants/acme/acme.example.yaml").write_text(textwrap.dedent(f"""\
        domain: acme.example
        mailboxes:
          anna:
            password: "{hashed}"
            placement: {{mail_store: {A}}}
          bob:
            password: "{hashed}"
            placement: {{mail_store: {B}}}
          carl:
            password: "{hashed}"
            placement: {{mail_store: {B}}}
            status: suspended
        """), encoding="utf-8")
    return root


@pytest.fixture
def hosts(slapd: SlapdInstance, tmp_path: Path) -> Iterator[dict[str, Host]]:
    if any(port_accepts(ip, port) for ip in (A, B) for port in (143, 24)):
        pytest.skip("something else listens on an IMAP or LMTP port of 127.0.0.1/127.0.0.2")
    uid, gid = default_mail_owner()
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-proxy-"))
    os.chmod(top, 0o755)
    estate = _estate(tmp_path / "estate", uid, gid)
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), ISPCTL_PROVIDERS="ldap,dovecot",
                      ISPCTL_MOVE_JOURNAL=str(tmp_path / "moves"))
    assert applied.exit_code == 0, applied.output
    # Dovecot's files as ispctl renders them for this cluster, bound as Dovecot's own account.
    account = slapd.account_env("dovecot")
    ldap = LdapSettings(slapd.url, account["ISPCTL_DOVECOT_LDAP_BIND_DN"], account["ISPCTL_DOVECOT_LDAP_PASSWORD"])
    catalog, _resources = load_desired(estate)
    rendered = top / "etc"
    files = render(catalog.estate.site, ldap, str(rendered / LDAP_CONF_FILE), "lmtp-ispctl")
    assert "lmtp_proxy = yes" in files[SETTINGS_FILE]
    write_files(files, rendered)
    made = {}
    try:
        for ip in (A, B):
            work = top / ip
            (work / "run").mkdir(parents=True)
            root = top / f"vmail-{ip}"
            root.mkdir()
            os.chown(root, uid, gid)
            made[ip] = Host(ip, work, root)
            made[ip].start(rendered / LDAP_CONF_FILE, uid, gid)
        yield made
    finally:
        for host in made.values():
            host.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_logins_and_deliveries_reach_the_host_storing_the_mailbox(slapd: SlapdInstance,
                                                                  hosts: dict[str, Host]) -> None:
    stored = {e["mail"][0]: e["mailhost"][0] for e in search(slapd, "(mailHost=*)", "mail", "mailHost").values()}
    assert stored == {ANNA: A, BOB: B, CARL: B}
    a, b = hosts[A], hosts[B]
    # Delivered to A's LMTP, bob's mail lands on B (A proxies it); anna's stays on A.
    a.deliver(BOB, "to-a-for-bob")
    b.deliver(BOB, "to-b-for-bob")
    b.deliver(ANNA, "to-b-for-anna")
    a.deliver(ANNA, "to-a-for-anna")
    assert b.holds(BOB) and not a.holds(BOB)
    assert a.holds(ANNA) and not b.holds(ANNA)
    # An IMAP login on either host sees the mail where it is stored.
    for host in (a, b):
        assert host.subjects(BOB) == ["to-a-for-bob", "to-b-for-bob"]
        assert host.subjects(ANNA) == ["to-a-for-anna", "to-b-for-anna"]
    log = (a.work / "dovecot.log").read_text(encoding="utf-8", errors="replace")
    assert f"Sent message to <{BOB}> at {B}:24" in log and f"Started proxying to <{B}>" in log, log[-3000:]
    # A suspended mailbox on B: a delivery through A still reaches B (a delivery is no login),
    # and neither host lets it log in. A wrong password is refused before anything is proxied.
    a.deliver(CARL, "to-a-for-carl")
    assert b.holds(CARL) and not a.holds(CARL)
    for host, user, password in ((a, CARL, PASSWORD), (b, CARL, PASSWORD), (a, BOB, "wrong")):
        conn = imaplib.IMAP4(host.ip, 143, timeout=20)
        try:
            with pytest.raises(imaplib.IMAP4.error):
                conn.login(user, password)
        finally:
            conn.shutdown()
