"""``ispctl render pureftpd`` through the real CLI: pure-ftpd's own account, never ispctl's."""

from __future__ import annotations

import stat
from pathlib import Path

from ispctl.providers.ftp.render import LDAP_CONF
from tests.ldap_helpers import EXAMPLE, run_cli

CONNECTION = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:3890", "ISPCTL_LDAP_BIND_DN": "cn=admin,dc=example,dc=net",
              "ISPCTL_LDAP_PASSWORD": "admin-secret"}
ACCOUNT = {"ISPCTL_PUREFTPD_LDAP_BIND_DN": "cn=pureftpd,ou=services,dc=example,dc=net",
           "ISPCTL_PUREFTPD_LDAP_PASSWORD": "ftp-secret"}


def test_render_writes_the_account_0600_and_names_the_schemas(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "pureftpd", "--out", str(out), "-d", str(EXAMPLE), **CONNECTION, **ACCOUNT)
    assert result.exit_code == 0, result.output
    text = (out / LDAP_CONF).read_text(encoding="utf-8")
    assert "LDAPBindDN cn=pureftpd,ou=services,dc=example,dc=net\n" in text and "LDAPBindPW ftp-secret\n" in text
    assert "admin-secret" not in text and "cn=admin" not in text
    assert stat.S_IMODE((out / LDAP_CONF).stat().st_mode) == 0o600
    assert (out / "conf" / "MinUID").read_text(encoding="utf-8") == "1000\n"
    assert "pureftpd.ldif" in result.stdout and "ispctl-ftp.ldif" in result.stdout


def test_render_refuses_ispctls_own_account(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "pureftpd", "--out", str(out), "-d", str(EXAMPLE), **CONNECTION)
    assert result.exit_code == 1 and "ISPCTL_PUREFTPD_LDAP_BIND_DN" in result.stderr, result.output
    assert "admin-secret" not in result.output and not out.exists()
    result = run_cli(None, "render", "pureftpd", "--out", str(out), "-d", str(EXAMPLE), **CONNECTION,
                     ISPCTL_PUREFTPD_LDAP_BIND_DN="CN=admin,dc=example,dc=net", ISPCTL_PUREFTPD_LDAP_PASSWORD="x")
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output
    assert not out.exists()
