"""Benchmark: apply of N new web sites against ``apache2 -t`` of the same files.

Run from the repository root (apache2 and php8.2-fpm installed, ``pip install -e .`` done)::

    python -m tests.bench.web [--sites 1000] [--php-every 10] [--repeat 3]

Each run starts a fresh Apache and php-fpm on loopback (the sandbox's, ``tests.web_helpers.web_servers``), plans
and applies N sites through the engine (directories, staging, the whole-configuration tests,
the swap, ONE graceful reload of each daemon, a probe of every site by its Host header), then
runs the Apache configuration test alone on the same live files. Wall time and CPU time (this
process plus its children: the config tests and reload commands; the daemons' own work is not
counted) are measured for both; medians of ``--repeat`` runs and their ratios are printed.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ispctl.providers.web.apply_config import run as run_command
from ispctl.providers.web.provider import WebProvider
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from tests.web_helpers import site, web_servers


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(step: Callable[[], None]) -> Sample:
    wall, cpu = time.perf_counter(), _cpu()
    step()
    return Sample(time.perf_counter() - wall, _cpu() - cpu)


def one_run(sites: int, php_every: int) -> tuple[Sample, Sample, Sample, Sample, list[str]]:
    with web_servers() as web:
        provider = WebProvider(web.layout, web.control)
        desired = [site(web.layout, f"s{i}.bench.example", tenant=f"t{i % 50}", uid=30000 + i % 50,
                        gid=30000 + i % 50, php=php_every > 0 and i % php_every == 0) for i in range(sites)]

        expected = sites

        def apply() -> None:
            plan = compute_plan({s.identity: s for s in desired}, provider.read(), archives=provider.ARCHIVES)
            result = apply_plan(plan, lambda kind: provider)
            if not result.ok or len(plan.changes) != expected:
                raise RuntimeError(f"apply failed: {result.failed[0].error if result.failed else plan.changes}")

        def test() -> None:
            status, out = run_command(web.control.apache_test, 600)
            if status != 0:
                raise RuntimeError(out)

        applied = measure(apply)
        tested = measure(test)
        # Every site again with one more alias: the directories exist, only the configuration changes.
        desired = [site(web.layout, s.key, tenant=str(s.attrs["user"])[4:], uid=s.attrs["uid"], gid=s.attrs["gid"],
                        php=s.attrs["php"], aliases=(f"www.{s.key}",)) for s in desired]
        updated = measure(apply)
        # One site of the estate changes: what a day-to-day apply costs (read, test, reload and probe).
        desired[0] = site(web.layout, desired[0].key, tenant=str(desired[0].attrs["user"])[4:],
                          uid=desired[0].attrs["uid"], gid=desired[0].attrs["gid"], php=desired[0].attrs["php"])
        expected = 1
        one = measure(apply)
        return applied, tested, updated, one, web.reloads()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1000, help="sites per run (default 1000)")
    parser.add_argument("--php-every", type=int, default=10, help="every Nth site runs PHP (default 10; 0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are reported (default 3)")
    args = parser.parse_args(argv)
    rows: list[tuple[Sample, Sample, Sample, Sample]] = []
    for index in range(args.repeat):
        applied, tested, updated, one, reloads = one_run(args.sites, args.php_every)
        rows.append((applied, tested, updated, one))
        sys.stderr.write(f"run {index + 1}: create {applied.wall:.2f} s wall {applied.cpu:.2f} s CPU; "
                         f"update {updated.wall:.2f} s wall {updated.cpu:.2f} s CPU; "
                         f"one site {one.wall:.2f} s wall {one.cpu:.2f} s CPU; "
                         f"apache2 -t {tested.wall:.3f} s wall {tested.cpu:.3f} s CPU; reloads {reloads}\n")

    def median(column: int, cpu: bool) -> float:
        return statistics.median(r[column].cpu if cpu else r[column].wall for r in rows)

    tw, tc = median(1, False), median(1, True)
    lines = [f"{args.sites} sites (every {args.php_every or 'no'}th with PHP), median of {args.repeat} runs:",
             f"  apache2 -t of the same files:   {tw:7.3f} s wall  {tc:7.3f} s CPU"]
    for label, column in (("apply, new sites (dirs made)", 0), ("apply, every site updated", 2),
                          ("apply, one site of them updated", 3)):
        w, c = median(column, False), median(column, True)
        lines.append(f"  {label + ':':31s} {w:7.3f} s wall  {c:7.3f} s CPU   = {w / tw:5.1f}x wall  {c / tc:5.1f}x CPU")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
