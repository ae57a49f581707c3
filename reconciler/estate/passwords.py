"""Password hashes: the only form a password may take in git or the directory.

``{CRYPT}$6$`` (SHA-512 crypt) and ``{CRYPT}$2y$`` (bcrypt) are accepted by slapd
binds, Dovecot, FreeRADIUS PAP and pure-ftpd alike, so they are the only formats
allowed. Error messages never repeat the offending value: it may be a plaintext
password pasted by mistake.
"""

from __future__ import annotations

import re
import secrets
import sys
import warnings
from types import ModuleType

_B64 = r"[./0-9A-Za-z]"
# Always used with fullmatch, and with ASCII digits only: "$" alone matches before a
# trailing newline, and a hash with one was accepted while every login with it failed.
SHA512_RE = re.compile(rf"\{{CRYPT\}}\$6\$(?:rounds=[0-9]{{4,9}}\$)?{_B64}{{1,16}}\${_B64}{{86}}")
BCRYPT_RE = re.compile(rf"\{{CRYPT\}}\$2[by]\$(0[4-9]|[12][0-9]|3[01])\${_B64}{{53}}")
SCHEMES = ("sha512", "bcrypt")
# Scheme prefixes of other hash formats. Only these are named back in a message: a
# plaintext password may itself begin with "{...}", and must never be echoed in part.
FOREIGN_SCHEMES = frozenset({
    "{SSHA}", "{SHA}", "{SMD5}", "{MD5}", "{SSHA256}", "{SSHA384}", "{SSHA512}", "{SHA256}", "{SHA384}",
    "{SHA512}", "{PBKDF2}", "{PBKDF2-SHA256}", "{PBKDF2-SHA512}", "{ARGON2}", "{ARGON2I}", "{ARGON2ID}",
    "{CLEARTEXT}", "{PLAIN}", "{CLEAR}", "{SHA512-CRYPT}", "{SHA256-CRYPT}", "{BLF-CRYPT}", "{MD5-CRYPT}",
    "{NTLM}", "{LANMAN}", "{SCRAM-SHA-1}", "{SCRAM-SHA-256}",
})
DEFAULT_ROUNDS = {"sha512": 100_000, "bcrypt": 10}
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def check_hash(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a password hash string such as {CRYPT}$6$...")
    if SHA512_RE.fullmatch(value) or BCRYPT_RE.fullmatch(value):
        return value
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("is not a password hash: it contains a space, line break or control character (the value "
                         "is not shown); a hash has none: check how it was pasted, e.g. a YAML block scalar keeps "
                         "the final newline")
    if value.startswith("{") and "}" in value:
        scheme = value[: value.index("}") + 1]
        if scheme.upper() == "{CRYPT}":
            raise ValueError("unsupported {CRYPT} hash: use SHA-512 ($6$) or bcrypt ($2y$), e.g. from 'ispctl "
                             "hash-password'")
        if scheme.upper() in FOREIGN_SCHEMES:
            raise ValueError(
                f"{scheme.upper()} hashes are not accepted by every consumer; use {{CRYPT}}$6$ or {{CRYPT}}$2y$ "
                "from 'ispctl hash-password'"
            )
    raise ValueError(
        "is not a password hash (looks like plaintext or a damaged hash; the value is not shown); "
        "store {CRYPT}$6$... or {CRYPT}$2y$... made with 'ispctl hash-password'"
    )


def _crypt() -> ModuleType:
    """crypt(3): imported when a password is hashed or checked, not by every command that loads
    the estate's models (which only check that values are hashes; issue 11)."""
    if sys.version_info >= (3, 13):  # pragma: no cover - the stdlib module was removed
        import crypt_r

        return crypt_r
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt


def hash_password(password: str, scheme: str = "sha512", rounds: int | None = None) -> str:
    """Hash with the system's crypt(3), the same library every consumer verifies with."""
    if not password:
        raise ValueError("the password is empty")
    if "\x00" in password:
        raise ValueError("the password contains a NUL character")
    if scheme == "sha512":
        cost = rounds or DEFAULT_ROUNDS["sha512"]
        if not 1000 <= cost <= 999_999_999:
            raise ValueError("SHA-512 rounds must be between 1000 and 999999999")
        salt = _crypt().mksalt(_crypt().METHOD_SHA512, rounds=cost)
    elif scheme == "bcrypt":
        cost = rounds or DEFAULT_ROUNDS["bcrypt"]
        if not 4 <= cost <= 31:
            raise ValueError("the bcrypt cost must be between 4 and 31")
        # libxcrypt accepts the $2y$ prefix directly; mksalt only emits $2b$ (the same
        # algorithm), and $2y$ is the spelling every consumer documents.
        salt = f"$2y${cost:02d}$" + "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(22))
    else:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    hashed: str | None = _crypt().crypt(password, salt)
    if not hashed or hashed.startswith("*"):
        raise ValueError(f"the system crypt library does not support {scheme}")
    return "{CRYPT}" + hashed


def verify_password(password: str, stored: str) -> bool:
    # Only well-formed hashes: crypt(3) given a damaged or empty "salt" returns a
    # failure token, and nothing should ever depend on how two of those compare.
    if not (SHA512_RE.fullmatch(stored) or BCRYPT_RE.fullmatch(stored)):
        return False
    digest = stored[len("{CRYPT}"):]
    return secrets.compare_digest(_crypt().crypt(password, digest) or "", digest)
