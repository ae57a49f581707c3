"""The mail store: mailbox homes on disk, archived (never deleted) when a mailbox goes.

Modules: ``settings`` (the ``mail:`` section and its ``ISPCTL_MAIL_*`` overrides), ``compile``
(a home for every mailbox), ``paths`` (the layout and safe paths), ``store`` (the filesystem
layer), ``manifest`` (what an archive holds), ``provider`` (kind ``maildir``), ``archive``
(listing and purging archived mail), ``report`` (usage on disk against quotas) and
``commands`` (``ispctl archive``, ``ispctl report quota``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ispctl.providers.mailstore.commands import register
from ispctl.providers.mailstore.compile import compile_mailstore
from ispctl.providers.mailstore.provider import MailStoreProvider
from ispctl.providers.mailstore.report import mail_used
from ispctl.providers.mailstore.settings import MAIL, MAILDIR, OVERRIDES, MailSettings
from ispctl.reconciler.contract import Service, SiteFile, UsagePart


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> MailStoreProvider:
    """The root comes from the site settings with this machine's overrides applied."""
    mail = site.section(MAIL)
    return MailStoreProvider(mail.root, mail.archive_dir)


SERVICE = Service(
    name="mailstore",
    summary="mailbox homes on disk: created, renamed, archived (never deleted)",
    provider=MailStoreProvider,
    build=build,
    sections=(MAIL, MAILDIR),
    overrides=OVERRIDES,
    compile=compile_mailstore,
    commands=register,
    usage=UsagePart(used=mail_used),
)

__all__ = ["MAIL", "SERVICE", "MailSettings", "MailStoreProvider", "build"]
