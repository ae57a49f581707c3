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
from ftp_helpers import login_reply
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
    assert login_reply(pure_ftpd, "ines@northwind.example", "ines-dialup").startswith("230")    # FTPStatus enabled
    assert login_reply(pure_ftpd, "shop.northwind.example", "shop-ftp").startswith("230")       # resumed vhost
    assert login_reply(pure_ftpd, "ines@northwind.example", "wrong").startswith("530")
    # FTPStatus active (ISPMan's default): refused by pure-ftpd then, not an FTP login now.
    assert login_reply(pure_ftpd, "karl@baeckerei.example", "anna1234").startswith("530")
    assert login_reply(pure_ftpd, "www.northwind.example", "domainpw").startswith("530")
