"""The directory's narrowed read (``Within``) against a real slapd: what it returns is what the
full read says about the same entries, found wherever they live, in a few requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ldap_helpers import BASE, EXAMPLE, env_of, find_one, ldap_ok

from ispctl.providers.ldap import narrow
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.provider import Within
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import open_session

NW = f"associatedDomain=northwind.example,o=northwind,{BASE}"
SB = f"associatedDomain=southbay.example,o=southbay,{BASE}"
Live = dict[tuple[str, str], Resource]


@contextmanager
def provider(slapd: SlapdInstance, page_size: int = 1000) -> Iterator[LdapProvider]:
    instance = LdapProvider(LdapSettings.from_env(env_of(slapd)), BASE, page_size, retries=1, pause=0.05)
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def example(slapd: SlapdInstance) -> SlapdInstance:
    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        assert session.apply(session.plan()).ok
    return slapd


def full_read(slapd: SlapdInstance) -> Live:
    with provider(slapd) as ldap:
        return ldap.read()


def narrowed(slapd: SlapdInstance, anchors: set[str], addresses: set[str] = frozenset(),  # type: ignore[assignment]
             page_size: int = 1000) -> Live:
    with provider(slapd, page_size) as ldap:
        return ldap.read(within=Within(frozenset(anchors), frozenset(addresses)))


def below(live: Live, anchor: str) -> Live:
    """The entries at or below ``anchor`` in the live tree, by the full read's parents."""
    by_address = {r.address: r for r in live.values()}
    out = {}
    for ident, resource in live.items():
        current: Resource | None = resource
        while current is not None and current.address != anchor:
            current = by_address.get(current.parent) if current.parent else None
        if current is not None:
            out[ident] = resource
    return out


def assert_same(got: Live, want: Live) -> None:
    assert sorted(got) == sorted(want)
    for ident, resource in got.items():
        # Every field (the parent, the stored fingerprint, what the rename left) as the full read says.
        assert dataclasses.astuple(resource) == dataclasses.astuple(want[ident]), ident


@pytest.mark.parametrize("anchor", ["tenant.northwind", "tenant.lawfirm", "tenant.southbay", "domain.northwind.example",
                                    "domain.riverside-school.example"])
@pytest.mark.parametrize("page_size", [1000, 10])
def test_an_anchor_brings_everything_below_it_in_the_live_tree(example: SlapdInstance, anchor: str,
                                                                page_size: int) -> None:
    everything = full_read(example)
    want = below(everything, anchor)
    assert len(want) > 1
    assert_same(narrowed(example, {anchor}, page_size=page_size), want)


def test_nested_and_unknown_anchors_and_other_kinds_add_nothing_else(example: SlapdInstance) -> None:
    everything = full_read(example)
    got = narrowed(example, {"tenant.northwind", "tenant.lawfirm", "domain.northwind.example", "tenant.nowhere",
                             "zone.northwind.example", "maildir.noc@northwind.example"})
    assert_same(got, below(everything, "tenant.northwind"))


def test_a_read_of_a_few_subtrees_is_a_few_requests(example: SlapdInstance) -> None:
    with provider(example) as ldap:
        live = ldap.read(within=Within(frozenset({"domain.northwind.example", "tenant.school"}),
                                       frozenset({"mailbox.it@hartcole.example"})))
        # The two checks on connecting (base, schema: ``preflight``) on the same connection, one
        # search for the named objects, one per anchor, and one base read per parent not read
        # (tenants northwind and southbay, domain hartcole.example), sent together: nothing per
        # entry, nothing of the rest of the estate.
        assert (ldap.bulk.stats.connections, ldap.bulk.stats.searches) == (1, 2 + 1 + 2 + 3)
    assert len(live) > 6


def test_an_entry_moved_out_of_an_anchor_by_hand_is_found_by_its_address(example: SlapdInstance) -> None:
    ldap_ok(example.ldapmodify(f"dn: uid=noc@northwind.example,{NW}\nchangetype: modrdn\n"
                               f"newrdn: uid=noc@northwind.example\ndeleteoldrdn: 1\nnewsuperior: {SB}\n"))
    everything = full_read(example)
    moved = everything[("mailbox", "noc@northwind.example")]
    assert moved.parent == "domain.southbay.example"
    # Below the anchor in the live tree it is not; asked for by address it is, where it lives.
    assert ("mailbox", "noc@northwind.example") not in narrowed(example, {"domain.northwind.example"})
    got = narrowed(example, {"domain.northwind.example"}, {"mailbox.noc@northwind.example"})
    assert_same(got, {**below(everything, "domain.northwind.example"), moved.identity: moved})


