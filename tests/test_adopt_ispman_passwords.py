"""After the migration, ISPMan's users log in over IMAP with the passwords they had.

The fixture is imported and applied to a fresh ispctl subtree (conftest ``slapd``); its weak
hashes stay out of git and ``ispctl import ispman-passwords`` writes them into the new entries;
then a real Dovecot, configured as ``ispctl render dovecot`` ships it, takes the old passwords:
DES crypt ones (carried), SHA-512 crypt ones (from git). The ``{md5}`` one is not carried
(Dovecot reads ``{MD5}`` as MD5-crypt) and its user is refused until the password is rotated.
The next plan stays empty: the carried hashes are their users', never compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot_helpers import imap_login
from ispman_helpers import FIXTURE, TARGET_BASE, import_ldif
from ldap_helpers import run_cli, search

from ispctl.providers.adopt.ispman_passwords import carriable
from ispctl.providers.adopt.source import read_ldif
from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

# The plaintexts behind the fixture's hashes (tests/data/ispman/estate.ldif).
OLD_PASSWORDS = {
    "noc@northwind.example": "noc-2003",          # {crypt} DES
    "anna@baeckerei.example": "anna1234",          # {crypt} DES
    "r.cole@hartcole.example": "noc-2003",         # {crypt} DES (same salt and password as noc's)
    "j.hart@hartcole.example": "jane-hart",        # {crypt}$6$, written to git as {CRYPT}$6$
    "ines@northwind.example": "ines-dialup",       # {CRYPT}$6$
}
MD5_USER, MD5_PASSWORD = "tom.reyes@northwind.example", "tom-pass"


def test_which_hashes_are_carried() -> None:
    carry, refused = carriable(read_ldif(FIXTURE))
    assert sorted(carry) == ["anna@baeckerei.example", "karl@baeckerei.example", "noc@northwind.example",
                             "office@riverside-school.example", "old@northwind.example", "r.cole@hartcole.example"]
    assert all(value.startswith("{CRYPT}") and len(value) == len("{CRYPT}") + 13 for value in carry.values())
    assert list(refused) == [MD5_USER]
    assert refused[MD5_USER].startswith("{MD5}: not read alike by slapd and Dovecot")


@pytest.fixture
def migrated(slapd: SlapdInstance, mail_root: Path, tmp_path: Path) -> Iterator[tuple[Path, DovecotInstance]]:
    uid, gid = default_mail_owner()
    dovecot = DovecotInstance(tmp_path / "dovecot", slapd.env(), mail_root=mail_root, mail_uid=uid, mail_gid=gid)
    estate = tmp_path / "estate"
    import_ldif(estate)
    env = {"ISPCTL_PROVIDERS": "ldap", **dovecot.env()}
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    dovecot.start()
    try:
        yield estate, dovecot
    finally:
        dovecot.stop()


def test_users_log_in_over_imap_with_their_ispman_passwords(slapd: SlapdInstance,
                                                            migrated: tuple[Path, DovecotInstance]) -> None:
    estate, dovecot = migrated
    env = {"ISPCTL_PROVIDERS": "ldap", **dovecot.env()}
    # Before: the DES users have no password in the new directory, so they cannot log in.
    assert not imap_login(dovecot.imap_port, "noc@northwind.example", OLD_PASSWORDS["noc@northwind.example"])
    carried = run_cli(slapd, "import", "ispman-passwords", "--ldif", str(FIXTURE), "-d", str(estate), **env)
    assert carried.exit_code == 0, carried.output
    assert "Carried 6 password hash(es)" in carried.stdout
    assert f"{MD5_USER}: {{MD5}}: not read alike" in carried.stdout
    assert "{crypt}" not in carried.output.lower() and "$6$" not in carried.output
    for user, password in sorted(OLD_PASSWORDS.items()):
        assert imap_login(dovecot.imap_port, user, password), user
    # Why DES must be rotated: crypt(3) reads the first 8 characters only.
    assert imap_login(dovecot.imap_port, "anna@baeckerei.example", "anna1234 and anything after")
    assert not imap_login(dovecot.imap_port, "noc@northwind.example", "wrong")
    assert not imap_login(dovecot.imap_port, MD5_USER, MD5_PASSWORD)
    # The hash was written verbatim (prefix in ispctl's spelling), in the new subtree only.
    noc = search(slapd, "(uid=noc@northwind.example)", "userPassword", base=TARGET_BASE)
    assert [e["userpassword"] for e in noc.values()] == [["{CRYPT}XyPjAxPKWHitQ"]]
    # The passwords are their users' now: the next plan is empty, and a second run changes nothing.
    plan = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert plan.exit_code == 0 and "No changes." in plan.stdout, plan.output
    again = run_cli(slapd, "import", "ispman-passwords", "--ldif", str(FIXTURE), "-d", str(estate), **env)
    assert again.exit_code == 0, again.output
    assert "Carried 0 password hash(es)" in again.stdout
    assert "noc@northwind.example: already has a password (its user's)" in again.stdout
    history = run_cli(slapd, "history", "--json", "-d", str(estate), **env)
    assert history.exit_code == 0, history.output
    assert "import-ispman-passwords" in json.dumps(json.loads(history.stdout))
