"""The Dovecot sandbox component (providers/dovecot/sandbox/): ``ispctl sandbox up`` starts a
Dovecot wired to its slapd that serves what apply writes, and ``down`` leaves no process."""

from __future__ import annotations

import re
import shlex
import shutil
import smtplib
import tempfile
from pathlib import Path

from ispctl.providers.dovecot.sandbox.daemon import untraversable_ancestor
from ispctl.reconciler.harness.daemons import pids_matching
from tests.ldap_helpers import copy_example, run_cli, run_ispctl
from tests.test_dovecot import NORTHWIND, PASSWORD, _Imap, edit


def test_unreachable_mail_root_is_detected() -> None:
    # /tmp itself may be entered by anyone; mkdtemp makes a 0700 directory in it.
    closed = Path(tempfile.mkdtemp(prefix="ispctl-test-closed-"))
    try:
        (closed / "sandbox").mkdir()
        # uid/gid 5000 own nothing here, so only the "others" bits count.
        assert untraversable_ancestor(closed / "sandbox" / "vmail", 5000, 5000) == closed
        closed.chmod(0o711)
        assert untraversable_ancestor(closed / "sandbox" / "vmail", 5000, 5000) is None
    finally:
        shutil.rmtree(closed)


def _really_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_sandbox_starts_dovecot_wired_to_its_slapd(tmp_path: Path) -> None:
    # Outside pytest's 0700 temp base so the mail owner can reach <sandbox>/vmail.
    root = Path(tempfile.mkdtemp(prefix="ispctl-sandbox-")) / ".sandbox"
    root.parent.chmod(0o755)
    try:
        up = run_ispctl(None, "sandbox", "up", "--root", str(root))
        assert up.returncode == 0, up.stderr
        assert "dovecot: started at imap://127.0.0.1:" in up.stdout and "warning" not in up.stderr
        exported = run_ispctl(None, "sandbox", "env", "--root", str(root))
        assert exported.returncode == 0, exported.stderr
        env = dict(shlex.split(line)[1].split("=", 1) for line in exported.stdout.splitlines())
        assert env["ISPCTL_IMAP_URL"].startswith("imap://127.0.0.1:")
        assert env["ISPCTL_POP3_URL"].startswith("pop3://127.0.0.1:")
        assert env["ISPCTL_MAIL_ROOT"] == str(root / "vmail")
        # The sandbox serves every provider it runs a service for, the mail store included.
        assert env["ISPCTL_PROVIDERS"].split(",") == ["ldap", "mailstore", "sieve", "dns", "web", "opendkim"]

        estate = copy_example(tmp_path)
        hashed = run_cli(None, "hash-password", input=PASSWORD + "\n").stdout.strip()
        edit(estate, NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__("password", hashed))
        applied = run_ispctl(None, "apply", "--auto-approve", "-d", str(estate), **env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        conn = _Imap(int(env["ISPCTL_IMAP_URL"].rsplit(":", 1)[1]), "127.0.0.1")
        assert conn.login("noc@northwind.example", PASSWORD)[0] == "OK"
        assert conn.select("INBOX")[0] == "OK"  # Dovecot creates the maildir on first use
        conn.logout()
        # The mail store provider created the home (with its marker) before anyone logged in.
        assert (root / "vmail" / "northwind.example" / "noc" / ".ispctl-maildir").is_file()
        assert (root / "vmail" / "northwind.example" / "noc" / "Maildir").is_dir()
        # The example's vacation (support@, sieve provider): a message over LMTP gets its reply,
        # kept in the sandbox's outbox (the demo does the same).
        lmtp = smtplib.LMTP(env["ISPCTL_LMTP_SOCKET"])
        lmtp.sendmail("a@elsewhere.example", ["support@northwind.example"],
                      b"From: a@elsewhere.example\r\nTo: support@northwind.example\r\nSubject: hi\r\n\r\nhi\r\n")
        lmtp.quit()
        replies = [p.read_text() for p in Path(env["ISPCTL_MAIL_OUTBOX"]).glob("*.eml")]
        assert len(replies) == 1 and "Subject: Northwind support: we have your message" in replies[0], replies

        status = run_ispctl(None, "sandbox", "status", "--root", str(root))
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", status.stdout)]
        running = ["dns", "dovecot", "freeradius", "ftp", "ldap", "opendkim", "web"]  # one line and pid per component
        assert sorted(re.findall(r"^(\w+): running", status.stdout, re.MULTILINE)) == running
        assert len(pids) == len(running), status.stdout
        dovecot_pid = int(re.search(r"dovecot: running at \S+ \(pid (\d+)\)", status.stdout).group(1))  # type: ignore[union-attr]
        everything = set(pids) | set(_group_members(dovecot_pid))
        assert len(everything) > 2  # Dovecot's auth, log, login... processes
        assert run_ispctl(None, "sandbox", "down", "--root", str(root)).returncode == 0
        assert [pid for pid in everything if not _really_gone(pid)] == []
        assert pids_matching(str(root)) == []
        assert run_ispctl(None, "sandbox", "down", "--purge", "--root", str(root)).returncode == 0
        assert not root.exists()
    finally:
        if root.exists():
            run_ispctl(None, "sandbox", "down", "--purge", "--root", str(root))
        shutil.rmtree(root.parent, ignore_errors=True)
