"""FreeRADIUS in ``ispctl sandbox``: after the directory, bound as a read-only account, answering
for what ``ispctl apply`` wrote; found again by a later process, restarted on the same ports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ispctl.providers.radius.sandbox.component import RadiusComponent, radius_ldap_env
from ispctl.reconciler.harness import sandbox
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching
from tests.ldap_helpers import copy_example, run_cli
from tests.test_radius_radiusd import PASSWORD, answer, write_estate
from tests.wiring import REGISTRY

LDAP_SERVICE = REGISTRY.get("ldap")
assert LDAP_SERVICE is not None and LDAP_SERVICE.sandbox is not None
COMPONENTS = [LDAP_SERVICE.sandbox(), RadiusComponent()]  # the directory's, with the services' schemas


def test_it_binds_as_a_read_only_account_never_ispctls_own() -> None:
    base = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:1", "ISPCTL_LDAP_BASE_DN": "ou=x,dc=y",
            "ISPCTL_LDAP_BIND_DN": "cn=apply,dc=y", "ISPCTL_LDAP_PASSWORD": "apply-pw"}
    own = radius_ldap_env({**base, "ISPCTL_FREERADIUS_LDAP_BIND_DN": "cn=freeradius,dc=y",
                           "ISPCTL_FREERADIUS_LDAP_PASSWORD": "r", "ISPCTL_PLAN_LDAP_BIND_DN": "cn=plan,dc=y",
                           "ISPCTL_PLAN_LDAP_PASSWORD": "p"})
    assert (own["ISPCTL_LDAP_BIND_DN"], own["ISPCTL_LDAP_PASSWORD"]) == ("cn=freeradius,dc=y", "r")
    older = radius_ldap_env({**base, "ISPCTL_PLAN_LDAP_BIND_DN": "cn=plan,dc=y", "ISPCTL_PLAN_LDAP_PASSWORD": "p"})
    assert older["ISPCTL_LDAP_BIND_DN"] == "cn=plan,dc=y"
    with pytest.raises(DaemonError, match="needs the ldap component"):
        radius_ldap_env(base)  # only ispctl's own (write) account: refused


def test_a_directory_made_before_freeradius_account_existed_is_read_with_the_plan_account(tmp_path: Path) -> None:
    ldap = COMPONENTS[0]
    state = ldap.up(tmp_path / "ldap", None, {})
    try:
        env = ldap.env(state)
        # What an older sandbox exports: the passwords file names the account, slapd has no entry.
        stale = {**env, "ISPCTL_FREERADIUS_LDAP_BIND_DN": f"cn=gone,{env['ISPCTL_LDAP_BASE_DN']}"}
        chosen = radius_ldap_env(stale, check=True)
        assert chosen["ISPCTL_LDAP_BIND_DN"] == env["ISPCTL_PLAN_LDAP_BIND_DN"]
        assert radius_ldap_env(env, check=True)["ISPCTL_LDAP_BIND_DN"] == env["ISPCTL_FREERADIUS_LDAP_BIND_DN"]
    finally:
        ldap.down(state)


def radtest(env: dict[str, str], user: str, method: str = "pap", password: str = PASSWORD
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["radtest", "-t", method, user, password, env["ISPCTL_RADIUS_SERVER"], "0",
                           env["ISPCTL_RADIUS_SECRET"]], capture_output=True, text=True, check=False, timeout=30)


def test_sandbox_round_trip_answers_for_applied_accounts(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox"
    try:
        report = sandbox.up(root, COMPONENTS)
        radius = report["components"]["freeradius"]
        assert radius["action"] == "started" and radius["url"].startswith("radius://127.0.0.1:")
        env = sandbox.env(root, COMPONENTS)
        estate = write_estate(tmp_path / "estate")
        applied = run_cli(None, "apply", "--auto-approve", "-d", str(estate),
                          **{k: v for k, v in env.items() if k.startswith("ISPCTL_LDAP_")})
        assert applied.exit_code == 0, applied.output
        # What a person does after `eval "$(ispctl sandbox env)"` (the README's demo).
        assert answer(radtest(env, "dsl-0042@acme.example"))[0] == "Access-Accept"
        assert answer(radtest(env, "anna@acme.example", "mschap"))[0] == "Access-Accept"
        # Down keeps the state; up again answers on the same port with the same secret.
        sandbox.down(root, COMPONENTS)
        assert not pids_matching(str(root))
        again = sandbox.up(root, COMPONENTS)["components"]["freeradius"]
        assert again["action"] == "started" and again["url"] == radius["url"]
        assert answer(radtest(env, "dsl-0042@acme.example"))[0] == "Access-Accept"
    finally:
        sandbox.down(root, COMPONENTS, purge=True)
    assert not pids_matching(str(root))


def test_the_demo_the_example_estates_dialup_mailbox_gets_an_access_accept(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox"
    try:
        sandbox.up(root, COMPONENTS)
        env = sandbox.env(root, COMPONENTS)
        applied = run_cli(None, "apply", "--auto-approve", "-d", str(copy_example(tmp_path)),
                          **{k: v for k, v in env.items() if k.startswith("ISPCTL_LDAP_")})
        assert applied.exit_code == 0, applied.output
        # .ci/demo and the README: every example mailbox's password is ispctl-demo.
        assert answer(radtest(env, "dialup-test@southbay.example", password="ispctl-demo"))[0] == "Access-Accept"
        assert answer(radtest(env, "noc@southbay.example", password="ispctl-demo"))[0] == "Access-Reject"
    finally:
        sandbox.down(root, COMPONENTS, purge=True)
