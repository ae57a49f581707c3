"""FTP logins served by pure-ftpd straight from the directory (pure-ftpd-ldap).

Modules: ``settings`` (the ``ftp:`` sections and ``ISPCTL_FTP_*`` overrides), ``compile`` (a
mailbox's FTP attributes, stored in its entry through a ``DirectoryPart``), ``render``
(``ispctl render pureftpd``: pure-ftpd's LDAP config for its read-only account) and
``commands``; ``schema/`` (Debian's PureFTPdUser schema in cn=config form, and ispctl's
``ispctlFtpHome``) and ``sandbox/`` (a real pure-ftpd-ldap for tests and ``ispctl sandbox``).

pure-ftpd has no provider here: the directory provider writes the entries, pure-ftpd reads
them, and creates each FTP home on the first login (``-j``) with the login's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.providers.ftp.compile import MAILBOX_PART, compile_ftp
from ispctl.providers.ftp.editable import FTP_SITE
from ispctl.providers.ftp.facts import ftp_facts
from ispctl.providers.ftp.placement import placed_counts
from ispctl.providers.ftp.settings import FTP, MAILBOX_FTP, OVERRIDES, FtpLimits, FtpSettings
from ispctl.providers.ftp.sites import DOMAIN_FTP, LOGIN_PART
from ispctl.reconciler.contract import Commands, Resource, Service, UsagePart

if TYPE_CHECKING:  # the sandbox's and apply's types: the contract imports them when asked (issue 11)
    from ispctl.reconciler.contract import Component

SCHEMA_DIR = Path(__file__).parent / "schema"
# pure-ftpd's own classes first: ispctl's FTP class is an addition to them.
SCHEMAS = (SCHEMA_DIR / "pureftpd.ldif", SCHEMA_DIR / "ispctl-ftp.ldif")
PARTS = tuple(replace(part, schemas=SCHEMAS) for part in (MAILBOX_PART, LOGIN_PART))

def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.ftp.commands import register

    register(commands)


def _quota_rows(live: Mapping[tuple[str, str], Resource], threshold: float) -> list[dict[str, Any]]:
    # Imported when ``ispctl report quota`` runs, not with the registry (issue 11).
    from ispctl.providers.ftp.report import quota_rows

    return quota_rows(live, threshold)


def _ftp_used(live: Mapping[tuple[str, str], Resource]) -> dict[str, dict[str, int]]:
    # Imported when ``ispctl report usage`` or ``show`` runs, not with the registry (issue 11).
    from ispctl.providers.ftp.report import ftp_used

    return ftp_used(live)


def _sandbox() -> Component:
    # Imported when ``ispctl sandbox`` runs, not with the registry: the daemons' modules (issue 11).
    from ispctl.providers.ftp.sandbox.component import PureFtpdComponent

    return PureFtpdComponent()


SERVICE = Service(
    name="ftp",
    summary="FTP logins for mailboxes, served by pure-ftpd from the directory (quota, bandwidth, status)",
    sections=(FTP, MAILBOX_FTP, DOMAIN_FTP),
    overrides=OVERRIDES,
    compile=compile_ftp,
    facts=ftp_facts,
    sandbox=_sandbox,
    commands=_commands,
    directory=PARTS,
    quota=_quota_rows,
    usage=UsagePart(counts=(LOGIN_PART.kind,), used=_ftp_used),
    editables=(FTP_SITE,),
    placed=placed_counts,
)

__all__ = ["FTP", "MAILBOX_FTP", "SCHEMAS", "SERVICE", "FtpLimits", "FtpSettings"]
