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
from ispctl.reconciler.harness.daemons import free_port

BASE = "ou=ispctl,dc=example,dc=net"


def provider(slapd: SlapdInstance, base: str = BASE, **extra: str) -> LdapProvider:
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    return LdapProvider(LdapSettings.from_env({**env, **extra}), base)


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


@pytest.mark.parametrize(("base", "words"), [
    ("ou=missing,dc=example,dc=net", "the managed base ou=missing,dc=example,dc=net does not exist in the directory "
     "at {url} (its nearest existing parent is dc=example,dc=net). Create it"),
    ("ou=ispctl,dc=example,dc=org", "directory.base_dn ou=ispctl,dc=example,dc=org is not in the directory at "
     "{url}: the server holds dc=example,dc=net. Fix directory.base_dn in ispctl.yaml"),
])
def test_a_plan_says_base_mistakes_as_plainly_on_its_one_python_ldap_connection(
        slapd: SlapdInstance, base: str, words: str) -> None:
    ldap = provider(slapd, base)
    try:
        with pytest.raises(ProviderError) as caught:
            ldap.read()
        assert words.format(url=slapd.url) in str(caught.value)
        # The checks ran on the bulk reader's connection, which they closed; no ldap3 connection.
        assert (ldap.bulk.stats.connections, ldap.bulk.stats.searches) == (1, 2)
        assert ldap._conn is None and ldap.bulk._held is None
    finally:
        ldap.close()


def test_a_plan_without_the_ispctl_schema_is_told_what_to_load(bare_slapd: SlapdInstance) -> None:
    with pytest.raises(ProviderError, match="the ispctl schema is not loaded") as caught:
        provider(bare_slapd).read()
    assert f"ldapadd -Y EXTERNAL -H ldapi:/// -f {SCHEMA_FILE}" in str(caught.value)


def test_a_plan_with_a_wrong_password_says_so_without_repeating_it(slapd: SlapdInstance) -> None:
    wrong = "Wr0ng-but-secret-password"
    with pytest.raises(ProviderError) as caught:
        provider(slapd, ISPCTL_LDAP_PASSWORD=wrong).read()
    message = str(caught.value)
    assert message == f"cannot connect to the directory at {slapd.url} as {slapd.bind_dn}: Invalid credentials"
    assert wrong not in message and slapd.password not in message


def test_a_plan_against_an_unreachable_server_says_why_at_once(slapd: SlapdInstance) -> None:
    url = f"ldap://127.0.0.1:{free_port('127.0.0.1')}"  # nothing listens there
    ldap = provider(slapd, ISPCTL_LDAP_URL=url)
    with pytest.raises(ProviderError) as caught:
        ldap.read()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the directory at {url} as {slapd.bind_dn}: Can't contact LDAP "
                              "server (cannot connect: ")
    assert "refused" in message.lower() and slapd.password not in message
    assert ldap.bulk.stats.connections == 0  # tried once, not retried: a server that is not there is said at once


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


def test_an_entry_needing_a_schema_the_directory_lacks_fails_alone_and_says_which_file_to_load(
    tmp_path: Path,
) -> None:
    """A directory with ispctl's schema but not the services' (RADIUS, FTP): the changes whose
    entries carry their classes fail before anything of them is sent, naming the file to load;
    everything else applies. Loaded as the message says, the next apply finishes the job."""
    from tests.ldap_helpers import EXAMPLE, env_of
    from tests.wiring import open_session

    instance = SlapdInstance(tmp_path / "no-parts", schemas=())
    instance.start()
    try:
        with open_session(EXAMPLE, env=env_of(instance)) as session:
            result = session.apply(session.plan())
        failed = {o.change.address: o.error or "" for o in result.failed}
        assert failed, "the example estate has entries with a service's classes (its dial-up account)"
        files = set(SlapdInstance.default_schemas)
        for address, error in failed.items():
            assert "does not know the object class" in error, (address, error)
            assert "nothing of this change was written" in error
            named = [f for f in files if f in error]
            assert named, (address, error)
        assert any(o.status == "ok" for o in result.outcomes), "entries without a service's classes are written"
        for schema in dict.fromkeys(f for error in failed.values() for f in files if f in error):
            loaded = instance.external("ldapadd", "-f", schema)
            assert loaded.returncode == 0, loaded.stderr
        with open_session(EXAMPLE, env=env_of(instance)) as session:
            again = session.apply(session.plan())
            assert again.ok, [o.error for o in again.failed]
            assert session.plan().empty
    finally:
        instance.stop()


def test_missing_classes_names_one_ldapadd_per_schema_file_of_the_parts_that_define_them() -> None:
    from ispctl.providers.ldap.mapping import extend
    from ispctl.providers.ldap.preflight import missing_classes
    from ispctl.reconciler.contract import DirectoryPart

    part = DirectoryPart("mailbox", {"ftp_status": (("FTPStatus",), "str")}, ("PureFTPdUser",),
                         (Path("/s/pureftpd.ldif"), Path("/s/ispctl-ftp.ldif")))
    dmap = extend([part])
    url = "ldap://example"
    assert missing_classes(url, ["inetOrgPerson"], None, dmap) is None  # the server's schema unreadable
    assert missing_classes(url, ["inetOrgPerson", "PureFTPdUser"], frozenset({"inetorgperson", "pureftpduser"}),
                           dmap) is None
    said = missing_classes(url, ["inetOrgPerson", "PureFTPdUser"], frozenset({"inetorgperson"}), dmap)
    assert said is not None
    assert "does not know the object class PureFTPdUser," in said
    assert ("ldapadd -Y EXTERNAL -H ldapi:/// -f /s/pureftpd.ldif && ldapadd -Y EXTERNAL -H ldapi:/// -f "
            "/s/ispctl-ftp.ldif") in said
