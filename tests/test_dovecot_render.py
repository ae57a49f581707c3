"""``ispctl.providers.dovecot.render``: the shipped Dovecot files, as text (no daemon needed).

That Dovecot really reads them the way these tests expect is proven in tests/test_dovecot.py
against a real Dovecot and slapd; here the exact content, quoting and file modes are pinned.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ispctl.providers.dovecot.render import (
    ITERATE_FILTER,
    LDAP_CONF_FILE,
    PASS_FILTER,
    SETTINGS_FILE,
    USER_FILTER,
    USERNAME_CHARS,
    render,
    write_files,
)
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DirectorySettings
from ispctl.providers.mailstore.settings import MailSettings
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.estate.model import SiteFile
from tests.ldap_helpers import EXAMPLE, run_cli, write_estate
from tests.wiring import FILES, with_overrides

LDAP = LdapSettings("ldap://ldap.example.net:389", "cn=dovecot,ou=services,dc=example,dc=net", "s3cret")
CONF_PATH = "/etc/dovecot/dovecot-ldap.conf.ext"


def site(base_dn: str = "ou=ispctl,dc=example,dc=net", uid: int = 5000, gid: int = 5000) -> SiteFile:
    return FILES.site(directory=DirectorySettings(base_dn=base_dn),
                    mail=MailSettings(root="/var/vmail", uid=uid, gid=gid))


def settings_of(text: str) -> dict[str, str]:
    """``key = value`` lines of a rendered file (comments and blocks skipped)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not line.startswith(("#", " ")):
            assert key not in found, f"{key} set twice"
            found[key] = value
    return found


def test_ldap_file_reads_the_dit_as_designed() -> None:
    files = render(site(), LDAP, CONF_PATH)
    assert set(files) == {LDAP_CONF_FILE, SETTINGS_FILE, "ispctl-quota-warning.sh"}  # mail.quota_warnings
    assert settings_of(files[LDAP_CONF_FILE]) == {
        "uris": '"ldap://ldap.example.net:389"',
        "dn": '"cn=dovecot,ou=services,dc=example,dc=net"',
        "dnpass": '"s3cret"',
        "ldap_version": "3",
        "base": '"ou=ispctl,dc=example,dc=net"',
        "scope": "subtree",
        "deref": "never",
        "auth_bind": "no",
        "default_pass_scheme": "CRYPT",
        "pass_filter": "(&(objectClass=ispctlMailUser)(objectClass=ispctlManaged)(uid=%u)"
                       "(ispctlAccountStatus=active)(ispctlEnabledService=%{if;%s;eq;sieve;imap;%s}))",
        "pass_attrs": "uid=user, userPassword=password",
        "user_filter": "(&(objectClass=ispctlMailUser)(objectClass=ispctlManaged)(uid=%u))",
        "user_attrs": "=home=%{ldap:homeDirectory}, =uid=%{ldap:uidNumber}, =gid=%{ldap:gidNumber}, "
                      "=quota_rule=*:bytes=%{ldap:ispctlMailQuota:0}",
        "iterate_filter": "(&(objectClass=ispctlMailUser)(objectClass=ispctlManaged))",
        "iterate_attrs": "uid=user",
    }


def test_filters_are_balanced_and_only_logins_look_at_status_and_flags() -> None:
    for text in (PASS_FILTER, USER_FILTER, ITERATE_FILTER):
        depth = 0
        for char in text:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, text
        assert depth == 0, text
    # Deliveries and doveadm must find suspended mailboxes: no status, no service flag there.
    for text in (USER_FILTER, ITERATE_FILTER):
        assert "ispctlAccountStatus" not in text and "ispctlEnabledService" not in text


def test_settings_file_wires_passdb_userdb_quota_and_uid_floor() -> None:
    text = render(site(uid=6001, gid=6002), LDAP, "/srv/dovecot/ldap.conf.ext")[SETTINGS_FILE]
    assert "passdb {\n  driver = ldap\n  args = /srv/dovecot/ldap.conf.ext\n}\n" in text
    assert "userdb {\n  driver = ldap\n  args = /srv/dovecot/ldap.conf.ext\n}\n" in text
    assert "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n" in text
    assert "plugin {\n  quota = maildir:User quota\n}\n" in text
    assert settings_of(text) == {
        "mail_location": "maildir:~/Maildir",
        "first_valid_uid": "6001",
        "mail_plugins": "$mail_plugins quota",
        "auth_username_chars": f'"{USERNAME_CHARS}"',
        "protocols": "$protocols lmtp",
        "lmtp_rcpt_check_quota": "yes",
    }
    # Postfix delivers through this socket (virtual_transport in `ispctl render postfix`).
    assert ("service lmtp {\n  unix_listener /var/spool/postfix/private/dovecot-lmtp {\n"
            "    mode = 0600\n    user = postfix\n    group = postfix\n  }\n}\n") in text
    # Test-only relaxations belong to the throwaway instance, never to the shipped file.
    assert "disable_plaintext_auth" not in text and "ssl" not in text


