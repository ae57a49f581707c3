"""``ispctl.providers.radius.render``: FreeRADIUS's ldap module and virtual server, as text.

That FreeRADIUS really reads them this way is proven in tests/test_radius_radiusd.py against a
real freeradius and slapd (the sandbox installs exactly these files into a stock raddb); here
content, quoting, listeners and file modes are pinned.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.radius.render import (
    ATTRIBUTE_MAP,
    MODULE_FILE,
    PROFILE_FILTER,
    SITE_FILE,
    USER_FILTER,
    render,
    render_module,
    render_site,
    write_files,
)
from ispctl.reconciler.contract import ConfigError

LDAP = LdapSettings("ldap://ldap.example.net:389", "cn=freeradius,ou=services,dc=example,dc=net", "s3cret")
BASE = "ou=ispctl,dc=example,dc=net"


def test_the_module_binds_as_the_given_account_and_reads_accounts_and_profiles() -> None:
    text = render_module(LDAP, BASE)
    assert "\tserver = 'ldap://ldap.example.net:389'\n" in text
    assert "\tidentity = 'cn=freeradius,ou=services,dc=example,dc=net'\n" in text
    assert "\tpassword = 's3cret'\n" in text and f"\tbase_dn = '{BASE}'\n" in text
    assert f'filter = "{USER_FILTER}"' in text and f'filter = "{PROFILE_FILTER}"' in text
    assert "access_attribute = 'dialupAccess'" in text and "access_positive = yes" in text
    assert "attribute = 'radiusProfileDN'" in text
    for target, op, source in ATTRIBUTE_MAP:
        assert f"{target:<32} {op} '{source}'" in text
    # Nothing that writes to the directory or searches beyond accounts and profiles.
    for section in ("accounting {", "post-auth {", "group {", "client {"):
        assert section not in text
    assert "tls {\n\t}" in text  # plain ldap://: no TLS settings


def test_tls_is_verified_when_used() -> None:
    text = render_module(LdapSettings("ldap://ldap.example.net", "cn=r,dc=x", "p", starttls=True,
                                      ca_file="/etc/ssl/ca.pem"), BASE)
    assert "start_tls = yes" in text and "require_cert = 'demand'" in text and "ca_file = '/etc/ssl/ca.pem'" in text
    assert "require_cert = 'demand'" in render_module(LdapSettings("ldaps://ldap.example.net", "cn=r,dc=x", "p"), BASE)


def test_quotes_are_escaped_backslashes_kept_and_what_cannot_be_written_refused() -> None:
    text = render_module(LdapSettings("ldap://l", "cn=r,dc=x", "it's a \\ ${x} %{y}"), BASE)
    assert "\tpassword = 'it\\'s a \\ ${x} %{y}'\n" in text
    for bad, why in (("a\nb", "line break"), ("a\\'b", "backslash before a quote"), ("end\\", "at the end")):
        with pytest.raises(ConfigError, match=why):
            render_module(LdapSettings("ldap://l", "cn=r,dc=x", bad), BASE)


def test_the_site_listens_where_told_and_authenticates_pap_chap_mschap() -> None:
    text = render_site("127.0.0.1", 18120, 18130)
    assert "\t\ttype = auth\n\t\tipaddr = 127.0.0.1\n\t\tport = 18120\n" in text
    assert "\t\ttype = acct\n\t\tipaddr = 127.0.0.1\n\t\tport = 18130\n" in text
    authorize = text[text.index("authorize {"):text.index("authenticate {")]
    assert authorize.index("\t\tldap\n") < authorize.index("if (notfound || userlock)") < authorize.index("\t\tpap\n")
    for attr, method in (("User-Password", "pap"), ("CHAP-Password", "chap"), ("MS-CHAP-Challenge", "mschap")):
        check = f"if (&request:{attr} && !(&control:Tmp-String-9[*] == '{method}')) {{\n\t\t\treject\n"
        assert authorize.index("if (notfound || userlock)") < authorize.index(check) < authorize.index("\t\tpap\n")
    assert "\taccounting {\n\t\tradutmp\n\t}\n" in text and "\tsession {\n\t\tradutmp\n\t}\n" in text
    authenticate = text[text.index("authenticate {"):text.index("preacct {")]
    assert "Auth-Type PAP" in authenticate and "\t\tchap\n" in authenticate and "\t\tmschap\n" in authenticate
    assert "ipv6addr = ::1" in render_site("::1") and "port = 0" in render_site()
    with pytest.raises(ConfigError, match="IP address"):
        render_site("localhost")
    with pytest.raises(ConfigError, match="65535"):
        render_site("*", 70000)


def test_files_are_written_with_their_modes(tmp_path: Path) -> None:
    written = write_files(render(LDAP, BASE), tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted([MODULE_FILE, SITE_FILE])
    assert stat.S_IMODE((tmp_path / MODULE_FILE).stat().st_mode) == 0o640  # it holds the password
    assert stat.S_IMODE((tmp_path / SITE_FILE).stat().st_mode) == 0o644
