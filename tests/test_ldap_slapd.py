"""A real slapd built from scratch: the ispctl schema, base entries and lifecycle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import ISPCTL_SCHEMA, SlapdInstance, ispctl_index_ldif
from ispctl.reconciler.harness.daemons import DaemonUnavailable, pids_matching

BASE = "ou=ispctl,dc=example,dc=net"

MAILBOX = f"""dn: uid=anna@example.org,associatedDomain=example.org,{BASE}
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: ispctlMailUser
objectClass: ispctlManaged
uid: anna@example.org
cn: Anna Example
sn: Example
mail: anna@example.org
uidNumber: 5000
gidNumber: 5000
homeDirectory: /srv/mail/example.org/anna
ispctlAccountStatus: active
ispctlEnabledService: imap
ispctlEnabledService: smtp
ispctlMailQuota: 1073741824
ispctlMailAlias: a.example@example.org
ispctlMailForward: anna@example.org
ispctlMailForward: anna@elsewhere.example
ispctlFingerprint: 0f1e2d3c
ispctlProtected: FALSE
"""

DOMAIN = f"""dn: associatedDomain=example.org,{BASE}
objectClass: ispctlDomain
objectClass: ispctlManaged
associatedDomain: example.org
ispctlDomainType: primary
ispctlAccountStatus: active
ispctlEnabledService: mail
ispctlDefaultQuota: 52428800
ispctlCatchAll: postmaster@example.org
ispctlDisplayName: Exämple Örg
description: test domain
"""

TENANT = f"""dn: o=acme,{BASE}
objectClass: organization
objectClass: ispctlTenant
objectClass: ispctlManaged
o: acme
ispctlTenantKind: reseller
ispctlAccountStatus: active
ispctlDisplayName: ACME Hosting
ispctlContact: ops@acme.example
ispctlMaxDomains: 10
ispctlMaxMailboxes: 100
ispctlMaxAliases: -1
ispctlQuotaPool: 10737418240
"""

GROUP_AND_LOCK = f"""dn: mail=team@example.org,associatedDomain=example.org,{BASE}
objectClass: ispctlMailGroup
objectClass: ispctlManaged
mail: team@example.org
ispctlMailTarget: anna@example.org
ispctlMailTarget: bob@example.org

