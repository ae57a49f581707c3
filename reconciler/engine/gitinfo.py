"""What git knows about the desired state: the commit a plan was made from, whether the
tree was dirty, and which files changed since a reference (for fast pull-request plans).

Only reads; ispctl never commits on its own. A desired-state folder outside any git
repository is allowed (the sandbox, a tarball): the commit is then ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import git

from ispctl.reconciler.engine.errors import IspctlError


@dataclass(frozen=True)
class Revision:
    commit: str | None
    dirty: bool
    branch: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "dirty": self.dirty, "branch": self.branch}


def _repo(path: Path) -> git.Repo | None:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def revision(root: Path) -> Revision:
    """HEAD of the repository holding ``root``, and whether ``root`` has uncommitted changes."""
    repo = _repo(root)
    if repo is None or not repo.head.is_valid():
        return Revision(None, True)
    relative = str(root.resolve().relative_to(Path(repo.working_tree_dir or ".").resolve()))
    scope = None if relative == "." else relative
    dirty = repo.is_dirty(untracked_files=True, path=scope)
    branch = None if repo.head.is_detached else repo.active_branch.name
    return Revision(repo.head.commit.hexsha, dirty, branch)


def changed_files(root: Path, ref: str) -> list[Path]:
    """Files under ``root`` that differ between ``ref`` and the working tree (untracked included)."""
    repo = _repo(root)
    if repo is None:
        raise IspctlError(f"--changed-since needs {root} to be inside a git repository")
    try:
        base = repo.commit(ref)
    except (git.BadName, ValueError):
        raise IspctlError(f"--changed-since: git does not know {ref!r} (fetch it first, e.g. git fetch "
                          "origin)") from None
    top = Path(repo.working_tree_dir or ".").resolve()
    # One diff against the working tree (a git subprocess each): a rename or a deletion
    # names the file on both sides, so both are kept.
    names = {name for d in base.diff(None) for name in (d.a_path, d.b_path)}
    names |= set(repo.untracked_files)
    root_resolved = root.resolve()
    out = []
    for name in sorted(n for n in names if n):
        path = top / name
        if path == root_resolved or root_resolved in path.parents:
            out.append(path)
    return out


class FilesAt:
    """Files as they were at one reference, read through one repository handle.

    Each file is a blob answered by git's long-lived ``cat-file --batch`` process, not a
    ``git show`` subprocess and a repository search per file: a pull request that removes
    or renames many domain files asks for each of them (``estate.scopes.former_domain``).
    """

    def __init__(self, root: Path, ref: str) -> None:
        self._tree: git.Tree | None = None
        self._top = Path(".")
        repo = _repo(root)
        if repo is None:
            return
        try:
            self._tree = repo.commit(ref).tree
        except (git.BadName, ValueError):
            return  # git cannot say: every file reads as absent
        self._top = Path(repo.working_tree_dir or ".").resolve()

    def read(self, path: Path) -> bytes | None:
        """The bytes of ``path`` at the reference (None if it was no file there)."""
        if self._tree is None:
            return None
        try:
            item = self._tree / path.resolve().relative_to(self._top).as_posix()
        except (ValueError, KeyError):
            return None
        if not isinstance(item, git.Blob):
            return None
        data: bytes = item.data_stream.read()
        return data


def repository(root: Path) -> tuple[str, str]:
    """Which repository ``root`` is in and where in it: the origin's URL without credentials
    (else the checkout's path), and the folder relative to its top. Outside git: the path."""
    repo = _repo(root)
    if repo is None:
        return str(root.resolve()), "."
    top = Path(repo.working_tree_dir or ".").resolve()
    folder = str(root.resolve().relative_to(top))
    try:
        url = str(repo.remotes["origin"].url)
    except (IndexError, ValueError):
        return str(top), folder
    # https://user:token@host/... carries a credential; scp-style git@host:path only a user.
    if "://" in url:
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    return url, folder