def test_environment_overrides_reach_the_uid_floor() -> None:
    effective = with_overrides(site(), {"ISPCTL_MAIL_UID": "7000", "ISPCTL_MAIL_GID": "7001"})
    text = render(effective, LDAP, CONF_PATH)[SETTINGS_FILE]
    assert settings_of(text)["first_valid_uid"] == "7000"


@pytest.mark.parametrize(("password", "written"), [
    ('a"b', r'"a\"b"'),
    ("back\\slash", r'"back\\slash"'),
    ("hash # inside", '"hash # inside"'),
    ("$ENV:HOME", '"$ENV:HOME"'),
    ("  spaced  ", '"  spaced  "'),
    ("100%x", '"100%x"'),
])
def test_password_is_quoted_so_dovecot_reads_it_verbatim(password: str, written: str) -> None:
    ldap = LdapSettings(LDAP.url, LDAP.bind_dn, password)
    assert settings_of(render(site(), ldap, CONF_PATH)[LDAP_CONF_FILE])["dnpass"] == written


@pytest.mark.parametrize("password", ["line\nbreak", "carriage\rreturn", "nul\x00byte"])
def test_unrepresentable_password_is_refused_without_echoing_it(password: str) -> None:
    ldap = LdapSettings(LDAP.url, LDAP.bind_dn, password)
    with pytest.raises(ConfigError, match="the LDAP password") as caught:
        render(site(), ldap, CONF_PATH)
    assert password not in str(caught.value)


def test_percent_in_base_dn_is_doubled_because_dovecot_expands_base() -> None:
    text = render(site(base_dn="ou=100%,dc=example,dc=net"), LDAP, CONF_PATH)[LDAP_CONF_FILE]
    assert settings_of(text)["base"] == '"ou=100%%,dc=example,dc=net"'


def test_tls_settings_follow_the_connection() -> None:
    plain = settings_of(render(site(), LDAP, CONF_PATH)[LDAP_CONF_FILE])
    assert not {"tls", "tls_require_cert", "tls_ca_cert_file"} & set(plain)
    starttls = LdapSettings(LDAP.url, LDAP.bind_dn, "x", starttls=True, ca_file="/etc/ssl/ca.pem")
    got = settings_of(render(site(), starttls, CONF_PATH)[LDAP_CONF_FILE])
    assert (got["tls"], got["tls_require_cert"], got["tls_ca_cert_file"]) == ("yes", "demand", '"/etc/ssl/ca.pem"')
    ldaps = LdapSettings("ldaps://ldap.example.net", LDAP.bind_dn, "x")
    got = settings_of(render(site(), ldaps, CONF_PATH)[LDAP_CONF_FILE])
    assert "tls" not in got and got["tls_require_cert"] == "demand"


@pytest.mark.parametrize("path", ["relative/ldap.conf", "/etc/dove cot/x.ext", "/etc/../x.ext", '/etc/"x',
                                  "/etc/x.ext\n", "/etc/x.ext\n}\npassdb {"])
def test_unsafe_ldap_file_path_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match="absolute path"):
        render(site(), LDAP, path)


def test_write_files_sets_modes_even_over_an_existing_readable_file(tmp_path: Path) -> None:
    (tmp_path / LDAP_CONF_FILE).write_text("old", encoding="utf-8")
    (tmp_path / LDAP_CONF_FILE).chmod(0o644)
    old_umask = os.umask(0)  # the most permissive umask must not widen the secret file
    try:
        written = write_files(render(site(), LDAP, CONF_PATH), tmp_path)
    finally:
        os.umask(old_umask)
    warning = tmp_path / "ispctl-quota-warning.sh"  # Dovecot runs it (mail.quota_warnings)
    assert written == [tmp_path / SETTINGS_FILE, tmp_path / LDAP_CONF_FILE, warning]
    assert stat.S_IMODE((tmp_path / LDAP_CONF_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / SETTINGS_FILE).stat().st_mode) == 0o644
    assert stat.S_IMODE(warning.stat().st_mode) == 0o755
    assert "dnpass" in (tmp_path / LDAP_CONF_FILE).read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["conf.d", "90-ispctl.conf", LDAP_CONF_FILE,
                                                                  warning.name])


# -- ispctl render dovecot ------------------------------------------------------------------

