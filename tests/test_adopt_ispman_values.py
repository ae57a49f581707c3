"""ISPMan's values as ispctl's: one table per conversion (field research, section 1, implications)."""

from __future__ import annotations

import pytest

from ispctl.providers.adopt.ispman_values import classify_password, dialup_enabled, ftp_enabled, mail_quota
from ispctl.reconciler.contract import hash_password

SHA512 = hash_password("x", "sha512", rounds=1000)  # {CRYPT}$6$rounds=1000$...


@pytest.mark.parametrize(("value", "expected"), [
    ("51200", 50 * 1024 * 1024),   # ISPMan's -q 50 (MB) written as 50 x 1024 KiB
    ("1", 1024),
    (" 2097152 ", 2 * 1024**3),
    ("0", 0),                      # Cyrus: no quota
    (None, 0),                     # no mailQuota: no quota either
    ("", 0),
])
def test_mail_quota_is_kib(value: str | None, expected: int) -> None:
    assert mail_quota(value)[0] == expected


@pytest.mark.parametrize("value", ["5 MB", "-1", "1e3"])
def test_a_mail_quota_that_is_not_kib_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValueError, match="mailQuota"):
        mail_quota(value)


@pytest.mark.parametrize(("value", "allowed", "misread"), [
    ("enabled", True, False),
    ("TRUE", True, False),
    ("active", False, True),       # ISPMan's default, which pure-ftpd refuses
    ("disabled", False, False),
    ("yes", False, False),
    (None, False, False),
])
def test_ftp_status_as_pure_ftpd_reads_it(value: str | None, allowed: bool, misread: bool) -> None:
    assert ftp_enabled(value) == (allowed, misread)


@pytest.mark.parametrize(("value", "allowed", "misread"), [
    ("yes", True, False),
    ("enabled", True, False),
    ("TRUE", True, False),
    ("disabled", True, True),      # ISPManCCP's default: FreeRADIUS let it in
    ("no", True, True),
    ("false", False, False),       # the one value FreeRADIUS's access_attribute refuses
    ("FALSE", False, False),
    (None, False, False),          # no dialupAccess: ISPMan wrote it only when enabled
])
def test_dialup_access_as_freeradius_reads_it(value: str | None, allowed: bool, misread: bool) -> None:
    assert dialup_enabled(value) == (allowed, misread)


@pytest.mark.parametrize(("value", "scheme", "weak"), [
    ("{crypt}XyPjAxPKWHitQ", "{CRYPT} DES", True),
    ("{CRYPT}$1$abcdefgh$0123456789abcdefghijkl", "{CRYPT} MD5", True),
    ("{md5}mIdKuXr3rmo7AZxuTGbKYg==", "{MD5}", True),
    ("{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "{SHA}", True),
    ("{ssha}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{SSHA}", True),
    ("secret", "no scheme (plaintext?)", True),   # userPassHashMethod clear
    ("{SSHA512}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{SSHA512}", False),  # strong, not read everywhere
    ("noEntry", "none", False),      # ISPMan's user template without a password
    (None, "none", False),
])
def test_weak_and_missing_passwords_are_named_by_scheme_only(value: str | None, scheme: str, weak: bool) -> None:
    found = classify_password(value)
    assert (found.kept, found.scheme, found.weak) == (None, scheme, weak)
    assert value is None or value not in found.scheme


@pytest.mark.parametrize("prefix", ["{CRYPT}", "{crypt}", "{Crypt}"])
def test_a_sha512_crypt_hash_is_kept_in_ispctls_spelling(prefix: str) -> None:
    found = classify_password(prefix + SHA512.removeprefix("{CRYPT}"))
    assert (found.kept, found.weak) == (SHA512, False)
