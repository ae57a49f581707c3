"""Benchmark: ispctl's validate / plan / apply against the OpenLDAP tools on the same slapd.

Run from the repository root::

    python -m tests.bench.run_bench [--mailboxes 10000] [--domains 1000] [--repeat 3]

It generates an estate (``tests.bench.generate``), starts a private slapd in a temp dir
and measures each step ``--repeat`` times. Absolute seconds depend on the machine, so
every ispctl step is also printed as a ratio of medians against what the stock tools
need for the same work on the same slapd in the same run: ``ldapsearch`` of the managed
subtree (what a plan has to read) and ``ldapadd -c`` of an equivalent LDIF (what an
apply has to write). The slapd is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.resources import Resource
from tests.bench.generate import generate_estate
from tests.wiring import load_desired, open_session

# Row labels, in print order; tests/test_bench_generate.py checks each one is printed.
STEP_VALIDATE = "validate"
STEP_EMPTY_PLAN = "plan (empty directory)"
STEP_APPLY = "apply"
STEP_NOCHANGE_PLAN = "plan (no changes)"
STEP_LDAPSEARCH = "ldapsearch (baseline)"
STEP_LDAPADD = "ldapadd -c (baseline)"
STEPS = (STEP_VALIDATE, STEP_EMPTY_PLAN, STEP_APPLY, STEP_NOCHANGE_PLAN, STEP_LDAPSEARCH, STEP_LDAPADD)
RATIOS = (
    ("apply / ldapadd -c", STEP_APPLY, STEP_LDAPADD),
    ("no-change plan / ldapsearch", STEP_NOCHANGE_PLAN, STEP_LDAPSEARCH),
    ("empty plan / ldapsearch", STEP_EMPTY_PLAN, STEP_LDAPSEARCH),
)
_REPO = Path(__file__).resolve().parents[2]
_SAFE_LDIF = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*")


class BenchError(RuntimeError):
    """A step did not do what it must for its timing to mean anything."""


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def _tool(slapd: SlapdInstance, name: str, *args: str, input: str | None = None,
          stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """One OpenLDAP client call, bound as the root DN over TCP: the path ispctl uses too."""
    argv = [name, "-x", "-H", slapd.url, "-D", slapd.bind_dn, "-y", str(slapd.password_file), *args]
    return subprocess.run(argv, input=input, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)


def managed_children(slapd: SlapdInstance) -> list[str]:
    result = _tool(slapd, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-s", "one",
                   "-b", slapd.managed_base, "(objectClass=*)", "1.1")
    if result.returncode != 0:
        raise BenchError(f"ldapsearch of {slapd.managed_base} failed: {result.stderr}")
    dns = []
    for line in result.stdout.splitlines():
        if line.startswith("dn:: "):
            dns.append(base64.b64decode(line[5:]).decode("utf-8"))
        elif line.startswith("dn: "):
            dns.append(line[4:])
    return dns


def count_managed(slapd: SlapdInstance) -> int:
    result = _tool(slapd, "ldapsearch", "-LLL", "-E", "pr=1000/noprompt", "-b", slapd.managed_base,
                   mapping.SEARCH_FILTER, "1.1")
    if result.returncode != 0:
        raise BenchError(f"counting entries under {slapd.managed_base} failed: {result.stderr}")
    return sum(1 for line in result.stdout.splitlines() if line.startswith("dn"))


def clear_managed(slapd: SlapdInstance) -> None:
    """Delete everything below the managed base, keeping the base itself."""
    children = managed_children(slapd)
    if children:
        result = _tool(slapd, "ldapdelete", "-r", "-c", input="\n".join(children) + "\n")
        if result.returncode != 0:
            raise BenchError(f"ldapdelete -r failed: {result.stderr}")
    if managed_children(slapd):
        raise BenchError(f"{slapd.managed_base} still has entries after clearing it")


def ldif_line(attr: str, value: str) -> str:
    # RFC 2849: values that are not SAFE-STRINGs go base64-encoded.
    if value and _SAFE_LDIF.fullmatch(value) and not value.endswith(" "):
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}\n"


def _depth(resource: Resource, index: Mapping[str, Resource]) -> int:
    depth, parent = 0, resource.parent
    while parent is not None:
        depth += 1
        parent = index[parent].parent
    return depth


def equivalent_ldif(desired: Mapping[tuple[str, str], Resource], base_dn: str) -> str:
    """The entries an apply creates, as LDIF: same DNs, same attributes, parents first."""
    by_address = {r.address: r for r in desired.values()}
    ordered = sorted(desired.values(), key=lambda r: (_depth(r, by_address), r.address))
    dn_of: dict[str, str] = {}
    records = []
    for resource in ordered:
        parent_dn = base_dn if resource.parent is None else dn_of[resource.parent]
        entry_dn = dnlib.child(mapping.KINDS[resource.kind].rdn_attr, resource.key, parent_dn)
        dn_of[resource.address] = entry_dn
        lines = [ldif_line("dn", entry_dn)]
        for attr, values in mapping.entry_attributes(resource).items():
            lines += [ldif_line(attr, str(value)) for value in values]
        records.append("".join(lines))
    return "\n".join(records)


def _check_ldif_equivalent(root: Path, env: Mapping[str, str]) -> None:
    # If the LDIF were not what ispctl writes, the plan would show updates or drift.
    with open_session(root, env) as session:
        plan = session.plan()
    if not plan.empty:
        raise BenchError(f"the LDIF baseline is not equivalent to an apply: plan after ldapadd has {plan.summary}")


class Bench:
    def __init__(self, root: Path, slapd: SlapdInstance, repeat: int, log: Callable[[str], None]) -> None:
        self.root = root
        self.slapd = slapd
        self.repeat = repeat
        self.env = slapd.env()
        self.log = log
        self.runs: dict[str, list[float]] = {}

    def measure(self, step: str, once: Callable[[], float]) -> None:
        """``once`` prepares, runs the step and returns only the seconds the step itself took."""
        times = []
        for i in range(self.repeat):
            seconds = once()
            times.append(seconds)
            self.log(f"  {step} run {i + 1}/{self.repeat}: {seconds:.3f} s")
        self.runs[step] = times

    def median(self, step: str) -> float:
        return statistics.median(self.runs[step])

    # -- ispctl steps ---------------------------------------------------------------------

    def validate(self) -> float:
        seconds, _ = _timed(lambda: load_desired(self.root))
        return seconds

    def empty_plan(self) -> float:
        clear_managed(self.slapd)
        with open_session(self.root, self.env) as session:
            seconds, plan = _timed(session.plan)
        if plan.summary != {"add": len(session.desired), "change": 0, "destroy": 0}:
            raise BenchError(f"a plan against the empty directory should only add; got {plan.summary}")
        return seconds

    def apply(self) -> float:
        clear_managed(self.slapd)
        with open_session(self.root, self.env) as session:
            plan = session.plan()
            seconds, result = _timed(lambda: session.apply(plan))
        if not result.ok:
            first = result.failed[0]
            raise BenchError(
                f"apply failed for {len(result.failed)} changes, first {first.change.address}: {first.error}"
            )
        return seconds

    def nochange_plan(self) -> float:
        with open_session(self.root, self.env) as session:
            seconds, plan = _timed(session.plan)
        if not plan.empty:
            raise BenchError(f"the plan after apply should be empty; got {plan.summary}")
        return seconds

    # -- baselines ------------------------------------------------------------------------

    def ldapsearch(self) -> float:
        args = ["-LLL", "-E", "pr=1000/noprompt", "-b", self.slapd.managed_base,
                mapping.SEARCH_FILTER, *mapping.search_attributes()]
        seconds, result = _timed(lambda: _tool(self.slapd, "ldapsearch", *args, stdout=subprocess.DEVNULL))
        if result.returncode != 0:
            raise BenchError(f"ldapsearch failed ({result.returncode}): {result.stderr}")
        return seconds

    def ldapadd(self, ldif_file: Path, entries: int) -> float:
        clear_managed(self.slapd)
        seconds, result = _timed(lambda: _tool(self.slapd, "ldapadd", "-c", "-f", str(ldif_file),
                                               stdout=subprocess.DEVNULL))
        if result.returncode != 0:
            raise BenchError(f"ldapadd -c failed ({result.returncode}): {result.stderr[-2000:]}")
        found = count_managed(self.slapd)
        if found != entries:
            raise BenchError(f"ldapadd -c left {found} managed entries, expected {entries}")
        return seconds


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    slapd = subprocess.run(["slapd", "-VV"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"slapd ([0-9][^ ]*)", slapd)
    return (f"machine: nproc={cpus}, {platform.machine()}, Python {platform.python_version()}, "
            f"slapd {found.group(1) if found else 'unknown'} (olcDbNoSync)")


def code_line() -> str:
    """Which code was measured: the commit, and whether the working tree differed from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=_REPO, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return "code: unknown (not a git checkout)"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO,
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"code: {head.stdout.strip()}{' + uncommitted changes' if dirty else ''}"


