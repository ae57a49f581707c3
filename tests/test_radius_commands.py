"""``ispctl render freeradius``: FreeRADIUS's read-only account only, never ispctl's own."""

from __future__ import annotations

import stat
from pathlib import Path

from ispctl.providers.radius.directory import SCHEMAS
from ispctl.providers.radius.render import MODULE_FILE, SITE_FILE
from tests.ldap_helpers import EXAMPLE, run_cli

CONNECTION = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:3890", "ISPCTL_LDAP_BIND_DN": "cn=admin,dc=example,dc=net",
              "ISPCTL_LDAP_PASSWORD": "admin-secret"}
ACCOUNT = {"ISPCTL_FREERADIUS_LDAP_BIND_DN": "cn=freeradius,ou=services,dc=example,dc=net",
           "ISPCTL_FREERADIUS_LDAP_PASSWORD": "radius-secret"}


def test_renders_both_files_for_freeradius_account_and_says_how_to_install(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "freeradius", "--out", str(out), "-d", str(EXAMPLE), "--listen", "192.0.2.1",
                     "--auth-port", "11812", **CONNECTION, **ACCOUNT)
    assert result.exit_code == 0, result.output
    module = (out / MODULE_FILE).read_text(encoding="utf-8")
    assert "identity = 'cn=freeradius,ou=services,dc=example,dc=net'" in module
    assert "password = 'radius-secret'" in module and "admin-secret" not in module
    assert "base_dn = 'ou=ispctl,dc=example,dc=net'" in module  # from desired-state/ispctl.yaml
    assert "ipaddr = 192.0.2.1\n\t\tport = 11812" in (out / SITE_FILE).read_text(encoding="utf-8")
    assert stat.S_IMODE((out / MODULE_FILE).stat().st_mode) == 0o640
    assert "rm /etc/freeradius/3.0/sites-enabled/default" in result.stdout
    for schema in SCHEMAS:
        assert str(schema) in result.stdout
    assert "radius-secret" not in result.output


def test_refuses_ispctls_own_account_under_any_spelling(tmp_path: Path) -> None:
    result = run_cli(None, "render", "freeradius", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE), **CONNECTION)
    assert result.exit_code == 1 and "ISPCTL_FREERADIUS_LDAP_BIND_DN" in result.stderr
    assert "admin-secret" not in result.output and not (tmp_path / "out").exists()
    secret = tmp_path / "pw"
    secret.write_text("admin-secret\n", encoding="utf-8")
    result = run_cli(None, "render", "freeradius", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE),
                     "--bind-dn", "CN=Admin, dc=example,dc=net", "--password-file", str(secret), **CONNECTION)
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output
    result = run_cli(None, "render", "freeradius", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE), **CONNECTION,
                     ISPCTL_FREERADIUS_LDAP_BIND_DN="cn=admin,dc=example,dc=net",
                     ISPCTL_FREERADIUS_LDAP_PASSWORD="x")
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output
    assert not (tmp_path / "out").exists()


def test_a_password_freeradius_cannot_read_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = run_cli(None, "render", "freeradius", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE), **CONNECTION,
                     ISPCTL_FREERADIUS_LDAP_BIND_DN="cn=freeradius,dc=example,dc=net",
                     ISPCTL_FREERADIUS_LDAP_PASSWORD="ends-in\\")
    assert result.exit_code == 1 and "backslash" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
