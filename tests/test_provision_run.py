"""One edit end to end: validated or restored, one batch all-or-nothing, the lock, commits and
branches in a real git repository, and what a following plan shows against a real slapd."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest
from ldap_helpers import apply_ok, estate_repo, ispctl_binary, plan_data, run_cli
from provision_helpers import BAKERY, LAW, NW, edit, example, snapshot

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.provision.lock import edit_lock
from ispctl.reconciler.provision.run import message


def lines(*ops: dict[str, object]) -> str:
    return "".join(json.dumps(op, ensure_ascii=False) + "\n" for op in ops)


def test_a_refused_edit_leaves_every_file_exactly_as_it_was(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    # the edit itself works; the estate it makes does not validate (an alias to nobody)
    result, diff = edit(root, "alias", "add", "team@northwind.example", "--to", "nobody")
    assert result.exit_code == 1 and diff == {}
    assert "northwind.example.yaml:" in result.stderr and "nothing was changed" in result.stderr
    result, diff = edit(root, "mailbox", "add", "x@unknown.example")
    assert result.exit_code == 1 and "no domain 'unknown.example'" in result.stderr
    # a new client folder is removed again when its domain is refused
    result, diff = edit(root, "batch", "-", input=lines(
        {"op": "tenant.add", "tenant": "acme", "parent": "northwind", "name": "Acme"},
        {"op": "domain.add", "domain": "acme.example", "tenant": "acme"},
        {"op": "mailbox.add", "address": "a@acme.example", "quota": "3 XB"}))
    assert result.exit_code == 1 and diff == {} and "unknown size unit" in result.stderr
    assert snapshot(root) == original


def test_batch_applies_everything_as_one_edit(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "batch", "-", "--json", input=lines(
        {"op": "tenant.add", "tenant": "acme", "parent": "northwind", "name": "Acme Ltd"},
        {"op": "domain.add", "domain": "acme.example", "tenant": "acme", "services": ["mail"]},
        {"op": "mailbox.add", "address": "alice@acme.example", "name": "Alice", "quota": "2GiB"},
        {"op": "alias.add", "address": "info@acme.example", "to": ["alice"]},
        {"op": "mailbox.suspend", "address": "karl@bäckerei-müller.example"}))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changed"] is True and data["commit"] is None and len(data["operations"]) == 5
    assert {f["path"]: f["change"] for f in data["files"]} == {
        "estate/tenants/northwind/acme/acme.example.yaml": "created",
        "estate/tenants/northwind/acme/tenant.yaml": "created",
        "estate/" + BAKERY: "changed"}
    assert diff["tenants/northwind/acme/acme.example.yaml"] == [
        "+domain: acme.example", "+services: [mail]", "+mailboxes:", "+  alice:", "+    name: Alice",
        "+    quota: 2GiB", "+aliases:", "+  info: alice"]


def test_batch_reports_every_bad_line_with_its_number_and_changes_nothing(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    text = lines({"op": "mailbox.add", "address": "ok@northwind.example"}) + "{not json\n" + lines(
        {"op": "mailbox.add", "address": "b@northwind.example", "quota": "1GiB", "colour": "red"},
        {"op": "mailbox.add", "address": "c@nowhere.example"},
        {"op": "mailbox.explode", "address": "d@northwind.example"})
    result, diff = edit(root, "batch", "-", input=text)
    assert result.exit_code == 1 and diff == {}
    err = result.stderr
    assert "<stdin>:2: not JSON" in err and "<stdin>:3: colour: Extra inputs are not permitted" in err
    assert "<stdin>:5: op:" in err
    assert snapshot(root) == original
    # once the lines parse, every operation that cannot be made is reported with its line
    result, diff = edit(root, "batch", "-", input=lines(
        {"op": "mailbox.add", "address": "ok@northwind.example"},
        {"op": "mailbox.add", "address": "c@nowhere.example"},
        {"op": "alias.delete", "address": "nothing@northwind.example"}))
    assert result.exit_code == 1 and diff == {}
    assert "<stdin>:2: no domain 'nowhere.example'" in result.stderr
    assert "<stdin>:3: no alias nothing@northwind.example" in result.stderr


def test_a_second_command_waits_for_the_lock_or_gives_up_after_its_timeout(tmp_path: Path) -> None:
    root = example(tmp_path)
    with edit_lock(root.absolute(), 0):
        result, diff = edit(root, "mailbox", "add", "a@northwind.example", "--lock-timeout", "0.2")
    assert result.exit_code == 1 and diff == {} and "--lock-timeout" in result.stderr
    assert edit(root, "mailbox", "add", "a@northwind.example")[0].exit_code == 0


def test_concurrent_commands_both_land_and_both_commit(tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    names = [f"user{i}@northwind.example" for i in range(4)]
    procs = [subprocess.Popen([ispctl_binary(), "mailbox", "add", name, "--name", f"User {i}", "--commit",
                               "-d", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, name in enumerate(names)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    text = (root / NW).read_text(encoding="utf-8")
    for i in range(4):
        assert f"  user{i}:\n    name: User {i}\n" in text
    messages = sorted(c.message.strip() for c in list(repo.iter_commits())[:4])
    assert messages == [f"ispctl mailbox.add {n}" for n in names]
    assert not repo.is_dirty(untracked_files=True)


def test_commit_names_the_objects_and_takes_the_author_from_the_environment(tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    (root / "scratch.txt").write_text("not the edit's\n", encoding="utf-8")
    repo.index.add([str(root / "scratch.txt")])  # staged by someone else: must stay out of the commit
    head = repo.head.commit
    result = run_cli(None, "mailbox", "add", "alice@northwind.example", "--name", "Alice", "--commit",
                     "-d", str(root), GIT_AUTHOR_NAME="Billing Robot", GIT_AUTHOR_EMAIL="billing@example.net")
    assert result.exit_code == 0, result.output
    commit = repo.head.commit
    assert commit.parents == (head,) and commit.message.strip() == "ispctl mailbox.add alice@northwind.example"
    assert (commit.author.name, commit.author.email) == ("Billing Robot", "billing@example.net")
    assert list(commit.stats.files) == ["estate/" + NW]
    assert "estate/scratch.txt" in [d.a_path for d in repo.index.diff("HEAD")]  # still staged, not committed
    again = run_cli(None, "mailbox", "add", "alice@northwind.example", "--name", "Alice", "--commit", "-d", str(root))
    assert again.exit_code == 0 and repo.head.commit == commit  # nothing to change: no empty commit


def test_branch_commits_there_and_leaves_the_checkout_as_it_was(tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    head = repo.head.commit
    before = snapshot(root)
    result = run_cli(None, "tenant", "suspend", "school", "--branch", "suspend-school", "--json", "-d", str(root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["branch"] == "suspend-school" and data["commit"] == repo.heads["suspend-school"].commit.hexsha
    assert repo.active_branch.name == "main" and repo.head.commit == head and snapshot(root) == before
    branch = repo.heads["suspend-school"].commit
    assert branch.parents == (head,) and branch.message.strip() == "ispctl tenant.suspend school"
    text = branch.tree["estate/tenants/southbay/school/tenant.yaml"].data_stream.read().decode()
    assert "status: suspended" in text and "status: active" not in text
    assert repo.git.worktree("list").count("\n") == 0  # the temporary worktree is gone
    refused = run_cli(None, "tenant", "suspend", "school", "--branch", "suspend-school", "-d", str(root))
    assert refused.exit_code == 1 and "exists already" in refused.stderr
    bad = run_cli(None, "mailbox", "add", "x@northwind.example", "--quota", "1 XB", "--branch", "bad", "-d", str(root))
    assert bad.exit_code == 1 and "bad" not in [h.name for h in repo.heads]


def test_commit_message_of_a_batch_counts_and_lists_every_object() -> None:
    assert message(["mailbox.add a@x.example", "mailbox.add b@x.example", "tenant.add acme"]) == (
        "ispctl batch: 3 operations (mailbox.add 2, tenant.add 1)\n\n"
        "mailbox.add a@x.example\nmailbox.add b@x.example\ntenant.add acme")


def test_the_next_plan_shows_exactly_the_edit(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = example(tmp_path)
    apply_ok(slapd, root)
    result, _ = edit(root, "batch", "-", input=lines(
        {"op": "mailbox.add", "address": "alice@northwind.example", "name": "Alice Doe", "quota": "2GiB"},
        {"op": "mailbox.rename", "address": "karl@bäckerei-müller.example", "new": "k.mueller@bäckerei-müller.example"},
        {"op": "alias.set", "address": "partners@hartcole.example", "to": ["j.hart"]}))
    assert result.exit_code == 0, result.output
    data = plan_data(slapd, root)
    got = {(c["action"], c["kind"], c["key"], c.get("renamed_from")) for c in data["changes"]}
    assert got == {("create", "mailbox", "alice@northwind.example", None),
                   ("update", "mailbox", "k.mueller@xn--bckerei-mller-bfb28a.example",
                    "mailbox.karl@xn--bckerei-mller-bfb28a.example"),
                   ("update", "alias", "partners@hartcole.example", None)}
    assert data["summary"]["destroy"] == 0
    apply_ok(slapd, root)
    suspended, _ = edit(root, "tenant", "suspend", "lawfirm")
    assert suspended.exit_code == 0
    data = plan_data(slapd, root)
    # one command: the tenant and everything below it suspended, nothing else, nothing destroyed
    assert data["summary"] == {"add": 0, "change": 12, "destroy": 0}
    assert {(c["kind"], c["key"]) for c in data["changes"]} == {
        ("tenant", "lawfirm"), ("domain", "hartcole.example"),
        *(("alias", f"{a}@hartcole.example") for a in ("associates", "office", "partners")),
        *(("mailbox", f"{m}@hartcole.example") for m in ("d.osei", "it", "j.hart", "m.chen", "r.cole", "reception",
                                                         "s.novak"))}
    assert {(a["name"], a["before"], a["after"]) for c in data["changes"] for a in c["attributes"]} == {
        ("status", "active", "suspended")}
    apply_ok(slapd, root)
    moved, _ = edit(root, "tenant", "move", "school", "--parent", "northwind")
    assert moved.exit_code == 0, moved.output
    data = plan_data(slapd, root)
    # one planned move of the client's entry (everything below it goes with it), nothing destroyed
    assert [(c["action"], c["kind"], c["key"], c.get("moved")) for c in data["changes"]] == [
        ("update", "tenant", "school", {"from": "tenant.southbay", "to": "tenant.northwind"})]


@pytest.mark.parametrize("verb", ["suspend", "resume", "delete"])
def test_unknown_objects_are_named(tmp_path: Path, verb: str) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", verb, "ghost@hartcole.example")
    assert result.exit_code == 1 and diff == {} and "no mailbox ghost@hartcole.example" in result.stderr
    assert LAW  # the file that would have held it is untouched (diff == {})


def test_git_is_optional_without_commit(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert edit(root, "mailbox", "add", "a@northwind.example")[0].exit_code == 0
    result = run_cli(None, "mailbox", "add", "b@northwind.example", "--commit", "-d", str(root))
    assert result.exit_code == 1 and "not in a git repository" in result.stderr
    assert "  b:" not in (root / NW).read_text(encoding="utf-8")
    assert not list(root.parent.glob(".git"))
    assert git  # gitpython is what commits
