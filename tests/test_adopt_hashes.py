"""Foreign password hashes: kept, respelled losslessly, or left out and classed weak or unsupported."""

from __future__ import annotations

import pytest

from ispctl.providers.adopt.hashes import judge, scheme_of
from ispctl.reconciler.contract import hash_password

SHA512 = hash_password("x", rounds=5000)
BCRYPT = hash_password("x", scheme="bcrypt", rounds=4)


def test_accepted_hashes_are_kept_and_dovecot_spellings_respelled() -> None:
    assert judge(SHA512).value == SHA512 and judge(SHA512).note is None
    respelled = judge("{SHA512-CRYPT}" + SHA512.removeprefix("{CRYPT}"))
    assert (respelled.value, respelled.note) == (SHA512, "{SHA512-CRYPT} respelled as {CRYPT} (the same crypt(3) hash)")
    assert judge("{BLF-CRYPT}" + BCRYPT.removeprefix("{CRYPT}")).value == BCRYPT
    assert judge("{crypt}" + SHA512.removeprefix("{CRYPT}")).value == SHA512


@pytest.mark.parametrize(("value", "scheme", "weak"), [
    ("{CRYPT}abGyCpKanMv7w", "{CRYPT} DES", True),
    ("{CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "{CRYPT} MD5", True),
    ("{MD5}+mqR75uqJC3gs1SiEujPgg==", "{MD5}", True),
    ("{ssha}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SSHA}", True),
    ("{PLAIN}secret", "{PLAIN}", True),
    ("secret", "no scheme (plaintext?)", True),
    ("{SSHA512}BoAzWRgzwmDqG8V8RJ1JPmJfveESN1CY0bvqGZpkZlNL9jBWnwVQ2ETsw29U", "{SSHA512}", False),
    ("{CRYPT}$5$salt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "{CRYPT} SHA-256", False),
    ("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA", "{ARGON2ID}", False),
])
def test_what_cannot_be_written_is_left_out_and_classed(value: str, scheme: str, weak: bool) -> None:
    verdict = judge(value)
    assert (verdict.value, verdict.scheme, verdict.weak) == (None, scheme, weak)
    assert scheme_of(value) == scheme
