"""Checks on connecting, against a real slapd: they come before the lock and say what to do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from ldap_helpers import copy_example, run_cli

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.preflight import SCHEMA_FILE, defined_classes, required_classes
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import ProviderError

BASE = "ou=ispctl,dc=example,dc=net"


def provider(slapd: SlapdInstance, base: str = BASE) -> LdapProvider:
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    return LdapProvider(LdapSettings.from_env(env), base)


@pytest.fixture
def bare_slapd(tmp_path: Path) -> Iterator[SlapdInstance]:
    """A slapd started without the ispctl schema (standard schemas only)."""
    instance = SlapdInstance(tmp_path / "bare", load_ispctl_schema=False)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_a_directory_without_the_ispctl_schema_is_named_before_the_lock(bare_slapd: SlapdInstance) -> None:
    ldap = provider(bare_slapd)
    with pytest.raises(ProviderError) as caught:
        with ldap.estate_lock("apply", None, timedelta(hours=1), 0):
            pass
    message = str(caught.value)
    assert "the ispctl schema is not loaded" in message
    assert "ispctlLock" in message and "ispctlManaged" in message
    assert f"ldapadd -Y EXTERNAL -H ldapi:/// -f {SCHEMA_FILE}" in message
    assert "The schema, and loading it" in message
    # Loaded as the message says (into the running slapd), the same check passes.
    loaded = bare_slapd.external("ldapadd", "-f", str(SCHEMA_FILE))
    assert loaded.returncode == 0, loaded.stderr
    assert provider(bare_slapd).read() == {}


@pytest.mark.parametrize(("base", "words"), [
    ("ou=missing,dc=example,dc=net", "the managed base ou=missing,dc=example,dc=net does not exist in the directory "
     "at {url} (its nearest existing parent is dc=example,dc=net). Create it"),
    ("ou=ispctl,dc=example,dc=org", "directory.base_dn ou=ispctl,dc=example,dc=org is not in the directory at "
     "{url}: the server holds dc=example,dc=net. Fix directory.base_dn in ispctl.yaml"),
])
def test_base_mistakes_are_said_plainly_before_the_lock(slapd: SlapdInstance, base: str, words: str) -> None:
    ldap = provider(slapd, base)
    with pytest.raises(ProviderError) as caught:
        with ldap.estate_lock("apply", None, timedelta(hours=1), 0):
            pass
    assert words.format(url=slapd.url) in str(caught.value)
    assert "lock" not in str(caught.value)


def test_schema_names_are_read_from_subschema_definitions() -> None:
    names = defined_classes([
        "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
        "( 1.2.3 NAME ( 'ispctlManaged' 'ispctlMarker' ) AUXILIARY )",
        "( 1.2.4 DESC 'no name' )",
    ])
    assert names == {"person", "ispctlmanaged", "ispctlmarker"}
    assert {"ispctlLock", "ispctlManaged", "inetOrgPerson", "posixAccount"} <= set(required_classes())


@pytest.mark.parametrize(("env", "words"), [
    ({"ISPCTL_LDAP_URL": "ldap://127.0.0.1:70000"},
     "Error: ISPCTL_LDAP_URL has port '70000'; a port is a number from 1 to 65535"),
    ({"ISPCTL_LDAP_STARTTLS": "yes", "ISPCTL_LDAP_CA_FILE": "/nonexistent/ca.pem"},
     "Error: cannot read ISPCTL_LDAP_CA_FILE /nonexistent/ca.pem: No such file or directory"),
])
def test_connection_mistakes_are_errors_not_internal_errors(
    slapd: SlapdInstance, tmp_path: Path, env: dict[str, str], words: str
) -> None:
    estate = copy_example(tmp_path)
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), ISPCTL_PROVIDERS="ldap", **env)
    assert result.exit_code == 1
    assert words in result.output and "Internal error" not in result.output, result.output


def test_a_wrong_base_through_the_cli_is_said_before_any_lock(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    site = estate / "ispctl.yaml"
    site.write_text(site.read_text(encoding="utf-8").replace(BASE, "ou=ispctl,dc=example,dc=org"), encoding="utf-8")
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), ISPCTL_PROVIDERS="ldap")
    assert result.exit_code == 1
    assert "directory.base_dn ou=ispctl,dc=example,dc=org is not in the directory" in result.output, result.output
    assert "lock" not in result.output.lower()
