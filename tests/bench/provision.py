"""Benchmark: onboarding customers with ``ispctl batch`` against one command at a time.

Run from the repository root (``pip install -e .`` done)::

    python -m tests.bench.provision [--customers 1000] [--repeat 3] [--sample 20] [--all-singles]

A customer is what a billing export holds: a client tenant (under a reseller without limits),
its domain and its first mailbox, i.e. three operations. The batch row is the whole
``ispctl batch FILE`` process on a fresh copy of the example estate (median of ``--repeat``).
The single-command row runs ``ispctl tenant add``, ``domain add`` and ``mailbox add`` as
separate processes (what a billing system without batch does): by default for ``--sample``
customers on an estate already holding half of the customers (so each command validates an
estate of the average size the full run would see), and the total is that per-customer
median times ``--customers``; ``--all-singles`` runs every customer one command at a time
instead (slow: about three processes and two validations per operation). Both share one
warm parse cache, as a billing host's successive runs do. Timings belong here, never in the
test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from tests.bench.measure import child_run

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "desired-state"
ISPCTL = str(Path(sys.executable).parent / "ispctl")


def customer_ops(number: int) -> list[dict[str, object]]:
    name = f"c{number:05d}"
    return [{"op": "tenant.add", "tenant": name, "parent": "bulk", "name": f"Customer {number}"},
            {"op": "domain.add", "domain": f"{name}.example", "tenant": name},
            {"op": "mailbox.add", "address": f"owner@{name}.example", "name": f"Owner {number}", "quota": "1 GiB"}]


def as_argv(op: dict[str, object], root: Path) -> list[str]:
    """The same operation as one command line."""
    noun, verb = str(op["op"]).split(".")
    if noun == "tenant":
        args = [str(op["tenant"]), "--parent", str(op["parent"]), "--name", str(op["name"])]
    elif noun == "domain":
        args = [str(op["domain"]), "--tenant", str(op["tenant"])]
    else:
        args = [str(op["address"]), "--name", str(op["name"]), "--quota", str(op["quota"])]
    return [ISPCTL, noun, verb, *args, "-d", str(root)]


def fresh_estate(work: Path, env: dict[str, str]) -> Path:
    root = work / "estate"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root)
    run([ISPCTL, "tenant", "add", "bulk", "--name", "Bulk reseller", "-d", str(root)], env)
    return root


def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one ispctl process (CPU: what a loaded machine does not inflate)."""
    sample, result = child_run(argv, env=env, stdin=stdin)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({result.returncode}): {result.stderr}")
    return sample.wall, sample.cpu


def batch_text(first: int, count: int) -> str:
    return "".join(json.dumps(op) + "\n" for n in range(first, first + count) for op in customer_ops(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--all-singles", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ispctl-bench-provision-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "ISPCTL_CACHE_DIR": str(work / "cache"), "NO_COLOR": "1"}
        batches: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            root = fresh_estate(work, env)
            batches.append(run([ISPCTL, "batch", "-", "-d", str(root)], env, batch_text(0, args.customers)))
            sys.stderr.write(f"batch of {args.customers} customers: {batches[-1][0]:.2f} s "
                             f"({batches[-1][1]:.2f} s CPU)\n")
        root = fresh_estate(work, env)
        if args.all_singles:
            first, count = 0, args.customers
        else:
            first, count = args.customers // 2, min(args.sample, args.customers - args.customers // 2)
            if first:
                run([ISPCTL, "batch", "-", "-d", str(root)], env, batch_text(0, first))
        per_customer: list[tuple[float, float]] = []
        for number in range(first, first + count):
            runs = [run(as_argv(op, root), env) for op in customer_ops(number)]
            per_customer.append((sum(w for w, _ in runs), sum(c for _, c in runs)))
            sys.stderr.write(f"customer {number} one command at a time: {per_customer[-1][0]:.2f} s\n")
        how = ("every customer" if args.all_singles
               else f"median of {count} customers at {first} present, x{args.customers}")
        rows = []
        for label, index in (("wall", 0), ("CPU", 1)):
            batch = statistics.median(b[index] for b in batches)
            one = [c[index] for c in per_customer]
            singles = sum(one) if args.all_singles else statistics.median(one) * args.customers
            rows.append(f"| {label} | {batch:.2f} s | {singles:.0f} s | {batch / singles:.4f} |")
        sys.stdout.write(f"{args.customers} customers ({3 * args.customers} operations); batch: median of "
                         f"{args.repeat}; one command at a time: {how}\n\n"
                         "| time | ispctl batch | one command at a time | ratio |\n|---|---|---|---|\n"
                         + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