def report(bench: Bench, header: Sequence[str], entries: int) -> str:
    lines = list(header)
    lines.append("")
    lines.append(f"{'step':<24}{'median s':>10}{'entries/s':>12}   runs (s)")
    for step in STEPS:
        med = bench.median(step)
        rate = entries / med if med > 0 else float("inf")
        runs = ", ".join(f"{t:.3f}" for t in bench.runs[step])
        lines.append(f"{step:<24}{med:>10.3f}{rate:>12.0f}   {runs}")
    lines.append("")
    lines.append("ratios of medians (ispctl / OpenLDAP tool on the same slapd; lower is better)")
    for label, step, base in RATIOS:
        lines.append(f"{label:<32}{bench.median(step) / bench.median(base):>8.2f}")
    return "\n".join(lines)


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ispctl-bench-") as tmp:
        yield Path(tmp)


def run(mailboxes: int, domains: int, repeat: int, workdir: Path | None = None, quiet: bool = False) -> str:
    def log(text: str) -> None:
        if not quiet:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    with _workdir(workdir) as work:
        slapd = SlapdInstance(work / "slapd")
        root = work / "estate"
        size = generate_estate(root, mailboxes, domains, slapd.managed_base)
        log(f"generated {size.entries} entries under {root}")
        slapd.start()
        try:
            bench = Bench(root, slapd, repeat, log)
            bench.measure(STEP_VALIDATE, bench.validate)
            bench.measure(STEP_EMPTY_PLAN, bench.empty_plan)
            bench.measure(STEP_APPLY, bench.apply)
            bench.measure(STEP_NOCHANGE_PLAN, bench.nochange_plan)
            bench.measure(STEP_LDAPSEARCH, bench.ldapsearch)
            _, compiled = load_desired(root)
            # Only directory entries: maildirs belong to the mail store, not to slapd.
            desired = {ident: r for ident, r in compiled.items() if r.kind in mapping.KINDS}
            ldif_file = work / "equivalent.ldif"
            ldif_file.write_text(equivalent_ldif(desired, slapd.managed_base), encoding="utf-8")
            bench.measure(STEP_LDAPADD, lambda: bench.ldapadd(ldif_file, len(desired)))
            _check_ldif_equivalent(root, bench.env)
        finally:
            slapd.stop()
    header = [
        f"ispctl benchmark, {date.today().isoformat()}",
        machine_line(),
        code_line(),
        f"N = {size.mailboxes} mailboxes over {size.domains} domains; {size.resellers} resellers, "
        f"{size.clients} clients, {size.aliases} aliases = {size.entries} directory entries; repeat = {repeat}",
    ]
    return report(bench, header, size.entries)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000, help="mailboxes in the estate (default 10000)")
    parser.add_argument("--domains", type=int, default=1_000, help="domains they are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; the median is reported (default 3)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to put the estate and slapd (default: a temp dir removed afterwards)")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.domains < 1 or args.mailboxes < 0:
        parser.error("--repeat and --domains must be at least 1, --mailboxes at least 0")
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        # A used workdir would hold an estate and a slapd with data in it already.
        parser.error(f"--workdir {args.workdir} is not empty")
    sys.stdout.write(run(args.mailboxes, args.domains, args.repeat, args.workdir, args.quiet) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
