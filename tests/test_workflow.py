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
    history = run_cli(slapd, "history", "--json")
    records = json.loads(history.stdout)
    assert [r["summary"]["changed"] for r in records] == [2, 0] and records[0]["summary"]["added"] == 0
    assert records[1]["summary"]["added"] == 45 and records[0]["desired"]["dirty"] is True
    text = run_cli(slapd, "history").stdout.splitlines()
    assert len(text) == 2 and ": 0 added, 2 changed, 0 destroyed" in text[0]
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
    edit_yaml(root / NWF, lambda d: d["mailboxes"]["noc"].__setitem__("password", value))


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
    (stopped,) = json.loads(run_cli(slapd, "history", "--json").stdout)
    assert stopped["result"] == "stopped" and stopped["stopped"] == "SIGTERM" and stopped["summary"]["added"] == 3
    apply_ok(slapd, root)
    assert_converged(slapd, root)
