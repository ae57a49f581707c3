"""pure-ftpd's LDAP config from the site settings and its account (the sandbox's pure-ftpd runs
this very text, tests/test_ftp_sandbox_pureftpd.py)."""

from __future__ import annotations

import pytest

from ispctl.providers.ftp.render import FILTER, daemon_args, render
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.contract import ConfigError
from tests.wiring import site

SITE = site(directory={"base_dn": "ou=ispctl,dc=example,dc=net"}, ftp={"min_uid": 2000})
ACCOUNT = LdapSettings("ldap://ldap.example.net:3389", "cn=pureftpd,ou=services,dc=example,dc=net", "ftp-secret")


def settings_of(text: str) -> dict[str, str]:
    pairs = [line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_ldap_conf_binds_as_the_account_and_reads_only_ftp_logins() -> None:
    files = render(SITE, ACCOUNT)
    assert settings_of(files["db/ldap.conf"]) == {
        "LDAPScheme": "ldap", "LDAPServer": "ldap.example.net", "LDAPPort": "3389", "LDAPVersion": "3",
        "LDAPBaseDN": "ou=ispctl,dc=example,dc=net", "LDAPBindDN": "cn=pureftpd,ou=services,dc=example,dc=net",
        "LDAPBindPW": "ftp-secret", "LDAPAuthMethod": "BIND", "LDAPFilter": FILTER, "LDAPHomeDir": "ispctlFtpHome",
    }
    assert FILTER == r"(&(objectClass=PureFTPdUser)(objectClass=ispctlFtpUser)(uid=\L))"
    assert files["conf/MinUID"] == "2000\n" and files["conf/ChrootEveryone"] == "yes\n"
    assert files["conf/CreateHomeDir"] == "yes\n" and files["conf/LDAPConfigFile"] == "/etc/pure-ftpd/db/ldap.conf\n"
    assert daemon_args(SITE, "/x/ldap.conf") == ["-l", "ldap:/x/ldap.conf", "-A", "-j", "-E", "-u", "2000"]


def test_ldaps_and_starttls_are_kept_and_the_port_defaults() -> None:
    conf = settings_of(render(SITE, LdapSettings("ldaps://ldap.example.net", "cn=f,dc=x", "pw"))["db/ldap.conf"])
    assert (conf["LDAPScheme"], conf["LDAPPort"]) == ("ldaps", "636")
    conf = settings_of(render(SITE, LdapSettings("ldap://h", "cn=f,dc=x", "pw", starttls=True))["db/ldap.conf"])
    assert (conf["LDAPPort"], conf["LDAPUseTLS"]) == ("389", "True")


@pytest.mark.parametrize(("account", "message"), [
    (LdapSettings("ldapi://%2Frun%2Fslapd", "cn=f,dc=x", "pw"), "over ldap:// or ldaps://"),
    (LdapSettings("ldap://h", "cn=f,dc=x", "pw\nLDAPBindDN cn=admin"), "the bind password: pure-ftpd reads"),
    (LdapSettings("ldap://h", "cn=f,dc=x ", "pw"), "the bind DN"),
])
def test_what_pure_ftpd_cannot_read_is_refused_without_echoing_it(account: LdapSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        render(SITE, account)
    assert "LDAPBindDN cn=admin" not in str(caught.value)
