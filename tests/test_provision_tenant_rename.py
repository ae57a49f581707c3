"""``ispctl tenant rename OLD NEW``: the folder renamed with everything in it (files byte for
byte), the old name first in ``previous:``; refusals leave every file as it was; against a real
slapd the next plan is one planned rename, narrowed plans (--tenant, --changed-since) show it
too, and after the apply nothing is left to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ldap_helpers import apply_ok, assert_converged, estate_repo, plan_data, run_cli
from provision_helpers import edit, example, snapshot

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.wiring import load_desired

RENAMED = [("update", "tenant", "southshore", "tenant.southbay")]


def changes(data: dict[str, object]) -> list[tuple[object, ...]]:
    listed = data["changes"]
    assert isinstance(listed, list)
    return [(c["action"], c["kind"], c["key"], c.get("renamed_from")) for c in listed]


def test_a_reseller_rename_moves_its_folder_whole_and_names_the_old_name(tmp_path: Path) -> None:
    root = example(tmp_path)
    before = snapshot(root / "tenants" / "southbay")
    result, diff = edit(root, "tenant", "rename", "southbay", "southshore", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"] is True
    assert not (root / "tenants" / "southbay").exists()
    after = snapshot(root / "tenants" / "southshore")
    assert sorted(after) == sorted(before)  # the client's folder and every domain file went along
    assert {name: data for name, data in after.items() if name != "tenant.yaml"} == {
        name: data for name, data in before.items() if name != "tenant.yaml"}  # byte for byte
    assert diff["tenants/southshore/tenant.yaml"][-1] == "+previous: [southbay]"
    old_lines = before["tenant.yaml"].decode().splitlines()
    assert after["tenant.yaml"].decode().splitlines() == [*old_lines, "previous: [southbay]"]  # comments kept
    # renamed again: the newest earlier name first; renaming back drops the name it takes again
    assert edit(root, "tenant", "rename", "southshore", "baywide")[0].exit_code == 0
    assert "previous: [southshore, southbay]" in (root / "tenants/baywide/tenant.yaml").read_text(encoding="utf-8")
    assert edit(root, "tenant", "rename", "baywide", "southbay")[0].exit_code == 0
    assert "previous: [baywide, southshore]" in (root / "tenants/southbay/tenant.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "below"), [
    ("northwind", "northgate", {("domain", "northwind.example"), ("tenant", "bakery"), ("tenant", "lawfirm")}),
    ("southbay", "southshore", {("domain", "southbay.example"), ("tenant", "school")}),
])
def test_no_service_sees_anything_but_the_rename(tmp_path: Path, old: str, new: str,
                                                 below: set[tuple[str, str]]) -> None:
    """Mail homes are by domain and address, zones by domain, a web site's home, user and uid
    go by its tenant's first name (web.users.home_name): every service's resources compile as
    before but the tenant's own key and the parent of what is right below it."""
    root = example(tmp_path)
    _, before = load_desired(root)
    assert edit(root, "tenant", "rename", old, new)[0].exit_code == 0
    _, after = load_desired(root)
    assert {kind for kind, _ in before} >= {"mailbox", "maildir", "sieve", "site", "dns", "dns_zone"}
    renamed, was = after.pop(("tenant", new)), before.pop(("tenant", old))
    assert (renamed.attrs, renamed.parent, renamed.previous) == (was.attrs, was.parent, (old,))
    assert {ident for ident, r in before.items() if r.parent == f"tenant.{old}"} == below
    assert set(after) == set(before)
    for ident, earlier in before.items():
        now = after[ident]
        assert now.attrs == earlier.attrs, ident
        assert now.parent == (f"tenant.{new}" if ident in below else earlier.parent), ident


def test_a_client_rename_stays_under_its_reseller(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "tenant", "rename", "school", "academy")
    assert result.exit_code == 0, result.output
    assert sorted(diff) == ["tenants/southbay/academy", "tenants/southbay/academy/riverside-school.example.yaml",
                            "tenants/southbay/academy/tenant.yaml", "tenants/southbay/school",
                            "tenants/southbay/school/riverside-school.example.yaml",
                            "tenants/southbay/school/tenant.yaml"]
    assert diff["tenants/southbay/academy/tenant.yaml"][-1] == "+previous: [school]"


