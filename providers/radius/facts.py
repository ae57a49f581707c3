"""What the RADIUS rules across files read of each domain file (``Service.facts``, ``estate.facts``).

One rule looks past its own file: a standalone account's login ``<name>@<domain>`` must not be
an address of the estate (``validate``), and a mailbox, alias or extra address of another file
can claim that address (an extra address in another domain of the tenant). Each standalone
login is named ``address:<login>``, as the estate's own facts name every address a file claims
(``estate.catalog_facts``), so the two files are loaded together when either changes.

Everything else is within one file or read from files every run loads: a mailbox's account
is the mailbox's own (its address and renames are the estate's facts); profiles are declared in
tenant files and ispctl.yaml, and an account's profile, status and reply come from its own
file, its tenants and ispctl.yaml; former names (``previous:``) are checked within the domain.
"""

from __future__ import annotations

from ispctl.providers.radius.settings import DOMAIN_RADIUS
from ispctl.reconciler.contract import Catalog, Compiled, Facts


def radius_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """Every domain file's standalone logins as ``address:`` names (module docstring)."""
    del compiled  # the rule reads what the files wrote
    out: dict[str, Facts] = {}
    for domain in catalog.domains.values():
        section = domain.spec.get_section(DOMAIN_RADIUS)
        if section is not None and section.accounts:
            # Spelled as the rule compares it (``validate``: the key as written, then the domain).
            names = frozenset(f"address:{name}@{domain.name}" for name in section.accounts)
            out[domain.origin.doc.file] = Facts(names=names)
    return out


__all__ = ["radius_facts"]
