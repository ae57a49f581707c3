"""The mail store's part of the desired state: a home on disk for every mailbox.

For each mailbox of the estate it compiles ``maildir.<address>`` (``path``, ``uid``, ``gid``)
and gives the mailbox's own resource the same home and owner (``home``, ``uid_number``,
``gid_number``), which the directory stores and Dovecot reads: one layout rule, here. The
maildir depends on the mailbox's entry, so it is created after it, archived before the entry
is deleted, and renamed after the entry is; it follows the mailbox's renames.
"""

from __future__ import annotations

from ispctl.providers.mailstore.paths import home_directory
from ispctl.providers.mailstore.provider import KIND
from ispctl.providers.mailstore.settings import MAIL
from ispctl.reconciler.contract import MAILBOX, Catalog, Compiled, Resource, address_of


def compile_mailstore(catalog: Catalog) -> Compiled:
    mail = catalog.estate.site.section(MAIL)
    out = Compiled()
    for box in catalog.mailboxes.values():
        home = home_directory(mail.root, box.domain, box.local)
        mailbox = address_of(MAILBOX, box.address)  # one string for both uses below
        out.attrs[mailbox] = {"home": home, "uid_number": mail.uid, "gid_number": mail.gid}
        out.resources.append(Resource(
            KIND, box.address, {"path": home, "uid": mail.uid, "gid": mail.gid},
            depends_on=(mailbox,),
            previous=box.previous,
            source=box.origin.location(),  # the mailbox's own Location, not a copy of it
        ))
    return out