CONNECTION = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:3890", "ISPCTL_LDAP_BIND_DN": "cn=admin,dc=example,dc=net",
              "ISPCTL_LDAP_PASSWORD": "admin-secret"}
ACCOUNT = {"ISPCTL_DOVECOT_LDAP_BIND_DN": "cn=dovecot,ou=services,dc=example,dc=net",
           "ISPCTL_DOVECOT_LDAP_PASSWORD": "dovecot-secret"}


def test_cli_renders_from_site_settings_and_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "dovecot", "--out", str(out), "-d", str(EXAMPLE),
                     ISPCTL_MAIL_UID="5100", **CONNECTION, **ACCOUNT)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out / LDAP_CONF_FILE}" in result.stdout
    ldap = settings_of((out / LDAP_CONF_FILE).read_text(encoding="utf-8"))
    assert (ldap["uris"], ldap["dn"], ldap["dnpass"]) == (
        '"ldap://127.0.0.1:3890"', '"cn=dovecot,ou=services,dc=example,dc=net"', '"dovecot-secret"')
    assert ldap["base"] == '"ou=ispctl,dc=example,dc=net"'  # from desired-state/ispctl.yaml
    conf = (out / SETTINGS_FILE).read_text(encoding="utf-8")
    assert "args = /etc/dovecot/dovecot-ldap.conf.ext\n" in conf
    assert settings_of(conf)["first_valid_uid"] == "5100"
    assert stat.S_IMODE((out / LDAP_CONF_FILE).stat().st_mode) == 0o600


def test_cli_service_account_replaces_ispctls_credentials(tmp_path: Path) -> None:
    secret = tmp_path / "dovecot.pw"
    secret.write_text("read-only-pw\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(None, "render", "dovecot", "--out", str(out), "-d", str(EXAMPLE),
                     "--bind-dn", "cn=dovecot,dc=example,dc=net", "--password-file", str(secret),
                     "--ldap-conf-path", "/srv/dc/ldap.ext", **CONNECTION)
    assert result.exit_code == 0, result.output
    text = (out / LDAP_CONF_FILE).read_text(encoding="utf-8")
    assert (settings_of(text)["dn"], settings_of(text)["dnpass"]) == (
        '"cn=dovecot,dc=example,dc=net"', '"read-only-pw"'
    )
    assert "admin-secret" not in text
    assert "args = /srv/dc/ldap.ext\n" in (out / SETTINGS_FILE).read_text(encoding="utf-8")


def test_cli_refuses_a_bind_dn_without_its_password(tmp_path: Path) -> None:
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE),
                     "--bind-dn", "cn=dovecot,dc=example,dc=net", **CONNECTION)
    assert result.exit_code == 1
    assert "--bind-dn and --password-file go together" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_never_writes_ispctls_own_credentials(tmp_path: Path) -> None:
    # No Dovecot account given: a refusal naming what to set, not ispctl's (write) account.
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE), **CONNECTION)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ISPCTL_DOVECOT_LDAP_BIND_DN" in result.stderr and "ISPCTL_DOVECOT_LDAP_PASSWORD_FILE" in result.stderr
    assert "admin-secret" not in result.output and not (tmp_path / "out").exists()
    # Nor under another name: the same DN, spelled differently, with its password in a file.
    secret = tmp_path / "pw"
    secret.write_text("admin-secret\n", encoding="utf-8")
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE),
                     "--bind-dn", "CN=Admin, dc=example,dc=net", "--password-file", str(secret), **CONNECTION)
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output
    assert not (tmp_path / "out").exists()
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "out"), "-d", str(EXAMPLE), **CONNECTION,
                     ISPCTL_DOVECOT_LDAP_BIND_DN="cn=admin,dc=example,dc=net", ISPCTL_DOVECOT_LDAP_PASSWORD="x")
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output


def test_cli_reports_missing_connection_and_bad_site_settings(tmp_path: Path) -> None:
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "a"), "-d", str(EXAMPLE), **ACCOUNT)
    assert result.exit_code == 1 and "ISPCTL_LDAP_URL" in result.stderr
    estate = write_estate(tmp_path / "estate", {})
    (estate / "ispctl.yaml").write_text("directory:\n  base_dn: ou=x,dc=y\nmail:\n  uid: 0\n", encoding="utf-8")
    result = run_cli(None, "render", "dovecot", "--out", str(tmp_path / "b"), "-d", str(estate), **CONNECTION,
                     **ACCOUNT)
    assert result.exit_code == 1
    assert result.stderr.startswith("estate/ispctl.yaml:4:3: mail.uid: ")
    assert not (tmp_path / "b").exists()
