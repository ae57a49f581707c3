"""Passwords belong to their users (issue 10): real slapd, real ``ldappasswd``, real Dovecot.

A mailbox's password is written when ispctl creates the mailbox and is its user's afterwards:
a change made with ``ldappasswd`` (binding as the user, as webmail does) is neither planned nor
called drift, apply leaves it, and Dovecot takes the new password. ``ispctl passwd`` sets one
from standard input and records it in the audit trail without the value. A mailbox that opts
into git's hash (``credentials: git``, a service account) is still put back to it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.resources import fingerprint
from tests.dovecot_helpers import imap_login
from tests.ldap_helpers import BASE, find_one, ldap_ok, run_cli, run_ispctl, search, write_estate

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root (CI runs as root)"
)

INITIAL = "initial-Pa55-word"
USERS_OWN = "my-new-secret-42"
OPERATORS = "reset-by-Operator-7"
OWNER = 5000
MAILBOX = "mailbox"
DOMAIN_FILE = "tenants/acme/example.net.yaml"
_sources = itertools.count(1)


@pytest.fixture(scope="module")
def initial_hash() -> str:
    hashed = run_cli(None, "hash-password", "--rounds", "5000", input=INITIAL + "\n").stdout.strip()
    assert hashed.startswith("{CRYPT}$6$rounds=5000$")
    return hashed


@pytest.fixture
def estate(tmp_path: Path, initial_hash: str) -> Path:
    body = (f"domain: example.net\nmailboxes:\n"
            f"  karl:\n    password: \"{initial_hash}\"\n"
            f"  robot:\n    password: \"{initial_hash}\"\n    credentials: git\n"
            f"  fresh: {{}}\n")
    return write_estate(tmp_path / "estate", {"acme/tenant.yaml": "name: Acme\n", "acme/example.net.yaml": body})


def env(root: Path, audit: Path) -> dict[str, str]:
    return {"ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(root), "ISPCTL_AUDIT_LOG": str(audit),
            "ISPCTL_MAIL_UID": str(OWNER), "ISPCTL_MAIL_GID": str(OWNER)}


class Estate:
    def __init__(self, slapd: SlapdInstance, estate: Path, root: Path, audit: Path) -> None:
        self.slapd, self.dir, self.env = slapd, estate, env(root, audit)
        self.audit = audit

    def cli(self, *args: str, input: str | None = None) -> Any:
        return run_cli(self.slapd, *args, "-d", str(self.dir), input=input, **self.env)

    def apply(self) -> str:
        result = self.cli("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        return str(result.stdout)

    def plan(self) -> dict[str, Any]:
        result = self.cli("plan", "--json")
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def assert_converged(self) -> None:
        result = self.cli("plan", "--detailed-exitcode")
        assert result.exit_code == 0 and "No changes." in result.stdout, result.output


@pytest.fixture
def live(slapd: SlapdInstance, estate: Path, mail_root: Path, tmp_path: Path) -> Estate:
    made = Estate(slapd, estate, mail_root, tmp_path / "trail.jsonl")
    assert "Apply complete!" in made.apply()
    return made


@pytest.fixture
def dovecot(slapd: SlapdInstance, mail_root: Path, tmp_path: Path, live: Estate) -> Iterator[DovecotInstance]:
    instance = DovecotInstance(tmp_path / "dovecot", slapd.env(), mail_root=mail_root, mail_uid=OWNER, mail_gid=OWNER)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def user_dn(slapd: SlapdInstance, address: str) -> str:
    dn, _ = find_one(slapd, f"(uid={address})", "uid")
    return dn


def ldappasswd(slapd: SlapdInstance, address: str, old: str, new: str) -> None:
    """The user changes their own password: bound as themself, the real ldappasswd."""
    done = subprocess.run(["ldappasswd", "-x", "-H", slapd.url, "-D", user_dn(slapd, address), "-w", old,
                           "-s", new], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def stored_password(slapd: SlapdInstance, address: str) -> list[str]:
    return [v for e in search(slapd, f"(uid={address})", "userPassword").values() for v in e.get("userpassword", [])]


def test_a_users_ldappasswd_is_neither_planned_nor_drift_and_survives_apply(
        live: Estate, dovecot: DovecotInstance) -> None:
    ldappasswd(live.slapd, "karl@example.net", INITIAL, USERS_OWN)
    changed = stored_password(live.slapd, "karl@example.net")
    data = live.plan()
    assert data["changes"] == [] and data["drift"] == []
    live.assert_converged()
    assert "No changes." in live.apply()
    assert stored_password(live.slapd, "karl@example.net") == changed
    assert imap_login(dovecot.imap_port, "karl@example.net", USERS_OWN)
    assert not imap_login(dovecot.imap_port, "karl@example.net", INITIAL)
    # Another change to the mailbox is planned without the password and is not drift.
    body = (live.dir / DOMAIN_FILE).read_text()
    (live.dir / DOMAIN_FILE).write_text(body.replace("  karl:\n", "  karl:\n    quota: 2 GiB\n"))
    (change,) = live.plan()["changes"]
    assert [a["name"] for a in change["attributes"]] == ["quota"] and change["drift"] is None
    live.apply()
    live.assert_converged()
    assert imap_login(dovecot.imap_port, "karl@example.net", USERS_OWN)


def test_ispctl_passwd_from_stdin_sets_it_and_records_it_without_the_value(
        live: Estate, dovecot: DovecotInstance) -> None:
    result = live.cli("passwd", "karl@example.net", input=OPERATORS + "\n")
    assert result.exit_code == 0, result.output
    (hashed,) = stored_password(live.slapd, "karl@example.net")
    assert hashed.startswith("{CRYPT}$6$")
    assert OPERATORS not in result.output and hashed not in result.output
    assert imap_login(dovecot.imap_port, "karl@example.net", OPERATORS)
    live.assert_converged()
    trail = live.audit.read_text()
    assert OPERATORS not in trail and hashed not in trail and hashed.split("$")[-1] not in trail
    (record,) = [json.loads(line) for line in trail.splitlines() if json.loads(line).get("operation") == "passwd"]
    assert record["changes"] == [{"address": "mailbox.karl@example.net", "action": "update", "status": "ok",
                                  "error": None, "attributes": ["password"]}]
    assert record["directory"]["entry"] == user_dn(live.slapd, "karl@example.net")
    history = live.cli("history")
    assert history.exit_code == 0 and "passwd by" in history.stdout, history.output


def test_a_mailbox_without_a_password_is_locked_until_ispctl_passwd(live: Estate, dovecot: DovecotInstance) -> None:
    assert stored_password(live.slapd, "fresh@example.net") == []
    assert not imap_login(dovecot.imap_port, "fresh@example.net", "")
    result = live.cli("passwd", "fresh@example.net", input=OPERATORS + "\n")
    assert result.exit_code == 0, result.output
    assert imap_login(dovecot.imap_port, "fresh@example.net", OPERATORS)
    live.assert_converged()


def test_a_git_managed_password_is_put_back_and_passwd_refuses_it(live: Estate, dovecot: DovecotInstance) -> None:
    ldappasswd(live.slapd, "robot@example.net", INITIAL, USERS_OWN)
    changes = live.plan()["changes"]
    assert [(c["address"], c["drift"], [(a["name"], a["after"]) for a in c["attributes"]]) for c in changes] == [
        ("mailbox.robot@example.net", "changed outside ispctl", [("password", "(sensitive value)")])]
    assert "Apply complete!" in live.apply()
    live.assert_converged()
    assert imap_login(dovecot.imap_port, "robot@example.net", INITIAL)
    refused = live.cli("passwd", "robot@example.net", input=OPERATORS + "\n")
    assert refused.exit_code == 1 and "kept in git (credentials: git)" in refused.output
    assert imap_login(dovecot.imap_port, "robot@example.net", INITIAL)


def test_passwd_refuses_a_mailbox_ispctl_does_not_manage(live: Estate) -> None:
    before = live.audit.read_text()
    result = live.cli("passwd", "stranger@example.net", input=OPERATORS + "\n")
    assert result.exit_code == 1 and "does not manage a mailbox stranger@example.net" in result.output
    assert live.audit.read_text() == before


def test_a_fingerprint_written_before_passwords_were_their_users_is_migrated(
        live: Estate, dovecot: DovecotInstance) -> None:
    # An entry as an older ispctl left it: its fingerprint covers the password.
    provider = LdapProvider(LdapSettings.from_env(live.slapd.env()), BASE)
    try:
        karl = provider.read({MAILBOX})[(MAILBOX, "karl@example.net")]
    finally:
        provider.close()
    legacy = fingerprint(karl.attrs, karl.parent)
    dn = user_dn(live.slapd, "karl@example.net")
    ldap_ok(live.slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: ispctlFingerprint\n"
                                  f"ispctlFingerprint: {legacy}\n"))
    live.assert_converged()  # still matches: the password is the one ispctl wrote
    result = live.cli("passwd", "karl@example.net", input=OPERATORS + "\n")
    assert result.exit_code == 0, result.output
    (stored,) = find_one(live.slapd, "(uid=karl@example.net)", "ispctlFingerprint")[1]["ispctlfingerprint"]
    assert stored.endswith(";without=password") and stored != legacy
    live.assert_converged()
    assert imap_login(dovecot.imap_port, "karl@example.net", OPERATORS)


def test_passwd_with_an_empty_line_or_no_stdin_changes_nothing(live: Estate) -> None:
    before = stored_password(live.slapd, "karl@example.net")
    empty = live.cli("passwd", "karl@example.net", input="\n")
    assert empty.exit_code == 1 and "the password is empty; nothing was changed" in empty.output
    closed = run_ispctl(live.slapd, "passwd", "karl@example.net", "-d", str(live.dir), input=None, **live.env)
    assert closed.returncode == 1 and "no password on standard input" in closed.stderr, closed.stderr
    assert "Traceback" not in closed.stderr
    assert stored_password(live.slapd, "karl@example.net") == before
    assert not live.audit.read_text().count('"passwd"')
