"""ISPMan's values in ispctl's terms: each conversion the import makes, one small function.

Each says what the consumers of ISPMan's directory actually did with a value, because that is
what the migrated estate must keep doing (field research, section 1 "implications"):

* ``mailQuota`` is KiB (its DESC says bytes; ISPMan writes MB x 1024, which Cyrus reads as KiB).
* ``FTPStatus``: pure-ftpd lets in ``enabled`` (and ``TRUE``) only; ISPMan's own default
  ``active`` and everything else locked the login out.
* ``dialupAccess``: FreeRADIUS's ``access_attribute`` refuses only the literal ``false``, so
  ISPManCCP's ``disabled`` let the user dial in.
* Password hashes: ispctl's estate holds only ``{CRYPT}$6$`` and ``{CRYPT}$2y$`` (``hashes``
  judges them); the others (DES crypt, ``{md5}``, ``{sha}``, MD5 crypt) are kept out of git.
"""

from __future__ import annotations

from dataclasses import dataclass

from ispctl.providers.adopt.hashes import judge

KIB = 1024
FTP_ALLOWED = frozenset({"enabled", "true"})
DIALUP_ALLOWED = frozenset({"yes", "enabled", "true"})
DIALUP_REFUSED_BY_FREERADIUS = "false"
# The placeholder ISPMan's user template writes when no password was given.
NO_PASSWORD = frozenset({"", "noentry"})
# Weak schemes every consumer of ispctl's directory verifies alike, with the prefix written
# there (see ispman_passwords): crypt(3) formats, and RFC 2307's salted and unsalted SHA-1.
CARRIED_SCHEMES = {"{CRYPT} DES": "{CRYPT}", "{CRYPT} MD5": "{CRYPT}", "{SHA}": "{SHA}", "{SSHA}": "{SSHA}"}


def mail_quota(value: str | None) -> tuple[int, str]:
    """(bytes, how) from ``mailQuota`` (KiB); absent or 0 is no quota, as Cyrus had it."""
    if value is None or not value.strip():
        return 0, "no mailQuota: no quota (0)"
    try:
        kib = int(value.strip())
    except ValueError:
        raise ValueError(f"mailQuota {value!r} is not a number of KiB") from None
    if kib < 0:
        raise ValueError(f"mailQuota {value!r} is negative")
    if kib == 0:
        return 0, "mailQuota 0: no quota"
    return kib * KIB, f"mailQuota {kib} KiB"


def ftp_enabled(value: str | None) -> tuple[bool, bool]:
    """(allowed, was misread): pure-ftpd's reading of ``FTPStatus``. ``active`` is ISPMan's bug."""
    if value is None:
        return False, False
    text = value.strip().lower()
    if text in FTP_ALLOWED:
        return True, False
    return False, text == "active"


def dialup_enabled(value: str | None) -> tuple[bool, bool]:
    """(allowed, was misread) as FreeRADIUS's ``access_attribute`` read ``dialupAccess``: an
    entry carrying the attribute is let in unless the value is literally ``false``. So
    ``disabled``/``no`` (ISPManCCP's default) granted access; ispctl keeps what happened."""
    if value is None:
        return False, False
    text = value.strip().lower()
    if text == DIALUP_REFUSED_BY_FREERADIUS:
        return False, False
    return True, text not in DIALUP_ALLOWED


@dataclass(frozen=True)
class Password:
    """A ``userPassword`` sorted: ``kept`` goes into git; else ``scheme`` says why not."""

    kept: str | None
    scheme: str
    weak: bool


def classify_password(value: str | None) -> Password:
    """The import's verdict on a hash (``hashes.judge``), and ISPMan's ``noEntry`` placeholder as no
    password. Never returns or reports the value of a hash it does not keep, only its scheme."""
    if value is None or value.strip().lower() in NO_PASSWORD:
        return Password(None, "none", False)
    verdict = judge(value.strip())
    return Password(verdict.value, verdict.scheme, verdict.weak)
