"""The one registry of services: the built-in packages, then any installed plug-ins.

Adding a built-in service is one new package under ``providers/`` plus one line in
``BUILTIN``; order matters only for the sandbox (a component starts after what it
``needs``) and for listings. A service shipped as its own distribution registers
itself in the ``ispctl.services`` entry-point group instead (``name = "package:SERVICE"``),
as octoDNS and pre-commit take plug-ins; the command line is the only caller.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from importlib.metadata import entry_points

from ispctl.providers import adopt, dns, dovecot, ftp, ldap, mailstore, opendkim, postfix, radius, sieve, web
from ispctl.reconciler.contract import ConfigError, Registry, Service

BUILTIN: tuple[Service, ...] = (
    ldap.SERVICE,
    # A mail store host's run keeps the mailboxes the directory places on it (mailHost, the
    # Dovecot service's): the one service above both hands its reader over.
    replace(mailstore.SERVICE, build=partial(mailstore.build, placed=dovecot.placed_mailboxes)),
    dovecot.SERVICE,
    postfix.SERVICE,
    dns.SERVICE,
    web.SERVICE,
    radius.SERVICE,
    ftp.SERVICE,
    sieve.SERVICE,
    opendkim.SERVICE,
    adopt.SERVICE,
)
ENTRY_POINT_GROUP = "ispctl.services"


def plugins() -> list[Service]:
    """Services other distributions register in the ``ispctl.services`` entry-point group."""
    found = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            service = point.load()
        except Exception as exc:
            raise ConfigError(f"the service plug-in {point.name} ({point.value}) cannot be loaded: {exc}") from None
        if not isinstance(service, Service):
            raise ConfigError(f"the service plug-in {point.name} ({point.value}) is not an ispctl Service")
        found.append(service)
    return found


def services() -> Registry:
    return Registry(BUILTIN + tuple(plugins()))
