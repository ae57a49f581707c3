"""Resources -> directory entries (what is written), search attributes and value conversions."""

from __future__ import annotations

from typing import Any

import pytest

from ispctl.providers.ldap import mapping
from ispctl.reconciler.engine.resources import Resource

BASE = "ou=ispctl,dc=example,dc=net"


def test_entry_attributes_of_a_new_mailbox() -> None:
    box = Resource("mailbox", "a+b@example.net", {
        "address": "a+b@example.net", "display_name": "Zoë", "password": "{CRYPT}$6$x$y", "quota": 1024,
        "status": "active",
        "services": ("smtp", "imap"), "aliases": None, "forward": (), "home": "/var/vmail/example.net/a+b",
        "uid_number": 5000, "gid_number": 5000,
    }, parent="domain.example.net", sensitive=frozenset({"password"}))
    attrs = mapping.entry_attributes(box)
    assert attrs["objectClass"] == ["inetOrgPerson", "posixAccount", "ispctlMailUser", "ispctlManaged"]
    assert attrs["uid"] == ["a+b@example.net"] and attrs["mail"] == ["a+b@example.net"]
    # inetOrgPerson needs cn and sn: all three carry the display name.
    assert attrs["displayName"] == attrs["cn"] == attrs["sn"] == ["Zoë"]
    assert attrs["ispctlMailQuota"] == ["1024"] and attrs["uidNumber"] == ["5000"]
    assert attrs["ispctlEnabledService"] == ["imap", "smtp"]
    assert "ispctlMailAlias" not in attrs and "ispctlMailForward" not in attrs
    assert attrs["ispctlFingerprint"] == [box.fingerprint()]


def test_modifications_replace_only_what_changed_plus_the_fingerprint() -> None:
    after = Resource("domain", "example.net", {"type": "primary", "services": ("mail",), "catch_all": None,
                                               "description": "new"})
    mods = mapping.modifications(after, ("services", "catch_all", "description", "not_a_field"))
    assert mods == {
        "ispctlEnabledService": ["mail"],
        "ispctlCatchAll": [],  # an empty replace removes the attribute
        "description": ["new"],
        "ispctlFingerprint": [after.fingerprint()],
    }


def test_a_display_name_change_rewrites_every_attribute_that_carries_it() -> None:
    after = Resource("mailbox", "x@example.net", {"display_name": "New Name"})
    assert mapping.modifications(after, ("display_name",)) == {
        "displayName": ["New Name"], "cn": ["New Name"], "sn": ["New Name"],
        "ispctlFingerprint": [after.fingerprint()],
    }


def test_search_asks_for_every_mapped_attribute() -> None:
    wanted = set(mapping.search_attributes())
    assert {"objectClass", "ispctlFingerprint", "mail", "uid", "o", "associatedDomain"} <= wanted
    for kmap in mapping.KINDS.values():
        for names, _conv in kmap.fields.values():
            assert names[0] in wanted  # parse_entries reads the first name of each field
    assert "*" not in wanted and "+" not in wanted
    assert mapping.SEARCH_FILTER == "(objectClass=ispctlManaged)"


@pytest.mark.parametrize(
    ("conv", "value", "ldap"),
    [("str", "x", ["x"]), ("int", 0, ["0"]), ("multi", ("a", "b"), ["a", "b"]), ("bool", True, ["TRUE"]),
     ("bool", False, ["FALSE"]), ("str", None, [])],
)
def test_value_conversions_round_trip(conv: mapping.Conv, value: Any, ldap: list[str]) -> None:
    assert mapping.to_ldap(conv, value) == ldap
    assert mapping.from_ldap(conv, ldap) == value


def test_entry_attributes_are_to_ldaps_values_for_every_kind_and_conversion() -> None:
    # entry_attributes converts inline; it must write exactly what to_ldap says for each field
    # (False and 0 are values, None and an empty set are absent).
    samples: dict[str, list[Any]] = {"str": ["x", "Zoë"], "int": [0, 7], "bool": [False, True],
                                     "multi": [("a", "b"), None]}
    for kind, kmap in mapping.KINDS.items():
        for pick in range(2):
            attrs = {field: samples[conv][pick] for field, (_, conv) in kmap.fields.items()}
            resource = Resource(kind, "k", attrs, parent="tenant.t")
            expected: dict[str, list[Any]] = {"objectClass": list(kmap.object_classes), kmap.rdn_attr: ["k"]}
            for field, (names, conv) in kmap.fields.items():
                values = mapping.to_ldap(conv, resource.attrs.get(field))
                for name in names if values else ():
                    expected[name] = values
            expected[mapping.FINGERPRINT] = [resource.fingerprint()]
            assert mapping.entry_attributes(resource) == expected