dn: cn=apply-lock,{BASE}
objectClass: ispctlLock
cn: apply-lock
ispctlLockOwner: alice
ispctlLockHost: build-1
ispctlLockOperation: apply
ispctlLockCommit: 0123abcd
ispctlLockSince: 20240101120000Z
ispctlLockExpires: 20240101121000Z
"""


def _schema_names() -> list[str]:
    return re.findall(r"NAME '([^']+)'", ISPCTL_SCHEMA.read_text())


def test_every_schema_definition_is_loaded(slapd: SlapdInstance) -> None:
    subschema = slapd.ldapsearch("cn=Subschema", "(objectClass=*)", "attributeTypes",
                                 "objectClasses", scope="base")
    names = _schema_names()
    assert len(names) == 31
    for name in names:
        assert f"NAME '{name}'" in subschema, name


def test_every_schema_definition_has_a_description() -> None:
    definitions = re.split(r"\nolc(?:AttributeTypes|ObjectClasses): ", ISPCTL_SCHEMA.read_text())
    assert all("DESC '" in text for text in definitions[1:])


def test_base_and_foreign_entries_exist(slapd: SlapdInstance) -> None:
    found = slapd.ldapsearch(slapd.suffix, "(objectClass=*)", "1.1")
    assert f"dn: {slapd.suffix}" in found
    assert f"dn: {slapd.managed_base}" in found
    assert "dn: ou=people,dc=example,dc=net" in found
    person = slapd.ldapsearch("uid=postmaster-human,ou=people,dc=example,dc=net",
                              "(objectClass=inetOrgPerson)", scope="base")
    assert "uid: postmaster-human" in person


def test_schema_fits_the_entries_ispctl_will_write(slapd: SlapdInstance) -> None:
    for ldif in (DOMAIN, MAILBOX, TENANT, GROUP_AND_LOCK):
        result = slapd.ldapadd(ldif)
        assert result.returncode == 0, result.stderr
    found = slapd.ldapsearch(BASE, "(ispctlMailAlias=a.example@*)", "uid")
    assert "uid: anna@example.org" in found
    assert "ispctlQuotaPool: 10737418240" in slapd.ldapsearch(BASE, "(ispctlQuotaPool>=1)",
                                                                "ispctlQuotaPool")


def test_schema_enforces_must_and_single_value(slapd: SlapdInstance) -> None:
    slapd.ldapadd(DOMAIN)
    missing_type = f"dn: associatedDomain=broken.example,{BASE}\nobjectClass: ispctlDomain\n" \
                   "associatedDomain: broken.example\n"
    result = slapd.ldapadd(missing_type)
    assert result.returncode == 65, result.stderr  # objectClassViolation
    two_types = f"dn: associatedDomain=example.org,{BASE}\nchangetype: modify\n" \
                "add: ispctlDomainType\nispctlDomainType: slave\n"
    assert slapd.ldapmodify(two_types).returncode != 0


def test_root_password_is_stored_hashed(slapd: SlapdInstance) -> None:
    config = "".join(p.read_text() for p in slapd.config_dir.rglob("*.ldif"))
    assert slapd.password not in config
    assert "olcRootPW:: " in config or "olcRootPW: {SSHA}" in config
    settings = slapd.external("ldapsearch", "-LLL", "-b", "cn=config", "(olcSuffix=*)",
                              "olcDbMaxSize", "olcSizeLimit", "olcDbNoSync", "olcRootPW")
    assert settings.returncode == 0, settings.stderr
    assert "olcDbMaxSize: 4294967296" in settings.stdout
    assert "olcSizeLimit: unlimited" in settings.stdout
    assert "olcRootPW: {SSHA}" in settings.stdout


def test_schema_loads_at_run_time_over_ldapi(tmp_path: Path) -> None:
    bare = SlapdInstance(tmp_path / "bare", load_ispctl_schema=False)
    bare.start()
    try:
        assert bare.ldapadd(DOMAIN).returncode != 0  # unknown object class
        loaded = bare.external("ldapadd", "-f", str(ISPCTL_SCHEMA))
        assert loaded.returncode == 0, loaded.stderr
        indexed = bare.external("ldapmodify", input=ispctl_index_ldif())
        assert indexed.returncode == 0, indexed.stderr
        result = bare.ldapadd(DOMAIN)
        assert result.returncode == 0, result.stderr
    finally:
        bare.stop()


def test_two_instances_side_by_side(tmp_path: Path) -> None:
    first = SlapdInstance(tmp_path / "one")
    second = SlapdInstance(tmp_path / "two")
    first.start()
    try:
        second.start()
        try:
            assert first.port != second.port and first.password != second.password
            assert first.ldapadd(DOMAIN).returncode == 0
            assert "example.org" in first.ldapsearch(BASE, "(associatedDomain=example.org)")
            assert second.ldapsearch(BASE, "(associatedDomain=example.org)") == ""
        finally:
            second.stop()
    finally:
        first.stop()


def test_stop_leaves_no_process_and_restart_keeps_data(tmp_path: Path) -> None:
    instance = SlapdInstance(tmp_path / "keep")
    instance.start()
    pid = instance.pid
    assert pid is not None and instance.running()
    assert instance.ldapadd(DOMAIN).returncode == 0
    instance.stop()
    assert not instance.running() and instance.pid is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert pids_matching(str(instance.config_dir)) == []

    # Same workdir, no password given: it is recovered, data and seeds are reused as they are.
    again = SlapdInstance(tmp_path / "keep")
    assert again.password == instance.password
    again.start()
    try:
        assert "example.org" in again.ldapsearch(BASE, "(associatedDomain=example.org)")
        assert again.ldapsearch("ou=people,dc=example,dc=net", "(uid=postmaster-human)",
                                "1.1").count("dn:") == 1
    finally:
        again.stop()


def test_detached_instance_is_found_again_from_state(tmp_path: Path) -> None:
    instance = SlapdInstance(tmp_path / "detached")
    instance.start(detach=True)
    state = instance.to_state()
    pid = instance.pid
    later = SlapdInstance.from_state(state)  # what a second CLI process does
    assert later.running() and later.pid == pid and later.url == instance.url
    later.stop()
    assert not instance.running()
    assert pids_matching(str(instance.config_dir)) == []


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # slapd itself is still found in /usr/sbin; ldapadd lives only in /usr/bin.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DaemonUnavailable, match="Debian package ldap-utils"):
        SlapdInstance(tmp_path / "nope").start()
