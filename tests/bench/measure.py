"""How the benchmark measures one run of a step: wall time, CPU time, peak memory.

Wall time alone swings with whatever else the machine runs; CPU time (what the client
spent, plus what slapd spent serving it) held within a few per cent on a loaded machine, so
every row carries both and every ratio is printed both ways. slapd's CPU is read from
``/proc/<pid>/stat`` (utime + stime of all its threads) before and after the step.

A step that runs in this process counts ``time.process_time()`` (all its threads); one that
runs a child (``ldapsearch``, ``ldapadd``, ``ispctl plan``) counts the child's own rusage,
collected with ``os.wait4`` so its peak resident set (``ru_maxrss``) is that child's alone.

The child is started by a small launcher process (``_LAUNCHER``), not forked from this one:
Linux carries the peak of the memory a process had *before* ``exec`` into its ``ru_maxrss``,
and a child forked from the benchmark (which holds a whole estate: hundreds of MB at 100k
mailboxes) would report the benchmark's size as its own peak. Forked from the launcher (a
bare interpreter, ``-S``, about 10 MB), it reports its own, give or take that.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One run of a step: seconds of wall time, of client CPU and of slapd CPU."""

    wall: float
    client_cpu: float
    server_cpu: float
    max_rss_kib: int = 0  # a child's peak resident set; 0 when the step ran in this process

    @property
    def cpu(self) -> float:
        return self.client_cpu + self.server_cpu


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) a running process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # The command name (field 2) may hold spaces; the fields after its closing paren are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Measures steps against one server process (``server_pid`` None: no server share)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def _server(self) -> float:
        return process_cpu(self.server_pid) if self.server_pid is not None else 0.0

    def call(self, func: Callable[[], Any]) -> tuple[Sample, Any]:
        """Run ``func`` here; client CPU is this process's and any children it waited for."""
        server, children = self._server(), _children_cpu()
        cpu, start = time.process_time(), time.perf_counter()
        result = func()
        wall = time.perf_counter() - start
        client = time.process_time() - cpu + _children_cpu() - children
        return Sample(wall, client, self._server() - server), result

    def child(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              stdin: str | None = None, stdout: Path | None = None) -> tuple[Sample, ChildResult]:
        """Run one child to its end: its own CPU time and peak RSS, output kept in files."""
        return child_run(argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, server=self._server)


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout: str
    stderr: str


def child_run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              stdin: str | None = None, stdout: Path | None = None,
              server: Callable[[], float] = lambda: 0.0) -> tuple[Sample, ChildResult]:
    """``argv`` to completion. ``stdout`` (a file) receives large output instead of memory."""
    with tempfile.TemporaryDirectory(prefix="ispctl-bench-child-") as tmp:
        out_path = stdout if stdout is not None else Path(tmp) / "stdout"
        err_path, in_path = Path(tmp) / "stderr", Path(tmp) / "stdin"
        in_path.write_text(stdin or "", encoding="utf-8")
        report = Path(tmp) / "rusage.json"
        with open(out_path, "wb") as out, open(err_path, "wb") as err, open(in_path, "rb") as inp:
            before = server()
            launcher = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv], stdin=inp,
                                      stdout=out, stderr=err, env=dict(env) if env else None, cwd=cwd, check=False)
            server_cpu = server() - before
        if not report.exists():
            raise RuntimeError(f"the launcher of {argv[0]} failed ({launcher.returncode}): "
                               f"{err_path.read_text(encoding='utf-8', errors='replace')}")
        wall, cpu, max_rss, returncode = json.loads(report.read_text(encoding="ascii"))
        text = out_path.read_text(encoding="utf-8", errors="replace") if stdout is None else ""
        result = ChildResult(returncode, text, err_path.read_text(encoding="utf-8", errors="replace"))
    return Sample(wall, cpu, server_cpu, max_rss), result


# Forks and execs argv[2:], waits for exactly that child (wait4: its own rusage, not the
# largest peak of every child so far) and writes [wall, cpu, maxrss KiB, exit code] to argv[1].
_LAUNCHER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as out:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)], out)
"""
