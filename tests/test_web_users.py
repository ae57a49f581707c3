"""A site's system user (uid from a hash of the tenant's name) and the login hashes Apache accepts.

Every hash form accepted is checked with Apache's own verifier (``htpasswd -v`` from
apache2-utils, which the web service's packages bring): what passes here, Apache accepts.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from ispctl.providers.web.users import apache_hash, derived_uid, login_name, user_name
from ispctl.reconciler.estate.passwords import hash_password


def apache_verifies(tmp_path: Path, stored: str, password: str) -> bool:
    """Apache's own check of ``password`` against the htpasswd line ``u:<stored>``."""
    path = tmp_path / "htpasswd"
    path.write_text(f"u:{stored}\n")
    done = subprocess.run(["htpasswd", "-vb", str(path), "u", password], capture_output=True, text=True, check=False)
    return done.returncode == 0


def htpasswd_hash(flag: str, password: str) -> str:
    """A hash made by Apache's htpasswd (``-B`` bcrypt, ``-m`` $apr1$ MD5)."""
    done = subprocess.run(["htpasswd", "-nb", flag, "u", password], capture_output=True, text=True, check=True)
    return done.stdout.strip().split(":", 1)[1]


@pytest.mark.parametrize("made", ["sha512", "bcrypt", "htpasswd-B", "htpasswd-m"])
@pytest.mark.parametrize("prefix", ["", "{CRYPT}"])
def test_accepted_hashes_are_what_apache_verifies(tmp_path: Path, made: str, prefix: str) -> None:
    if made.startswith("htpasswd"):
        written = htpasswd_hash("-" + made.split("-")[1], "right horse")
    else:
        written = hash_password("right horse", made).removeprefix("{CRYPT}")
    stored = apache_hash(prefix + written)
    assert stored == written  # the directory's {CRYPT} prefix is gone: an htpasswd file has none
    assert apache_verifies(tmp_path, stored, "right horse")
    assert not apache_verifies(tmp_path, stored, "wrong horse")


@pytest.mark.parametrize(("value", "words"), [
    ("hunter2", "is not a password hash (plaintext or a damaged hash"),
    ("correct horse battery", "contains a space"),
    ("$2y$10$tooshort", "is not a password hash"),
    ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{SHA} is one unsalted SHA-1, not accepted here"),
    ("$1$abcdefgh$abcdefghijklmnopqrstuv", "$1$ is MD5 crypt, not accepted here"),
    ("{CRYPT}$5$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", "$5$ is SHA-256 crypt, not accepted here"),
    ("{PLAIN}s3cret!", "{PLAIN} is plaintext, not accepted here"),
    (12345, "must be a password hash"),
])
def test_other_values_are_refused_without_repeating_them(value: object, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        apache_hash(value)
    message = str(caught.value)
    assert words in message
    assert "store bcrypt ($2y$...), SHA-512 crypt ($6$...) or Apache MD5 ($apr1$...)" in message
    if isinstance(value, str):
        secret = value.split("}", 1)[-1] if value.startswith("{") else value
        assert secret not in message


def test_a_hash_with_a_trailing_newline_is_refused() -> None:
    good = hash_password("pw", "bcrypt").removeprefix("{CRYPT}")
    with pytest.raises(ValueError, match="line break"):
        apache_hash(good + "\n")


@pytest.mark.parametrize("name", ["anna", "a.b_c-d@example.net", "X" * 64])
def test_login_names(name: str) -> None:
    assert login_name(name) == name


@pytest.mark.parametrize("name", ["", "a:b", "b c", "-anna", "X" * 65, "anna\n", "änna"])
def test_bad_login_names(name: str) -> None:
    with pytest.raises(ValueError, match="must be 1-64 letters"):
        login_name(name)


def test_the_uid_is_a_hash_of_the_tenant_name_in_the_range() -> None:
    low, high = 100_000_000, 199_999_999
    expected = low + int.from_bytes(hashlib.sha256(b"northwind").digest()[:8], "big") % (high - low + 1)
    assert derived_uid("northwind", low, high) == expected


def test_uids_stay_in_the_range_and_spread() -> None:
    names = [f"tenant{i}" for i in range(2000)]
    uids = [derived_uid(n, 30_000, 30_999) for n in names]
    assert min(uids) >= 30_000 and max(uids) <= 30_999
    assert len(set(uids)) > 800  # 2,000 names over 1,000 slots fill most of them
    assert {derived_uid(n, 5000, 5000) for n in names} == {5000}


def test_the_user_is_named_after_the_tenant() -> None:
    assert user_name("bakery") == "web-bakery"
