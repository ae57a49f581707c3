"""The directory provider against a real slapd: bulk reads, attribute-level writes, moves."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ldap_helpers import (
    BASE,
    EXAMPLE,
    EXAMPLE_COUNT,
    REPO,
    apply_example,
    env_of,
    find_one,
    ldap_ok,
    marked_entry_ldif,
    search,
    snapshot,
)

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.mapping import extend
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.contract import DirectoryPart
from ispctl.reconciler.engine.diff import attr_changes
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import REGISTRY, load_desired, open_session

NW = f"associatedDomain=northwind.example,o=northwind,{BASE}"


@contextmanager
def provider(slapd: SlapdInstance, page_size: int = 1000, base: str = BASE) -> Iterator[LdapProvider]:
    """The directory provider as the command line builds it: with the services' directory parts."""
    service = REGISTRY.get("ldap")
    assert service is not None and service.provider is not None and issubclass(service.provider, LdapProvider)
    instance = service.provider(LdapSettings.from_env(env_of(slapd)), base, page_size)
    try:
        yield instance
    finally:
        instance.close()


def test_an_empty_base_reads_as_nothing_with_two_checks_and_one_search(slapd: SlapdInstance) -> None:
    with provider(slapd) as ldap:
        assert ldap.read() == {}
        # The checks on connecting (the base exists, the schema is loaded), then the search, on
        # one python-ldap connection (the bulk reader's): no ldap3 connection, nothing written.
        assert (ldap.bulk.stats.connections, ldap.bulk.stats.searches) == (1, 2 + 1)
        assert ldap._conn is None and ldap._writer is None


@pytest.mark.parametrize("page_size", [1000, 10])
def test_the_live_read_is_one_paged_search_that_misses_nothing(slapd: SlapdInstance, page_size: int) -> None:
    apply_example(slapd)
    _catalog, desired = load_desired(EXAMPLE)
    with provider(slapd, page_size) as ldap:
        live = ldap.read()
        # Two checks on connecting (base, schema), then one request per page of the same paged
        # search, on one connection: never one request per resource, nothing written.
        assert ldap.bulk.stats.connections == 1
        assert ldap.bulk.stats.searches == 2 + math.ceil(EXAMPLE_COUNT / page_size)
        assert ldap._conn is None and ldap._writer is None
    assert len(live) == EXAMPLE_COUNT
    desired = {ident: r for ident, r in desired.items() if ident[0] in ldap.SUPPORTS}  # maildirs are the mail store's
    assert set(live) == set(desired)
    for ident, want in desired.items():
        have = live[ident]
        values = {k: v for k, v in have.attrs.items() if v is not None or k in want.attrs}  # parts' unused fields
        assert (values, have.parent) == (want.attrs, want.parent), want.address
        assert have.recorded_fingerprint == want.fingerprint()
        assert have.drifted() is None


