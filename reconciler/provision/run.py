"""One edit: operations in, files written and validated (or restored), optionally committed.

``provision`` holds the edit lock across everything: it indexes the estate (the validated
catalog), applies every operation to one ``EditFiles``, writes the changed files, validates
the whole estate as ``validate`` does, and puts every file back exactly as it was when
anything is wrong. With a branch, the edit is made in a temporary worktree of a new branch
from HEAD, so the checkout is left exactly as it was (a billing system's working copy).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from ispctl.reconciler.engine.errors import IspctlError, Problem, ValidationFailed
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.provision.dispatch import apply_operation
from ispctl.reconciler.provision.editable import Editable
from ispctl.reconciler.provision.editor import Editor
from ispctl.reconciler.provision.files import EditFiles
from ispctl.reconciler.provision.index import Index
from ispctl.reconciler.provision.lock import edit_lock
from ispctl.reconciler.provision.operations import Operation

Check = Callable[[Path], tuple[Desired | None, list[Problem]]]


class EditRefused(IspctlError):
    """Operations that cannot be made, each message naming its line (batch) or command; no
    file was changed. (Problems of the edited estate are ``ValidationFailed``, as validate's.)"""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages) + f"\n{len(messages)} operation(s) refused; nothing was changed.")


@dataclass
class Outcome:
    operations: list[str]
    files: dict[Path, str] = field(default_factory=dict)  # path -> created, changed, deleted
    commit: str | None = None
    branch: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.files)


def provision(root: Path, operations: Sequence[tuple[int, Operation]], check: Check,
              editables: Mapping[str, Editable] | None = None, *, commit: bool = False, branch: str | None = None,
              lock_timeout: float = 120.0, source: str = "command") -> Outcome:
    """Apply ``operations`` (each with its line number; 0 for a command's one) as one edit."""
    root = root.absolute()
    with edit_lock(root, lock_timeout):
        if branch is None:
            return _edit(root, operations, check, editables, commit, source)
        return _on_branch(root, operations, check, editables, branch, source)


def _edit(root: Path, operations: Sequence[tuple[int, Operation]], check: Check,
          editables: Mapping[str, Editable] | None, commit: bool, source: str,
          branch: str | None = None) -> Outcome:
    files = EditFiles(root)
    editor = Editor(files, Index.scan(root), editables)
    messages: list[str] = []
    for number, op in operations:
        try:
            apply_operation(editor, op)
        except IspctlError as exc:
            messages.append(f"{source}:{number}: {exc}" if number else str(exc))
    if messages:
        raise EditRefused(messages)
    outcome = Outcome([op.describe() for _, op in operations], branch=branch)
    changes = files.changes()
    if not changes:
        return outcome
    journal = files.write(changes)
    try:
        _, problems = check(root)
        if problems:
            raise ValidationFailed(sorted(set(problems)))
        if commit:
            outcome.commit = commit_files(root, list(changes), outcome.operations)
    except BaseException:
        journal.restore()
        raise
    outcome.files = {p: "created" if before is None else "deleted" if after is None else "changed"
                     for p, (before, after) in changes.items()}
    return outcome


def message(operations: list[str]) -> str:
    """The commit message: the operation itself, or a count by kind and every object in the body."""
    if len(operations) == 1:
        return f"ispctl {operations[0]}"
    kinds: dict[str, int] = {}
    for described in operations:
        kind = described.split(" ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    head = ", ".join(f"{kind} {n}" for kind, n in kinds.items())
    return f"ispctl batch: {len(operations)} operations ({head})\n\n" + "\n".join(operations)


def commit_files(root: Path, paths: list[Path], operations: list[str]) -> str:
    """Commit exactly ``paths`` (whatever else is staged stays staged); author and committer
    from GIT_AUTHOR_*/GIT_COMMITTER_* or the git configuration, as git itself takes them."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise IspctlError(f"--commit: {root} is not in a git repository") from None
    with repo:
        top = Path(repo.working_tree_dir or root)
        names = [str(p.relative_to(top)) for p in paths]
        repo.git.add("-A", "--", *names)
        repo.git.commit("-m", message(operations), "--only", "--", *names)
        return str(repo.head.commit.hexsha)


def _on_branch(root: Path, operations: Sequence[tuple[int, Operation]], check: Check,
               editables: Mapping[str, Editable] | None, branch: str, source: str) -> Outcome:
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise IspctlError(f"--branch: {root} is not in a git repository") from None
    with repo:
        if branch in repo.heads:
            raise IspctlError(f"--branch: branch {branch!r} exists already; name a new one")
        top = Path(repo.working_tree_dir or root)
        with tempfile.TemporaryDirectory(prefix="ispctl-branch-") as tmp:
            tree = Path(tmp) / "tree"
            repo.git.worktree("add", "-q", "-b", branch, str(tree), "HEAD")
            try:
                outcome = _edit(tree / root.relative_to(top), operations, check, editables, True, source, branch)
            except BaseException:
                repo.git.worktree("remove", "--force", str(tree))
                repo.git.branch("-D", branch)
                raise
            repo.git.worktree("remove", "--force", str(tree))
        if not outcome.changed:  # nothing to review: no empty branch left behind
            repo.git.branch("-D", branch)
            outcome.branch = None
        outcome.files = {root / p.relative_to(tree / root.relative_to(top)): what for p, what in outcome.files.items()}
        return outcome


__all__ = ["Check", "EditRefused", "Outcome", "message", "provision"]
