"""Where a plan's time goes before it reads anything: CPU per stage of loading an estate.

    python -m tests.bench.stages --dir ESTATE [--repeat 3]

Runs in a fresh process, so the first row is what starting ``ispctl plan`` imports (the
command line, the registry and every service it names). Then the stages of
``estate.desired.check_desired`` one at a time, as it runs them: load the files (the parse
cache as the environment says, ``ISPCTL_CACHE_DIR``), build the catalog (the rules across
files), each service's compile hook, the lifecycle checks, and compiling the resources.
Each stage's CPU is the median over ``--repeat`` runs in this process (the first import
is only once). Every one of these stages runs in a ``--changed-since`` plan as in a full one
today, over the whole estate: this shows what a narrowed plan would have to stop doing.
``run`` returns the same desired state and problems as ``check_desired``
(``tests/test_bench_stages.py`` checks that), so the split measures the real thing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_START = time.process_time()
from ispctl.providers.registry import services  # noqa: E402 - timed: the imports are the first stage
from ispctl.reconciler.cli import app  # noqa: E402, F401 - what `ispctl` itself imports first
from ispctl.reconciler.engine.errors import Problem  # noqa: E402
from ispctl.reconciler.engine.heap import collector_paused  # noqa: E402
from ispctl.reconciler.engine.resources import Resource  # noqa: E402
from ispctl.reconciler.estate.compile import compile_catalog  # noqa: E402
from ispctl.reconciler.estate.lifecycle import lifecycle_problems  # noqa: E402
from ispctl.reconciler.estate.schema import EstateSchema  # noqa: E402
from ispctl.reconciler.estate.settings import with_overrides  # noqa: E402
from ispctl.reconciler.estate.sources import load_composed  # noqa: E402
from ispctl.reconciler.estate.validate import build_catalog  # noqa: E402

IMPORTS = "imports (cli, registry, services)"
LOAD = "load files (parse cache, models)"
CATALOG = "catalog (rules across files)"
LIFECYCLE = "lifecycle checks"
COMPILE = "compile resources"


def hook_label(service: str) -> str:
    return f"compile hook: {service}"


Timings = dict[str, float]
Resources = dict[tuple[str, str], Resource]


def run(root: Path, schema: EstateSchema, env: Mapping[str, str] | None = None
        ) -> tuple[Timings, Resources | None, list[Problem]]:
    """``check_desired`` split into its stages: the CPU of each, the resources, every problem."""
    took: Timings = {}

    def timed(label: str, start: float) -> float:
        now = time.process_time()
        took[label] = took.get(label, 0.0) + now - start
        return now

    with collector_paused():
        start = time.process_time()
        estate, problems = load_composed(root, schema.files, env)
        start = timed(LOAD, start)
        if estate is None:
            return took, None, problems
        estate.site = with_overrides(estate.site, schema.overrides, env)
        catalog, more = build_catalog(estate, problems)
        problems += more
        start = timed(CATALOG, start)
        contributions = []
        for extension in schema.extensions:
            compiled = extension.hook(catalog)
            problems += compiled.problems
            contributions.append(compiled)
            start = timed(hook_label(extension.service), start)
        problems += lifecycle_problems(catalog, contributions, schema.attributes)
        start = timed(LIFECYCLE, start)
        resources = compile_catalog(catalog, contributions) if not problems else None
        timed(COMPILE, start)
    return took, resources, problems


def report(root: Path, repeat: int) -> str:
    imports = time.process_time() - _START
    schema = services().schema
    runs = [run(root, schema)[0] for _ in range(repeat)]
    labels = list(runs[0])
    lines = [f"{'stage':<40}{'CPU s':>8}", f"{IMPORTS:<40}{imports:>8.3f}"]
    total = imports
    for label in labels:
        median = statistics.median(r.get(label, 0.0) for r in runs)
        total += median
        lines.append(f"{label:<40}{median:>8.3f}")
    lines.append(f"{'total':<40}{total:>8.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="the estate's root")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the stages; medians are reported (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    sys.stdout.write(report(args.dir, args.repeat) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
