"""Test Dovecots on loopback, as the move and proxy tests run them (one per "host"), and IMAP/LMTP
clients for what they hold."""

from __future__ import annotations

import imaplib
import os
import signal
import smtplib
import subprocess
from pathlib import Path

import pytest

from ispctl.reconciler.harness.daemons import log_tail, port_accepts


def start_dovecot(binary: str, conf: Path, ip: str, ports: tuple[int, ...], which: str) -> subprocess.Popen[bytes]:
    """Dovecot in the foreground in a session of its own (stopped by ``stop_group``), once every
    one of ``ports`` accepts; a Dovecot that exits first fails the test with its log."""
    process = subprocess.Popen([binary, "-F", "-c", str(conf)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in ports:
        while not port_accepts(ip, port):
            try:
                process.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            stop_group(process)
            pytest.fail(f"dovecot {which} exited: {log_tail(conf.parent / 'dovecot.log')}")
    return process


def stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a daemon started in a session of its own, with all its children, by its process group."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def imap_subjects(ip: str, port: int, user: str, password: str) -> list[str]:
    """The subjects in the user's INBOX, sorted, read over IMAP without marking anything seen."""
    conn = imaplib.IMAP4(ip, port, timeout=20)
    try:
        conn.login(user, password)
        conn.select("INBOX", readonly=True)
        typ, data = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        return sorted(part[1].decode().strip().removeprefix("Subject: ") for part in data
                      if isinstance(part, tuple))
    finally:
        conn.logout()


def lmtp_deliver(ip: str, port: int, user: str, subjects: list[str]) -> None:
    """One small message per subject to ``user`` over LMTP; each must be accepted."""
    lmtp = smtplib.LMTP(ip, port)
    try:
        for subject in subjects:
            assert lmtp.sendmail("a@elsewhere.example", [user], f"Subject: {subject}\r\n\r\nx\r\n") == {}
    finally:
        lmtp.quit()


def imap_login(port: int, user: str, password: str, ip: str = "127.0.0.1") -> bool:
    """Whether Dovecot accepts the user's IMAP login (a refused login is False, not an error)."""
    conn = imaplib.IMAP4(ip, port, timeout=20)
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        conn.shutdown()
    return True
