"""Dial-up after the migration: a real FreeRADIUS answers ISPMan's users as it answered them before.

The fixture is imported, applied to a fresh ispctl subtree (conftest ``slapd``) and its old hashes
carried (``import ispman-passwords``); FreeRADIUS 3.2, set up as ``ispctl render freeradius``
ships it, reads that subtree with its own read-only account. ISPMan's ``dialupAccess: yes`` user
and ISPManCCP's ``dialupAccess: disabled`` one (which FreeRADIUS's ``access_attribute`` let in)
are accepted with ISPMan's default profile (``ou=radiusprofiles``); a user without
``dialupAccess`` is refused, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from ispman_helpers import FIXTURE, import_ldif
from ldap_helpers import run_cli

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.radius.sandbox.radiusd import RadiusdInstance


@pytest.fixture
def radius(slapd: SlapdInstance, tmp_path: Path) -> Iterator[RadiusdInstance]:
    estate = tmp_path / "estate"
    import_ldif(estate)
    env = {"ISPCTL_PROVIDERS": "ldap"}
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    carried = run_cli(slapd, "import", "ispman-passwords", "--ldif", str(FIXTURE), "-d", str(estate), **env)
    assert carried.exit_code == 0, carried.output
    instance = RadiusdInstance(tmp_path / "radius", slapd.account_env("freeradius"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def answer(radius: RadiusdInstance, user: str, password: str) -> tuple[str, dict[str, str]]:
    out = radius.radtest(user, password).stdout
    found = re.search(r"Received (Access-\w+)", out)
    assert found, out
    return found[1], dict(re.findall(r"^\s+([A-Za-z0-9-]+) = \"?([^\"\n]*)\"?$", out[found.end():], re.M))


def test_ispmans_dialup_users_are_answered_as_before(radius: RadiusdInstance) -> None:
    code, attrs = answer(radius, "ines@northwind.example", "ines-dialup")  # dialupAccess: yes, SHA-512 in git
    assert code == "Access-Accept"
    # ISPMan's cn=default,ou=radiusprofiles: Framed-User, PPP, idle 600 s, MTU 1500.
    assert {k: attrs.get(k) for k in ("Service-Type", "Framed-Protocol", "Idle-Timeout", "Framed-MTU")} == {
        "Service-Type": "Framed-User", "Framed-Protocol": "PPP", "Idle-Timeout": "600", "Framed-MTU": "1500"}
    # dialupAccess: disabled let her in through FreeRADIUS; her DES hash was carried.
    assert answer(radius, "anna@baeckerei.example", "anna1234")[0] == "Access-Accept"
    assert answer(radius, "anna@baeckerei.example", "anna1235")[0] == "Access-Reject"
    assert answer(radius, "noc@northwind.example", "noc-2003")[0] == "Access-Reject"  # never had dial-up
