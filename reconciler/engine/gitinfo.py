"""What git knows about the desired state: the commit a plan was made from, whether the
tree was dirty, and which files changed since a reference (for fast pull-request plans).

Only reads; ispctl never commits on its own. A desired-state folder outside any git
repository is allowed (the sandbox, a tarball): the commit is then ``None``.
"""

from __future__ import annotations

import os
import subprocess
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ispctl.reconciler.engine.errors import IspctlError

# git's messages in English whatever the caller's locale: "not a git repository" is read.
_ENV = {**os.environ, "LC_ALL": "C", "LANGUAGE": ""}
_NOT_A_REPOSITORY = "not a git repository"


@dataclass(frozen=True)
class Revision:
    commit: str | None
    dirty: bool
    branch: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "dirty": self.dirty, "branch": self.branch}


@dataclass(frozen=True)
class _Git:
    """One git process started in a folder (None: no such folder, or no git at all)."""

    args: tuple[str, ...]
    process: subprocess.Popen[bytes] | None


def _start(root: Path, *args: str) -> _Git:
    """``git args`` run in ``root`` (so the pathspec ``.`` is ``root``, taken literally)."""
    try:
        process = subprocess.Popen(["git", "--literal-pathspecs", *args], cwd=root, env=_ENV,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (FileNotFoundError, NotADirectoryError):
        process = None  # as outside any repository
    return _Git(args, process)


def _finish(git: _Git) -> bytes | None:
    """What ``git`` printed; None if its folder is in no repository (any other failure is raised)."""
    if git.process is None:
        return None
    out, err = git.process.communicate()
    if git.process.returncode == 0:
        return out
    message = err.decode("utf-8", "replace").strip()
    if _NOT_A_REPOSITORY in message:
        return None
    raise IspctlError(f"git {' '.join(git.args)} failed: {message}")


def _run(root: Path, *args: str) -> bytes | None:
    return _finish(_start(root, *args))


def _names(out: bytes) -> list[str]:
    return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def revision(root: Path) -> Revision:
    """HEAD of the repository holding ``root``, and whether ``root`` has uncommitted changes:
    anything ``git status`` lists under it (staged, unstaged, or an untracked file that is not
    ignored). Outside git, or before the first commit: no commit, and dirty."""
    return _revision(_run(root, *_STATUS))[0]


# One git process: --branch gives HEAD's commit and branch, the entries say dirty; they name
# the untracked files too (``changes``).
_STATUS = ("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all", "--", ".")


def _revision(out: bytes | None) -> tuple[Revision, list[str]]:
    """What ``git status`` (``_STATUS``) says: the revision, and the untracked files that are
    not ignored (relative to the repository's top, as porcelain v2 names every path)."""
    if out is None:
        return Revision(None, True), []
    commit: str | None = None
    branch: str | None = None
    dirty = False
    untracked: list[str] = []
    entries = iter(out.split(b"\0"))
    for entry in entries:
        if entry.startswith(b"# branch.oid "):
            oid = entry[len(b"# branch.oid "):].decode("ascii", "replace")
            commit = None if oid == "(initial)" else oid
        elif entry.startswith(b"# branch.head "):
            head = entry[len(b"# branch.head "):].decode("utf-8", "surrogateescape")
            branch = None if head == "(detached)" else head
        elif entry and not entry.startswith(b"#"):
            dirty = True
            if entry.startswith(b"? "):
                untracked.append(entry[2:].decode("utf-8", "surrogateescape"))
            elif entry.startswith(b"2 "):
                next(entries, None)  # a rename's or copy's original path: its own NUL-ended field
    if commit is None:
        return Revision(None, True), untracked
    return Revision(commit, dirty, branch), untracked


def changed_files(root: Path, ref: str) -> list[Path]:
    """Files under ``root`` that differ between ``ref`` and the working tree (untracked included)."""
    return changes(root, ref)[0]


def changes(root: Path, ref: str) -> tuple[list[Path], Revision]:
    """``changed_files``, and the ``revision`` of ``root`` from the same look at the tree."""
    # Two git processes at once: the diff against the working tree (a deletion, and both
    # sides of a rename, are named: a rename is a deletion and an addition without -M) and
    # ``revision``'s status, whose entries name the untracked files that are not ignored: one
    # walk of the tree for both (ls-files --others walked it a second time, ~10 ms at 30k
    # mailboxes). Paths come relative to the repository's top.
    # The top first: outside a repository git diff would compare two paths instead (--no-index).
    where = _run(root, "rev-parse", "--show-toplevel")
    if where is None:
        raise IspctlError(f"--changed-since needs {root} to be inside a git repository")
    diff = _start(root, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--end-of-options",
                  f"{ref}^{{commit}}", "--", ".")
    status = _start(root, *_STATUS)
    rev, others = _revision(_finish(status))
    try:
        diffed = _finish(diff) or b""
    except IspctlError:
        if _safe_run(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}") is not None:
            raise
        raise IspctlError(f"--changed-since: git does not know {ref!r} (fetch it first, e.g. git fetch "
                          "origin)") from None
    top_path = Path(os.fsdecode(where.rstrip(b"\n"))).resolve()
    return [top_path / name for name in sorted(set(_names(diffed)) | set(others))], rev


class FilesAt:
    """Files as they were at one reference, read through one ``git cat-file --batch`` process.

    That process starts at the first read and answers every later one, instead of a ``git
    show`` subprocess per file: a pull request that removes or renames many domain files asks
    for each of them (``estate.scopes.former_domain``); one that removes none starts no process.
    """

    def __init__(self, root: Path, ref: str) -> None:
        self._root, self._ref = root, ref
        self._top: Path | None = None
        self._batch: subprocess.Popen[bytes] | None = None
        self._commit = ""
        self._known: bool | None = None  # None: not asked yet

    def _open(self) -> bool:
        if self._known is None:
            self._known = False
            where = _safe_run(self._root, "rev-parse", "--show-toplevel")
            commit = _safe_run(self._root, "rev-parse", "--verify", "--quiet", "--end-of-options",
                               f"{self._ref}^{{commit}}")
            if where is not None and commit is not None:
                self._top = Path(os.fsdecode(where.rstrip(b"\n"))).resolve()
                self._commit = commit.strip().decode("ascii")
                self._batch = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self._top, env=_ENV,
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL)
                weakref.finalize(self, _close, self._batch)
                self._known = True
        return self._known

    def read(self, path: Path) -> bytes | None:
        """The bytes of ``path`` at the reference (None if it was no file there)."""
        if not self._open() or self._batch is None or self._top is None:
            return None
        try:
            name = path.resolve().relative_to(self._top).as_posix()
        except ValueError:
            return None
        if "\n" in name or name == ".":
            return None
        stdin, stdout = self._batch.stdin, self._batch.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{self._commit}:{name}\n".encode("utf-8", "surrogateescape"))
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:  # "<name> missing" (or ambiguous): no such path there
            return None
        data = stdout.read(int(header[2]))
        stdout.read(1)  # the newline after each object
        return data if header[1] == b"blob" else None


def _safe_run(root: Path, *args: str) -> bytes | None:
    try:
        return _run(root, *args)
    except IspctlError:
        return None


def _close(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def repository(root: Path) -> tuple[str, str]:
    """Which repository ``root`` is in and where in it: the origin's URL without credentials
    (else the checkout's path), and the folder relative to its top. Outside git: the path."""
    where = _safe_run(root, "rev-parse", "--show-toplevel")
    if where is None:
        return str(root.resolve()), "."
    top = Path(os.fsdecode(where.rstrip(b"\n"))).resolve()
    folder = str(root.resolve().relative_to(top))
    # Exit status 1, no error: no origin (git config --get prints its one value, or the last).
    origin = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=top, env=_ENV,
                            capture_output=True, check=False)
    if origin.returncode != 0:
        return str(top), folder
    url = origin.stdout.decode("utf-8", "surrogateescape").rstrip("\n")
    # https://user:token@host/... carries a credential; scp-style git@host:path only a user.
    if "://" in url:
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    return url, folder
