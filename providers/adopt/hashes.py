"""Password hashes found in a foreign directory: kept, respelled, or reported (never shown).

ispctl accepts only ``{CRYPT}$6$`` (SHA-512 crypt) and ``{CRYPT}$2y$`` (bcrypt): every consumer
(slapd, Dovecot, FreeRADIUS, pure-ftpd) verifies those. Dovecot's own spellings of the same
crypt(3) strings, ``{SHA512-CRYPT}$6$...`` and ``{BLF-CRYPT}$2y$...``, are the same hash and
are respelled losslessly. Anything else cannot be written into the estate: the mailbox is
imported without a password (it cannot log in until ``ispctl passwd`` sets one) and the
report lists it, weak schemes (DES and MD5 crypt, unsalted or MD5/SHA-1 digests, plaintext)
apart from strong ones that not every consumer reads (salted SHA-2, PBKDF2, Argon2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from ispctl.reconciler.contract import Mailbox

# Same crypt(3) string, another scheme name: only the name changes.
_RESPELL = {"{SHA512-CRYPT}": "{CRYPT}", "{BLF-CRYPT}": "{CRYPT}", "{CRYPT}": "{CRYPT}"}
_WEAK = frozenset({"{MD5}", "{SMD5}", "{SHA}", "{SSHA}", "{PLAIN}", "{CLEARTEXT}", "{CLEAR}", "{MD5-CRYPT}",
                   "{PLAIN-MD5}", "{LDAP-MD5}", "{NTLM}", "{LANMAN}"})
_SCHEME = re.compile(r"\{([A-Za-z0-9.-]+)\}")


@dataclass(frozen=True)
class Verdict:
    """What becomes of one hash: ``value`` to write (None: left out) and the report's words."""

    value: str | None
    scheme: str
    note: str | None = None  # set when the value written differs from the directory's
    weak: bool = False


def _accepted(value: str) -> bool:
    # The estate's own check, through the model the contract gives: one rule, not a copy.
    try:
        Mailbox.model_validate({"password": value})
    except ValidationError:
        return False
    return True


def scheme_of(value: str) -> str:
    """``{SSHA512}``, ``{CRYPT} DES``, ``{CRYPT} MD5`` ... or ``plaintext`` (never the value)."""
    found = _SCHEME.match(value)
    if found is None:
        return "no scheme (plaintext?)"
    scheme = "{" + found.group(1).upper() + "}"
    if scheme == "{CRYPT}":
        rest = value[found.end():]
        if rest.startswith("$1$"):
            return "{CRYPT} MD5"
        if rest.startswith("$5$"):
            return "{CRYPT} SHA-256"
        if not rest.startswith("$"):
            return "{CRYPT} DES"
    return scheme


def judge(value: str) -> Verdict:
    scheme = scheme_of(value)
    if _accepted(value):
        return Verdict(value, scheme)
    found = _SCHEME.match(value)
    if found is not None:
        name = "{" + found.group(1).upper() + "}"
        spelled = _RESPELL.get(name)
        if spelled is not None and _accepted(spelled + value[found.end():]):
            note = None if name == "{CRYPT}" else f"{name} respelled as {{CRYPT}} (the same crypt(3) hash)"
            return Verdict(spelled + value[found.end():], scheme, note)
    weak = scheme in _WEAK or scheme.startswith("{CRYPT} DES") or scheme == "{CRYPT} MD5" or scheme.startswith("no ")
    return Verdict(None, scheme, weak=weak)
