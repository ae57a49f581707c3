"""Benchmark: ispctl's validate / plan / apply against the OpenLDAP tools on the same slapd.

Run from the repository root::

    python -m tests.bench.run_bench [--mailboxes 10000] [--domains 1000] [--repeat 3]
    python -m tests.bench.run_bench --mailboxes 100000 --domains 10000    # the 100k estate

It generates an estate (``tests.bench.generate``) in a git repository, starts a private
slapd in a temp dir and measures each step ``--repeat`` times. Absolute seconds depend on
the machine, so every ispctl step is also printed as a ratio of medians against its anchor,
measured on the same slapd in the same run: ``ldapsearch`` of the managed subtree (what a
plan has to read), ``ldapadd -c`` of an equivalent LDIF (what an apply has to write), the
full plan (for ``--changed-since``) and a Terraform-style refresh (one read per entry, 10 in
parallel). Each ratio is given in wall time and in CPU time (client + slapd), which stays
steady on a loaded machine. The slapd is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.cache import CACHE_ENV
from tests.bench import cli_runs, runner
from tests.bench.directory import (
    BenchError,
    clear_managed,
    count_managed,
    equivalent_ldif,
    managed_entries,
    refresh_peer,
    tool_argv,
)
from tests.bench.generate import generate_estate
from tests.bench.latency import Relay
from tests.bench.measure import Meter, Sample
from tests.wiring import load_desired, open_session

# Row labels, in print order; tests/test_bench_generate.py checks each one is printed.
STEP_VALIDATE = "validate (cold cache)"
STEP_VALIDATE_WARM = "validate (warm cache)"
STEP_EMPTY_PLAN = "plan (empty directory)"
STEP_APPLY = "apply"
STEP_NOCHANGE_PLAN = "plan (no changes)"
STEP_LDAPSEARCH = "ldapsearch (baseline)"
STEP_LDAPADD = "ldapadd -c (baseline)"
STEP_REFRESH = "refresh peer (baseline)"
STEP_CLI_COLD = "ispctl plan (cold cache)"
STEP_CLI_FULL = "ispctl plan (warm cache)"
STEP_CLI_CHANGED = "ispctl plan --changed-since"
# The same reads through the latency relay (latency.py): a directory a network away.
STEP_NOCHANGE_FAR = "plan (no changes), far"
STEP_LDAPSEARCH_FAR = "ldapsearch (baseline), far"
STEP_REFRESH_FAR = "refresh peer (baseline), far"
STEPS = (STEP_VALIDATE, STEP_VALIDATE_WARM, STEP_EMPTY_PLAN, STEP_APPLY, STEP_NOCHANGE_PLAN, STEP_LDAPSEARCH,
         STEP_LDAPADD, STEP_REFRESH, STEP_CLI_COLD, STEP_CLI_FULL, STEP_CLI_CHANGED, STEP_NOCHANGE_FAR,
         STEP_LDAPSEARCH_FAR, STEP_REFRESH_FAR)
DEFAULT_RTT_MS = 10.0
# (label, step, anchor, issue 11's target for the ratio)
RATIOS = (
    ("apply / ldapadd -c", STEP_APPLY, STEP_LDAPADD, "<= 1.0"),
    ("no-change plan / ldapsearch", STEP_NOCHANGE_PLAN, STEP_LDAPSEARCH, "<= 5"),
    ("empty plan / ldapsearch", STEP_EMPTY_PLAN, STEP_LDAPSEARCH, ""),
    ("changed-since / full plan, warm", STEP_CLI_CHANGED, STEP_CLI_FULL, "<= 0.1"),
    ("changed-since / full plan, cold", STEP_CLI_CHANGED, STEP_CLI_COLD, ""),
    ("refresh peer / no-change plan", STEP_REFRESH, STEP_NOCHANGE_PLAN, ">= 10"),
    ("no-change plan / ldapsearch, far", STEP_NOCHANGE_FAR, STEP_LDAPSEARCH_FAR, "<= 5"),
    ("refresh peer / no-change plan, far", STEP_REFRESH_FAR, STEP_NOCHANGE_FAR, ">= 10"),
)
RSS_LABEL = "peak RSS of ispctl plan (validate + read + diff, a fresh process)"
RSS_TARGET_MIB = 1024
_REPO = Path(__file__).resolve().parents[2]


def _check_ldif_equivalent(root: Path, env: dict[str, str]) -> None:
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
        # The cache of parsed files (estate/cache.py) is the bench's own, never the user's:
        # the validate and ispctl plan rows say whether they start with it empty or full.
        self.cache = slapd.workdir.parent / "parse-cache"
        self.env = {**slapd.env(), CACHE_ENV: str(self.cache)}
        self.log = log
        self.runs: dict[str, list[Sample]] = {}
        pid = slapd.pid
        if pid is None:
            raise BenchError("slapd is not running")
        self.meter = Meter(pid)

    def measure(self, step: str, once: Callable[[], Sample]) -> None:
        """``once`` prepares, runs the step and returns only what the step itself took."""
        samples = []
        for i in range(self.repeat):
            sample = once()
            samples.append(sample)
            self.log(f"  {step} run {i + 1}/{self.repeat}: {sample.wall:.3f} s wall, "
                     f"{sample.client_cpu:.3f} + {sample.server_cpu:.3f} s CPU (client + slapd)")
        self.runs[step] = samples

    def median(self, step: str, what: str = "wall") -> float:
        return statistics.median(getattr(s, what) for s in self.runs[step])

    # -- ispctl steps ---------------------------------------------------------------------

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)

    def validate(self, warm: bool) -> Sample:
        if warm:
            load_desired(self.root, self.env)
        else:
            self.clear_cache()
        sample, _ = self.meter.call(lambda: load_desired(self.root, self.env))
        return sample

    def empty_plan(self) -> Sample:
        clear_managed(self.slapd)
        with open_session(self.root, self.env) as session:
            sample, plan = self.meter.call(session.plan)
        if plan.summary != {"add": len(session.desired), "change": 0, "destroy": 0}:
            raise BenchError(f"a plan against the empty directory should only add; got {plan.summary}")
        return sample

    def apply(self) -> Sample:
        clear_managed(self.slapd)
        with open_session(self.root, self.env) as session:
            plan = session.plan()
            sample, result = self.meter.call(lambda: session.apply(plan))
        if not result.ok:
            first = result.failed[0]
            raise BenchError(
                f"apply failed for {len(result.failed)} changes, first {first.change.address}: {first.error}"
            )
        return sample

    def nochange_plan(self, url: str | None = None) -> Sample:
        env = self.env if url is None else {**self.env, "ISPCTL_LDAP_URL": url}
        with open_session(self.root, env) as session:
            sample, plan = self.meter.call(session.plan)
        if not plan.empty:
            raise BenchError(f"the plan after apply should be empty; got {plan.summary}")
        return sample

    def cli_plan(self, *extra: str, cold: bool = False) -> tuple[Sample, list[dict[str, object]]]:
        """``ispctl plan --json`` in a fresh process; its changes."""
        out = self.slapd.workdir.parent / "plan.json"
        if cold:
            self.clear_cache()
        env = {**cli_runs.cli_env(self.slapd), CACHE_ENV: str(self.cache)}
        sample, result = self.meter.child(cli_runs.plan_argv(self.root, *extra), env=env, cwd=self.root, stdout=out)
        if result.returncode != 0:
            raise BenchError(f"ispctl plan {' '.join(extra)} failed ({result.returncode}): {result.stderr[-2000:]}")
        return sample, cli_runs.plan_changes(out)

    # -- baselines ------------------------------------------------------------------------

    def ldapsearch(self, url: str | None = None) -> Sample:
        argv = tool_argv(self.slapd, "ldapsearch", "-LLL", "-E", "pr=1000/noprompt", "-b", self.slapd.managed_base,
                         mapping.SEARCH_FILTER, *mapping.search_attributes(), url=url)
        sample, result = self.meter.child(argv, stdout=Path(os.devnull))
        if result.returncode != 0:
            raise BenchError(f"ldapsearch failed ({result.returncode}): {result.stderr}")
        return sample

    def ldapadd(self, ldif_file: Path, entries: int) -> Sample:
        clear_managed(self.slapd)
        argv = tool_argv(self.slapd, "ldapadd", "-c", "-f", str(ldif_file))
        sample, result = self.meter.child(argv, stdout=Path(os.devnull))
        if result.returncode != 0:
            raise BenchError(f"ldapadd -c failed ({result.returncode}): {result.stderr[-2000:]}")
        found = count_managed(self.slapd)
        if found != entries:
            raise BenchError(f"ldapadd -c left {found} managed entries, expected {entries}")
        return sample

    def refresh(self, dns: list[str], url: str | None = None) -> Sample:
        sample, found = self.meter.call(lambda: refresh_peer(self.slapd, dns, url=url))
        if found != len(dns):
            raise BenchError(f"the refresh peer read {found} of {len(dns)} entries")
        return sample


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    slapd = subprocess.run(["slapd", "-VV"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"slapd ([0-9][^ ]*)", slapd)
    return (f"machine: nproc={cpus}, {platform.machine()}, Python {platform.python_version()}, "
            f"slapd {found.group(1) if found else 'unknown'} (olcDbNoSync)")


def load_line(start: tuple[float, float, float]) -> str:
    """The machine's load: CPU ratios stay steady under it, wall times do not."""
    end = os.getloadavg()
    return f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in start)} at start, " \
           f"{' '.join(f'{x:.2f}' for x in end)} at end"


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
    lines.append(f"{'step':<30}{'wall s':>9}{'CPU s':>9}{'client':>9}{'slapd':>9}{'entries/s':>11}   wall runs (s)")
    for step in STEPS:
        wall = bench.median(step)
        rate = entries / wall if wall > 0 else float("inf")
        runs = ", ".join(f"{s.wall:.3f}" for s in bench.runs[step])
        lines.append(f"{step:<30}{wall:>9.3f}{bench.median(step, 'cpu'):>9.3f}{bench.median(step, 'client_cpu'):>9.3f}"
                     f"{bench.median(step, 'server_cpu'):>9.3f}{rate:>11.0f}   {runs}")
    lines.append("")
    lines.append("ratios of medians (ispctl / its anchor on the same slapd; CPU = client + slapd)")
    lines.append(f"{'':<34}{'wall':>8}{'CPU':>8}   target")
    for label, step, base, target in RATIOS:
        wall = bench.median(step) / bench.median(base)
        cpu = bench.median(step, "cpu") / max(bench.median(base, "cpu"), 1e-9)
        lines.append(f"{label:<34}{wall:>8.2f}{cpu:>8.2f}   {target}".rstrip())
    rss = max(s.max_rss_kib for s in bench.runs[STEP_CLI_COLD] + bench.runs[STEP_CLI_FULL]) / 1024
    lines.append("")
    lines.append(f"{RSS_LABEL}: {rss:.0f} MiB (target <= {RSS_TARGET_MIB} MiB)")
    return "\n".join(lines)


