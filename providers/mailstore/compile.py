"""The mail store's part of the desired state: a home on disk for every mailbox.

For each mailbox of the estate it compiles ``maildir.<address>`` (``path``, ``uid``, ``gid``)
and gives the mailbox's own resource the same home and owner (``home``, ``uid_number``,
``gid_number``), which the directory stores and Dovecot reads: one layout rule, here. The
maildir depends on the mailbox's entry, so it is created after it, archived before the entry
is deleted, and renamed after the entry is; it follows the mailbox's renames.

A mailbox's ``maildir: {adopt: <path>}`` (mail that exists before ispctl, see ``adopt``) becomes
the maildir's ``adopt`` attribute, used when the home is created and never compared after
(``create_only``): once the home is ispctl's, where its mail came from is history. The path
must lie below the mail root or a folder of ``mail.adopt_from``: the site's operator, not a
domain file, says where mail may be taken from.
"""

from __future__ import annotations

from collections import Counter

from ispctl.providers.mailstore.paths import ADOPT, home_directory
from ispctl.providers.mailstore.provider import KIND
from ispctl.providers.mailstore.settings import MAIL, MAILDIR, MailSettings
from ispctl.reconciler.contract import (
    CLUSTER,
    MAILBOX,
    STICKY,
    Catalog,
    Compiled,
    Facts,
    FactsBuilder,
    NMailbox,
    Problem,
    Resource,
    address_of,
    place_mailboxes,
    placed_key,
)

ADOPTED = frozenset({ADOPT})

NONE: frozenset[str] = frozenset()


def _adoption_problem(mail: MailSettings, path: str) -> str | None:
    allowed = (mail.root, *mail.adopt_from)
    if not any(path.startswith(top + "/") for top in allowed):
        return (f"{path} is not below the mail root {mail.root} or a folder of mail.adopt_from in ispctl.yaml; mail is "
                "adopted only from where the site's settings allow")
    archive = mail.archive_dir
    if path == archive or path.startswith(archive + "/") or mail.root.startswith(path + "/"):
        return f"{path} is the mail archive or holds the mail root: it cannot be one mailbox's mail"
    return None


def _adopt(mail: MailSettings, box: NMailbox, out: Compiled) -> str | None:
    spec = box.spec.get_section(MAILDIR)
    if spec is None or spec.adopt is None:
        return None
    problem = _adoption_problem(mail, spec.adopt)
    if problem is not None:
        out.problems.append(Problem(box.origin.doc.location(box.origin.path + ("maildir", "adopt")), "", problem))
        return None
    return spec.adopt


def compile_mailstore(catalog: Catalog) -> Compiled:
    mail = catalog.estate.site.section(MAIL)
    out = Compiled()
    # In a cluster every mailbox has a mail_store host, shown on its maildir when it is made
    # (the directory stores it as mailHost: the Dovecot service's ``mailhost`` kind, which moves
    # the mail when a pinned host changes). A host's own run (ISPCTL_HOST) keeps the maildirs
    # the directory places on it (``MailStoreProvider.reconciles``): a default host is the
    # directory's once written, and a pinned one changes there only when the move is done. So
    # the maildir's host is never compared (every live home is on this host). No cluster: no
    # host, as before.
    placement = place_mailboxes(catalog)
    out.problems.extend(placement.problems)
    for box in catalog.mailboxes.values():
        home = home_directory(mail.root, box.domain, box.local)
        mailbox = address_of(MAILBOX, box.address)  # one string for both uses below
        placed = placement.hosts.get(box.address)
        out.attrs[mailbox] = {"home": home, "uid_number": mail.uid, "gid_number": mail.gid}
        adopt = _adopt(mail, box, out)
        attrs: dict[str, str | int] = {"path": home, "uid": mail.uid, "gid": mail.gid}
        if placed is not None:
            attrs["host"] = placed.host
        if adopt is None and placed is not None:
            # A mailbox moved to this host finds its home already made by dsync (the copy runs
            # before the directory switch, README "Cluster"): it is adopted in place.
            adopt = home
        if adopt is not None:
            attrs[ADOPT] = adopt
        out.resources.append(Resource(
            KIND, box.address, attrs,
            depends_on=(mailbox,),
            previous=box.previous,
            source=box.origin.location(),  # the mailbox's own Location, not a copy of it
            create_only=(ADOPTED if adopt is not None else NONE) | (STICKY if placed is not None else NONE),
        ))
    return out


def mailstore_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """Each domain file's mailboxes per mail_store host, ``placed:mail_store:<host>`` (what
    ``placed_facts`` counts, here from the maildirs ``compile_mailstore`` placed rather than
    placing every mailbox again): a host's capacity bounds the mailboxes of every file together,
    and this service reports it (the Dovecot service places the same way and reports nothing).

    Nothing else here reads another domain file. A mailbox's home is ``<root>/<domain>/<local>``,
    one per address, and an address is claimed once in the estate (the catalog's own rule and
    facts, ``address:``), as are a renamed mailbox's ``previous:`` addresses, whose homes move.
    An adoption path is checked against ``ispctl.yaml`` only (under the mail root or
    ``mail.adopt_from``). Where a mailbox is placed depends on its own, its domain's (same file)
    and its tenants' ``placement:`` and the cluster's hosts; a default host on its address only.
    """
    if not catalog.estate.site.section(CLUSTER).with_role("mail_store"):
        return {}  # nothing is placed
    boxes = catalog.mailboxes
    counts: Counter[tuple[str, str]] = Counter()
    for resource in compiled.resources:
        host = resource.attrs.get("host")
        if isinstance(host, str) and resource.kind == KIND:
            counts[boxes[resource.key].origin.doc.file, host] += 1
    out = FactsBuilder()
    for (file, host), count in counts.items():
        out.count(file, placed_key("mail_store", host), count)
    return out.build()
