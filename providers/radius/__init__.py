"""Dial-up and access accounts (dial-up, DSL/PPPoE, VPN) for FreeRADIUS 3.2 reading the directory.

The service's part of the desired-state language: ``settings`` (``radius:`` in ispctl.yaml,
tenant, domain and mailbox files: profiles, standalone accounts, a mailbox's account),
``dictionary`` (reply items checked against FreeRADIUS's dictionary), ``validate`` (file:line
problems, all at once, including credentials that cannot work with a method) and ``compile``
(profiles and standalone accounts as resources, a mailbox's account as its attributes).
``directory`` says how the directory stores them (FreeRADIUS's own schema plus
``schema/ispctl-radius.ldif``); ``render`` writes FreeRADIUS's LDAP module and virtual server
for its read-only account (``ispctl render freeradius``); ``sandbox/`` runs a real FreeRADIUS.
There is no provider of its own: FreeRADIUS reads the entries the directory provider writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ispctl.providers.radius.compile import ACCOUNT, PROFILE, compile_radius
from ispctl.providers.radius.dictionary import files_digest
from ispctl.providers.radius.directory import PARTS
from ispctl.providers.radius.editable import ACCESS
from ispctl.providers.radius.facts import radius_facts
from ispctl.providers.radius.settings import DOMAIN_RADIUS, MAILBOX_RADIUS, OVERRIDES, RADIUS, TENANT_RADIUS
from ispctl.reconciler.contract import Commands, Service, SiteFile, UsagePart

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.radius.commands import register

    register(commands)


def dictionary_inputs(site: SiteFile, env: Mapping[str, str]) -> bytes:
    """What the hook reads outside the estate's files: FreeRADIUS's dictionary (reply items are
    checked against it), at the path the site settings name (``ISPCTL_RADIUS_DICTIONARY`` applied)."""
    return files_digest(site.section(RADIUS).dictionary)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.radius.sandbox.component import RadiusComponent

    return RadiusComponent()


SERVICE = Service(
    name="radius",
    summary="dial-up and access accounts for FreeRADIUS: profiles, PAP/CHAP/MS-CHAP credentials, reply items",
    sections=(RADIUS, TENANT_RADIUS, DOMAIN_RADIUS, MAILBOX_RADIUS),
    overrides=OVERRIDES,
    compile=compile_radius,
    facts=radius_facts,
    inputs=dictionary_inputs,
    sandbox=_sandbox,
    commands=_commands,
    directory=PARTS,
    usage=UsagePart(counts=(ACCOUNT,)),
    editables=(ACCESS,),
)

__all__ = ["ACCOUNT", "PROFILE", "SERVICE"]
