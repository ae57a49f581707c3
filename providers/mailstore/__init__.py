"""The mail store: mailbox homes on disk, archived (never deleted) when a mailbox goes.

Modules: ``settings`` (the ``mail:`` section and its ``ISPCTL_MAIL_*`` overrides), ``compile``
(a home for every mailbox, and each file's count of mailboxes per host for narrowed plans),
``paths`` (the layout and safe paths), ``store`` (the filesystem layer), ``manifest`` (what an
archive holds), ``provider`` (kind ``maildir``), ``archive`` (listing and purging archived mail),
``report`` (usage on disk against quotas) and ``commands`` (``ispctl archive``, ``ispctl report
quota``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ispctl.providers.mailstore.compile import compile_mailstore, mailstore_facts
from ispctl.providers.mailstore.provider import MailStoreProvider
from ispctl.providers.mailstore.settings import MAIL, MAILDIR, OVERRIDES, MailSettings
from ispctl.reconciler.contract import (
    CLUSTER,
    ClusterSettings,
    Commands,
    ConfigError,
    Resource,
    Service,
    SiteFile,
    UsagePart,
)

# Where the directory places each mailbox (address -> mailHost), for a host's own run: the
# Dovecot service keeps mailHost, and the registry hands its reader to this service.
PlacedReader = Callable[[SiteFile, Mapping[str, str]], Mapping[str, str]]


def _mail_used(live: Mapping[tuple[str, str], Resource]) -> dict[str, dict[str, int]]:
    # Imported when ``ispctl report usage`` or ``show`` runs, not with the registry (issue 11).
    from ispctl.providers.mailstore.report import mail_used

    return mail_used(live)

def build(site: SiteFile, env: Mapping[str, str] | None = None,
          placed: PlacedReader | None = None) -> MailStoreProvider:
    """The root comes from the site settings with this machine's overrides applied."""
    env = {} if env is None else env
    mail = site.section(MAIL)
    cluster = site.get_section(CLUSTER) or ClusterSettings()  # a sandbox's site may lack the section
    stores = [name for name, _host in cluster.with_role("mail_store")]
    if not stores:
        return MailStoreProvider(mail.root, mail.archive_dir)
    if cluster.this_host not in stores:
        # Without this the run would see every home under its root as not wanted here.
        raise ConfigError(
            "the cluster places mailboxes on mail_store hosts (" + ", ".join(stores) + "): the mail store runs on "
            "each of them with ISPCTL_HOST set to its name"
            + (f"; {cluster.this_host} is not one" if cluster.this_host else "")
            + "; leave mailstore out of ISPCTL_PROVIDERS on other machines")
    if placed is None:
        raise ConfigError("a mail store host's run reads where the directory places each mailbox (the Dovecot "
                          "service's mailHost): build it through the registry")
    reader = placed
    return MailStoreProvider(mail.root, mail.archive_dir, cluster.this_host, lambda: reader(site, env))


def _commands(commands: Commands) -> None:
    # Imported when the commands are added (a service command or the full help), not with the
    # registry: a plan or apply loads every service and needs none of its commands (issue 11).
    from ispctl.providers.mailstore.commands import register

    register(commands)


SERVICE = Service(
    name="mailstore",
    summary="mailbox homes on disk: created, renamed, archived (never deleted)",
    provider=MailStoreProvider,
    build=build,
    sections=(MAIL, MAILDIR),
    overrides=OVERRIDES,
    compile=compile_mailstore,
    facts=mailstore_facts,
    commands=_commands,
    usage=UsagePart(used=_mail_used),
)

__all__ = ["MAIL", "SERVICE", "MailSettings", "MailStoreProvider", "build"]
