"""The mail store: mailbox homes on disk, archived (never deleted) when a mailbox goes.

``store`` is the filesystem layer, ``provider`` the reconciler provider (kind ``maildir``),
``archive`` lists and purges archived mail (``ispctl archive``), ``report`` compares usage
on disk with quotas in the directory (``ispctl report quota``).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model import SiteFile

from .provider import MailStoreProvider


def build(site: SiteFile, env: Mapping[str, str] | None = None) -> MailStoreProvider:
    """Entry point used by the engine's provider registry; the root comes from the (overridden) site."""
    return MailStoreProvider(site.mail.root, site.mail.archive_dir)


__all__ = ["MailStoreProvider", "build"]
