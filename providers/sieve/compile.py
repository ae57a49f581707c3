"""The Sieve service's part of the desired state: one script per mailbox that declares rules.

A mailbox with a ``vacation:`` or ``filters:`` section gets ``sieve.<address>``: its script
(``script.render``) at ``<home>/ispctl.sieve``, owned by the mail store's owner, after the
mailbox's home (it depends on ``maildir.<address>``, so it is written once the home exists
and removed before the home is archived). A mailbox without either section gets none, so
removing both sections removes ispctl's script -- and only ispctl's.
"""

from __future__ import annotations

from ispctl.providers.mailstore.paths import home_directory
from ispctl.providers.mailstore.settings import MAIL
from ispctl.providers.sieve.provider import KIND, MAILDIR
from ispctl.providers.sieve.script import FILE_NAME, render
from ispctl.providers.sieve.settings import FILTERS, VACATION
from ispctl.reconciler.contract import Catalog, Compiled, Facts, Resource, address_of


def compile_sieve(catalog: Catalog) -> Compiled:
    mail = catalog.estate.site.section(MAIL)
    out = Compiled()
    for box in catalog.mailboxes.values():
        vacation, filters = box.spec.get_section(VACATION), box.spec.get_section(FILTERS)
        if vacation is None and (filters is None or not filters.root):
            continue
        home = home_directory(mail.root, box.domain, box.local)
        out.resources.append(Resource(
            KIND, box.address,
            {"path": f"{home}/{FILE_NAME}", "uid": mail.uid, "gid": mail.gid,
             "script": render(box.address, vacation, filters)},
            depends_on=(address_of(MAILDIR, box.address),),
            previous=box.previous,  # a renamed mailbox's script is moved with its home, not re-made
            source=box.origin.location(),
        ))
    return out


def sieve_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """No facts: a script is made from its mailbox's own ``vacation:`` and ``filters:`` and lives in
    its own home (by its address, claimed once in the estate: the catalog's facts). A filter's
    ``forward`` and a vacation's ``addresses`` are written into the script as they are: no rule
    looks them up in another file (Sieve redirects to any address)."""
    return {}
