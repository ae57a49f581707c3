"""FTP after the ISPMan migration: a real pure-ftpd-ldap lets in exactly whom it let in before.

ISPMan wrote ``FTPStatus: active`` by default, which pure-ftpd refuses; ``enabled`` (ISPMan's
resume, its CLI) worked. The imported estate, applied to a fresh ispctl subtree with the old
hashes carried, is read by pure-ftpd with its own read-only account (``LDAPAuthMethod BIND``):
the mailbox and the vhost whose logins worked log in with their ISPMan passwords, the ones that
were refused still are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ftp_helpers import login_replies
from ispman_helpers import FIXTURE, TARGET_BASE, import_ldif
from ldap_helpers import run_cli

from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance


@pytest.fixture
def pure_ftpd(slapd: SlapdInstance, tmp_path: Path) -> Iterator[PureFtpdInstance]:
    estate = tmp_path / "estate"
    import_ldif(estate)
    env = {"ISPCTL_PROVIDERS": "ldap", "ISPCTL_FTP_ROOT": str(tmp_path / "ftp"),
           "ISPCTL_WEB_ROOT": str(tmp_path / "www")}
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    carried = run_cli(slapd, "import", "ispman-passwords", "--ldif", str(FIXTURE), "-d", str(estate), **env)
    assert carried.exit_code == 0, carried.output
    account = slapd.account_env("pureftpd")
    ldap_env = {"ISPCTL_LDAP_URL": slapd.url, "ISPCTL_LDAP_BIND_DN": account["ISPCTL_LDAP_BIND_DN"],
                "ISPCTL_LDAP_PASSWORD": account["ISPCTL_LDAP_PASSWORD"]}
    instance = PureFtpdInstance(tmp_path / "pure-ftpd", ldap_env, base_dn=TARGET_BASE, ftp_root=tmp_path / "ftp")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_the_ftp_logins_that_worked_still_do_and_the_refused_ones_still_are(pure_ftpd: PureFtpdInstance) -> None:
    expected = [
        ("ines@northwind.example", "ines-dialup", "230"),  # FTPStatus enabled
        ("shop.northwind.example", "shop-ftp", "230"),     # resumed vhost
        ("ines@northwind.example", "wrong", "530"),
        # FTPStatus active (ISPMan's default): refused by pure-ftpd then, not an FTP login now.
        ("karl@baeckerei.example", "anna1234", "530"),
        ("www.northwind.example", "domainpw", "530"),
    ]
    replies = login_replies([(pure_ftpd, user, password) for user, password, _ in expected])
    assert list(zip(expected, replies, strict=True)) == [(e, e[2]) for e in expected]