def test_reading_never_writes(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    before = snapshot(slapd, slapd.suffix)
    with provider(slapd) as ldap:
        ldap.read()
        ldap.read()
    assert snapshot(slapd, slapd.suffix) == before


def test_a_missing_managed_base_is_a_clear_error(slapd: SlapdInstance) -> None:
    with provider(slapd, base="ou=missing,dc=example,dc=net") as ldap:
        with pytest.raises(ProviderError, match="managed base ou=missing,dc=example,dc=net does not exist in the "
                                                "directory at ldap://127.0.0.1:[0-9]+ \\(its nearest existing parent "
                                                "is dc=example,dc=net\\)"):
            ldap.read()


def live_mailbox(ldap: LdapProvider, address: str) -> Resource:
    return ldap.read()[("mailbox", address)]


def test_an_update_changes_only_the_named_attributes(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dn, entry = find_one(slapd, "(uid=support@northwind.example)", "entryUUID", "displayName")
    # A value someone else keeps on the entry (outside ispctl's attributes) must survive.
    ldap_ok(slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nadd: telephoneNumber\ntelephoneNumber: +1 555 0100\n"))
    with provider(slapd) as ldap:
        before = live_mailbox(ldap, "support@northwind.example")
        after = dataclasses.replace(before, attrs={**before.attrs, "quota": 3 * 2**30}, recorded_fingerprint=None)
        ldap.update(before, after, ("quota",))
        assert dict(ldap.writer.sent) == {"modify": 1}
    _dn, now = find_one(slapd, "(uid=support@northwind.example)", "*", "entryUUID")
    assert now["ispctlmailquota"] == [str(3 * 2**30)]
    assert now["ispctlfingerprint"] == [after.fingerprint()]
    assert now["telephonenumber"] == ["+1 555 0100"]
    assert now["entryuuid"] == entry["entryuuid"] and now["displayname"] == entry["displayname"]


@pytest.mark.parametrize(
    ("kind", "key", "box", "moved"),
    [
        ("domain", "northwind.example", "noc@northwind.example",
         f"associatedDomain=northwind.example,o=southbay,{BASE}"),
        ("tenant", "lawfirm", "it@hartcole.example", f"o=lawfirm,o=southbay,{BASE}"),  # two levels above the box
    ],
)
def test_a_move_keeps_the_entry_and_its_children_and_later_changes_find_them(
    slapd: SlapdInstance, kind: str, key: str, box: str, moved: str
) -> None:
    apply_example(slapd)
    naming = "associatedDomain" if kind == "domain" else "o"
    _dn, old_entry = find_one(slapd, f"({naming}={key})", "entryUUID")
    old_box_dn, old_box = find_one(slapd, f"(uid={box})", "entryUUID")
    with provider(slapd) as ldap:
        live = ldap.read()
        entry = live[(kind, key)]
        ldap.update(entry, dataclasses.replace(entry, parent="tenant.southbay"), ())
        # The mailbox's DN changed with the move: the provider must still find it.
        child = live[("mailbox", box)]
        ldap.update(child, dataclasses.replace(child, attrs={**child.attrs, "quota": 2**30}), ("quota",))
        assert dict(ldap.writer.sent) == {"modrdn": 1, "modify": 2}  # never a delete + add
    dn, new_entry = find_one(slapd, f"({naming}={key})", "entryUUID")
    assert dn == moved and new_entry["entryuuid"] == old_entry["entryuuid"]
    dn, new_box = find_one(slapd, f"(uid={box})", "entryUUID", "ispctlMailQuota")
    assert dn.endswith("," + moved) and dn != old_box_dn
    assert new_box["entryuuid"] == old_box["entryuuid"] and new_box["ispctlmailquota"] == [str(2**30)]


def test_deleting_an_entry_with_a_foreign_child_fails_with_the_server_reason(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    ldap_ok(slapd.ldapadd(f"dn: cn=notes,{NW}\nobjectClass: organizationalRole\ncn: notes\n"))
    with provider(slapd) as ldap:
        with pytest.raises(ProviderError, match="notAllowedOnNonLeaf") as caught:
            ldap.delete(ldap.read()[("domain", "northwind.example")])
    assert NW in str(caught.value)
    assert find_one(slapd, "(associatedDomain=northwind.example)")[0] == NW


def test_creating_over_an_unmanaged_entry_fails_and_leaves_it_alone(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dn = f"uid=new@northwind.example,{NW}"
    ldap_ok(slapd.ldapadd(f"dn: {dn}\nobjectClass: account\nuid: new@northwind.example\nhost: hand-made\n"))
    before = snapshot(slapd, dn)
    box = Resource("mailbox", "new@northwind.example", {"display_name": "New", "uid_number": 5000, "gid_number": 5000,
                                                        "home": "/var/vmail/northwind.example/new"},
                   parent="domain.northwind.example")
    with provider(slapd) as ldap:
        ldap.read()
        with pytest.raises(ProviderError, match="entryAlreadyExists"):
            ldap.create(box)
    assert snapshot(slapd, dn) == before


def test_the_same_address_twice_in_the_directory_stops_the_read(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    twin = f"uid=noc@northwind.example,associatedDomain=southbay.example,o=southbay,{BASE}"
    ldap_ok(slapd.ldapadd(marked_entry_ldif(twin, "mailbox", "noc@northwind.example")))
    with provider(slapd) as ldap:
        with pytest.raises(ProviderError, match="mailbox.noc@northwind.example exists more than once"):
            ldap.read()


def test_a_misplaced_entry_is_moved_back_under_its_parent(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    home = f"uid=support@northwind.example,{NW}"
    stray = f"uid=support@northwind.example,{BASE}"
    ldap_ok(slapd.ldapmodify(f"dn: {home}\nchangetype: delete\n"))
    ldap_ok(slapd.ldapadd(marked_entry_ldif(stray, "mailbox", "support@northwind.example")))
    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        plan = session.plan()
        assert [(c.address, c.action, c.is_move, c.drift) for c in plan.changes] == [
            ("mailbox.support@northwind.example", "update", True, "created outside ispctl")]
        assert session.apply(plan).ok
    dn, entry = find_one(slapd, "(uid=support@northwind.example)", "displayName", "ispctlMailQuota")
    assert dn == home and entry["displayname"] == ["Northwind Support"]
    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        assert session.plan().empty


FTP_SCHEMAS = tuple(str(REPO / "providers" / "ftp" / "schema" / name) for name in ("pureftpd.ldif", "ispctl-ftp.ldif"))
FTP = DirectoryPart("mailbox", {"ftp_status": (("FTPStatus",), "str"), "ftp_quota_mb": (("FTPQuotaMBytes",), "int"),
                                "ftp_home": (("ispctlFtpHome",), "str")},
                    object_classes=("PureFTPdUser", "ispctlFtpUser"))
LOGIN = DirectoryPart("login", {"home": (("homeDirectory",), "str"), "uid_number": (("uidNumber",), "int"),
                                "gid_number": (("gidNumber",), "int"), "name": (("cn",), "str"),
                                "ftp_status": (("FTPStatus",), "str")},
                      object_classes=("account", "posixAccount", "PureFTPdUser"), rdn_attr="uid",
                      identifying_class="account")


@pytest.fixture
def slapd_with_parts(tmp_path: Path) -> Iterator[SlapdInstance]:
    # Every registered service's schemas (the example estate's entries need RADIUS's too).
    instance = SlapdInstance(tmp_path / "slapd", schemas=tuple(dict.fromkeys((*SlapdInstance.default_schemas,
                                                                              *FTP_SCHEMAS))))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_a_services_part_is_written_read_back_without_drift_and_removed(slapd_with_parts: SlapdInstance) -> None:
    slapd = slapd_with_parts
    apply_example(slapd)
    parted = LdapProvider.with_parts(extend([FTP, LOGIN]))
    ldap = parted(LdapSettings.from_env(env_of(slapd)), BASE)
    try:
        before = ldap.read()[("mailbox", "support@northwind.example")]
        assert before.attrs.get("ftp_status") is None  # nothing of the part yet: no drift, nothing to do
        assert before.drifted() is None
        ftp = {"ftp_status": "enabled", "ftp_quota_mb": 50, "ftp_home": "/srv/ftp/northwind.example/support"}
        want = dataclasses.replace(before, attrs={**before.attrs, **ftp}, recorded_fingerprint=None)
        ldap.update(before, want, tuple(ftp))
        login = Resource("login", "site-web1", {"home": "/srv/www/web1", "uid_number": 7001, "gid_number": 7001,
                                                "name": "web1", "ftp_status": "disabled"},
                         parent="domain.northwind.example")
        ldap.create(login)
        live = ldap.read()
        for wanted in (want, login):
            have = live[(wanted.kind, wanted.key)]
            assert attr_changes(have, wanted) == () and have.parent == wanted.parent and have.drifted() is None
    finally:
        ldap.close()
    _dn, entry = find_one(slapd, "(uid=support@northwind.example)", "objectClass", "FTPStatus", "FTPQuotaMBytes")
    assert {"PureFTPdUser", "ispctlFtpUser"} <= set(entry["objectclass"]) and entry["ftpstatus"] == ["enabled"]
    assert entry["ftpquotambytes"] == ["50"]
    dn, entry = find_one(slapd, "(uid=site-web1)", "objectClass", "homeDirectory")
    assert dn == f"uid=site-web1,{NW}" and entry["homedirectory"] == ["/srv/www/web1"]
    # The part's values go away: so do its classes; the login entry is deleted.
    ldap = parted(LdapSettings.from_env(env_of(slapd)), BASE)
    try:
        live = ldap.read()
        have = live[("mailbox", "support@northwind.example")]
        ldap.update(have, before, tuple(ftp))
        ldap.delete(live[("login", "site-web1")])
        assert ldap.read()[("mailbox", "support@northwind.example")].attrs == before.attrs
    finally:
        ldap.close()
    _dn, entry = find_one(slapd, "(uid=support@northwind.example)", "objectClass", "FTPStatus", "ispctlFtpHome")
    assert "PureFTPdUser" not in entry["objectclass"] and "ispctlFtpUser" not in entry["objectclass"]
    assert "ftpstatus" not in entry and "ispctlftphome" not in entry
    assert search(slapd, "(uid=site-web1)") == {}
    # The plain provider (no parts) still sees the example estate exactly as before.
    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        assert session.plan().empty
