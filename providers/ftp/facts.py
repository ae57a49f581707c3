"""What the FTP rules across files read of each domain file (``Service.facts``, ``estate.facts``).

A mailbox's FTP login is its address (the estate's own ``address:`` facts) with values from its
mailbox, domain, tenants and ispctl.yaml. A site's owner login (``sites``) is the site of the same
file, so the web service's facts of that file (``host:``) keep whatever decides that site
together; its uid and status come from the tenant files, which every run loads. What is left
across files are counts, as ``Facts.totals`` (summed into ``Catalog.outside`` for the files a
narrowed run did not load):

* ftp hosts' capacity: ``placed:ftp:<host>``, the file's site logins placed on each host (the
  estate's placement rule adds them, ``placed_key``);
* ``ftp:sections``, 1 for a file with an ``ftp:`` section: only where some file has one are the
  estate's ``placement: {ftp: ...}`` checked (``sites``), so a narrowed run checks them too when
  the files it did not load have one;
* ``ftp:refused-placements``, the file's ``placement: {ftp: ...}`` naming no ftp host, counted
  by the placement code itself; non-zero in a valid estate only while no file has an ``ftp:``
  section, and a narrowed run that loaded a new one reports them (``sites``).
"""

from __future__ import annotations

from dataclasses import replace

from ispctl.providers.ftp.sites import DOMAIN_FTP, KIND, REFUSED, SECTIONS
from ispctl.reconciler.contract import Catalog, Compiled, Facts, place, placed_key


def ftp_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """Every domain file's FTP totals (module docstring)."""
    totals: dict[str, dict[str, int]] = {}

    def count(file: str, key: str) -> None:
        found = totals.setdefault(file, {})
        found[key] = found.get(key, 0) + 1

    written = False
    for domain in catalog.domains.values():
        if domain.spec.get_section(DOMAIN_FTP) is not None:
            written = True
            count(domain.origin.doc.file, SECTIONS)
    if not written:
        # The placements the logins' run would refuse (in a valid estate with an ftp: section
        # there is none): each problem's file, tenant files included (every run loads those).
        # Mailboxes place their mail store only; without them the check costs one look per domain.
        site_file = catalog.estate.site_doc.file
        for problem in place(replace(catalog, mailboxes={}), "ftp", ()).problems:
            if problem.location.file != site_file:
                count(problem.location.file, REFUSED)
    for resource in compiled.resources:
        host = resource.attrs.get("host") if resource.kind == KIND else None
        if isinstance(host, str) and resource.source is not None:
            count(resource.source.file, placed_key("ftp", host))
    return {file: Facts(totals=found) for file, found in totals.items()}


__all__ = ["ftp_facts"]
