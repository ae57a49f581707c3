"""Targeted applies against real daemons: a target brings everything that must move with it.

Real slapd, real mail store, real Dovecot: after ``apply --target`` on a renamed mailbox the
mailbox opens over IMAP under its new address (before, only the directory entry was renamed,
its home stayed behind, and Dovecot answered SERVERBUG), and an unscoped plan is empty.
"""

from __future__ import annotations

from pathlib import Path

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests import test_mailstore_safety as safety
from tests.ldap_helpers import run_cli, search, write_estate
from tests.test_mailstore_safety import MESSAGE, append, apply, converged, env, estate, imap, killed_at

# The safety suite's fixtures and its root-only mark, shared rather than written twice.
pytestmark = safety.pytestmark
dovecot, password_hash = safety.dovecot, safety.password_hash


def targeted(slapd: SlapdInstance, estate_dir: Path, root: Path, *scope: str) -> str:
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate_dir), *scope, **env(root))
    assert result.exit_code == 0 and "Apply complete!" in result.stdout, result.output
    return result.stdout


def test_a_targeted_rename_moves_the_home_and_the_mailbox_opens(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]", "new": ""}, password_hash)
    out = targeted(slapd, renamed, mail_root, "--target", "mailbox.k.mueller@example.net")
    assert "maildir.k.mueller@example.net: updated" in out and "new@example.net" not in out
    conn = imap(dovecot, "k.mueller@example.net")
    try:
        typ, data = conn.select("INBOX")
        assert typ == "OK" and data == [b"1"], data
    finally:
        conn.logout()
    assert not (mail_root / "example.net" / "karl").exists()
    # What the target did not cover is still planned; the rename is complete.
    plan = run_cli(slapd, "plan", "-d", str(renamed), **env(mail_root))
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in plan.stdout, plan.output
    apply(slapd, renamed, mail_root)
    converged(slapd, renamed, mail_root)


def test_excluding_the_home_of_a_renamed_mailbox_holds_the_rename_back(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    out = run_cli(slapd, "apply", "--auto-approve", "-d", str(renamed), "--exclude", "maildir.*", **env(mail_root))
    assert out.exit_code == 0 and "No changes." in out.stdout, out.output
    # Nothing moved: the old address still opens.
    conn = imap(dovecot, "karl@example.net")
    try:
        assert conn.select("INBOX") == ("OK", [b"1"])
    finally:
        conn.logout()


def test_a_domain_moved_to_another_tenant_by_target_converges(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path,
) -> None:
    first = estate(tmp_path / "v1", {"anna": ""}, password_hash)
    apply(slapd, first, mail_root)
    body = (first / "tenants/acme/example.net.yaml").read_text(encoding="utf-8")
    moved = write_estate(tmp_path / "v2", {"acme/tenant.yaml": "name: Acme\n", "beta/tenant.yaml": "name: Beta\n",
                                           "beta/example.net.yaml": body})
    targeted(slapd, moved, mail_root, "--target", "domain.example.net")
    converged(slapd, moved, mail_root)
    (dn,) = search(slapd, "(uid=anna@example.net)", "uid")
    assert "beta" in dn.lower()


def test_a_targeted_delete_archives_the_mail_before_the_entry_goes(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    smaller = estate(tmp_path / "v2", {"anna": "", "new": ""}, password_hash)
    out = targeted(slapd, smaller, mail_root, "--target", "mailbox.karl@example.net")
    assert out.index("maildir.karl@example.net: archived") < out.index("mailbox.karl@example.net: destroyed"), out
    assert "new@example.net" not in out
    (archived,) = (mail_root / ".ispctl-archive").iterdir()
    kept = [p for folder in ("new", "cur") for p in (archived / "Maildir" / folder).iterdir()]
    assert len(kept) == 1  # the message appended over IMAP


def test_a_targeted_rename_into_another_domain_opens_under_the_new_address(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    def box(local: str, extra: str = "") -> str:
        return f"  {local}:\n    password: \"{password_hash}\"\n{extra}"

    first = estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash)
    (first / "tenants/acme/example.org.yaml").write_text("domain: example.org\nmailboxes:\n" + box("eve"),
                                                         encoding="utf-8")
    apply(slapd, first, mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    moved = estate(tmp_path / "v2", {"anna": ""}, password_hash)
    (moved / "tenants/acme/example.org.yaml").write_text(
        "domain: example.org\nmailboxes:\n" + box("eve") + box("karl", "    previous: [karl@example.net]\n"),
        encoding="utf-8")
    targeted(slapd, moved, mail_root, "--target", "mailbox.karl@example.org")
    conn = imap(dovecot, "karl@example.org")
    try:
        assert conn.select("INBOX") == ("OK", [b"1"])
    finally:
        conn.logout()
    converged(slapd, moved, mail_root)


def test_the_same_target_after_a_stopped_apply_finishes_the_move(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,
) -> None:
    apply(slapd, estate(tmp_path / "v1", {"anna": "", "karl": ""}, password_hash), mail_root)
    append(dovecot, "karl@example.net", MESSAGE)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"}, password_hash)
    # Killed after the entry's rename: the entry has nothing left to do, its maildir has.
    killed_at(slapd, renamed, mail_root, "maildir.k.mueller@example.net")
    out = targeted(slapd, renamed, mail_root, "--target", "mailbox.k.mueller@example.net")
    assert "maildir.k.mueller@example.net: updated" in out
    conn = imap(dovecot, "k.mueller@example.net")
    try:
        assert conn.select("INBOX") == ("OK", [b"1"])
    finally:
        conn.logout()
    converged(slapd, renamed, mail_root)