def test_an_entry_moved_into_an_anchor_by_hand_comes_with_it(example: SlapdInstance) -> None:
    ldap_ok(example.ldapmodify(f"dn: uid=noc@northwind.example,{NW}\nchangetype: modrdn\n"
                               f"newrdn: uid=noc@northwind.example\ndeleteoldrdn: 1\nnewsuperior: {SB}\n"))
    everything = full_read(example)
    got = narrowed(example, {"domain.southbay.example"})
    assert got[("mailbox", "noc@northwind.example")].parent == "domain.southbay.example"
    assert_same(got, below(everything, "domain.southbay.example"))


def test_a_renamed_entry_is_found_by_its_old_address_and_a_half_done_rename_by_either(
        example: SlapdInstance) -> None:
    # An entry git now calls another name: the plan asks for its previous key.
    old = ("mailbox", "it@hartcole.example")
    everything = full_read(example)
    assert_same(narrowed(example, set(), {"mailbox.helpdesk@hartcole.example", "mailbox.it@hartcole.example"}),
                {old: everything[old]})
    # A rename that stopped after giving the entry its new uid: found by the new name too.
    dn, _entry = find_one(example, "(uid=it@hartcole.example)")
    ldap_ok(example.ldapmodify(f"dn: {dn}\nchangetype: modify\nadd: uid\nuid: helpdesk@hartcole.example\n"))
    got = narrowed(example, set(), {"mailbox.helpdesk@hartcole.example"})
    assert list(got) == [old] and got[old].interrupted is not None
    assert_same(got, {old: full_read(example)[old]})


def test_a_parent_that_is_not_read_is_still_named_and_an_unmanaged_one_is_not(example: SlapdInstance) -> None:
    everything = full_read(example)
    got = narrowed(example, {"domain.northwind.example"})
    assert got[("domain", "northwind.example")].parent == "tenant.northwind"
    # Moved below an entry ispctl does not manage: the same non-address the full read gives.
    ldap_ok(example.ldapadd(f"dn: ou=elsewhere,{BASE}\nobjectClass: organizationalUnit\nou: elsewhere\n"))
    ldap_ok(example.ldapmodify(f"dn: {NW}\nchangetype: modrdn\nnewrdn: associatedDomain=northwind.example\n"
                               f"deleteoldrdn: 1\nnewsuperior: ou=elsewhere,{BASE}\n"))
    everything = full_read(example)
    got = narrowed(example, {"domain.northwind.example"})
    assert got[("domain", "northwind.example")].parent == everything[("domain", "northwind.example")].parent
    assert "outside the managed tree" in str(got[("domain", "northwind.example")].parent)
    assert_same(got, below(everything, "domain.northwind.example"))


def test_writes_after_a_narrowed_read_find_dns_of_entries_it_did_not_read(example: SlapdInstance) -> None:
    with provider(example) as ldap:
        live = ldap.read(within=Within(frozenset({"domain.northwind.example"})))
        searches = ldap.bulk.stats.searches
        # The domain moves to a tenant that was not read: its DN is looked up, once.
        domain = live[("domain", "northwind.example")]
        ldap.update(domain, dataclasses.replace(domain, parent="tenant.school"), ())
        assert ldap.bulk.stats.searches == searches + 1
        box = live[("mailbox", "noc@northwind.example")]
        ldap.update(box, dataclasses.replace(box, attrs={**box.attrs, "quota": 2**30}), ("quota",))
        assert ldap._dn.get("tenant.nowhere") is None
    dn, entry = find_one(example, "(uid=noc@northwind.example)", "ispctlMailQuota")
    assert dn == f"uid=noc@northwind.example,associatedDomain=northwind.example,o=school,o=southbay,{BASE}"
    assert entry["ispctlmailquota"] == [str(2**30)]


def test_a_top_up_read_keeps_the_dns_the_first_one_found(example: SlapdInstance) -> None:
    with provider(example) as ldap:
        ldap.read(within=Within(frozenset({"domain.northwind.example"})))
        ldap.read(within=Within(frozenset(), frozenset({"tenant.southbay"})))
        searches = ldap.bulk.stats.searches
        assert isinstance(ldap._dn, narrow.DnMap)
        assert ldap._dn.get("mailbox.noc@northwind.example") == f"uid=noc@northwind.example,{NW}"
        assert ldap._dn.get("tenant.southbay") == f"o=southbay,{BASE}"
        assert ldap.bulk.stats.searches == searches  # both known: no lookup
