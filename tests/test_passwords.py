"""Password hashes: made and checked with the system crypt(3), never echoed."""

from __future__ import annotations

import pytest

from ispctl.reconciler.estate.passwords import BCRYPT_RE, SHA512_RE, check_hash, hash_password, verify_password

PASSWORD = "correct horse battery staple"


def test_sha512_hash_verifies_and_passes_the_check() -> None:
    hashed = hash_password(PASSWORD, "sha512", rounds=1000)
    assert hashed.startswith("{CRYPT}$6$rounds=1000$")
    assert SHA512_RE.fullmatch(hashed)
    assert check_hash(hashed) == hashed
    assert verify_password(PASSWORD, hashed)
    assert not verify_password(PASSWORD + "!", hashed)


def test_sha512_default_rounds() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("{CRYPT}$6$rounds=100000$")
    assert verify_password(PASSWORD, hashed)


def test_bcrypt_uses_the_2y_spelling_and_verifies() -> None:
    hashed = hash_password(PASSWORD, "bcrypt", rounds=4)
    assert hashed.startswith("{CRYPT}$2y$04$")
    assert BCRYPT_RE.fullmatch(hashed)
    assert check_hash(hashed) == hashed
    assert verify_password(PASSWORD, hashed)
    assert not verify_password("Correct horse battery staple", hashed)


def test_salts_differ_between_calls() -> None:
    first, second = (hash_password(PASSWORD, "sha512", rounds=1000) for _ in range(2))
    assert first != second
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)


def test_unicode_passwords() -> None:
    hashed = hash_password("Pässwörd-日本", "bcrypt", rounds=4)
    assert verify_password("Pässwörd-日本", hashed)
    assert not verify_password("Passwort-日本", hashed)


@pytest.mark.parametrize(
    ("password", "scheme", "rounds", "words"),
    [
        ("", "sha512", None, "the password is empty"),
        ("a\x00b", "sha512", None, "NUL character"),
        ("x", "md5", None, "unknown scheme 'md5'; choose one of sha512, bcrypt"),
        ("x", "bcrypt", 3, "the bcrypt cost must be between 4 and 31"),
        ("x", "bcrypt", 32, "the bcrypt cost must be between 4 and 31"),
        ("x", "sha512", 999, "SHA-512 rounds must be between 1000"),
    ],
)
def test_hash_password_refuses(password: str, scheme: str, rounds: int | None, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        hash_password(password, scheme, rounds)


@pytest.mark.parametrize(
    "stored",
    ["", "{CRYPT}", "{CRYPT}*0", "{CRYPT}$6$", "$6$rounds=1000$salt$hash", "{SSHA}abc", PASSWORD],
)
def test_verify_refuses_anything_but_a_well_formed_hash(stored: str) -> None:
    assert verify_password(PASSWORD, stored) is False
    assert verify_password("", stored) is False


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SSHA} hashes are not accepted by every consumer"),
        ("{ssha}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SSHA} hashes are not accepted by every consumer"),
        ("{SHA512-CRYPT}$6$abc$def", "{SHA512-CRYPT} hashes are not accepted"),
        ("{CRYPT}$1$abcdefgh$2nbS5u3VqvJVg1p9YCcM8/", "unsupported {CRYPT} hash: use SHA-512 ($6$) or bcrypt ($2y$)"),
        ("{CRYPT}$6$short", "unsupported {CRYPT} hash"),
        ("{CRYPT}$2a$10$" + "a" * 53, "unsupported {CRYPT} hash"),
        (12345, "must be a password hash string"),
        # "$" in a regex matches before a final newline: such a hash once passed, and every
        # login with it failed.
        ("{CRYPT}$6$U4Lu0ujPWPhq0cqa$" + "A" * 86 + "\n", "contains a space, line break"),
        ("{CRYPT}$2y$10$" + "c" * 53 + "\n", "contains a space, line break"),
        ("{CRYPT}$6$rounds=\u0665000$s$" + "b" * 86, "unsupported {CRYPT} hash"),  # an Arabic-Indic digit
        (None, "must be a password hash string"),
    ],
)
def test_check_hash_rejects_with_advice(value: object, words: str) -> None:
    with pytest.raises(ValueError) as info:
        check_hash(value)
    assert words in str(info.value)


@pytest.mark.parametrize("plaintext", ["hunter2", "{pw}hunter2", "{CRYPThunter2", "$6$hunter2", "  {X}hunter2  "])
def test_check_hash_never_echoes_a_plaintext(plaintext: str) -> None:
    with pytest.raises(ValueError) as info:
        check_hash(plaintext)
    message = str(info.value)
    assert "is not a password hash" in message
    assert "the value is not shown" in message
    for fragment in (plaintext.strip(), "hunter2", "{pw}", "{X}"):
        assert fragment not in message


@pytest.mark.parametrize(
    "value",
    [
        "{CRYPT}$6$U4Lu0ujPWPhq0cqa$" + "A" * 86,
        "{CRYPT}$6$rounds=5000$s$" + "b" * 86,
        "{CRYPT}$2y$10$" + "c" * 53,
        "{CRYPT}$2b$31$" + "d" * 53,
    ],
)
def test_check_hash_accepts_the_two_formats(value: str) -> None:
    assert check_hash(value) == value
