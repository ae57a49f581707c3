"""The mail store's section of ``ispctl.yaml`` (``mail:``), and its per-machine overrides.

``ISPCTL_MAIL_ROOT``, ``ISPCTL_MAIL_UID`` and ``ISPCTL_MAIL_GID`` set ``mail.root``,
``mail.uid`` and ``mail.gid`` on one machine: a sandbox keeps its mail in its own folder, not
under the site's ``/var/vmail``.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from ispctl.reconciler.contract import CLUSTER, EnvOverride, Section, Strict


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError("must be an absolute path without '..'")
    # The path is written into every mailbox's homeDirectory, which Dovecot and the
    # mail store read back as one line: a line break or control character would make it
    # another path (or another attribute in an LDIF dump).
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain a line break, tab or other control character")
    if "//" in value:
        raise ValueError("must not contain '//' (write each directory once)")
    stripped = value.rstrip("/")
    if not stripped:
        raise ValueError("cannot be / itself: homes would be made at the top of the filesystem")
    return stripped


class MailSettings(Strict):
    root: str = Field("/var/vmail", description="mail store root; homes are <root>/<domain>/<local>")
    uid: Annotated[int, Field(ge=1, le=2**31 - 1)] = 5000
    gid: Annotated[int, Field(ge=1, le=2**31 - 1)] = 5000
    archive: str | None = Field(
        None,
        description="where removed mailboxes' mail is moved (default <root>/.ispctl-archive); "
        "same filesystem as root, so archiving is one rename",
    )
    archive_retention_days: Annotated[int, Field(ge=0, le=36500)] = Field(
        90, description="archives younger than this are never purged (ispctl archive purge)",
    )
    adopt_from: tuple[str, ...] = Field(
        (), description="folders below which existing mail may be adopted into the store (a mailbox's maildir.adopt; "
        "ispctl import ldap sets it); below the root is always allowed",
    )
    quota_warnings: tuple[Annotated[int, Field(ge=1, le=100)], ...] = Field(
        (80, 95), description="percentages of a mailbox's quota at which Dovecot sends it a warning (once per "
        "crossing); [] for none",
    )

    @field_validator("adopt_from")
    @classmethod
    def _absolute_all(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_absolute_path(v) for v in value)

    @field_validator("root", "archive")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_path(value)

    @model_validator(mode="after")
    def _archive_outside_homes(self) -> Self:
        # Below the root only a dot-directory is safe: no domain name starts with a dot, so
        # the scan of the store never mistakes archived mail for a live home.
        archive = self.archive
        if archive is not None:
            rel = archive[len(self.root):].lstrip("/") if archive.startswith(self.root.rstrip("/") + "/") else None
            if archive == self.root or (rel is not None and not rel.startswith(".")):
                raise ValueError("mail.archive must be outside mail.root or a directory there whose name starts with "
                                 "'.'")
        return self

    @property
    def archive_dir(self) -> str:
        return self.archive or f"{self.root.rstrip('/')}/.ispctl-archive"


class MaildirSpec(Strict):
    """A mailbox's ``maildir:`` section: mail that exists before ispctl (see ``adopt``)."""

    adopt: str | None = Field(
        None, description="where this mailbox's mail is now (a home holding Maildir/): adopted in place when it is "
        "the mailbox's home, else moved there by one rename, at the apply that creates the mailbox",
    )

    @field_validator("adopt")
    @classmethod
    def _adopt_path(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_path(value)


MAILDIR = Section("mailbox", "maildir", MaildirSpec, default=None,
                  description="existing mail this mailbox takes over when it is created")
MAIL = Section("site", "mail", MailSettings, default=MailSettings(),
               description="where mailbox homes live, their owner, and the mail archive")
OVERRIDES = (
    EnvOverride("ISPCTL_MAIL_ROOT", MAIL, "root"),
    EnvOverride("ISPCTL_MAIL_UID", MAIL, "uid"),
    EnvOverride("ISPCTL_MAIL_GID", MAIL, "gid"),
    # Which cluster host this machine is: its mail store keeps the mailboxes placed there.
    EnvOverride("ISPCTL_HOST", CLUSTER, "this_host"),
)
