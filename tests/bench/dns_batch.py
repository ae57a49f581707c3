"""Benchmark: one RFC 2136 update carrying N record sets against N single updates, on one named.

Run from the repository root (bind9 installed, ``pip install -e .`` done)::

    python -m tests.bench.dns_batch [--records 1000] [--repeat 3]

Why the DNS provider batches every change of a zone into one update (``updates.pack``): this
prints the medians of both ways and their ratio. Both are signed with the same TSIG key and
sent over TCP to the same private named, started in a temp dir and stopped on every exit
path. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import dns.query
import dns.rcode
import dns.tsig
import dns.update

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.resources import Resource
from tests.dns_helpers import provider_for

ZONE = "bench.example"
SOA = "ns1.example.org. hostmaster.example.org. 10800 1800 604800 3600"


def _send(named: NamedInstance, key: dns.tsig.Key, message: dns.update.UpdateMessage) -> None:
    message.use_tsig(key)
    rcode = dns.query.tcp(message, "127.0.0.1", port=named.port, timeout=30).rcode()
    if rcode != dns.rcode.NOERROR:
        raise RuntimeError(f"named refused an update: {dns.rcode.to_text(rcode)}")


def singles(named: NamedInstance, key: dns.tsig.Key, records: int, run: int) -> float:
    start = time.perf_counter()
    for i in range(records):
        message = dns.update.UpdateMessage(ZONE)
        message.replace(f"single{run}-{i}", 300, "A", "192.0.2.1")
        _send(named, key, message)
    return time.perf_counter() - start


def batched(named: NamedInstance, key: dns.tsig.Key, records: int, run: int) -> float:
    start = time.perf_counter()
    message = dns.update.UpdateMessage(ZONE)
    for i in range(records):
        message.replace(f"batch{run}-{i}", 300, "A", "192.0.2.1")
    _send(named, key, message)
    return time.perf_counter() - start


def run(records: int, repeat: int) -> str:
    with tempfile.TemporaryDirectory(prefix="ispctl-dns-bench-") as tmp:
        named = NamedInstance(Path(tmp) / "named")
        named.start()
        try:
            provider = provider_for(named)
            zone = Resource("dns_zone", ZONE, {"type": "primary", "soa": SOA, "ns": ("ns1.example.org.",),
                                               "default_ttl": 3600}, depends_on=(f"domain.{ZONE}",))
            result = apply_plan(compute_plan({zone.identity: zone}, provider.read()), lambda kind: provider)
            if not result.ok:
                raise RuntimeError(f"cannot create {ZONE}: {result.failed}")
            key = DnsConnection.from_env(named.env()).tsig_key
            one = [singles(named, key, records, r) for r in range(repeat)]
            many = [batched(named, key, records, r) for r in range(repeat)]
        finally:
            named.stop()
    a, b = statistics.median(one), statistics.median(many)
    return "\n".join([
        f"{records} single updates:           median {a:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in one)})",
        f"one update of {records} record sets: median {b:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in many)})",
        f"singles / batched: {a / b:.1f}x",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.dns_batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000, help="record sets per run (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each way; medians are reported (default 3)")
    args = parser.parse_args(argv)
    sys.stdout.write(run(args.records, args.repeat) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
