"""Benchmark: validate (``load_desired`` + compile) without the cache of parsed files, cold and warm.

Run from the repository root::

    python -m tests.bench.validate_cache [--mailboxes 10000] [--domains 1000] [--repeat 3]

Each run is a fresh child process (``--child``), so every figure includes nothing another run
left in memory: CPU seconds (user + system) and wall seconds of the validation itself, and the
desired side's peak memory (the child's peak resident set less what it held once imported).
``off`` runs with ``ISPCTL_CACHE_DIR=off``; ``cold`` with an empty cache folder (every file
parsed and written); ``warm`` with the folder the cold run filled (every file read from it).
The issue's target is 2 CPU seconds per 10,000 mailboxes; CPU time is what stays steady on
a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.generate import generate_estate

MODES = ("off", "cold", "warm")


def _child(root: Path) -> None:
    """One validation in this (fresh) process; prints its figures as JSON on stdout."""
    from tests.wiring import load_desired

    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, wall = time.process_time(), time.perf_counter()
    _catalog, resources = load_desired(root)
    figures = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "resources": len(resources),
               "desired_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - imported) / 1024}
    sys.stdout.write(json.dumps(figures) + "\n")


def _run(root: Path, cache: str) -> dict[str, float]:
    env = {**os.environ, "ISPCTL_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-m", "tests.bench.validate_cache", "--child", str(root)], env=env,
                          check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=None, help="default: mailboxes / 10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return
    domains = args.domains or max(1, args.mailboxes // 10)
    with tempfile.TemporaryDirectory(prefix="ispctl-bench-validate-") as work:
        root, cache = Path(work) / "desired-state", Path(work) / "cache"
        root.mkdir()
        generate_estate(root, args.mailboxes, domains, "ou=isp,dc=example,dc=net")
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            runs["off"].append(_run(root, "off"))
            shutil.rmtree(cache, ignore_errors=True)
            runs["cold"].append(_run(root, str(cache)))
            runs["warm"].append(_run(root, str(cache)))
    per = 10_000 / args.mailboxes
    out = [f"validate, {args.mailboxes} mailboxes over {domains} domains, repeat = {args.repeat}",
           f"{'cache':<6} {'cpu s':>7} {'per 10k':>8} {'wall s':>7} {'desired MiB':>12}   cpu runs"]
    for mode in MODES:
        cpu = statistics.median(r["cpu"] for r in runs[mode])
        wall = statistics.median(r["wall"] for r in runs[mode])
        mib = statistics.median(r["desired_mib"] for r in runs[mode])
        out.append(f"{mode:<6} {cpu:7.2f} {cpu * per:8.2f} {wall:7.2f} {mib:12.0f}   "
                   + ", ".join(f"{r['cpu']:.2f}" for r in runs[mode]))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
