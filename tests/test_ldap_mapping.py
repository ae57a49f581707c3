"""Resources -> directory entries (what is written), search attributes and value conversions."""

from __future__ import annotations

from typing import Any

import pytest

from ispctl.providers.ldap import mapping
from ispctl.reconciler.contract import ConfigError, DirectoryPart
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


# -- services' directory parts (contract.DirectoryPart) ------------------------------------------

FTP_PART = DirectoryPart("mailbox", {"ftp_status": (("FTPStatus",), "str"),
                                     "ftp_quota_mb": (("FTPQuotaMBytes",), "int")}, object_classes=("PureFTPdUser",))
LOGIN_PART = DirectoryPart("login", {"home": (("homeDirectory",), "str"), "uid_number": (("uidNumber",), "int")},
                           object_classes=("account", "posixAccount"), rdn_attr="uid", identifying_class="account")


def test_a_part_for_an_existing_kind_adds_its_fields_and_brings_its_class_only_with_a_value() -> None:
    dmap = mapping.extend([FTP_PART])
    assert dmap.supported == mapping.SUPPORTED and {"FTPStatus", "FTPQuotaMBytes"} <= set(dmap.attributes)
    plain = Resource("mailbox", "a@example.net", {"address": "a@example.net"}, parent="domain.example.net")
    assert mapping.entry_attributes(plain, dmap) == mapping.entry_attributes(plain)  # nothing changes without values
    ftp = Resource("mailbox", "a@example.net", {"address": "a@example.net", "ftp_status": "enabled",
                                                "ftp_quota_mb": 0}, parent="domain.example.net")
    attrs = mapping.entry_attributes(ftp, dmap)
    assert attrs["objectClass"][-1] == "PureFTPdUser" and attrs["FTPQuotaMBytes"] == ["0"]
    assert attrs["FTPStatus"] == ["enabled"]
    # A change of one of the part's fields rewrites the classes with it; other changes do not.
    assert mapping.modifications(ftp, ("ftp_status",), dmap)["objectClass"][-1] == "PureFTPdUser"
    assert "objectClass" not in mapping.modifications(ftp, ("address",), dmap)
    gone = mapping.modifications(plain, ("ftp_status", "ftp_quota_mb"), dmap)
    assert gone["objectClass"] == list(mapping.KINDS["mailbox"].object_classes)
    assert gone["FTPStatus"] == gone["FTPQuotaMBytes"] == []
    # The base map (what every other caller gets) is untouched.
    assert "FTPStatus" not in mapping.search_attributes()


def test_a_part_with_an_rdn_is_a_new_kind_with_the_marker() -> None:
    dmap = mapping.extend([LOGIN_PART])
    assert "login" in dmap.supported
    login = Resource("login", "web1", {"home": "/srv/web1", "uid_number": 7001}, parent="domain.example.net")
    attrs = mapping.entry_attributes(login, dmap)
    assert attrs["objectClass"] == ["account", "posixAccount", mapping.MARKER]
    assert attrs["uid"] == ["web1"] and attrs["uidNumber"] == ["7001"]


@pytest.mark.parametrize(("part", "message"), [
    (DirectoryPart("mailbox", {"home2": (("homeDirectory",), "str")}), "already has: homeDirectory"),
    (DirectoryPart("mailbox", {"quota": (("FTPQuotaMBytes",), "int")}), "already has: quota"),
    (DirectoryPart("mailbox", {"x": (("X",), "float")}), "conversion 'float'"),
    (DirectoryPart("shelf", {"x": (("X",), "str")}), "kind 'shelf', which the directory does not store"),
    (DirectoryPart("domain", {"x": (("X",), "str")}, ("c",), rdn_attr="cn", identifying_class="c"),
     "already stores kind 'domain'"),
    (DirectoryPart("login", {"x": (("X",), "str")}, ("c",), rdn_attr="cn"), "needs an identifying_class"),
])
def test_a_part_that_clashes_with_the_directory_is_refused(part: DirectoryPart, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        mapping.extend([part])
