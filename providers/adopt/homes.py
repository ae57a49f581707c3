"""Where imported mailboxes' mail is, and the mail store settings that adopt it.

Each account's home (``homeDirectory``, or the older ``storageBaseDirectory`` +
``mailMessageStore``) becomes the mailbox's ``maildir: {adopt: <home>}``. The mail store
decides at apply: in place when the home is already ``<mail root>/<domain>/<local>``, else
one rename into it (``providers/mailstore/adopt.py``). The mail root is the operator's
(``--mail-root``); without one it is the root every home already sits under in ispctl's layout,
if there is one (everything is adopted in place), else the directory's common storage base
(everything is moved within it). Homes outside the root are allowed by ``mail.adopt_from``
(the folder they share). Accounts whose mail is not a maildir in ``<home>/Maildir`` are not
adopted, and reported.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ispctl.providers.adopt.mapping import MailboxMap
from ispctl.providers.adopt.report import NOT_IMPORTED, ImportReport
from ispctl.providers.adopt.source import SourceEntry

DEFAULT_ROOT = "/var/vmail"


@dataclass(frozen=True)
class HomeSettings:
    mail_root: str | None = None
    uid: int | None = None
    gid: int | None = None
    adopt: bool = True


@dataclass
class Homes:
    settings: HomeSettings
    report: ImportReport
    found: list[tuple[str, str, str]] = field(default_factory=list)  # (home, domain, local)
    bases: set[str] = field(default_factory=set)

    def adopt(self, entry: SourceEntry, mm: MailboxMap, domain: str, local: str) -> str | None:
        """The home to adopt for this account, or None (not asked, none recorded, or not a maildir)."""
        if not self.settings.adopt:
            return None
        home = entry.get(mm.home)
        base = entry.get(mm.storage_base)
        if home is None and base is not None and entry.get(mm.message_store) is not None:
            home = posixpath.join(base, entry.get(mm.message_store) or "")
        if home is None:
            return None
        fmt, folder = (entry.get(mm.mailbox_format) or "maildir"), (entry.get(mm.mailbox_folder) or "Maildir")
        if fmt.lower() != "maildir" or folder.strip("/") != "Maildir":
            self.report.add(NOT_IMPORTED, entry.dn, f"mail not adopted: {fmt} in <home>/{folder} (ispctl's store "
                                                    "keeps maildir in <home>/Maildir)")
            return None
        home = posixpath.normpath(home)
        if not home.startswith("/") or any(not c.isprintable() for c in home):
            self.report.add(NOT_IMPORTED, entry.dn, f"mail not adopted: {mm.home} is not an absolute path")
            return None
        if base is not None:
            self.bases.add(posixpath.normpath(base))
        self.found.append((home, domain, local))
        return home

    def mail_root(self) -> str:
        if self.settings.mail_root is not None:
            return self.settings.mail_root.rstrip("/")
        # Every home already where ispctl's layout puts it, under one root: that root (all in place).
        layout = [posixpath.dirname(posixpath.dirname(home)) for home, domain, local in self.found
                  if posixpath.basename(home) == local and posixpath.basename(posixpath.dirname(home)) == domain]
        if self.found and len(layout) == len(self.found) and len(set(layout)) == 1:
            return layout[0]
        if len(self.bases) == 1:
            return next(iter(self.bases))
        return DEFAULT_ROOT

    def site_settings(self) -> dict[str, Any]:
        """The mail: section of ispctl.yaml that adopts what was found; counts in the report."""
        root = self.mail_root()
        mail: dict[str, Any] = {"root": root}
        owner = self._owner()
        if owner is not None:
            mail["uid"], mail["gid"] = owner
        outside = sorted({home for home, _d, _l in self.found if not home.startswith(root + "/")})
        if outside:
            common = posixpath.commonpath(outside)
            if common.count("/") >= 2:
                mail["adopt_from"] = [common]
            else:
                self.report.add(NOT_IMPORTED, "(mail store)", f"{len(outside)} home(s) outside {root} share no folder: "
                                                              "list theirs in mail.adopt_from by hand")
        in_place = sum(1 for home, domain, local in self.found if home == f"{root}/{domain}/{local}")
        if self.found:
            self.report.count("maildirs adopted in place", in_place)
            self.report.count("maildirs moved into the store", len(self.found) - in_place)
        return mail

    def _owner(self) -> tuple[int, int] | None:
        """The mail's owner: as given, else as the first home on this machine has it."""
        if self.settings.uid is not None and self.settings.gid is not None:
            return self.settings.uid, self.settings.gid
        for home, _d, _l in self.found[:50]:
            try:
                st = os.stat(home)
            except OSError:
                continue
            # A root-owned home says nothing about the mail owner (mail.uid is at least 1).
            return (st.st_uid, st.st_gid) if st.st_uid and st.st_gid else None
        return None
