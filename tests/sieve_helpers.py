"""A real slapd and Dovecot (with Pigeonhole) for the Sieve tests, fed over LMTP.

The example estate is applied with the directory, mail store and Sieve providers; Dovecot is
started from the files ``ispctl render dovecot`` ships (the sandbox instance). Its
``sendmail_path`` is a catcher that keeps every message Dovecot sends (vacation replies,
redirects) as a file in ``outbox``, so tests count them.
"""

from __future__ import annotations

import base64
import email
import shutil
import smtplib
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.ldap_helpers import copy_example, edit_yaml, run_cli

HARTCOLE = "tenants/northwind/lawfirm/hartcole.example.yaml"
DOMAIN = "hartcole.example"
PROVIDERS = "ldap,mailstore,sieve"


@dataclass
class Mail:
    slapd: SlapdInstance
    dovecot: DovecotInstance
    estate: Path
    mail_root: Path

    def cli(self, *args: str) -> Any:
        return run_cli(self.slapd, *args, "-d", str(self.estate), ISPCTL_PROVIDERS=PROVIDERS, **self.dovecot.env())

    def apply(self) -> str:
        result = self.cli("apply", "--auto-approve", "--force")
        assert result.exit_code == 0 and "Apply complete!" in result.stdout, result.output
        return str(result.stdout)

    def mailbox(self, local: str, change: Any) -> None:
        edit_yaml(self.estate / HARTCOLE, lambda d: change(d["mailboxes"][local]))

    def deliver(self, sender: str, local: str, subject: str, headers: str = "", body: str = "hello") -> None:
        to = f"{local}@{DOMAIN}"
        message = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}"
                   f"@{sender.split('@')[1]}>\r\n{headers}\r\n{body}\r\n").encode()
        lmtp = smtplib.LMTP(str(self.dovecot.lmtp_socket))
        try:
            assert lmtp.sendmail(sender, [to], message) == {}
        finally:
            lmtp.quit()

    def sent(self) -> list[Message]:
        return [email.message_from_bytes(p.read_bytes()) for p in sorted(self.dovecot.outbox.glob("*.eml"))]

    def clear_sent(self) -> None:
        for path in self.dovecot.outbox.glob("*.eml"):
            path.unlink()

    def arrived(self, local: str, subject: str, count: int) -> bool:
        """Whether exactly ``count`` messages with the subject reach the INBOX (waiting up to 20 s
        for them: a quota notice comes from Dovecot's own quota-warning process)."""
        for _ in range(200):
            if self.folder(local, "", subject) >= count:
                return self.folder(local, "", subject) == count
            time.sleep(0.1)
        return False

    def home(self, local: str) -> Path:
        return self.mail_root / DOMAIN / local

    def folder(self, local: str, folder: str, subject: str) -> int:
        """How many messages in the maildir folder carry the subject ("" is the INBOX)."""
        base = self.home(local) / "Maildir" / (f".{folder}" if folder else "")
        files = [p for sub in ("new", "cur") for p in (base / sub).glob("*")] if base.exists() else []
        return sum(1 for p in files if f"Subject: {subject}" in p.read_text(errors="replace"))


class Refused(Exception):
    """A ManageSieve NO or BYE."""


class ManageSieve:
    """Just enough of a ManageSieve client (RFC 5804) to do what a user's mail client does."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.file = self.sock.makefile("rb")
        self.reply()  # capabilities, then OK
        auth = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.command(f'AUTHENTICATE "PLAIN" "{auth}"')

    def reply(self) -> list[str]:
        """The lines before the final OK; a NO or BYE raises ``Refused``."""
        lines = []
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            lines.append(line)
            if line.split(" ", 1)[0] in ("OK", "NO", "BYE"):
                if not line.startswith("OK"):
                    self.sock.close()
                    raise Refused(line)
                return lines[:-1]

    def command(self, text: str) -> list[str]:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def put_active(self, name: str, script: str) -> None:
        data = script.encode()
        self.command(f'PUTSCRIPT "{name}" {{{len(data)}+}}\r\n{script}')
        self.command(f'SETACTIVE "{name}"')

    def close(self) -> None:
        self.command("LOGOUT")
        self.sock.close()


@contextmanager
def running(base: Path, prepare: Callable[[Path], None] = lambda estate: None) -> Iterator[Mail]:
    """The example estate (``prepare`` may change it first) applied, and Dovecot serving it."""
    # pytest's temp base is 0700: the mail owner could not reach homes below it.
    mail_root = Path(tempfile.mkdtemp(prefix="ispctl-test-sieve-"))
    mail_root.chmod(0o755)
    outbox = Path(tempfile.mkdtemp(prefix="ispctl-test-outbox-"))
    # Dovecot's sockets too: a delivery running as the mail owner connects to quota-warning.
    workdir = Path(tempfile.mkdtemp(prefix="ispctl-test-dc-"))
    workdir.chmod(0o755)
    slapd = SlapdInstance(base / "slapd")
    try:
        slapd.start()
        uid, gid = default_mail_owner()
        dovecot = DovecotInstance(workdir, slapd.env(), mail_root=mail_root, mail_uid=uid, mail_gid=gid,
                                  outbox=outbox)
        prepared = Mail(slapd, dovecot, copy_example(base), mail_root)
        prepare(prepared.estate)
        prepared.apply()
        dovecot.start()
        try:
            yield prepared
        finally:
            dovecot.stop()
    finally:
        slapd.stop()
        shutil.rmtree(mail_root, ignore_errors=True)
        shutil.rmtree(outbox, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
