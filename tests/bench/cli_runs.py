"""``ispctl plan`` as a user runs it, in a fresh process: for peak memory and ``--changed-since``.

A fresh child is the only honest way to see a run's peak resident set (this process has
the whole benchmark in memory), and it times what a pull request's CI job pays: start,
validate, read, diff, print. The estate becomes a git repository so ``--changed-since``
has a history to compare with: one commit of the whole estate, then one commit that
changes one domain file (one mailbox's display name), like a small pull request.

Every child runs with bytecode, as an installed ispctl does (pip compiles it): this machine
may set ``PYTHONDONTWRITEBYTECODE=1``, and then each child would compile every ispctl module
from source (~0.2 s CPU a process) without ever keeping it. The children get
``PYTHONPYCACHEPREFIX`` (``bytecode/`` in the bench's work directory) instead, filled once
before any timed run (``compileall`` of ispctl's sources plus an untimed import of all of its
modules, for the libraries they import) and written to by any child that meets a module not
there yet; nothing is written into the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.directory import BenchError

# The console script's body, without relying on where pip put the script.
CLI = [sys.executable, "-c", "from ispctl.reconciler.cli.app import main; main()"]
RENAMED = " (renamed in a pull request)"
_GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.net",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.net"}


def _git(root: Path, *args: str) -> None:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False,
                            env={**os.environ, **_GIT_ENV})
    if result.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {result.stderr}")


def commit_estate(root: Path) -> None:
    """The whole estate as the first commit of a new repository in ``root``."""
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "the benchmark estate")


def change_one_domain(root: Path, domains: list[str]) -> str:
    """Rename one mailbox's display name in one domain's file (from the middle of ``domains``,
    the first that has a mailbox) and commit it; the domain."""
    middle = len(domains) // 2
    for domain in domains[middle:] + domains[:middle]:
        matches = sorted(root.glob(f"tenants/**/{domain}.yaml"))
        if len(matches) != 1:
            raise BenchError(f"expected one file for {domain}, found {len(matches)}")
        path = matches[0]
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for i, line in enumerate(lines):
            # A mailbox's "name:" sits under "mailboxes:" (deeper than the domain's own keys).
            if line.startswith("    name: "):
                lines[i] = line.rstrip("\n") + RENAMED + "\n"
                path.write_text("".join(lines), encoding="utf-8")
                _git(root, "commit", "-q", "-am", f"rename a mailbox in {domain}")
                return domain
    raise BenchError("no domain has a mailbox to rename (the --changed-since rows need one)")


BYTECODE_DIR = "bytecode"
BYTECODE_NOTE = "each ispctl plan child runs with bytecode compiled once (PYTHONPYCACHEPREFIX in the work dir)"
# Where the editable install maps ispctl's packages from: the repository's own folders.
_SOURCES = [Path(__file__).resolve().parents[2] / name for name in ("reconciler", "providers")]
_IMPORT_ALL = """
import importlib, pkgutil, ispctl.providers, ispctl.reconciler
for package in (ispctl.reconciler, ispctl.providers):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".sandbox" not in info.name:
            importlib.import_module(info.name)
"""


def cli_env(slapd: SlapdInstance) -> dict[str, str]:
    """This environment without any ISPCTL_* of the caller's, pointed at the bench's slapd, with
    bytecode kept in the bench's work directory (compiled on the first call)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPCTL_") and k != "PYTHONDONTWRITEBYTECODE"}
    env = {**env, **slapd.env(), "PYTHONPYCACHEPREFIX": str(slapd.workdir.parent / BYTECODE_DIR)}
    compile_bytecode(env)
    return env


def compile_bytecode(env: dict[str, str]) -> None:
    """Fill ``env``'s PYTHONPYCACHEPREFIX once (a marker says it was): ispctl's every module and
    what importing them all compiles of the standard library and the installed packages."""
    prefix = Path(env["PYTHONPYCACHEPREFIX"])
    marker = prefix / "compiled"
    if marker.exists():
        return
    for argv in ([sys.executable, "-m", "compileall", "-q", *map(str, _SOURCES)], [sys.executable, "-c", _IMPORT_ALL]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BenchError(f"compiling ispctl's bytecode failed: {result.stdout[-1000:]}{result.stderr[-2000:]}")
    marker.write_text("ispctl's modules are compiled here\n", encoding="utf-8")


def plan_argv(root: Path, *extra: str) -> list[str]:
    return [*CLI, "plan", "--dir", str(root), "--json", *extra]


def plan_changes(path: Path) -> list[dict[str, Any]]:
    """The changes of a plan ``ispctl plan --json`` wrote to ``path``."""
    changes: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["changes"]
    return changes
