"""The GitOps workflow against a real slapd: saved plans, staleness, locking, gates,
scopes, Markdown, show and history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import git
from faults.process import launch, wait_paused
from ldap_helpers import (
    BASE,
    ENV_NAMES,
    HASH,
    apply_ok,
    assert_converged,
    cli_env,
    copy_example,
    edit_yaml,
    estate_repo,
    find_one,
    ispctl_binary,
    ldap_ok,
    run_cli,
    search,
)

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.passwords import hash_password

NWF = "tenants/northwind/northwind.example.yaml"
NOC = "(uid=noc@northwind.example)"


def commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message)


def set_quota(root: Path, size: str) -> None:
    def change(data: Any) -> None:
        data["mailboxes"]["noc"]["quota"] = size
    edit_yaml(root / NWF, change)


def test_a_saved_plan_applies_exactly_and_refuses_when_stale(slapd: SlapdInstance, tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    set_quota(root, "6 GiB")
    commit_all(repo, "noc gets 6 GiB")
    saved = tmp_path / "plans" / "noc.json"
    made = run_cli(slapd, "plan", "-d", str(root), "--out", str(saved))
    assert made.exit_code == 0 and saved.exists()
    data = json.loads(saved.read_text())
    assert data["meta"]["desired"]["commit"] == repo.head.commit.hexsha
    assert list(data["meta"]["live"]) == ["mailbox.noc@northwind.example"]
    shown = run_cli(slapd, "show", str(saved), "--format", "markdown")
    assert shown.exit_code == 0 and "Plan: 0 to add, 1 to change, 0 to destroy." in shown.stdout

    # Someone changes the touched entry by hand between plan and apply: refused, named.
    ldap_ok(slapd.ldapmodify(f"dn: uid=noc@northwind.example,associatedDomain=northwind.example,o=northwind,{BASE}\n"
                             "changetype: modify\nreplace: ispctlMailQuota\nispctlMailQuota: 1\n"))
    stale = run_cli(slapd, "apply", str(saved), "-d", str(root))
    assert stale.exit_code == 1
    assert f"Saved plan {saved} is stale; nothing was changed" in stale.stderr
    assert "mailbox.noc@northwind.example was changed in the live services since the plan was made" in stale.stderr
    assert find_one(slapd, NOC, "ispctlMailQuota")[1]["ispctlmailquota"] == ["1"]

    # A fresh plan applies exactly, without asking again (it was reviewed when saved).
    assert run_cli(slapd, "plan", "-d", str(root), "--out", str(saved)).exit_code == 0
    done = run_cli(slapd, "apply", str(saved), "-d", str(root))
    assert done.exit_code == 0, done.output
    assert find_one(slapd, NOC, "ispctlMailQuota")[1]["ispctlmailquota"] == [str(6 * 2**30)]

    # The desired state moved on after the plan was saved: refused too.
    assert run_cli(slapd, "plan", "-d", str(root), "--out", str(saved)).exit_code == 0
    set_quota(root, "7 GiB")
    commit_all(repo, "noc gets 7 GiB")
    moved = run_cli(slapd, "apply", str(saved), "-d", str(root))
    assert moved.exit_code == 1 and "the desired state moved: the plan was made at commit" in moved.stderr


def test_a_second_apply_waits_for_the_lock_then_fails_naming_the_holder(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({k: v for k, v in cli_env(slapd).items() if v is not None})
    first = launch("pause", "change:tenant.northwind", ["apply", "--auto-approve", "-d", str(root)], env)
    try:
        wait_paused(first, "change:tenant.northwind")
        # The first apply holds the lock in the middle of its run. (That a waiting apply takes
        # the lock once it is released is shown in tests/test_ldap_lock.py, without a clock.)
        second = subprocess.run([ispctl_binary(), "apply", "--auto-approve", "--lock-timeout", "1.5", "-d", str(root)],
                                env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "Waiting up to 1.5 s for the estate lock, held by another run: lock " in second.stderr
        assert "another run holds the estate: lock " in second.stderr and f"(pid {first.pid}, " in second.stderr
        # Alive on this host: the message says to wait or stop it, never to force-unlock a live run.
        assert f"Its process {first.pid} is running on this host" in second.stderr
        lock_id = second.stderr.split("another run holds the estate: lock ")[1].split()[0]
        assert search(slapd, "(o=northwind)", "1.1") == {}  # the second one changed nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    # The holder died on this host: the next apply takes the lock over and converges.
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    gone = run_cli(slapd, "force-unlock", lock_id, "-d", str(root))
    assert gone.exit_code == 1 and f"no lock with id {lock_id} (nothing is locked)" in gone.stderr


def test_protected_objects_and_thresholds_gate_the_apply(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    edit_yaml(root / "tenants/southbay/tenant.yaml", lambda d: d.__setitem__("protect", True))
    apply_ok(slapd, root)
    assert find_one(slapd, "(o=southbay)", "ispctlProtected")[1]["ispctlprotected"] == ["TRUE"]
    # Lifting the protection and deleting in one go is refused: the live flag decides.
    edit_yaml(root / "tenants/southbay/tenant.yaml", lambda d: d.__setitem__("protect", False))
    (root / "tenants/southbay/southbay.example.yaml").unlink()
    planned = run_cli(slapd, "plan", "-d", str(root))
    assert (
        "Warning: mailbox.noc@southbay.example would be destroyed, but tenant.southbay is protected"
    ) in planned.stderr
    gates = json.loads(run_cli(slapd, "plan", "-d", str(root), "--json").stdout)["meta"]["gates"]
    assert gates["refused"] is True and gates["needs_force"] is False and gates["thresholds"] == []
    assert any("tenant.southbay is protected" in reason for reason in gates["protected"])
    assert gates["limits"] == {"max_change_share": 0.3, "min_existing": 10}
    assert gates["prune"]["enabled"] is True
    markdown = run_cli(slapd, "plan", "-d", str(root), "--format", "markdown").stdout
    assert "> **Refused**: apply will refuse this plan" in markdown
    refused = run_cli(slapd, "apply", "--auto-approve", "--force", "-d", str(root))
    assert refused.exit_code == 1 and "is protected (protect: true)" in refused.stderr
    assert search(slapd, "(uid=noc@southbay.example)", "1.1")
    # Thresholds: changing most mailboxes at once needs --force.
    (tmp_path / "again").mkdir()
    other = copy_example(tmp_path / "again")
    for path in (other / "tenants").rglob("*.yaml"):
        if path.name != "tenant.yaml":
            edit_yaml(path, lambda d: [box.__setitem__("quota", "3 GiB") for box in d.get("mailboxes", {}).values()])
    big = json.loads(run_cli(slapd, "plan", "-d", str(other), "--json").stdout)["meta"]["gates"]
    assert big["needs_force"] is True and big["refused"] is False
    assert any("existing mailbox objects" in reason for reason in big["thresholds"])
    blocked = run_cli(slapd, "apply", "--auto-approve", "-d", str(other))
    assert blocked.exit_code == 1 and "Refusing this plan without --force" in blocked.stderr
    assert "existing mailbox objects" in blocked.stderr
    # A reviewed big change passes with --force, and the trail says who forced it and why.
    forced = run_cli(slapd, "apply", "--auto-approve", "--force", "--force-reason", "PR #7 label ispctl:force",
                     "-d", str(other))
    assert forced.exit_code == 0, forced.output
    (record, *_) = json.loads(run_cli(slapd, "history", "--json", "-d", str(other)).stdout)
    assert record["force"] is True and record["force_reason"] == "PR #7 label ispctl:force"
    mine = run_cli(slapd, "history", "-d", str(other))
    assert "[FORCED: PR #7 label ispctl:force]" in mine.stdout and len(mine.stdout.splitlines()) == 2
    # The first estate's applies (same directory, another folder) are not this estate's.
    assert "1 apply record(s) of other estates" in mine.stderr and "--all shows every record" in mine.stderr
    assert len(run_cli(slapd, "history", "--all").stdout.splitlines()) == 2


def test_scopes_markdown_and_history(slapd: SlapdInstance, tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    targeted = run_cli(slapd, "plan", "-d", str(root), "--json", "--target", "mailbox.noc@northwind.example")
    assert {c["address"] for c in json.loads(targeted.stdout)["changes"]} == {
        "tenant.northwind", "domain.northwind.example", "mailbox.noc@northwind.example"}
    apply_ok(slapd, root)
    set_quota(root, "9 GiB")
    edit_yaml(root / "tenants/southbay/school/tenant.yaml",
              lambda d: d.__setitem__("contact", "head@riverside-school.example"))
    changed = run_cli(slapd, "plan", "-d", str(root), "--json", "--changed-since", "HEAD", "--tenant", "school")
    assert {c["address"] for c in json.loads(changed.stdout)["changes"]} == {
        "mailbox.noc@northwind.example", "tenant.school"}
    only_school = run_cli(slapd, "plan", "-d", str(root), "--json", "--tenant", "school")
    assert [c["address"] for c in json.loads(only_school.stdout)["changes"]] == ["tenant.school"]
    md = run_cli(slapd, "plan", "-d", str(root), "--format", "markdown")
    assert md.stdout.startswith("### ispctl plan: Plan: 0 to add, 2 to change, 0 to destroy.")
    assert "<details><summary><b>tenant.northwind</b>: 1 to change</summary>" in md.stdout
    apply_ok(slapd, root)
    history = run_cli(slapd, "history", "--json", "-d", str(root))
    records = json.loads(history.stdout)
    assert [r["summary"]["changed"] for r in records] == [2, 0] and records[0]["summary"]["added"] == 0
    assert records[1]["summary"]["added"] == 46 and records[0]["desired"]["dirty"] is True
    # Each record names the estate it touched: repository (no remote: its path), folder, directory.
    assert records[0]["estate"] == {"repository": str(tmp_path.resolve()), "folder": "estate", "services": {
        "ldap": {"directory": slapd.url, "base_dn": BASE}}}
    assert records[0]["force"] is False and records[0]["force_reason"] is None
    text = run_cli(slapd, "history", "-d", str(root)).stdout.splitlines()
    assert text[0] == f"Applies of {tmp_path.resolve()} (estate); ldap: base_dn {BASE}, directory {slapd.url}:"
    assert len(text) == 3 and ": 0 added, 2 changed, 0 destroyed" in text[1]
    del repo


def test_the_prune_policy_keeps_and_reports_objects_not_in_git(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    edit_yaml(root / "ispctl.yaml", lambda d: d.__setitem__("prune", {"keep": ["alias.sales@*"]}))
    edit_yaml(root / NWF, lambda d: d["aliases"].pop("sales"))
    planned = run_cli(slapd, "plan", "-d", str(root), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert "Not pruned (1; not in git, kept by the prune policy): alias.sales@northwind.example" in planned.stdout
    md = run_cli(slapd, "plan", "-d", str(root), "--format", "markdown").stdout
    assert (
        "> **Not pruned**: 1 object(s) not in git are kept by the prune policy: `alias.sales@northwind.example`"
    ) in md
    apply_ok(slapd, root)
    assert search(slapd, "(mail=sales@northwind.example)", "1.1")


def set_noc_password(root: Path, value: str) -> None:
    # A hash git stays authoritative for (a service account): a change in git is a change to apply.
    def change(data: Any) -> None:
        data["mailboxes"]["noc"]["password"] = value
        data["mailboxes"]["noc"]["credentials"] = "git"
    edit_yaml(root / NWF, change)


def test_a_saved_plan_from_uncommitted_files_is_refused_and_binds_the_values_it_writes(
    slapd: SlapdInstance, tmp_path: Path,
) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    before = find_one(slapd, NOC, "userPassword")[1]["userpassword"]
    reviewed, other = hash_password("reviewed-pw", "sha512", 5000), hash_password("unreviewed-pw", "sha512", 5000)
    set_noc_password(root, reviewed)  # not committed
    saved = tmp_path / "plans" / "dirty.json"
    assert run_cli(slapd, "plan", "-d", str(root), "--out", str(saved)).exit_code == 0
    refused = run_cli(slapd, "apply", str(saved), "-d", str(root))
    assert refused.exit_code == 1
    assert f"was made from commit {repo.head.commit.hexsha[:12]} plus uncommitted changes" in refused.stderr
    assert "pass --allow-dirty to apply it anyway" in refused.stderr
    # The tree changes again: the plan would look the same (the hash is masked), but it is refused.
    set_noc_password(root, other)
    swapped = run_cli(slapd, "apply", str(saved), "--allow-dirty", "-d", str(root))
    assert swapped.exit_code == 1 and (
        "mailbox.noc@northwind.example: a value it writes changed since the plan was made") in swapped.stderr
    assert "$6$" not in swapped.output and "$6$" not in saved.read_text()
    assert find_one(slapd, NOC, "userPassword")[1]["userpassword"] == before
    set_noc_password(root, reviewed)  # exactly what was reviewed: applied
    done = run_cli(slapd, "apply", str(saved), "--allow-dirty", "-d", str(root))
    assert done.exit_code == 0, done.output
    assert find_one(slapd, NOC, "userPassword")[1]["userpassword"] == [reviewed]


def test_sigterm_while_waiting_for_the_lock_or_while_applying_leaves_no_lock(slapd: SlapdInstance,
                                                                            tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({k: v for k, v in cli_env(slapd).items() if v is not None})
    args = ["apply", "--auto-approve", "-d", str(root)]
    first = launch("pause", "change:#3", args, env)
    try:
        wait_paused(first, "change:#3")
        second = subprocess.Popen([ispctl_binary(), *args, "--lock-timeout", "600"], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = b""
        assert second.stderr is not None
        while b"Waiting up to 600 s for the estate lock" not in seen:
            chunk = second.stderr.read1(4096)
            assert chunk, seen
            seen += chunk
        second.send_signal(signal.SIGTERM)  # while it waits: it unwinds and says so
        out, err = second.communicate(timeout=60)
        assert second.returncode == 143 and b"Terminated (SIGTERM)." in err and b"Traceback" not in out + err
        first.send_signal(signal.SIGTERM)  # while it applies: it finishes change #3, then stops
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
    assert first.returncode == 143, err
    assert b"Apply stopped at a change boundary (SIGTERM): 3 change(s) done" in err
    assert search(slapd, "(objectClass=ispctlLock)", "cn") == {}  # released: nothing for a person to unlock
    (stopped,) = json.loads(run_cli(slapd, "history", "--json", "--all").stdout)
    assert stopped["result"] == "stopped" and stopped["stopped"] == "SIGTERM" and stopped["summary"]["added"] == 3
    apply_ok(slapd, root)
    assert_converged(slapd, root)


SOUTHBAY_NOC = f"uid=noc@southbay.example,associatedDomain=southbay.example,o=southbay,{BASE}"


def test_the_merge_applies_only_what_the_pull_request_reviewed(slapd: SlapdInstance, tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    base = repo.head.commit.hexsha
    # The pull request: noc gets 6 GiB, planned at its head for what it changed.
    repo.git.checkout("-b", "pr")
    set_quota(root, "6 GiB")
    commit_all(repo, "noc gets 6 GiB")
    reviewed = tmp_path / "plans" / "pr.json"
    made = run_cli(slapd, "plan", "-d", str(root), "--changed-since", base, "--out", str(reviewed))
    assert made.exit_code == 0, made.output
    head = repo.head.commit.hexsha
    # Meanwhile main got a change nobody reviewed, the merge makes a new commit, and
    # someone edited an entry by hand in a tenant the pull request did not touch.
    repo.git.checkout("main")
    edit_yaml(root / "tenants/southbay/school/tenant.yaml",
              lambda d: d.__setitem__("contact", "head@riverside-school.example"))
    commit_all(repo, "unreviewed: a new contact for the school")
    repo.git.merge("pr", "--no-ff", "-m", "Merge pull request: noc gets 6 GiB")
    ldap_ok(slapd.ldapmodify(f"dn: {SOUTHBAY_NOC}\nchangetype: modify\nreplace: ispctlMailQuota\nispctlMailQuota: 1\n"))

    merged = run_cli(slapd, "apply", "--reviewed", str(reviewed), "--changed-since", base, "-d", str(root))
    assert merged.exit_code == 0, merged.output
    assert (f"The reviewed plan {reviewed} is not exactly what apply would do now; applying only the 1 change(s) it "
            "reviewed.") in merged.stderr
    assert "Not applied (1; not reviewed: plan them in a pull request of their own):" in merged.stderr
    assert "  tenant.school: the reviewed plan does not have this update" in merged.stderr
    assert find_one(slapd, NOC, "ispctlMailQuota")[1]["ispctlmailquota"] == [str(6 * 2**30)]
    assert find_one(slapd, "(o=school)", "ispctlContact")[1]["ispctlcontact"] == ["office@riverside-school.example"]
    # Drift outside the merge's scope is the drift job's: not even planned here.
    assert find_one(slapd, "(uid=noc@southbay.example)", "ispctlMailQuota")[1]["ispctlmailquota"] == ["1"]
    (record, *_) = json.loads(run_cli(slapd, "history", "--json", "-d", str(root)).stdout)
    assert record["reviewed"] == {"plan": json.loads(reviewed.read_text())["checksum"], "commit": head,
                                  "exact": False, "held_back": ["tenant.school"]}
    assert [c["address"] for c in record["changes"]] == ["mailbox.noc@northwind.example"]

    # A reviewed change whose value moved after the review (a later push) is held back too.
    before_merge = repo.head.commit.hexsha
    repo.git.checkout("-b", "pr2")
    set_quota(root, "8 GiB")
    commit_all(repo, "noc gets 8 GiB")
    second = tmp_path / "plans" / "pr2.json"
    assert run_cli(slapd, "plan", "-d", str(root), "--changed-since", before_merge, "--out", str(second)).exit_code == 0
    repo.git.checkout("main")
    repo.git.merge("pr2", "--no-ff", "-m", "Merge pull request: noc gets 8 GiB")
    set_quota(root, "9 GiB")
    commit_all(repo, "unreviewed: noc gets 9 GiB")
    moved = run_cli(slapd, "apply", "--reviewed", str(second), "--changed-since", before_merge, "-d", str(root))
    assert moved.exit_code == 0, moved.output
    assert ("mailbox.noc@northwind.example: attribute quota changed since the plan was made (the value it writes)"
            in moved.stderr)
    assert "No changes." in moved.stdout
    assert find_one(slapd, NOC, "ispctlMailQuota")[1]["ispctlmailquota"] == [str(6 * 2**30)]

    # A reviewed plan that is still fresh (a fast-forward merge) is applied exactly.
    fresh = tmp_path / "plans" / "fresh.json"
    assert run_cli(slapd, "plan", "-d", str(root), "--changed-since", before_merge, "--out", str(fresh)).exit_code == 0
    exact = run_cli(slapd, "apply", "--reviewed", str(fresh), "-d", str(root))
    assert exact.exit_code == 0 and f"The reviewed plan {fresh} is fresh: applying exactly it." in exact.stderr
    assert find_one(slapd, NOC, "ispctlMailQuota")[1]["ispctlmailquota"] == [str(9 * 2**30)]
    both = run_cli(slapd, "apply", str(fresh), "--reviewed", str(fresh), "-d", str(root))
    assert both.exit_code == 1 and "not both" in both.stderr


def test_a_reviewed_change_that_needs_an_unreviewed_one_is_held_back_with_it(
    slapd: SlapdInstance, tmp_path: Path,
) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    base = repo.head.commit.hexsha
    repo.git.checkout("-b", "pr")
    ops = root / "tenants/northwind/ops.example.yaml"

    def write_ops(description: str) -> None:
        ops.write_text(f"domain: ops.example\nservices: [mail]\ndescription: {description}\nmailboxes:\n"
                       f"  noc:\n    name: Ops NOC\n    password: \"{HASH}\"\n", encoding="utf-8")
    write_ops("Operations")
    commit_all(repo, "a domain for ops, with a mailbox")
    reviewed = tmp_path / "plans" / "ops.json"
    assert run_cli(slapd, "plan", "-d", str(root), "--changed-since", base, "--out", str(reviewed)).exit_code == 0
    assert {c["address"] for c in json.loads(reviewed.read_text())["changes"]} == {
        "domain.ops.example", "mailbox.noc@ops.example"}
    repo.git.checkout("main")
    repo.git.merge("pr", "--no-ff", "-m", "Merge pull request: ops")
    write_ops("Operations, renamed after the review")
    commit_all(repo, "unreviewed: another description")
    merged = run_cli(slapd, "apply", "--reviewed", str(reviewed), "--changed-since", base, "-d", str(root))
    assert merged.exit_code == 0, merged.output
    # The mailbox is exactly as reviewed, but it needs its domain, which is not: neither is applied.
    assert "applying only the 0 change(s) it reviewed." in merged.stderr
    assert "  domain.ops.example: attribute description changed since the plan was made" in merged.stderr
    assert "  mailbox.noc@ops.example: needs or moves with a change that was not reviewed" in merged.stderr
    assert search(slapd, "(associatedDomain=ops.example)", "1.1") == {}
    assert search(slapd, "(uid=noc@ops.example)", "1.1") == {}
