"""Checks on connecting, against a real slapd: they come before the lock and say what to do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

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
