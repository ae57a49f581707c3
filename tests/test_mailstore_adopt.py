"""Adopting mail that exists before ispctl: in place, moved by one rename, or nothing there.

The last test is the proof end to end: a maildir tree of real messages (an iRedMail-style home
elsewhere, and one already at the estate's path) is adopted by an apply against a real slapd,
the next plan is empty, and a real Dovecot serves every message over IMAP byte for byte.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.mailstore import adopt, store
from ispctl.providers.mailstore.store import StoreError
from tests.ldap_helpers import BASE, run_cli

ADDRESS = "anna@shop.example"
OWNER = (5000, 5000)
PASSWORD = "adopt-Test-pa55"


def _message(n: int, body: bytes) -> bytes:
    head = (f"From: Sender {n} <sender{n}@elsewhere.example>\r\nTo: {ADDRESS}\r\n"
            f"Subject: message {n}\r\nMessage-ID: <{n}.adopt@elsewhere.example>\r\n"
            "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode() + body


MESSAGES = {
    "cur": [_message(1, b"Plain ASCII body.\r\n"), _message(2, "Grüße aus Köln – 8bit UTF-8.\r\n".encode()),
            _message(3, b"x" * 70 + b"\r\n" + b"long body line\r\n" * 200)],
    "new": [_message(4, b"Not yet seen.\r\n")],
    ".Archive/cur": [_message(5, b"Filed away.\r\n")],
}


def make_home(home: Path, owner: tuple[int, int] = (1234, 1234)) -> dict[str, str]:
    """A Dovecot-style home with the messages above; returns {relative path: sha256}."""
    hashes = {}
    for folder in ("", ".Archive"):
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / folder / sub).mkdir(parents=True, exist_ok=True)
    for where, messages in MESSAGES.items():
        for i, data in enumerate(messages):
            flags = ":2,S" if where.endswith("cur") else ""
            name = f"170000000{i}.M{i}P1.oldhost,S={len(data)}{flags}"
            path = home / "Maildir" / where / name
            path.write_bytes(data)
            hashes[str(path.relative_to(home))] = hashlib.sha256(data).hexdigest()
    (home / "sieve").mkdir()
    (home / "sieve" / "roundcube.sieve").write_text("keep;\n")
    for current, dirs, files in os.walk(home):
        for name in [*dirs, *files, "."]:
            os.chown(os.path.join(current, name), *owner)
    return hashes


def tree(home: Path) -> dict[str, tuple[str, int]]:
    """Every message file: relative path -> (sha256, inode); a rename keeps both."""
    found = {}
    for path in sorted((home / "Maildir").rglob("*")):
        if path.is_file() and ("/cur/" in str(path) or "/new/" in str(path)):
            found[str(path.relative_to(home))] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_ino)
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "vmail"


def test_in_place_adoption_writes_the_marker_and_touches_no_message(root: Path) -> None:
    home = root / "shop.example" / "anna"
    make_home(home)
    before = tree(home)
    target = str(home)
    assert adopt.inspect(target, target, ADDRESS) == adopt.Found("in place", 5, (1234, 1234))
    assert adopt.describe(target, target, ADDRESS, OWNER) == (
        f"adopts the existing mail at {target} in place (5 messages): marker written, nothing moved or rewritten; "
        "every file changes owner from 1234:1234 to 5000:5000")
    adopt.adopt_home(str(root), ADDRESS, target, target, OWNER, "sha256:x")
    assert tree(home) == before
    assert store.read_marker(target) == {"format": store.FORMAT, "address": ADDRESS, "fingerprint": "sha256:x"}
    assert {(p.stat().st_uid, p.stat().st_gid) for p in home.rglob("*") if p.name != store.MARKER} == {OWNER}
    assert [h.address for h in store.scan(str(root))] == [ADDRESS]


def test_a_home_elsewhere_is_moved_by_one_rename(tmp_path: Path, root: Path) -> None:
    old = tmp_path / "old" / "vmail1" / "shop.example" / "a" / "n" / "n" / "anna-2019.01.01.00.00.00"
    make_home(old, OWNER)
    before = tree(old)
    target = str(root / "shop.example" / "anna")
    assert adopt.describe(str(old), target, ADDRESS, OWNER) == (
        f"moves the existing mail {old} -> {target} (5 messages, one rename)")
    adopt.adopt_home(str(root), ADDRESS, str(old), target, OWNER, "sha256:y")
    assert not old.exists()
    # Same content under the same inodes: renamed, never copied.
    assert tree(Path(target)) == before
    assert (Path(target) / "sieve" / "roundcube.sieve").read_text() == "keep;\n"
    assert store.read_marker(target) == {"format": store.FORMAT, "address": ADDRESS, "fingerprint": "sha256:y"}


def test_a_move_killed_after_its_intent_is_finished_by_the_next_apply(tmp_path: Path, root: Path) -> None:
    old = tmp_path / "old" / "anna"
    make_home(old, OWNER)
    target = str(root / "shop.example" / "anna")
    # What the first apply left when it stopped just before the rename: its marker in the old home.
    store.write_marker(str(old), ADDRESS, "sha256:z")
    assert adopt.inspect(str(old), target, ADDRESS).kind == "move"
    adopt.adopt_home(str(root), ADDRESS, str(old), target, OWNER, "sha256:z")
    assert store.read_marker(target) == {"format": store.FORMAT, "address": ADDRESS, "fingerprint": "sha256:z"}


def test_nothing_to_adopt_makes_a_new_empty_home(tmp_path: Path, root: Path) -> None:
    target = str(root / "shop.example" / "anna")
    gone = str(tmp_path / "never-received-mail")
    assert adopt.describe(gone, target, ADDRESS, OWNER) == (
        f"nothing at {gone} to adopt (no mail yet): a new empty home {target}")
    adopt.adopt_home(str(root), ADDRESS, gone, target, OWNER, None)
    assert sorted(p.name for p in (Path(target) / "Maildir").iterdir()) == ["cur", "new", "tmp"]


def test_refusals_leave_everything_where_it_was(tmp_path: Path, root: Path) -> None:
    target = root / "shop.example" / "anna"
    no_maildir = tmp_path / "flat"
    (no_maildir / "cur").mkdir(parents=True)
    with pytest.raises(StoreError, match="it has no Maildir/ folder"):
        adopt.adopt_home(str(root), ADDRESS, str(no_maildir), str(target), OWNER, None)
    other = tmp_path / "other"
    make_home(other, OWNER)
    store.write_marker(str(other), "bob@shop.example", None)
    with pytest.raises(StoreError, match="it holds the mail of bob@shop.example"):
        adopt.adopt_home(str(root), ADDRESS, str(other), str(target), OWNER, None)
    old = tmp_path / "old"
    make_home(old, OWNER)
    (target / "Maildir" / "cur").mkdir(parents=True)
    (target / "Maildir" / "cur" / "someone-elses-mail").write_bytes(b"x")
    refused = adopt.describe(str(old), str(target), ADDRESS, OWNER)
    assert refused.startswith(f"cannot adopt the existing mail: cannot move {old} to {target}: the target exists")
    with pytest.raises(StoreError, match="never merges or overwrites mail"):
        adopt.adopt_home(str(root), ADDRESS, str(old), str(target), OWNER, None)
    assert len(tree(old)) == 5 and store.read_marker(str(old)) is None
    link = tmp_path / "link"
    link.symlink_to(old)
    with pytest.raises(StoreError, match="not a directory"):
        adopt.inspect(str(link), str(target), ADDRESS)


def test_a_move_across_filesystems_is_refused_not_copied(root: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(root.parent).st_dev:
        pytest.skip("no second filesystem (/dev/shm) on this machine")
    old = Path(tempfile.mkdtemp(dir=shm)) / "anna"
    try:
        make_home(old, OWNER)
        with pytest.raises(StoreError, match="another filesystem"):
            adopt.adopt_home(str(root), ADDRESS, str(old), str(root / "shop.example" / "anna"), OWNER, None)
        assert len(tree(old)) == 5
    finally:
        shutil.rmtree(old.parent)


# -- end to end: estate, real slapd, apply, plan, real Dovecot ------------------------------------

@pytest.fixture
def estate_with_mail(tmp_path: Path, slapd: SlapdInstance) -> Iterator[tuple[Path, Path, Path, dict[str, str]]]:
    # The mail owner (Dovecot's user when run as root) must reach the homes: not below pytest's 0700 base.
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-adopt-"))
    top.chmod(0o755)
    try:
        mail_root, old_base = top / "vmail", top / "old"
        owner = default_mail_owner()
        in_place = mail_root / "shop.example" / "anna"
        moved_from = old_base / "vmail1" / "shop.example" / "b" / "o" / "b" / "bob-2019.06.01.08.00.00"
        hashes = {"anna": make_home(in_place), "bob": make_home(moved_from)}
        for path in (mail_root, mail_root / "shop.example"):
            path.chmod(0o751)
        hashed = run_cli(None, "hash-password", input=PASSWORD + "\n").stdout.strip()
        estate = tmp_path / "estate"
        (estate / "tenants" / "shop").mkdir(parents=True)
        (estate / "ispctl.yaml").write_text(
            f"directory:\n  base_dn: {BASE}\nmail:\n  root: {mail_root}\n  uid: {owner[0]}\n  gid: {owner[1]}\n"
            f"  adopt_from: [{old_base}]\n")
        (estate / "tenants" / "shop" / "tenant.yaml").write_text("name: Shop\n")
        (estate / "tenants" / "shop" / "shop.example.yaml").write_text(
            f"domain: shop.example\nservices: [mail]\nmailboxes:\n"
            f"  anna:\n    password: \"{hashed}\"\n    maildir: {{adopt: {in_place}}}\n"
            f"  bob:\n    password: \"{hashed}\"\n    maildir: {{adopt: {moved_from}}}\n")
        yield estate, mail_root, moved_from, hashes
    finally:
        shutil.rmtree(top)


def _imap_messages(dovecot: DovecotInstance, user: str) -> list[bytes]:
    conn = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
    try:
        conn.login(user, PASSWORD)
        found = []
        for folder in ("INBOX", "Archive"):
            status, _ = conn.select(folder, readonly=True)
            assert status == "OK", folder
            status, data = conn.fetch("1:*", "(BODY.PEEK[])")
            assert status == "OK"
            found += [item[1] for item in data if isinstance(item, tuple)]
        return found
    finally:
        conn.logout()


def test_adopted_and_moved_mail_is_served_over_imap_byte_for_byte(
        tmp_path: Path, slapd: SlapdInstance, estate_with_mail: tuple[Path, Path, Path, dict[str, str]]) -> None:
    estate, mail_root, moved_from, hashes = estate_with_mail
    owner = default_mail_owner()
    dovecot = DovecotInstance(tmp_path / "dc", slapd.env(), mail_root=mail_root, mail_uid=owner[0], mail_gid=owner[1])
    env = {k: v for k, v in dovecot.env().items() if k.startswith("ISPCTL_MAIL_")}
    env["ISPCTL_PROVIDERS"] = "ldap,mailstore"
    changes = {c["address"]: c for c in plan_data_env(slapd, estate, env)["changes"]}
    anna, bob = changes[f"maildir.{ADDRESS}"], changes["maildir.bob@shop.example"]
    assert anna["action"] == bob["action"] == "create"
    assert anna["detail"] == [f"adopts the existing mail at {mail_root}/shop.example/anna in place (5 messages): "
                              "marker written, nothing moved or rewritten" + _chown(owner)]
    assert bob["detail"] == [f"moves the existing mail {moved_from} -> {mail_root}/shop.example/bob (5 messages, one "
                             "rename)" + _chown(owner)]
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env)
    assert result.exit_code == 0, result.output
    assert not moved_from.exists()
    assert_converged_env(slapd, estate, env)
    for user in ("anna", "bob"):
        home = mail_root / "shop.example" / user
        assert {rel: digest for rel, (digest, _ino) in tree(home).items()} == hashes[user]
    dovecot.start()
    try:
        for user in ("anna", "bob"):
            served = _imap_messages(dovecot, f"{user}@shop.example")
            expected = [m for messages in MESSAGES.values() for m in messages]
            assert sorted(served) == sorted(expected)
    finally:
        dovecot.stop()


def _chown(owner: tuple[int, int]) -> str:
    return "" if owner == (1234, 1234) else f"; every file changes owner from 1234:1234 to {owner[0]}:{owner[1]}"


def plan_data_env(slapd: SlapdInstance, estate: Path, env: dict[str, str]) -> dict[str, object]:
    result = run_cli(slapd, "plan", "--json", "-d", str(estate), **env)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def assert_converged_env(slapd: SlapdInstance, estate: Path, env: dict[str, str]) -> None:
    result = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout



def test_mail_is_adopted_only_from_where_the_site_allows(tmp_path: Path) -> None:
    from tests.wiring import problems_of
    estate = tmp_path / "estate"
    (estate / "tenants" / "shop").mkdir(parents=True)
    (estate / "ispctl.yaml").write_text(f"directory:\n  base_dn: {BASE}\nmail:\n  root: /var/vmail\n"
                                        "  adopt_from: [/srv/old-mail]\n")
    (estate / "tenants" / "shop" / "tenant.yaml").write_text("name: Shop\n")
    (estate / "tenants" / "shop" / "shop.example.yaml").write_text(
        "domain: shop.example\nservices: [mail]\nmailboxes:\n"
        "  anna:\n    maildir: {adopt: /etc}\n"
        "  bob:\n    maildir: {adopt: /var/vmail/.ispctl-archive/x}\n"
        "  carl:\n    maildir: {adopt: /srv/old-mail/carl}\n"
        "  dora:\n    maildir: {adopt: relative/path}\n")
    found = [(p.location.line, p.message) for p in problems_of(estate)]
    assert found == [
        (5, "/etc is not below the mail root /var/vmail or a folder of mail.adopt_from in ispctl.yaml; mail is adopted "
            "only from where the site's settings allow"),
        (7, "/var/vmail/.ispctl-archive/x is the mail archive or holds the mail root: it cannot be one mailbox's mail"),
        (11, "must be an absolute path without '..'"),
    ], found
