"""Directory connection settings from the environment, and connecting to a real slapd."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.ldap.connection import LdapSettings, OnDemandConnection, connect, first_value, paged_entries
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import ConfigError, ProviderError
from ispctl.reconciler.harness.daemons import free_port

SECRET = "S3cr3t value, with spaces"
FULL = {
    "ISPCTL_LDAP_URL": "ldap://127.0.0.1:389",
    "ISPCTL_LDAP_BIND_DN": "cn=admin,dc=example,dc=net",
    "ISPCTL_LDAP_PASSWORD": SECRET,
}


def without(*names: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in FULL.items() if k not in names}
    env.update(extra)
    return env


def test_settings_come_from_the_given_environment() -> None:
    settings = LdapSettings.from_env(without(ISPCTL_LDAP_BIND_DN="  cn=ispctl,dc=example,dc=net  "))
    assert (settings.url, settings.bind_dn, settings.password) == (
        "ldap://127.0.0.1:389", "cn=ispctl,dc=example,dc=net", SECRET)
    assert settings.starttls is False and settings.ca_file is None


def test_the_password_never_appears_in_repr_or_str() -> None:
    settings = LdapSettings.from_env(FULL)
    for text in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert SECRET not in text
        assert "cn=admin,dc=example,dc=net" in text


@pytest.mark.parametrize(
    ("env", "named", "not_named"),
    [
        ({}, ["ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD", "ISPCTL_LDAP_PASSWORD_FILE"], []),
        (without("ISPCTL_LDAP_URL"), ["ISPCTL_LDAP_URL"], ["ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD"]),
        (without("ISPCTL_LDAP_BIND_DN"), ["ISPCTL_LDAP_BIND_DN"], ["ISPCTL_LDAP_URL", "ISPCTL_LDAP_PASSWORD"]),
        (without("ISPCTL_LDAP_PASSWORD"), ["ISPCTL_LDAP_PASSWORD", "ISPCTL_LDAP_PASSWORD_FILE"], ["ISPCTL_LDAP_URL"]),
        # Blank values count as missing: an empty password would make an unauthenticated bind.
        (without(ISPCTL_LDAP_URL="  ", ISPCTL_LDAP_PASSWORD=""), ["ISPCTL_LDAP_URL", "ISPCTL_LDAP_PASSWORD"],
         ["ISPCTL_LDAP_BIND_DN"]),
    ],
)
def test_missing_variables_are_named_in_one_config_error(
    env: dict[str, str], named: list[str], not_named: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        LdapSettings.from_env(env)
    message = str(caught.value)
    for name in named:
        assert name in message
    for name in not_named:
        assert name not in message
    assert "ispctl sandbox env" in message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"ISPCTL_LDAP_URL": "http://127.0.0.1:389"}, "got http://"),
        ({"ISPCTL_LDAP_URL": "127.0.0.1:389"}, "must start with ldap://"),
        ({"ISPCTL_LDAP_URL": "ldaps://127.0.0.1:636", "ISPCTL_LDAP_STARTTLS": "1"}, "ldap:// URLs only"),
    ],
)
def test_unusable_urls_are_config_errors(extra: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        LdapSettings.from_env(without(**extra))
    assert SECRET not in str(caught.value)


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_starttls_flag_and_ca_file_are_read(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM, encoding="ascii")
    settings = LdapSettings.from_env(without(ISPCTL_LDAP_STARTTLS="yes", ISPCTL_LDAP_CA_FILE=str(ca)))
    assert settings.starttls is True and settings.ca_file == str(ca)


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "cannot read ISPCTL_LDAP_CA_FILE {path}: No such file or directory"),
    ("not a certificate\n", "ISPCTL_LDAP_CA_FILE {path} holds no PEM certificate"),
])
def test_an_unusable_ca_file_is_a_config_error_not_an_internal_one(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content, encoding="ascii")
    with pytest.raises(ConfigError) as caught:
        LdapSettings.from_env(without(ISPCTL_LDAP_STARTTLS="yes", ISPCTL_LDAP_CA_FILE=str(ca)))
    assert fragment.format(path=ca) in str(caught.value)


@pytest.mark.parametrize(("url", "fragment"), [
    ("ldap://127.0.0.1:70000", "ISPCTL_LDAP_URL has port '70000'; a port is a number from 1 to 65535"),
    ("ldap://127.0.0.1:ldap", "ISPCTL_LDAP_URL has port 'ldap'"),
    ("ldaps://127.0.0.1:0", "ISPCTL_LDAP_URL has port 0"),
    ("ldap://:389", "names no host"),
])
def test_an_unusable_port_or_host_is_a_config_error(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LdapSettings.from_env(without(ISPCTL_LDAP_URL=url))
    assert fragment in str(caught.value)


def test_password_file_is_read_without_its_line_ending(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\r\n", encoding="utf-8")
    settings = LdapSettings.from_env(without("ISPCTL_LDAP_PASSWORD", ISPCTL_LDAP_PASSWORD_FILE=str(secret_file)))
    assert settings.password == SECRET


@pytest.mark.parametrize(
    ("content", "fragment"), [(None, "cannot read"), ("\n", "is empty"), (b"\xff\xfe", "not UTF-8")]
)
def test_an_unusable_password_file_is_a_config_error(
    tmp_path: Path, content: str | bytes | None, fragment: str
) -> None:
    secret_file = tmp_path / "pw"
    if isinstance(content, bytes):
        secret_file.write_bytes(content)
    elif content is not None:
        secret_file.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment) as caught:
        LdapSettings.from_env(without("ISPCTL_LDAP_PASSWORD", ISPCTL_LDAP_PASSWORD_FILE=str(secret_file)))
    assert str(secret_file) in str(caught.value)


# -- against a real slapd ----------------------------------------------------------------


def live_env(slapd: SlapdInstance, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in slapd.env().items() if k.startswith("ISPCTL_LDAP_") and k != "ISPCTL_LDAP_BASE_DN"}
    env.update(extra)
    return {k: v for k, v in env.items() if v != "<unset>"}


def whoami(settings: LdapSettings) -> str:
    conn = connect(settings)
    try:
        return str(conn.extend.standard.who_am_i())
    finally:
        conn.unbind()


def test_connects_and_binds_with_the_password_from_the_environment(slapd: SlapdInstance) -> None:
    assert whoami(LdapSettings.from_env(live_env(slapd))) == f"dn:{slapd.bind_dn}"


def test_password_file_works_and_wins_over_the_variable(slapd: SlapdInstance, tmp_path: Path) -> None:
    secret_file = tmp_path / "bind-password"
    secret_file.write_text(slapd.password + "\n", encoding="utf-8")
    env = live_env(slapd, ISPCTL_LDAP_PASSWORD="not the password", ISPCTL_LDAP_PASSWORD_FILE=str(secret_file))
    assert whoami(LdapSettings.from_env(env)) == f"dn:{slapd.bind_dn}"
    only_file = live_env(slapd, ISPCTL_LDAP_PASSWORD="<unset>", ISPCTL_LDAP_PASSWORD_FILE=str(secret_file))
    assert whoami(LdapSettings.from_env(only_file)) == f"dn:{slapd.bind_dn}"


def test_ldapi_urls_work(slapd: SlapdInstance) -> None:
    assert whoami(LdapSettings.from_env(live_env(slapd, ISPCTL_LDAP_URL=slapd.ldapi_url))) == f"dn:{slapd.bind_dn}"


def test_a_wrong_password_is_a_provider_error_that_does_not_repeat_it(slapd: SlapdInstance) -> None:
    wrong = "Wr0ng-but-secret-password"
    with pytest.raises(ProviderError) as caught:
        connect(LdapSettings.from_env(live_env(slapd, ISPCTL_LDAP_PASSWORD=wrong)))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the directory at {slapd.url} as {slapd.bind_dn}")
    assert "invalidCredentials" in message
    assert wrong not in message and slapd.password not in message


def test_an_unreachable_server_is_a_clear_provider_error() -> None:
    port = free_port("127.0.0.1")  # nothing listens there
    env = without(ISPCTL_LDAP_URL=f"ldap://127.0.0.1:{port}")
    with pytest.raises(ProviderError, match=f"cannot connect to the directory at ldap://127.0.0.1:{port}") as caught:
        connect(LdapSettings.from_env(env))
    assert "refused" in str(caught.value).lower()
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_tls_failures_are_provider_errors(slapd: SlapdInstance, tls: str) -> None:
    # The test slapd speaks no TLS: both ways of asking for it must fail cleanly, never
    # silently fall back to plain text.
    extra = {"ISPCTL_LDAP_STARTTLS": "1"} if tls == "starttls" else {"ISPCTL_LDAP_URL": slapd.url.replace("ldap://", "ldaps://")}
    with pytest.raises(ProviderError, match="cannot connect to the directory"):
        connect(LdapSettings.from_env(live_env(slapd, **extra)))


class _Reader(OnDemandConnection):
    def __init__(self, settings: LdapSettings) -> None:
        self.ldap = settings


def test_services_read_their_values_a_page_at_a_time_over_a_connection_opened_at_first_use(
        slapd: SlapdInstance) -> None:
    reader = _Reader(LdapSettings.from_env(live_env(slapd)))
    assert reader._conn is None  # nothing opened until a value is read
    base = f"ou=paged,{slapd.suffix}"
    assert reader.conn.add(base, ["organizationalUnit"], {"ou": "paged"})
    for n in range(5):
        assert reader.conn.add(f"ou=u{n},{base}", ["organizationalUnit"], {"ou": f"u{n}", "description": f"d{n}"})
    # Five entries in pages of two: all of them, each with its DN and the attributes asked for.
    found = list(paged_entries(reader.conn, base, "(ou=u*)", ["ou", "description"], 2, "test values"))
    assert sorted((first_value(e, "description"), first_value(e, "ou"), str(e["dn"]).split(",")[0]) for e in found) \
        == [(f"d{n}", f"u{n}", f"ou=u{n}") for n in range(5)]
    assert first_value(found[0], "seeAlso") is None and first_value({"x": []}, "x") is None
    assert first_value({"x": "single"}, "x") == "single"
    missing = f"ou=absent,{slapd.suffix}"
    with pytest.raises(ProviderError, match=f"cannot read test values below {missing}: .*noSuchObject"):
        list(paged_entries(reader.conn, missing, "(ou=*)", ["ou"], 2, "test values"))
    reader.close()
    reader.close()  # twice: nothing left to release, no error
    assert reader._conn is None
