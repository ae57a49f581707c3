"""git facts about the desired state, against real repositories made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision, changed_files, changes, revision


def repo_with_estate(tmp_path: Path) -> tuple[git.Repo, Path]:
    repo = git.Repo.init(tmp_path / "estate-repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.invalid")
    root = Path(repo.working_tree_dir or "") / "desired-state"
    (root / "tenants" / "acme").mkdir(parents=True)
    (root / "ispctl.yaml").write_text("directory: {base_dn: 'ou=ispctl,dc=example,dc=net'}\n")
    (root / "tenants" / "acme" / "tenant.yaml").write_text("name: ACME\n")
    (Path(repo.working_tree_dir or "") / "README.md").write_text("outside the estate\n")
    repo.index.add(["desired-state/ispctl.yaml", "desired-state/tenants/acme/tenant.yaml", "README.md"])
    repo.index.commit("initial estate")
    return repo, root


def test_revision_of_a_clean_and_a_dirty_tree(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    clean = revision(root)
    assert clean.commit == repo.head.commit.hexsha and clean.dirty is False and clean.branch == "main"
    # A change outside the estate folder does not make the estate dirty.
    (Path(repo.working_tree_dir or "") / "README.md").write_text("edited\n")
    assert revision(root).dirty is False
    (root / "tenants" / "acme" / "new.example.yaml").write_text("domain: new.example\n")
    assert revision(root).dirty is True


def test_revision_outside_git_has_no_commit(tmp_path: Path) -> None:
    (tmp_path / "loose").mkdir()
    assert revision(tmp_path / "loose").commit is None


def test_changed_files_since_a_ref_include_edits_and_untracked_files_under_the_estate_only(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    base = repo.head.commit.hexsha
    (root / "tenants" / "acme" / "tenant.yaml").write_text("name: ACME Corp\n")
    (root / "tenants" / "beta").mkdir()
    (root / "tenants" / "beta" / "tenant.yaml").write_text("name: Beta\n")
    (Path(repo.working_tree_dir or "") / "README.md").write_text("edited\n")
    found = [p.relative_to(root).as_posix() for p in changed_files(root, base)]
    assert found == ["tenants/acme/tenant.yaml", "tenants/beta/tenant.yaml"]
    assert changed_files(root, "HEAD") != [] and changed_files(root, "main")


def test_changed_files_refuses_an_unknown_ref(tmp_path: Path) -> None:
    _repo, root = repo_with_estate(tmp_path)
    with pytest.raises(IspctlError, match="does not know 'origin/main'"):
        changed_files(root, "origin/main")


def test_files_at_a_ref_read_what_git_has(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.gitinfo import FilesAt

    repo, root = repo_with_estate(tmp_path)
    tenant = root / "tenants" / "acme" / "tenant.yaml"
    first = repo.head.commit.hexsha
    tenant.write_text("name: ACME Corp\n")
    repo.index.add(["desired-state/tenants/acme/tenant.yaml"])
    repo.index.commit("renamed")
    tenant.unlink()
    at_head, at_first = FilesAt(root, "HEAD"), FilesAt(root, first)
    assert at_head.read(tenant) == b"name: ACME Corp\n" and at_first.read(tenant) == b"name: ACME\n"
    assert at_head.read(root / "tenants" / "acme" / "never.yaml") is None
    assert at_head.read(root / "tenants" / "acme") is None  # a folder is no file
    assert at_head.read(tmp_path / "outside.yaml") is None  # outside the repository's tree
    assert FilesAt(root, "no-such-ref").read(tenant) is None
    assert FilesAt(tmp_path / "elsewhere", "HEAD").read(tenant) is None


def test_repository_names_the_origin_without_credentials_else_the_checkout(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.gitinfo import repository

    repo, root = repo_with_estate(tmp_path)
    assert repository(root) == (str(Path(repo.working_tree_dir or "").resolve()), "desired-state")
    repo.create_remote("origin", "https://ci-bot:ghp_secret123@github.example/isp/estate.git?x=1")
    assert repository(root) == ("https://github.example/isp/estate.git", "desired-state")
    repo.remotes["origin"].set_url("git@github.example:isp/estate.git")  # a user, no credential
    assert repository(root / "tenants") == ("git@github.example:isp/estate.git", "desired-state/tenants")
    outside = tmp_path / "loose"
    outside.mkdir()
    assert repository(outside) == (str(outside.resolve()), ".")


def test_changed_files_name_a_deleted_file_and_both_sides_of_a_staged_rename(tmp_path: Path) -> None:
    # A file gone since the reference still anchors the scope (its former domain), so it
    # must be listed; a rename names the old path and the new one.
    repo, root = repo_with_estate(tmp_path)
    base = repo.head.commit.hexsha
    (root / "tenants" / "acme" / "old.example.yaml").write_text("domain: old.example\n")
    repo.index.add(["desired-state/tenants/acme/old.example.yaml"])
    repo.index.commit("a domain")
    moved = repo.head.commit.hexsha
    repo.git.mv("desired-state/tenants/acme/old.example.yaml", "desired-state/tenants/acme/new.example.yaml")
    (root / "tenants" / "acme" / "tenant.yaml").unlink()
    found = [p.relative_to(root).as_posix() for p in changed_files(root, moved)]
    assert found == ["tenants/acme/new.example.yaml", "tenants/acme/old.example.yaml", "tenants/acme/tenant.yaml"]
    found = [p.relative_to(root).as_posix() for p in changed_files(root, base)]
    assert found == ["tenants/acme/new.example.yaml", "tenants/acme/tenant.yaml"]


def test_revision_counts_staged_changes_and_untracked_files_but_not_ignored_ones(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    (root / ".gitignore").write_text("*.swp\n")
    repo.index.add(["desired-state/.gitignore"])
    repo.index.commit("ignore editor files")
    (root / "tenants" / "acme" / ".tenant.yaml.swp").write_text("scratch\n")
    assert revision(root).dirty is False  # ignored: not part of what a commit would hold
    (root / "tenants" / "acme" / "tenant.yaml").write_text("name: ACME Corp\n")
    repo.index.add(["desired-state/tenants/acme/tenant.yaml"])
    assert revision(root).dirty is True  # staged, not committed
    repo.index.commit("renamed")
    (root / "tenants" / "acme" / "deep" / "er").mkdir(parents=True)
    assert revision(root).dirty is False  # an empty folder is nothing git would commit
    (root / "tenants" / "acme" / "deep" / "er" / "x.yaml").write_text("x: 1\n")
    assert revision(root).dirty is True


def test_revision_before_the_first_commit_and_on_a_detached_head(tmp_path: Path) -> None:
    empty = git.Repo.init(tmp_path / "empty", initial_branch="main")
    assert revision(Path(empty.working_tree_dir or "")) == Revision(None, True)
    repo, root = repo_with_estate(tmp_path)
    repo.git.checkout("--detach")
    assert revision(root) == Revision(repo.head.commit.hexsha, False, None)


def test_a_folder_named_like_a_pattern_is_taken_literally(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    top = Path(repo.working_tree_dir or "")
    pattern = top / "estate[12]"
    pattern.mkdir()
    (pattern / "site.yaml").write_text("a: 1\n")
    (top / "estate1").mkdir()
    repo.index.add(["estate[12]/site.yaml"])
    repo.index.commit("an estate with brackets in its name")
    (top / "estate1" / "other.yaml").write_text("b: 2\n")  # what the glob estate[12] would match
    assert revision(pattern).dirty is False
    assert changed_files(pattern, "HEAD") == []


def test_changed_files_keep_unusual_names_exactly(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    base = repo.head.commit.hexsha
    odd = root / "tenants" / "acme" / "münchen \"x\" y.yaml"
    odd.write_text("domain: muenchen.example\n")
    repo.index.add([str(odd.relative_to(Path(repo.working_tree_dir or "")))])
    repo.index.commit("an odd name")
    (root / "tenants" / "acme" / "tab\tname.yaml").write_text("x: 1\n")
    found = [p.relative_to(root).as_posix() for p in changed_files(root, base)]
    assert found == ["tenants/acme/münchen \"x\" y.yaml", "tenants/acme/tab\tname.yaml"]


def test_changed_files_outside_git_and_with_an_option_for_a_ref(tmp_path: Path) -> None:
    (tmp_path / "loose").mkdir()
    with pytest.raises(IspctlError, match="inside a git repository"):
        changed_files(tmp_path / "loose", "HEAD")
    _repo, root = repo_with_estate(tmp_path)
    with pytest.raises(IspctlError, match="does not know '--output=x'"):
        changed_files(root, "--output=x")
    assert not (root / "x").exists()


def test_files_at_a_ref_answer_many_reads_in_turn(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.gitinfo import FilesAt

    repo, root = repo_with_estate(tmp_path)
    tenant, site = root / "tenants" / "acme" / "tenant.yaml", root / "ispctl.yaml"
    files = FilesAt(root, "HEAD")
    for _ in range(3):  # a missing file between two found ones leaves the answers in step
        assert files.read(tenant) == b"name: ACME\n"
        assert files.read(root / "tenants" / "acme" / "gone.yaml") is None
        assert files.read(site) == b"directory: {base_dn: 'ou=ispctl,dc=example,dc=net'}\n"


def test_changes_give_the_revision_of_the_same_look_at_the_tree(tmp_path: Path) -> None:
    repo, root = repo_with_estate(tmp_path)
    base = repo.head.commit.hexsha
    assert changes(root, base) == ([], revision(root)) and revision(root).dirty is False
    (root / "tenants" / "beta" / "deep").mkdir(parents=True)
    (root / "tenants" / "beta" / "deep" / "x.yaml").write_text("x: 1\n")
    files, rev = changes(root, base)
    assert rev == revision(root) and rev.dirty is True and rev.commit == base
    assert [p.relative_to(root).as_posix() for p in files] == ["tenants/beta/deep/x.yaml"]


def test_a_staged_renames_former_name_is_not_taken_for_an_untracked_file(tmp_path: Path) -> None:
    # porcelain v2 -z gives a rename's former path a field of its own, which can read "? name"
    # (paths are relative to the repository's top: an estate at the top shows it).
    repo, _root = repo_with_estate(tmp_path)
    top = Path(repo.working_tree_dir or "")
    (top / "? odd.yaml").write_text("domain: odd.example\n")
    repo.index.add(["? odd.yaml"])
    repo.index.commit("an odd name")
    base = repo.head.commit.hexsha
    repo.git.mv("? odd.yaml", "even.yaml")
    files, rev = changes(top, base)
    assert rev.dirty is True and rev == revision(top)
    assert [p.relative_to(top).as_posix() for p in files] == ["? odd.yaml", "even.yaml"]
    repo.index.commit("renamed")
    assert changes(top, repo.head.commit.hexsha) == ([], revision(top))  # the former name is no untracked file
