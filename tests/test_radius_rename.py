"""An access account renamed as a planned rename (issue 15): ``ispctl access rename`` writes the
new key with ``previous: [old]``; validation checks former names; the plan renames the live
entry (one change, nothing destroyed) and the password its user changed with the real
``ldappasswd`` still answers the real FreeRADIUS under the new login, never under the old one."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
from provision_helpers import edit, example

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.radius.sandbox.radiusd import RadiusdInstance
from tests.ldap_helpers import BASE, apply_ok, assert_converged, find_one, plan_data, run_cli
from tests.test_radius_radiusd import PASSWORD, answer, write_estate

SB = "tenants/southbay/southbay.example.yaml"
USERS_OWN = "Users-0wn-Choice"


def test_rename_writes_the_new_key_with_the_old_name_first_in_previous(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert edit(root, "access", "add", "dsl-1@southbay.example", "--set", "framed_ip=10.1.0.42",
                "--password-stdin", input="pw one\n")[0].exit_code == 0
    result, diff = edit(root, "access", "rename", "dsl-1@southbay.example", "dsl-9@southbay.example")
    assert result.exit_code == 0, result.output
    assert [line for line in diff[SB] if not line.lstrip("+-").startswith("password")] == [
        "-    dsl-1:", "+    dsl-9:", "+      previous: [dsl-1]"]
    # Renamed again: the newest name first; renamed back: its own name leaves the former ones.
    assert edit(root, "access", "rename", "dsl-9@southbay.example", "dsl-5@southbay.example")[0].exit_code == 0
    assert "previous: [dsl-9, dsl-1]" in (root / SB).read_text(encoding="utf-8")
    assert edit(root, "access", "rename", "dsl-5@southbay.example", "dsl-1@southbay.example")[0].exit_code == 0
    assert "previous: [dsl-5, dsl-9]" in (root / SB).read_text(encoding="utf-8")


def test_rename_into_another_domain_or_a_taken_name_is_refused_and_nothing_written(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert edit(root, "access", "add", "dsl-1@southbay.example", "--password-stdin", input="a\n")[0].exit_code == 0
    assert edit(root, "access", "add", "dsl-2@southbay.example", "--password-stdin", input="b\n")[0].exit_code == 0
    result, diff = edit(root, "access", "rename", "dsl-1@southbay.example", "dsl-2@southbay.example")
    assert result.exit_code == 1 and diff == {} and "already exists" in result.output
    result, diff = edit(root, "access", "rename", "dsl-1@southbay.example", "dsl-1@northwind.example")
    assert result.exit_code == 1 and diff == {} and "within its domain" in result.output


def test_a_former_name_that_is_an_account_or_claimed_twice_is_a_problem_at_its_line(tmp_path: Path) -> None:
    root = example(tmp_path)
    text = (root / SB).read_text(encoding="utf-8")
    hashed = "'{CRYPT}$6$rounds=1000$abcdefgh$" + "x" * 86 + "'"
    (root / SB).write_text(text + f"""radius:
  accounts:
    dsl-1: {{password: {hashed}, previous: [dsl-2]}}
    dsl-2: {{password: {hashed}, previous: [dsl-0]}}
    dsl-3: {{password: {hashed}, previous: [dsl-0]}}
""", encoding="utf-8")
    lines = len(text.splitlines())
    result = run_cli(None, "validate", "-d", str(root))
    assert result.exit_code == 1
    assert f"{SB}:{lines + 3}" in result.output and "dsl-2 is an account of this domain" in result.output
    assert f"{SB}:{lines + 5}" in result.output and "dsl-0 is also a former name of dsl-2" in result.output


@pytest.fixture
def radius(tmp_path: Path, slapd: SlapdInstance) -> Iterator[tuple[RadiusdInstance, Path]]:
    estate = write_estate(tmp_path / "estate")
    apply_ok(slapd, estate)
    instance = RadiusdInstance(tmp_path / "radius", slapd.account_env("freeradius"))
    instance.start()
    try:
        yield instance, estate
    finally:
        instance.stop()


def test_the_renamed_account_answers_with_its_users_password_under_the_new_login_only(
        radius: tuple[RadiusdInstance, Path], slapd: SlapdInstance) -> None:
    server, estate = radius
    dn, before = find_one(slapd, "(uid=dsl-0042@acme.example)", "entryUUID")
    # The user changes the password, bound as the account itself: the real ldappasswd.
    done = subprocess.run(["ldappasswd", "-x", "-H", slapd.url, "-D", dn, "-w", PASSWORD, "-s", USERS_OWN],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert answer(server.radtest("dsl-0042@acme.example", USERS_OWN))[0] == "Access-Accept"
    repo = git.Repo.init(estate, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.invalid")
    repo.git.add(A=True)
    repo.index.commit("estate")
    result = run_cli(None, "access", "rename", "dsl-0042@acme.example", "dsl-0099@acme.example", "-d", str(estate),
                     "--commit")
    assert result.exit_code == 0, result.output
    data = plan_data(slapd, estate)
    for narrow in (("--tenant", "acme"), ("--changed-since", "HEAD~1")):  # narrowed plans show it too
        narrowed = run_cli(slapd, "plan", "--json", *narrow, "-d", str(estate))
        assert narrowed.exit_code == 0, narrowed.output
        assert json.loads(narrowed.stdout)["changes"] == data["changes"], narrow
    assert [(c["address"], c["action"], c.get("renamed_from")) for c in data["changes"]] == [
        ("access_account.dsl-0099@acme.example", "update", "access_account.dsl-0042@acme.example")]
    assert "password" not in json.dumps(data["changes"])  # the user's password is not touched
    apply_ok(slapd, estate)
    assert_converged(slapd, estate)
    new_dn, after = find_one(slapd, "(uid=dsl-0099@acme.example)", "entryUUID", "uid")
    assert after["entryuuid"] == before["entryuuid"] and after["uid"] == ["dsl-0099@acme.example"]
    assert new_dn == dn.replace("uid=dsl-0042@acme.example", "uid=dsl-0099@acme.example") and BASE in new_dn
    code, attrs = answer(server.radtest("dsl-0099@acme.example", USERS_OWN))
    assert code == "Access-Accept" and attrs["Framed-IP-Address"] == ["10.1.0.42"]
    assert answer(server.radtest("dsl-0099@acme.example", PASSWORD))[0] == "Access-Reject"
    assert answer(server.radtest("dsl-0042@acme.example", USERS_OWN))[0] == "Access-Reject"


def test_an_apply_stopped_after_the_modrdn_leaves_a_state_the_next_plan_calls_done(
        tmp_path: Path, slapd: SlapdInstance) -> None:
    # The rename's first LDAP operation is the modrdn; a kill right after it leaves this entry.
    estate = write_estate(tmp_path / "estate")
    apply_ok(slapd, estate)
    assert run_cli(None, "access", "rename", "dsl-0042@acme.example", "dsl-0099@acme.example",
                   "-d", str(estate)).exit_code == 0
    dn, _ = find_one(slapd, "(uid=dsl-0042@acme.example)", "uid")
    moved = slapd.ldapmodify(f"dn: {dn}\nchangetype: modrdn\nnewrdn: uid=dsl-0099@acme.example\ndeleteoldrdn: 1\n")
    assert moved.returncode == 0, moved.stderr
    data = plan_data(slapd, estate)
    assert data["changes"] == [] and data["drift"] == []
