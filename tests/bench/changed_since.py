"""``ispctl plan --changed-since`` against the full warm plan, alone (issue 11's PR-plan row).

    python -m tests.bench.changed_since [--mailboxes 10000] [--domains 1000] [--repeat 5]
    python -m tests.bench.changed_since --mailboxes 100000 --domains 10000 --repeat 3
    python -m tests.bench.changed_since --workdir /tmp/cs     # keep the estate and slapd data (dir must be empty)

The same estate, slapd, apply and pull request as ``run_bench`` (one commit renaming one
mailbox's display name in one domain file), without the other rows: a quicker way to follow
this one ratio. Each ``ispctl plan`` runs in a fresh process with the cache filled (a CI
runner that keeps it), the full plan and the narrowed one alternating, so a change in the
machine's load falls on both alike. Both plans must hold exactly the commit's one change.
Then ``tests/bench/stages.py`` shows, in a fresh process, the CPU of each stage both plans
run over the whole estate before reading anything (imports, load, catalog, hooks, compile).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.cache import CACHE_ENV
from tests.bench import cli_runs, runner
from tests.bench.directory import BenchError
from tests.bench.generate import generate_estate
from tests.bench.measure import Sample
from tests.bench.run_bench import Bench, code_line, load_line, machine_line

RATIO_LABEL = "changed-since / full plan, warm"


def _line(label: str, samples: list[Sample]) -> str:
    wall = statistics.median(s.wall for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    runs = ", ".join(f"{s.wall:.3f}" for s in samples)
    return f"{label:<30}{wall:>9.3f}{cpu:>9.3f}   {runs}"


def run(mailboxes: int, domains: int, repeat: int, workdir: Path | None = None, quiet: bool = False) -> str:
    log = runner.progress(quiet)
    load = os.getloadavg()
    with runner.workdir(workdir) as work:
        slapd = SlapdInstance(work / "slapd")
        root = work / "estate"
        size = generate_estate(root, mailboxes, domains, slapd.managed_base)
        cli_runs.commit_estate(root)
        previous = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = str(work / "parse-cache")
        try:
            slapd.start()
            bench = Bench(root, slapd, 1, log)
            bench.apply()
            domain = cli_runs.change_one_domain(root, size.domain_names)
            log(f"applied {size.entries} entries; committed a change to {domain}")
            bench.cli_plan()  # fills the cache
            full: list[Sample] = []
            narrowed: list[Sample] = []
            seen: list[list[dict[str, object]]] = []
            for i in range(repeat):
                for into, extra in ((full, ()), (narrowed, ("--changed-since", "HEAD~1"))):
                    sample, changes = bench.cli_plan(*extra)
                    into.append(sample)
                    seen.append(changes)
                    log(f"  run {i + 1}/{repeat} {'narrowed' if extra else 'full'}: {sample.wall:.3f} s wall, "
                        f"{sample.cpu:.3f} s CPU")
            if len(seen[0]) != 1 or any(changes != seen[0] for changes in seen):
                raise BenchError(f"the plans differ or are not one change: {seen[0]} / {seen[1]}")
            stages = _stages(root, {**cli_runs.cli_env(slapd), CACHE_ENV: str(bench.cache)}, repeat)
        finally:
            slapd.stop()
            if previous is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = previous
    ratio_wall = statistics.median(s.wall for s in narrowed) / statistics.median(s.wall for s in full)
    ratio_cpu = statistics.median(s.cpu for s in narrowed) / statistics.median(s.cpu for s in full)
    return "\n".join([
        "ispctl plan --changed-since vs the full warm plan",
        machine_line(), load_line(load), code_line(),
        f"N = {size.mailboxes} mailboxes over {size.domains} domains = {size.entries} directory entries; "
        f"repeat = {repeat}",
        cli_runs.BYTECODE_NOTE,
        "",
        f"{'step':<30}{'wall s':>9}{'CPU s':>9}   wall runs (s)",
        _line("ispctl plan (warm cache)", full),
        _line("ispctl plan --changed-since", narrowed),
        "",
        f"{RATIO_LABEL}: {ratio_wall:.3f} wall, {ratio_cpu:.3f} CPU (target <= 0.1)",
        "CPU runs (s): full " + ", ".join(f"{s.cpu:.3f}" for s in full)
        + "; narrowed " + ", ".join(f"{s.cpu:.3f}" for s in narrowed),
        "",
        "before reading anything, both plans run (tests/bench/stages.py, a fresh process, warm cache):",
        stages,
    ])


def _stages(root: Path, env: dict[str, str], repeat: int) -> str:
    argv = [sys.executable, "-m", "tests.bench.stages", "--dir", str(root), "--repeat", str(repeat)]
    result = subprocess.run(argv, env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise BenchError(f"tests.bench.stages failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout.rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.changed_since", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000, help="mailboxes in the estate (default 10000)")
    parser.add_argument("--domains", type=int, default=1_000, help="domains they are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each plan; medians are reported (default 5)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to put the estate and slapd (default: a temp dir removed afterwards)")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.domains < 1 or args.mailboxes < 1:
        parser.error("--repeat, --domains and --mailboxes must be at least 1")
    runner.start(parser, args.workdir)
    sys.stdout.write(run(args.mailboxes, args.domains, args.repeat, args.workdir, args.quiet) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
