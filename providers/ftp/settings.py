"""The FTP service's parts of the desired-state files, as pydantic models.

* ``FtpSettings`` -- the ``ftp:`` section of ``ispctl.yaml``: where mailboxes' FTP homes are
  (``<root>/<domain>/<local>``, apart from their mail), the lowest uid pure-ftpd serves
  (``min_uid``, its ``-u``; Debian's wrapper uses 1000), an optional uid/gid every FTP login
  runs as (``FTPuid``/``FTPgid``; else the mailbox's own, the mail store's), and the defaults
  of the limits below.
* ``FtpLimits`` -- a mailbox's ``ftp:`` section (and the defaults): quota as a size (pure-ftpd
  counts whole MiB: ``FTPQuotaMBytes``) and a number of files, bandwidth up and down in KiB/s.
  Unset is unlimited; 0 is refused (pure-ftpd reads 0 as "no limit", which nobody means).

``ISPCTL_FTP_ROOT``, ``ISPCTL_FTP_UID``, ``ISPCTL_FTP_GID`` and ``ISPCTL_FTP_MIN_UID`` override
the site's values on one machine (a sandbox keeps its FTP homes in its own folder).
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

from typing import Annotated, Any, cast

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, field_validator

from ispctl.reconciler.contract import EnvOverride, Mailbox, Section, Size, Strict

MIB = 1024 * 1024
ENABLED, DISABLED = "enabled", "disabled"  # the only FTPStatus values pure-ftpd reads as such
Positive = Annotated[int, Field(ge=1, le=2**31 - 1)]
# The estate's own password-hash check (a mailbox's): {CRYPT}$6$ or $2y$, never echoed back.
_MAILBOX_HASH: TypeAdapter[str | None] = TypeAdapter(cast(Any, Mailbox.model_fields["password"].annotation))


def _hash(value: object) -> object:
    if value is None:
        raise ValueError("an FTP login needs a password hash ({CRYPT}$6$... from 'ispctl hash-password')")
    try:
        return _MAILBOX_HASH.validate_python(value)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


PasswordHash = Annotated[str, BeforeValidator(_hash)]


class FtpLimits(Strict):
    quota: Size | None = Field(None, description="most bytes the home may hold (pure-ftpd counts whole MiB)")
    quota_files: Positive | None = Field(None, description="most files the home may hold")
    upload_kbps: Positive | None = Field(None, description="upload bandwidth limit, KiB/s")
    download_kbps: Positive | None = Field(None, description="download bandwidth limit, KiB/s")

    @field_validator("quota")
    @classmethod
    def _whole_mib(cls, value: int | None) -> int | None:
        if value is not None and value < MIB:
            raise ValueError("must be at least 1 MiB (pure-ftpd counts quotas in whole MiB; leave it out for none)")
        return value

    @property
    def quota_mb(self) -> int | None:
        """``FTPQuotaMBytes``: the quota rounded up to whole MiB (never below what was written)."""
        return None if self.quota is None else -(-self.quota // MIB)

    @property
    def problem(self) -> str | None:
        """Why pure-ftpd would not apply these limits as written, or None.

        A file-count quota without a size quota is not applied as one: pure-ftpd-ldap 1.0.50
        then refused every upload of a login (tests/test_ftp_sandbox_pureftpd.py found it)."""
        if self.quota_files is not None and self.quota is None:
            return ("quota_files needs a quota (size) too: pure-ftpd refuses every upload of a login with a file "
                    "count and no size quota")
        return None

    def over(self, defaults: "FtpLimits") -> "FtpLimits":
        """These limits, each unset one taken from ``defaults``."""
        return FtpLimits(**{name: getattr(self, name) if getattr(self, name) is not None else getattr(defaults, name)
                            for name in FtpLimits.model_fields})


class FtpSettings(Strict):
    root: str = Field("/srv/ftp", description="mailboxes' FTP homes are <root>/<domain>/<local>")
    min_uid: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        1000, description="pure-ftpd refuses logins below this uid (its -u; Debian's wrapper: 1000)")
    uid: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="uid every FTP login runs as (FTPuid) [default: the mailbox's, mail.uid]")
    gid: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="gid every FTP login runs as (FTPgid) [default: the mailbox's, mail.gid]")
    defaults: FtpLimits = FtpLimits()

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        # Written into every FTP login's ispctlFtpHome, which pure-ftpd chroots into: one line,
        # no '.' or '..' (pure-ftpd reads "/./" as a chroot marker), not / itself.
        if any(not c.isprintable() for c in value):
            raise ValueError("must not contain a line break, tab or other control character")
        if not value.startswith("/") or "/../" in value + "/" or "/./" in value + "/" or "//" in value:
            raise ValueError("must be an absolute path without '.', '..' or '//'")
        stripped = value.rstrip("/")
        if not stripped:
            raise ValueError("cannot be / itself")
        return stripped


FTP = Section("site", "ftp", FtpSettings, default=FtpSettings(),
              description="where mailboxes' FTP homes live, who FTP logins run as, default limits")
MAILBOX_FTP = Section("mailbox", "ftp", FtpLimits,
                      description="the mailbox's FTP quota and bandwidth (with services: {ftp: true})")
OVERRIDES = (
    EnvOverride("ISPCTL_FTP_ROOT", FTP, "root"),
    EnvOverride("ISPCTL_FTP_UID", FTP, "uid"),
    EnvOverride("ISPCTL_FTP_GID", FTP, "gid"),
    EnvOverride("ISPCTL_FTP_MIN_UID", FTP, "min_uid"),
)
