"""Where the edit lock lives: in the repository's git dir, never among the estate's files."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision.lock import LOCK_NAME, edit_lock, lock_path


def test_in_the_git_dir_of_a_repository_and_of_a_worktree(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path / "repo")
    (tmp_path / "repo" / "estate").mkdir()
    assert lock_path(tmp_path / "repo" / "estate") == tmp_path / "repo" / ".git" / LOCK_NAME
    repo.index.commit("empty")
    repo.git.worktree("add", "-q", "-b", "other", str(tmp_path / "tree"))
    assert lock_path(tmp_path / "tree").parent == (tmp_path / "repo" / ".git" / "worktrees" / "tree").resolve()


def test_beside_an_estate_outside_git_and_exclusive(tmp_path: Path) -> None:
    (tmp_path / "estate").mkdir()
    assert lock_path(tmp_path / "estate") == tmp_path / f".estate.{LOCK_NAME}"
    with edit_lock(tmp_path / "estate", 0), pytest.raises(IspctlError, match="another provisioning command"):
        with edit_lock(tmp_path / "estate", 0):
            pass
    with edit_lock(tmp_path / "estate", 0):  # released: free again
        pass