def test_a_file_laid_out_by_hand_moves_byte_for_byte(tmp_path: Path) -> None:
    root = example(tmp_path)
    by_hand = (b"domain: hand.example\nservices: [mail]\nmailboxes:\n    anna:   {name: Anna}   # four spaces\n"
               b"aliases:\n    team: [anna,   bob]\n    bob:  anna\n")
    (root / "tenants" / "southbay" / "hand.example.yaml").write_bytes(by_hand)
    result, _ = edit(root, "tenant", "rename", "southbay", "southshore")
    assert result.exit_code == 0, result.output
    assert (root / "tenants" / "southshore" / "hand.example.yaml").read_bytes() == by_hand


def test_a_batch_renames_then_uses_the_new_name(tmp_path: Path) -> None:
    root = example(tmp_path)
    ops = [{"op": "tenant.rename", "tenant": "southbay", "new": "southshore"},
           {"op": "tenant.rename", "tenant": "school", "new": "academy"},
           {"op": "tenant.set", "tenant": "academy", "set": {"limits.max_domains": 2}},
           {"op": "domain.add", "domain": "academy.example", "tenant": "academy", "services": ["mail"]},
           {"op": "mailbox.add", "address": "head@academy.example", "name": "Head"},
           {"op": "tenant.set", "tenant": "southshore", "set": {"name": "South Shore Networks"}}]
    result, diff = edit(root, "batch", "-", input="".join(json.dumps(op) + "\n" for op in ops))
    assert result.exit_code == 0, result.output
    folder = root / "tenants" / "southshore" / "academy"
    assert sorted(p.name for p in folder.iterdir()) == ["academy.example.yaml", "riverside-school.example.yaml",
                                                        "tenant.yaml"]
    text = (root / "tenants" / "southshore" / "tenant.yaml").read_text(encoding="utf-8").splitlines()
    assert "name: South Shore Networks" in text and text[-1] == "previous: [southbay]"
    # nothing outside the two folders changed
    assert set(diff) <= {f"tenants/{t}{rest}" for t in ("southbay", "southshore") for rest in (
        "", "/tenant.yaml", "/southbay.example.yaml", "/school", "/school/tenant.yaml",
        "/school/riverside-school.example.yaml", "/academy", "/academy/tenant.yaml",
        "/academy/riverside-school.example.yaml", "/academy/academy.example.yaml")}
    assert "previous: [school]" in (folder / "tenant.yaml").read_text(encoding="utf-8")
    assert not (root / "tenants" / "southbay").exists()


def test_refusals_leave_every_file_as_it_was(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    for args, words in [
        (("southbay", "northwind"), "tenant 'northwind' exists already"),
        (("southbay", "South_Bay"), "must be 1-63 lower-case letters"),
        (("nobody", "somebody"), "nobody"),
    ]:
        result, diff = edit(root, "tenant", "rename", *args)
        assert result.exit_code == 1 and diff == {}, result.output
        assert words in result.stderr
    (root / "tenants" / "southbay" / "notes.txt").write_text("kept by hand\n", encoding="utf-8")
    original = snapshot(root)
    result, diff = edit(root, "tenant", "rename", "southbay", "southshore")
    assert result.exit_code == 1 and diff == {} and "also holds notes.txt" in result.stderr
    assert snapshot(root) == original
    # the same name: nothing to change
    result, diff = edit(root, "tenant", "rename", "southbay", "southbay")
    assert result.exit_code == 0 and diff == {} and "Nothing to change" in result.stdout


def test_the_plan_after_the_command_is_one_rename_narrowed_or_not(slapd: SlapdInstance, tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    result = run_cli(None, "tenant", "rename", "southbay", "southshore", "--commit", "-d", str(root))
    assert result.exit_code == 0, result.output
    assert "tenant.rename southbay -> southshore" in str(repo.head.commit.message)
    assert not repo.is_dirty(untracked_files=True)  # the rename is the whole commit (git sees renames)
    full = plan_data(slapd, root)
    assert changes(full) == RENAMED and full["summary"]["destroy"] == 0
    for narrowed in (["--tenant", "southshore"], ["--changed-since", "HEAD~1"]):
        found = run_cli(slapd, "plan", "--json", *narrowed, "-d", str(root))
        assert found.exit_code == 0, found.output
        assert changes(json.loads(found.stdout)) == RENAMED, narrowed
    apply_ok(slapd, root)
    assert_converged(slapd, root)
