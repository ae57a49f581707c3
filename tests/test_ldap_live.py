"""Raw search results -> live resources, from data fixtures shaped like raw search results.

Every fixture is what libldap hands the provider: ``(dn, {attribute: [bytes, ...]})`` with
the attribute names in whatever case the server used. No server is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ispctl.providers.ldap import dn, live, mapping
from ispctl.reconciler.engine.resources import Canonical, Resource, normalise_value

BASE = "ou=ispctl,dc=example,dc=net"
FP = "sha256:" + "ab" * 32
Raw = tuple[str, dict[str, list[bytes]]]


def raw(dn: str, **attrs: str | list[str]) -> Raw:
    values = {
        name: [v.encode() for v in (value if isinstance(value, list) else [value])] for name, value in attrs.items()
    }
    return dn, values


TENANT = raw(
    f"o=acme,{BASE}", objectClass=["organization", "ispctlTenant", "ispctlManaged"], o="acme",
    ispctlTenantKind="reseller", ispctlDisplayName="ACME Hosting", ispctlContact="ops@acme.example",
    ispctlAccountStatus="active", ispctlMaxDomains="10", ispctlQuotaPool="10737418240", ispctlFingerprint=FP,
)
DOMAIN = raw(
    f"associatedDomain=xn--mnchen-3ya.example,o=acme,{BASE}", objectClass=["ispctlDomain", "ispctlManaged"],
    associatedDomain="xn--mnchen-3ya.example", ispctlDomainType="primary", ispctlDisplayName="münchen.example",
    ispctlEnabledService=["mail", "dns"], ispctlAccountStatus="active", ispctlDefaultQuota="1073741824",
)
MAILBOX = raw(
    f"uid=a\\2Bb@xn--mnchen-3ya.example,associatedDomain=xn--mnchen-3ya.example,o=acme,{BASE}",
    # Attribute names in odd case, as some servers return them.
    OBJECTCLASS=["inetOrgPerson", "posixAccount", "ispctlMailUser", "ispctlManaged"],
    UID="a+b@xn--mnchen-3ya.example", MAIL="a+b@xn--mnchen-3ya.example",
    displayname="  Zoë, \"Z\" + <z>  ", CN="  Zoë, \"Z\" + <z>  ",
    sn="  Zoë, \"Z\" + <z>  ",
    userPassword="{CRYPT}$6$salt$hash", ispctlMailQuota="4294967296", ispctlAccountStatus="suspended",
    ispctlEnabledService=["smtp", "imap"], ispctlMailAlias=["zz@xn--mnchen-3ya.example", "aa@xn--mnchen-3ya.example"],
    homeDirectory="/var/vmail/xn--mnchen-3ya.example/a+b", uidNumber="5000", gidNumber="5001", ispctlFingerprint=FP,
)
ALIAS = raw(
    f"mail=\\23team@xn--mnchen-3ya.example,associatedDomain=xn--mnchen-3ya.example,o=acme,{BASE}",
    objectClass=["ispctlMailGroup", "ispctlManaged"], mail="#team@xn--mnchen-3ya.example",
    ispctlMailTarget=["b@xn--mnchen-3ya.example", "a+b@xn--mnchen-3ya.example"], description="  the team ",
)


def parsed(*entries: Raw, base: str = BASE) -> dict[str, Resource]:
    return {item.resource.address: item.resource for item in live.parse_entries(list(entries), base)}


def test_each_kind_parses_into_typed_values() -> None:
    found = parsed(TENANT, DOMAIN, MAILBOX, ALIAS)
    assert sorted(found) == [
        "alias.#team@xn--mnchen-3ya.example", "domain.xn--mnchen-3ya.example",
        "mailbox.a+b@xn--mnchen-3ya.example", "tenant.acme",
    ]
    assert found["tenant.acme"].attrs == {
        "kind": "reseller", "display_name": "ACME Hosting", "contact": "ops@acme.example", "status": "active",
        "max_domains": 10, "max_mailboxes": None, "max_aliases": None, "quota_pool": 10737418240, "protected": None,
    }
    assert found["domain.xn--mnchen-3ya.example"].attrs["services"] == ("dns", "mail")
    assert found["domain.xn--mnchen-3ya.example"].attrs["default_quota"] == 1073741824
    box = found["mailbox.a+b@xn--mnchen-3ya.example"]
    assert box.attrs == {
        "address": "a+b@xn--mnchen-3ya.example", "display_name": "  Zoë, \"Z\" + <z>  ",
        "password": "{CRYPT}$6$salt$hash", "quota": 4294967296,
        "status": "suspended", "services": ("imap", "smtp"),
        "aliases": ("aa@xn--mnchen-3ya.example", "zz@xn--mnchen-3ya.example"), "forward": None,
        "home": "/var/vmail/xn--mnchen-3ya.example/a+b", "uid_number": 5000, "gid_number": 5001,
    }
    assert box.sensitive == frozenset({"password"})
    assert found["alias.#team@xn--mnchen-3ya.example"].attrs["targets"] == (
        "a+b@xn--mnchen-3ya.example", "b@xn--mnchen-3ya.example")


def test_parents_come_from_the_dn() -> None:
    found = parsed(TENANT, DOMAIN, MAILBOX, ALIAS)
    assert found["tenant.acme"].parent is None
    assert found["domain.xn--mnchen-3ya.example"].parent == "tenant.acme"
    assert found["mailbox.a+b@xn--mnchen-3ya.example"].parent == "domain.xn--mnchen-3ya.example"
    assert found["alias.#team@xn--mnchen-3ya.example"].parent == "domain.xn--mnchen-3ya.example"


def test_a_parent_that_is_not_a_managed_entry_never_matches_a_desired_one() -> None:
    # The domain's tenant is missing from the results (e.g. it lacks the marker): the plan
    # must move the domain back under a real tenant, so its parent is a non-address.
    found = parsed(DOMAIN)
    parent = found["domain.xn--mnchen-3ya.example"].parent
    assert parent is not None and not parent.startswith("tenant.")
    assert "o=acme" in parent


def test_the_base_dn_matches_whatever_its_spelling() -> None:
    found = parsed(TENANT, base="OU=IspCtl, DC=Example, DC=Net")
    assert found["tenant.acme"].parent is None


def test_fingerprint_is_recorded_when_present_and_none_otherwise() -> None:
    found = parsed(TENANT, DOMAIN)
    assert found["tenant.acme"].recorded_fingerprint == FP
    assert found["domain.xn--mnchen-3ya.example"].recorded_fingerprint is None
    assert found["domain.xn--mnchen-3ya.example"].drifted() == "created outside ispctl"


def test_the_key_is_the_unescaped_folded_rdn_value_not_the_attribute() -> None:
    # The DN names the entry; a stray attribute value must not rename it.
    entry = raw(f"uid=Bob@Example.NET,associatedDomain=example.net,{BASE}",
                objectClass=["ispctlMailUser", "ispctlManaged"], uid=["other@example.net", "Bob@Example.NET"])
    assert list(parsed(entry)) == ["mailbox.bob@example.net"]


def test_the_key_falls_back_to_the_naming_attribute() -> None:
    entry = raw(f"cn=legacy,associatedDomain=example.net,{BASE}",
                objectClass=["ispctlMailGroup", "ispctlManaged"], mail="Team@example.net")
    assert list(parsed(entry)) == ["alias.team@example.net"]


def test_the_naming_value_is_found_in_a_multi_valued_rdn() -> None:
    entry = raw(f"cn=Team+mail=team@example.net,associatedDomain=example.net,{BASE}",
                objectClass=["ispctlMailGroup", "ispctlManaged"], mail="team@example.net", cn="Team")
    domain = raw(f"associatedDomain=example.net,{BASE}", objectClass=["ispctlDomain", "ispctlManaged"],
                 associatedDomain="example.net")
    found = parsed(entry, domain)
    assert found["alias.team@example.net"].parent == "domain.example.net"


@pytest.mark.parametrize(
    ("cn", "sn", "shown"),
    [
        (["Hand Edited"], ["Anna"], "Anna (but cn: Hand Edited)"),
        (["Anna", "A. M."], ["Anna"], "Anna (but cn: Anna, A. M.)"),
        (["Anna"], [], "Anna (but sn: absent)"),
    ],
)
def test_copies_of_one_field_that_disagree_show_as_a_change(cn: list[str], sn: list[str], shown: str) -> None:
    # displayName, cn and sn all carry the display name: a hand edit of any copy is drift.
    box = raw(f"uid=a@example.net,associatedDomain=example.net,{BASE}",
              objectClass=["inetOrgPerson", "ispctlMailUser", "ispctlManaged"], displayName="Anna",
              ispctlFingerprint=Resource("mailbox", "a@example.net", {"display_name": "Anna"}).fingerprint(),
              **({"cn": cn} if cn else {}), **({"sn": sn} if sn else {}))
    resource = parsed(box)["mailbox.a@example.net"]
    assert resource.attrs["display_name"] == shown
    assert resource.drifted() == "changed outside ispctl"


def test_copies_that_agree_read_as_one_value_and_a_missing_first_copy_is_named() -> None:
    box = raw(f"uid=a@example.net,{BASE}", objectClass=["ispctlMailUser", "ispctlManaged"],
              displayName="Anna", cn="Anna", sn="Anna")
    assert parsed(box)["mailbox.a@example.net"].attrs["display_name"] == "Anna"
    bare = raw(f"uid=a@example.net,{BASE}", objectClass=["ispctlMailUser", "ispctlManaged"], cn="Anna", sn="Anna")
    assert parsed(bare)["mailbox.a@example.net"].attrs["display_name"] == "(absent) (but cn: Anna)"


def test_entries_of_no_known_kind_are_skipped() -> None:
    stray = raw(f"cn=notes,{BASE}", objectClass=["organizationalRole", "ispctlManaged"], cn="notes")
    assert list(parsed(stray, TENANT)) == ["tenant.acme"]


def encode(attrs: Mapping[str, list[Any]]) -> dict[str, list[bytes]]:
    return {name: [str(v).encode() for v in values] for name, values in attrs.items()}


@pytest.mark.parametrize("kind", ["tenant", "domain", "mailbox", "alias"])
def test_what_is_written_reads_back_identical_with_a_matching_fingerprint(kind: str) -> None:
    samples: dict[str, Resource] = {
        "tenant": Resource("tenant", "acme", {"kind": "client", "display_name": "  A, \"B\" ", "contact": None,
                                              "status": "active", "max_domains": 0, "quota_pool": 2**40}),
        "domain": Resource("domain", "xn--mnchen-3ya.example", {"type": "alias", "alias_of": "example.net",
                                                                  "services": ("mail",), "description": "D;#=\\"}),
        "mailbox": Resource("mailbox", "#h@example.net", {"display_name": "Ünï", "password": "{CRYPT}$6$s$h",
                                                          "forward": ("a@x.example", "#h@example.net"), "quota": 0}),
        "alias": Resource("alias", "=e+q@example.net", {"targets": ("a@example.net",), "status": "suspended"}),
    }
    resource = samples[kind]
    entry_dn = dn.child(mapping.KINDS[kind].rdn_attr, resource.key, BASE)
    back = parsed((entry_dn, encode(mapping.entry_attributes(resource))))
    assert list(back) == [resource.address]
    (only,) = back.values()
    assert only.attrs == {**dict.fromkeys(mapping.KINDS[kind].fields), **resource.attrs}
    assert only.recorded_fingerprint == resource.fingerprint() == only.fingerprint()
    assert only.drifted() is None




def test_every_live_resource_is_what_the_normalising_constructor_makes() -> None:
    # Resource.canonical takes the values as they are: they must already be canonical.
    odd = raw(f"mail=x@example.net,{BASE}", objectClass=["ispctlMailGroup", "ispctlManaged"], mail="x@example.net",
              ispctlMailTarget=["b@x.example", "a@x.example", "b@x.example"], description="", ispctlAccountStatus="")
    for resource in parsed(TENANT, DOMAIN, MAILBOX, ALIAS, odd).values():
        assert type(resource.attrs) is Canonical and list(resource.attrs) == sorted(resource.attrs)
        for value in resource.attrs.values():
            assert normalise_value(value) == value and type(normalise_value(value)) is type(value)
        again = Resource(resource.kind, resource.key, dict(resource.attrs), resource.parent,
                         sensitive=resource.sensitive, recorded_fingerprint=resource.recorded_fingerprint,
                         interrupted=resource.interrupted)
        assert again == resource and again.create_only == resource.create_only
    alias = parsed(odd)["alias.x@example.net"]
    assert alias.attrs["targets"] == ("a@x.example", "b@x.example")  # a set: sorted, once each
    assert alias.attrs["description"] is None and alias.attrs["status"] is None  # "" is absent


@pytest.mark.parametrize(("text", "value"), [("TRUE", True), ("true", True), ("FALSE", False), ("no", False)])
def test_flags_and_numbers_keep_their_types_when_values_are_shared(text: str, value: bool) -> None:
    # Values are shared per field: 1 and True are equal (and hash alike) but must stay apart.
    tenants = [raw(f"o=t{i},{BASE}", objectClass=["ispctlTenant", "ispctlManaged"], o=f"t{i}",
                   ispctlProtected=text, ispctlMaxDomains="1", ispctlMaxMailboxes=" 0 ", ispctlAccountStatus="active")
               for i in range(3)]
    found = parsed(*tenants)
    for resource in found.values():
        assert resource.attrs["protected"] is value
        assert type(resource.attrs["max_domains"]) is int and resource.attrs["max_domains"] == 1
        assert type(resource.attrs["max_mailboxes"]) is int and resource.attrs["max_mailboxes"] == 0
    first, second, _third = found.values()
    assert first.attrs["status"] is second.attrs["status"]  # one string for the whole read


def test_one_attribute_under_two_spellings_is_one_set_of_values() -> None:
    dn_text, values = raw(f"uid=a@example.net,{BASE}", objectClass=["ispctlMailUser", "ispctlManaged"],
                          ispctlEnabledService="imap", ISPCTLENABLEDSERVICE=["smtp", "imap"])
    found = parsed((dn_text, values))
    assert found["mailbox.a@example.net"].attrs["services"] == ("imap", "smtp")


def test_text_values_read_like_bytes() -> None:
    dn_text, values = MAILBOX
    as_text = {name: [v.decode() for v in items] for name, items in values.items()}
    assert parsed((dn_text, as_text)) == parsed(MAILBOX)  # type: ignore[arg-type]


def test_pages_in_any_order_give_the_same_resources() -> None:
    tree = live.LiveTree(BASE)
    tree.add([MAILBOX, ALIAS])  # the children's page first: parents are resolved at the end
    tree.add([DOMAIN])
    tree.add([TENANT])
    by_page = {item.resource.address: item.resource for item in tree.entries()}
    assert by_page == parsed(TENANT, DOMAIN, MAILBOX, ALIAS)
    assert tree.dns == {
        "tenant.acme": TENANT[0], "domain.xn--mnchen-3ya.example": DOMAIN[0],
        "mailbox.a+b@xn--mnchen-3ya.example": MAILBOX[0], "alias.#team@xn--mnchen-3ya.example": ALIAS[0],
    }


def test_a_noted_entry_names_its_children_without_being_read() -> None:
    tree = live.LiveTree(BASE)
    tree.add([DOMAIN, MAILBOX])
    assert tree.unknown_parents() == [f"o=acme,{BASE}"]
    tree.note([(f"O=ACME,{BASE}", {"objectClass": [b"ispctlTenant", b"ispctlManaged"]})])  # any spelling of the DN
    assert tree.unknown_parents() == []
    found = {item.resource.address: item.resource for item in tree.entries()}
    assert sorted(found) == ["domain.xn--mnchen-3ya.example", "mailbox.a+b@xn--mnchen-3ya.example"]
    assert found["domain.xn--mnchen-3ya.example"].parent == "tenant.acme"
    assert tree.dns["tenant.acme"] == f"O=ACME,{BASE}"


def test_a_mailbox_with_a_second_uid_is_an_interrupted_rename_not_drift() -> None:
    dn_text, values = MAILBOX
    values = {**values, "UID": [b"a+b@xn--mnchen-3ya.example", b"New@xn--mnchen-3ya.example"]}
    box = parsed((dn_text, values))["mailbox.a+b@xn--mnchen-3ya.example"]
    assert box.interrupted == ("the rename of a+b@xn--mnchen-3ya.example to new@xn--mnchen-3ya.example stopped "
                               "after giving it the new address")
    assert box.drifted() is None
    assert parsed(MAILBOX)["mailbox.a+b@xn--mnchen-3ya.example"].interrupted is None


def test_a_tenant_with_a_second_o_is_an_interrupted_rename_not_drift() -> None:
    dn_text, values = TENANT
    tenant = parsed((dn_text, {**values, "o": [b"acme", b"Apex"]}))["tenant.acme"]
    assert tenant.interrupted == "the rename of acme to apex stopped before its entry was renamed"
    assert tenant.drifted() is None
    assert parsed(TENANT)["tenant.acme"].interrupted is None


@pytest.mark.parametrize(("classes", "kind"), [
    (["inetOrgPerson", "posixAccount", "ispctlMailUser", "ispctlManaged"], "mailbox"),
    (["INETORGPERSON", "ispctlmailuser", "ispctlManaged", "top"], "mailbox"),
    (["ispctlMailUser", "ispctlTenant", "ispctlManaged"], "tenant"),  # two kinds: the first of KINDS
    (["ispctlMailUser", "ISPCTLTENANT", "ispctlManaged"], "tenant"),
    (["organization", "ispctlManaged"], None),
    (["ispctlManaged", "organizationalRole"], None),
])
def test_the_kind_is_the_first_identifying_class_whatever_its_spelling(classes: list[str], kind: str | None) -> None:
    entry = raw(f"uid=a@example.net,{BASE}", objectClass=classes, uid="a@example.net", o="a@example.net")
    assert [r.kind for r in parsed(entry).values()] == ([kind] if kind else [])


@pytest.mark.parametrize(("conv", "texts"), [
    ("str", ["x"]), ("str", [""]), ("str", []), ("int", ["0"]), ("int", [" 42"]), ("multi", ["b", "a", "b"]),
    ("multi", []), ("bool", ["TRUE"]), ("bool", ["true"]), ("bool", ["FALSE"]),
])
def test_a_value_read_is_the_normalised_conversion_of_its_texts(conv: mapping.Conv, texts: list[str]) -> None:
    expected = normalise_value(mapping.from_ldap(conv, texts))
    for raw_values in ([t.encode() for t in texts], texts):
        assert live.value_of(conv, raw_values) == expected
        assert type(live.value_of(conv, raw_values)) is type(expected)


def test_kinds_that_share_a_class_are_told_apart_by_all_their_classes() -> None:
    # Two services' new kinds both on the structural class account, and one's class also an
    # optional class of mailboxes: each entry is the kind whose classes it carries in full.
    from ispctl.reconciler.contract import DirectoryPart

    dmap = mapping.extend([
        DirectoryPart("mailbox", {"ftp_status": (("FTPStatus",), "str")}, ("PureFTPdUser", "ispctlFtpUser")),
        DirectoryPart("dialup", {"x": (("radiusFramedIPAddress",), "str")}, ("account", "radiusprofile"),
                      rdn_attr="uid", identifying_class="account"),
        DirectoryPart("login", {"home": (("homeDirectory",), "str")}, ("account", "posixAccount", "ispctlFtpUser"),
                      rdn_attr="uid", identifying_class="ispctlFtpUser"),
    ])
    entries = [
        raw(f"uid=d1,{BASE}", objectClass=["account", "radiusprofile", "ispctlManaged"], uid="d1"),
        raw(f"uid=l1,{BASE}", objectClass=["account", "posixAccount", "ispctlFtpUser", "ispctlManaged"], uid="l1",
            homeDirectory="/srv/l1"),
        raw(f"uid=m@x.net,{BASE}", objectClass=["inetOrgPerson", "posixAccount", "ispctlMailUser", "ispctlManaged",
                                                "PureFTPdUser", "ispctlFtpUser"], uid="m@x.net", FTPStatus="enabled"),
    ]
    found = {e.resource.key: e.resource for e in live.parse_entries(entries, BASE, dmap)}
    assert {key: r.kind for key, r in found.items()} == {"d1": "dialup", "l1": "login", "m@x.net": "mailbox"}
    assert found["l1"].attrs["home"] == "/srv/l1" and found["m@x.net"].attrs["ftp_status"] == "enabled"
