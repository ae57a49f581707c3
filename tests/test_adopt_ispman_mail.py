"""ISPMan's users and mail groups as mailboxes and aliases (the parts the golden files do not show)."""

from __future__ import annotations

from ispctl.providers.adopt.ispman import build_estate
from ispctl.providers.adopt.ispman_mail import read_mailboxes
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, ImportReport
from ispctl.providers.adopt.source import SourceEntry

BASE = "ispmanDomain=a.example,o=ispman"


def entry(dn: str, *classes: str, **attrs: str | list[str]) -> SourceEntry:
    values = {k.lower(): v if isinstance(v, list) else [v] for k, v in attrs.items()}
    return SourceEntry(dn, {"objectclass": list(classes), "ispmandomain": ["a.example"], **values})


def test_addresses_held_twice_are_reported_never_merged_or_dropped_silently() -> None:
    base = BASE
    entries = [
        entry(base, "ispmanDomain", ispmanDomainType="nodns", ispmanDomainService="mail"),
        entry(f"uid=joe_a_example,ou=users,{base}", "ispmanDomainUser", ispmanUserId="joe", userPassword="noEntry"),
        entry(f"uid=joe2_a_example,ou=users,{base}", "ispmanDomainUser", ispmanUserId="joe", userPassword="noEntry"),
        entry(f"cn=joe,ou=ispmanMailGroup,{base}", "ispmanMailGroup", mailLocalAddress="joe@a.example",
              mailForwardingAddress="x@b.example", mailAlias="joe-list@a.example"),
        entry(f"cn=team,ou=ispmanMailGroup,{base}", "ispmanMailGroup", mailLocalAddress="team@a.example",
              mailForwardingAddress=["joe@a.example", "x@b.example"], mailAlias=["crew@a.example", "t@b.example"]),
    ]
    estate, report = build_estate(entries, "test")
    data = estate.domains["a.example"].data
    assert list(data["mailboxes"]) == ["joe"]
    assert {k: v for k, v in data["aliases"].items()} == {"team": ["joe", "x@b.example"], "crew": "team"}
    assert sorted((i.dn.split(",")[0], i.detail) for i in report.items(NOT_IMPORTED)) == [
        ("cn=joe", "group address joe-list@a.example names a group address that was not imported"),
        ("cn=joe", "group address joe@a.example is already a mailbox's"),
        ("cn=team", "group address t@b.example is not in a.example"),
        ("uid=joe_a_example", f"a second user for joe@a.example (uid=joe2_a_example,ou=users,{base} is imported)"),
    ]
    assert report.imported["mail groups"] == 1


def test_forwards_keep_a_copy_exactly_when_ispman_routed_to_the_mailbox_too() -> None:
    report = ImportReport("test")
    boxes, uses = read_mailboxes([
        entry(f"uid=a_a_example,ou=users,{BASE}", "ispmanDomainUser", ispmanUserId="a", mailQuota="0",
              mailForwardingAddress=["A@Elsewhere.example"], mailRoutingAddress="a@a.example", FTPStatus="enabled"),
        entry(f"uid=b_a_example,ou=users,{BASE}", "ispmanDomainUser", uid=["b_a_example", "b@a.example"],
              mailForwardingAddress="b@elsewhere.example", dialupAccess="FALSE"),
    ], "a.example", report)
    assert dict(boxes["a"]["forward"]) == {"to": ["a@elsewhere.example"], "keep_copy": True}
    assert dict(boxes["b"]["forward"]) == {"to": ["b@elsewhere.example"], "keep_copy": False}  # ispman.addUser -m none
    assert boxes["a"]["quota"] == 0 and boxes["b"]["quota"] == 0  # mailQuota 0 / none: no quota
    assert dict(boxes["a"]["services"]) == {"ftp": True} and "services" not in boxes["b"]  # dialupAccess FALSE: off
    assert uses == {"ftp"}
    assert [i.detail for i in report.items(CONVERTED)] == ["no password in ISPMan (noEntry): none set"] * 2