def _changed_since(bench: Bench, domains: list[str]) -> None:
    """A pull request that changes one domain file: the narrowed plan against the full one."""
    domain = cli_runs.change_one_domain(bench.root, domains)
    bench.log(f"  committed a change to {domain}")
    full: list[list[dict[str, object]]] = []
    narrowed: list[list[dict[str, object]]] = []

    def run(into: list[list[dict[str, object]]], *extra: str, cold: bool = False) -> Callable[[], Sample]:
        def once() -> Sample:
            sample, changes = bench.cli_plan(*extra, cold=cold)
            into.append(changes)
            return sample
        return once

    bench.measure(STEP_CLI_COLD, run(full, cold=True))
    bench.cli_plan()  # fills the cache: the rows below start warm, as a CI runner that keeps it
    bench.measure(STEP_CLI_FULL, run(full))
    bench.measure(STEP_CLI_CHANGED, run(narrowed, "--changed-since", "HEAD~1"))
    # Honest only if both plans are the same pull request: exactly its one change.
    if len(full[0]) != 1 or any(changes != full[0] for changes in full + narrowed):
        raise BenchError(f"the full and the --changed-since plans differ or are not one change: {full[0]} / "
                         f"{narrowed[0]}")


def _round_trip_ms(url: str, slapd: SlapdInstance, times: int = 21) -> float:
    """The median time of one small request at ``url``: what the relay really adds."""
    import ldap  # here: only the bench's own probes need it

    conn: Any = ldap.initialize(url)
    conn.simple_bind_s(slapd.bind_dn, slapd.password)
    try:
        took = []
        for _ in range(times):
            start = time.perf_counter()
            conn.search_ext_s(slapd.managed_base, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
            took.append(time.perf_counter() - start)
    finally:
        conn.unbind_s()
    return statistics.median(took) * 1000


def _far(bench: Bench, entry_dns: list[str], rtt_ms: float) -> str:
    """The no-change plan, ldapsearch and the refresh peer with the directory ``rtt_ms`` away."""
    slapd = bench.slapd
    with Relay(("127.0.0.1", slapd.port), rtt_ms) as relay:
        url = f"ldap://127.0.0.1:{relay.port}"
        near, far = _round_trip_ms(slapd.url, slapd), _round_trip_ms(url, slapd)
        bench.log(f"  one request: {near:.2f} ms direct, {far:.2f} ms through the relay")
        bench.measure(STEP_NOCHANGE_FAR, lambda: bench.nochange_plan(url))
        bench.measure(STEP_LDAPSEARCH_FAR, lambda: bench.ldapsearch(url))
        bench.measure(STEP_REFRESH_FAR, lambda: bench.refresh(entry_dns, url))
        relay.stop()
        if relay.errors():
            raise BenchError(f"the latency relay failed: {relay.errors()[-2000:]}")
    return (f"far = through tests/bench/latency.py adding {rtt_ms:g} ms per round trip; one small request "
            f"took {near:.2f} ms direct, {far:.2f} ms far (medians of 21)")


def run(mailboxes: int, domains: int, repeat: int, workdir: Path | None = None, quiet: bool = False,
        rtt_ms: float = DEFAULT_RTT_MS) -> str:
    log = runner.progress(quiet)
    load = os.getloadavg()
    with runner.workdir(workdir) as work:
        slapd = SlapdInstance(work / "slapd")
        root = work / "estate"
        size = generate_estate(root, mailboxes, domains, slapd.managed_base)
        cli_runs.commit_estate(root)
        log(f"generated {size.entries} entries under {root}")
        # Also for whatever reads the process environment rather than the bench's env.
        previous = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = str(work / "parse-cache")
        try:
            slapd.start()  # inside: a SIGTERM while it starts still stops it
            bench = Bench(root, slapd, repeat, log)
            bench.measure(STEP_VALIDATE, lambda: bench.validate(warm=False))
            bench.measure(STEP_VALIDATE_WARM, lambda: bench.validate(warm=True))
            bench.measure(STEP_EMPTY_PLAN, bench.empty_plan)
            bench.measure(STEP_APPLY, bench.apply)
            bench.measure(STEP_NOCHANGE_PLAN, bench.nochange_plan)
            bench.measure(STEP_LDAPSEARCH, bench.ldapsearch)
            entry_dns = managed_entries(slapd)
            if len(entry_dns) != size.entries:
                raise BenchError(f"{len(entry_dns)} managed entries after apply, expected {size.entries}")
            bench.measure(STEP_REFRESH, lambda: bench.refresh(entry_dns))
            far_line = _far(bench, entry_dns, rtt_ms)
            _, compiled = load_desired(root, bench.env)
            # Only directory entries: maildirs belong to the mail store, not to slapd.
            desired = {ident: r for ident, r in compiled.items() if r.kind in mapping.KINDS}
            ldif_file = work / "equivalent.ldif"
            ldif_file.write_text(equivalent_ldif(desired, slapd.managed_base), encoding="utf-8")
            bench.measure(STEP_LDAPADD, lambda: bench.ldapadd(ldif_file, len(desired)))
            _check_ldif_equivalent(root, bench.env)
            _changed_since(bench, size.domain_names)
        finally:
            slapd.stop()
            if previous is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = previous
    header = [
        f"ispctl benchmark, {date.today().isoformat()}",
        machine_line(),
        load_line(load),
        code_line(),
        f"N = {size.mailboxes} mailboxes over {size.domains} domains; {size.resellers} resellers, "
        f"{size.clients} clients, {size.aliases} aliases = {size.entries} directory entries; repeat = {repeat}",
        far_line,
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
    parser.add_argument("--rtt-ms", type=float, default=DEFAULT_RTT_MS,
                        help=f"round trip the 'far' rows add between client and slapd (default {DEFAULT_RTT_MS:g})")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.domains < 1 or args.mailboxes < 1 or args.rtt_ms < 0:
        parser.error("--repeat, --domains and --mailboxes must be at least 1, --rtt-ms at least 0")
    runner.start(parser, args.workdir)
    sys.stdout.write(run(args.mailboxes, args.domains, args.repeat, args.workdir, args.quiet, args.rtt_ms) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
