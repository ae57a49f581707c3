"""Vacation replies and simple filters, served by Dovecot's Sieve (Pigeonhole, dovecot-sieve).

Modules: ``settings`` (a mailbox's ``vacation:`` and ``filters:`` sections), ``script`` (the
Sieve text ispctl writes, with its ownership marker), ``compile`` (one ``sieve.<address>``
per mailbox that declares either), ``provider`` (writes ``<home>/ispctl.sieve``, compiled
with ``sievec``) and ``dovecot`` (the Pigeonhole and quota-warning part of
``ispctl render dovecot``).

Dovecot runs ispctl's script as ``sieve_before``; the user's own active script (ManageSieve's
``~/.dovecot.sieve``) runs after it and is never written by ispctl.
"""

from __future__ import annotations

from collections.abc import Mapping

from ispctl.providers.mailstore.settings import MAIL
from ispctl.providers.sieve.compile import compile_sieve, sieve_facts
from ispctl.providers.sieve.provider import SieveProvider, build_options
from ispctl.providers.sieve.settings import FILTERS, VACATION, Filter, Filters, Vacation
from ispctl.reconciler.contract import Service, SiteFile


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> SieveProvider:
    options = build_options(env or {})
    return SieveProvider(site.section(MAIL).root, options["sievec"] or "sievec", options["config"])


SERVICE = Service(
    name="sieve",
    summary="vacation replies and filters as each mailbox's Sieve script (Dovecot Pigeonhole)",
    provider=SieveProvider,
    build=build,
    sections=(VACATION, FILTERS),
    compile=compile_sieve,
    facts=sieve_facts,
)

__all__ = ["FILTERS", "SERVICE", "VACATION", "Filter", "Filters", "SieveProvider", "Vacation", "build"]
