"""Where imported mail is and the mail store settings suggested for it."""

from __future__ import annotations

import os
from pathlib import Path

from ispctl.providers.adopt.homes import Homes, HomeSettings
from ispctl.providers.adopt.mapping import MailboxMap
from ispctl.providers.adopt.report import NOT_IMPORTED, ImportReport
from ispctl.providers.adopt.source import SourceEntry

MAP = MailboxMap()


def entry(local: str, **attrs: str) -> SourceEntry:
    return SourceEntry(f"mail={local}@shop.example", {k.lower(): [v] for k, v in attrs.items()})


def run(settings: HomeSettings, *entries: tuple[str, SourceEntry]) -> tuple[list[str | None], dict[str, object],
                                                                             ImportReport]:
    report = ImportReport("x")
    homes = Homes(settings, report)
    adopted = [homes.adopt(e, MAP, "shop.example", local) for local, e in entries]
    return adopted, homes.site_settings(), report


def test_homes_already_in_ispctls_layout_give_the_root_and_are_adopted_in_place() -> None:
    adopted, site, report = run(HomeSettings(uid=2000, gid=2000),
                                ("anna", entry("anna", homeDirectory="/srv/mail/shop.example/anna/")),
                                ("ben", entry("ben", homeDirectory="/srv/mail/shop.example/ben")))
    assert adopted == ["/srv/mail/shop.example/anna", "/srv/mail/shop.example/ben"]
    assert site == {"root": "/srv/mail", "uid": 2000, "gid": 2000}
    assert report.imported == {"maildirs adopted in place": 2, "maildirs moved into the store": 0}


def test_iredmail_homes_are_moved_within_the_storage_base() -> None:
    home = "vmail1/shop.example/a/n/n/anna-2019.01.01.00.00.00/"
    adopted, site, report = run(HomeSettings(), ("anna", entry("anna", storageBaseDirectory="/var/vmail",
                                                               mailMessageStore=home)))
    assert adopted == ["/var/vmail/vmail1/shop.example/a/n/n/anna-2019.01.01.00.00.00"]
    assert site == {"root": "/var/vmail"}
    assert report.imported["maildirs moved into the store"] == 1


def test_homes_outside_the_given_root_are_allowed_by_adopt_from(tmp_path: Path) -> None:
    old = tmp_path / "old" / "shop.example" / "anna"
    old.mkdir(parents=True)
    os.chown(old, 2001, 2002)
    adopted, site, _ = run(HomeSettings(mail_root="/var/vmail"), ("anna", entry("anna", homeDirectory=str(old))),
                           ("ben", entry("ben", homeDirectory=str(tmp_path / "old" / "b" / "ben"))))
    assert site == {"root": "/var/vmail", "uid": 2001, "gid": 2002, "adopt_from": [str(tmp_path / "old")]}


def test_what_is_not_a_maildir_in_home_maildir_is_reported_not_adopted() -> None:
    adopted, _, report = run(HomeSettings(), ("a", entry("a", homeDirectory="/m/a", mailboxFormat="mdbox")),
                             ("b", entry("b", homeDirectory="/m/b", mailboxFolder="Mail")),
                             ("c", entry("c", homeDirectory="relative/c")), ("d", entry("d")))
    assert adopted == [None, None, None, None]
    assert [i.detail for i in report.items(NOT_IMPORTED)] == [
        "mail not adopted: mdbox in <home>/Maildir (ispctl's store keeps maildir in <home>/Maildir)",
        "mail not adopted: maildir in <home>/Mail (ispctl's store keeps maildir in <home>/Maildir)",
        "mail not adopted: homeDirectory is not an absolute path"]
    assert run(HomeSettings(adopt=False), ("a", entry("a", homeDirectory="/m/shop.example/a")))[0] == [None]
