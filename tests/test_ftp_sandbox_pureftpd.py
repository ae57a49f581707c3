"""FTP logins against a real pure-ftpd-ldap reading a real slapd that ispctl applied the estate to.

pure-ftpd binds as its own read-only account and checks passwords by binding as the login's
entry; everything is seen through ftplib, as a customer's client would.
"""

from __future__ import annotations

import ftplib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance, free_range
from ispctl.reconciler.harness.daemons import pids_matching
from tests.ftp_helpers import (
    ANN,
    BOB,
    FROZEN_SITE,
    JOE,
    PASSWORD,
    SITE,
    ZED,
    FtpEstate,
    connect,
    ftp_estate,
    login_replies,
    login_reply,
    pure_ftpd,
    upload_refused,
)
from tests.ldap_helpers import ldap_ok
from tests.wiring import load_desired

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pure-ftpd chroots and changes uid: root only")


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEstate]:
    base = tmp_path_factory.mktemp("ftp")
    base.chmod(0o755)
    with ftp_estate(base) as applied:
        yield applied


@pytest.fixture(scope="module")
def server(estate: FtpEstate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PureFtpdInstance]:
    with pure_ftpd(estate, tmp_path_factory.mktemp("pure-ftpd")) as instance:
        yield instance


def test_a_mailbox_logs_in_chrooted_to_a_home_pure_ftpd_made_with_its_owner(
        estate: FtpEstate, server: PureFtpdInstance) -> None:
    home = estate.ftp_root / "acme.example" / "joe"
    assert not home.exists()  # made on the first login (-j), not by ispctl
    session = connect(server)
    try:
        assert session.login(JOE, PASSWORD).startswith("230")
        assert session.pwd() == "/"
        session.storbinary("STOR hello.txt", io.BytesIO(b"hello over ftp\n"))
        got = io.BytesIO()
        session.retrbinary("RETR hello.txt", got.write)
        assert got.getvalue() == b"hello over ftp\n"
        # The chroot holds: above the home is the home.
        session.cwd("..")
        session.cwd("/../..")
        assert session.pwd() == "/" and "hello.txt" in session.nlst()
        with pytest.raises(ftplib.error_perm, match="^550"):
            session.cwd("/etc")
    finally:
        session.close()
    stat = home.stat()
    assert (stat.st_uid, stat.st_gid) == (5000, 5000)  # the mailbox's uidNumber/gidNumber (mail.uid/gid)
    assert (home / "hello.txt").read_bytes() == b"hello over ftp\n"
    assert (home / "hello.txt").stat().st_uid == 5000


def test_the_quota_refuses_an_upload_past_it(server: PureFtpdInstance) -> None:
    session = connect(server)
    try:
        session.login(JOE, PASSWORD)
        refused = upload_refused(session, "big.bin", b"x" * (2 * 1024 * 1024))  # quota: 1 MiB
        assert refused.startswith("552") and "Quota exceeded" in refused
        assert "big.bin" not in session.nlst()
        assert upload_refused(session, "small.bin", b"y" * 1000) == ""  # below it, still fine
    finally:
        session.close()


REFUSED = [
    (JOE, "wrong-password"),  # a wrong password
    (ANN, PASSWORD),          # a suspended mailbox: FTPStatus disabled
    (ZED, PASSWORD),          # a mailbox of a suspended domain
    (BOB, PASSWORD),          # a mailbox without the ftp service: not an FTP login at all
    ("nobody@acme.example", PASSWORD),
]


def test_refused_logins_get_530(server: PureFtpdInstance) -> None:
    replies = login_replies([(server, user, password) for user, password in REFUSED])
    assert dict(zip(REFUSED, replies, strict=True)) == dict.fromkeys(REFUSED, "530")


def test_ispmans_active_status_is_a_refusal_and_ispctl_writes_enabled_back(
        estate: FtpEstate, server: PureFtpdInstance) -> None:
    dn = f"uid={JOE},associatedDomain=acme.example,o=acme,{estate.slapd.managed_base}"
    ldap_ok(estate.slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: FTPStatus\nFTPStatus: active\n"))
    assert login_reply(server, JOE, PASSWORD).startswith("530")
    ldap_ok(estate.slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: FTPStatus\nFTPStatus: enabled\n"))
    assert login_reply(server, JOE, PASSWORD).startswith("230")


def test_the_passive_range_is_free_and_the_daemon_goes_by_pid(estate: FtpEstate, tmp_path: Path) -> None:
    low, high = free_range(5)
    assert high - low == 4
    with pure_ftpd(estate, tmp_path / "second") as second:
        assert second.running() and pids_matching(second.marker) == [second.pid]
        assert second.passive[0] >= 30000
    assert not second.running() and pids_matching(second.marker) == []


def test_a_sites_owner_login_is_chrooted_to_its_document_root_as_the_sites_uid(
        estate: FtpEstate, server: PureFtpdInstance) -> None:
    _catalog, resources = load_desired(estate.root, env=estate.env)
    site = resources[("site", SITE)].attrs
    docroot = Path(str(site["docroot"]))
    assert docroot.is_relative_to(estate.web_root) and not docroot.exists()  # pure-ftpd makes it (-j)
    session = connect(server)
    try:
        assert session.login(SITE, PASSWORD).startswith("230")
        assert session.pwd() == "/"
        session.storbinary("STOR index.html", io.BytesIO(b"<h1>acme</h1>\n"))
        session.cwd("/..")
        assert "index.html" in session.nlst()
        assert upload_refused(session, "a", b"1") == "" and upload_refused(session, "b", b"2") == ""
        assert upload_refused(session, "c", b"3").startswith("552")  # quota_files: 3
    finally:
        session.close()
    assert (docroot / "index.html").read_bytes() == b"<h1>acme</h1>\n"
    stat = (docroot / "index.html").stat()
    assert (stat.st_uid, stat.st_gid) == (site["uid"], site["gid"])
    assert login_reply(server, FROZEN_SITE, PASSWORD).startswith("530")  # the site of a suspended domain
