"""Benchmark: a replicated directory and a DNS secondary following the catalog, for the sizing guide.

Run from the repository root::

    python -m tests.bench.replication          # 10,000 mailboxes over 1,000 domains, 300 zones, 3 repeats
    python -m tests.bench.replication --mailboxes 100000 --domains 10000 --zones 1000 --repeat 1

Every repeat starts fresh daemons from the replica sandbox (``providers/ldap/sandbox/replica.py``,
``providers/dns/sandbox/secondary.py``) in a temp dir, so each apply is the initial load of the
generated estate (``tests.bench.generate``) into an empty provider:

* with 0 consumers attached (one consumer configured but stopped), then the consumer is started
  and the time until it has the provider's ``contextCSN`` is its catch-up after being down for
  the whole apply; with 1 and with 2 consumers online: the apply, then each consumer's lag (time
  from the end of the apply until its ``contextCSN`` equals the provider's, polled as ispctl's own
  replica check does, ``providers/ldap/replication.py``);
* a no-change plan against the provider and ``ldapsearch`` of the subtree on provider and consumer;
* the anchor: ``ldapadd -c`` of the same entries (``directory.equivalent_ldif``) into a standalone
  sandbox slapd (no syncprov, no changelog);
* DNS: an apply creating ``--zones`` zones on the primary (an estate of that many domains, DNS
  only) and the time until a secondary following the catalog serves every one at the primary's
  serial (``providers/dns/catalog_check.py``).

CPU is counted as in ``run_bench`` (client + the provider's slapd, ``measure.py``); the consumers'
CPU is reported on its own. Nothing is asserted on time: the script fails only when a step did
not do its work (an apply failure, a plan not empty after the apply, a replica never in sync).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from ispctl.providers.dns.catalog_check import Secondaries
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.replication import DirectoryReplicas
from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.cache import CACHE_ENV
from ispctl.reconciler.harness.instance import DaemonInstance
from tests.bench import runner
from tests.bench.directory import BenchError, equivalent_ldif, tool_argv
from tests.bench.generate import generate_estate
from tests.bench.measure import Meter, Sample, process_cpu
from tests.bench.replication_report import CONSUMER_COUNTS, Applied, DirectoryRun, DnsRun, report
from tests.bench.run_bench import code_line, load_line, machine_line
from tests.replica_helpers import dns_pair, started
from tests.wiring import load_desired, open_session

# How long a replica may take before the run is declared broken (not a measurement limit).
PATIENCE = 1800.0
_POLL = 0.02


def _pid(instance: DaemonInstance) -> int:
    pid = instance.pid
    if pid is None:
        raise BenchError(f"{instance.workdir}: the daemon is not running")
    return pid


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def _disk_mib(folder: Path) -> float:
    # Blocks in use, not the sizes: an MDB file is sparse up to its olcDbMaxSize.
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file()) / 2**20


def _footprint(provider: ProviderSlapdInstance, consumer: ConsumerSlapdInstance) -> dict[str, float]:
    return {"provider slapd peak RSS": _peak_rss_mib(_pid(provider)),
            "provider database on disk": _disk_mib(provider.workdir / "data"),
            "provider changelog (accesslog) on disk": _disk_mib(provider.workdir / "accesslog"),
            "consumer slapd peak RSS": _peak_rss_mib(_pid(consumer)),
            "consumer database on disk": _disk_mib(consumer.workdir / "data")}


def _until_in_sync(watch: DirectoryReplicas | Secondaries, count: int, start: float) -> list[float]:
    """Seconds from ``start`` until each replica was first seen in sync (polled every 20 ms)."""
    seen: dict[int, float] = {}
    try:
        while len(seen) < count:
            states = watch.poll()
            now = time.perf_counter()
            for i, state in enumerate(states):
                if state.in_sync and i not in seen:
                    seen[i] = now - start
            if len(seen) < count and now - start > PATIENCE:
                lagging = [s.describe() for s in states if not s.in_sync]
                raise BenchError(f"not in sync within {PATIENCE:.0f} s: {'; '.join(lagging)}")
            time.sleep(_POLL)
    finally:
        watch.close()
    return [seen[i] for i in range(count)]


def _env(provider: ProviderSlapdInstance, cache: Path) -> dict[str, str]:
    return {**provider.env(), CACHE_ENV: str(cache), "ISPCTL_PROVIDERS": "ldap"}


def _watch(provider: ProviderSlapdInstance, consumers: Sequence[ConsumerSlapdInstance]) -> DirectoryReplicas:
    # ispctl's own check, with the apply account (a replica holds it; the root DN is per server).
    settings = LdapSettings.from_env({**provider.env(), **provider.account_env("apply")})
    return DirectoryReplicas(settings, provider.managed_base, [(f"consumer{i + 1}", c.url)
                                                              for i, c in enumerate(consumers)])


def _search(meter: Meter, slapd: SlapdInstance) -> Sample:
    argv = tool_argv(slapd, "ldapsearch", "-LLL", "-E", "pr=1000/noprompt", "-b", slapd.managed_base,
                     mapping.SEARCH_FILTER, *mapping.search_attributes())
    sample, result = meter.child(argv, stdout=Path(os.devnull))
    if result.returncode != 0:
        raise BenchError(f"ldapsearch at {slapd.url} failed ({result.returncode}): {result.stderr}")
    return sample


def _apply(root: Path, env: dict[str, str], meter: Meter, online: Sequence[ConsumerSlapdInstance],
           stopped: ConsumerSlapdInstance | None, provider: ProviderSlapdInstance) -> Applied:
    """Plan and apply ``root``; then each online consumer's lag, or the stopped one's catch-up."""
    with open_session(root, env) as session:
        plan = session.plan()
        cpu_before = sum(process_cpu(_pid(c)) for c in online)
        sample, result = meter.call(lambda: session.apply(plan))
    end = time.perf_counter()
    if not result.ok:
        first = result.failed[0]
        raise BenchError(f"apply failed for {len(result.failed)} changes, first {first.change.address}: {first.error}")
    lags: list[float] = []
    catch_up = None
    if online:
        lags = _until_in_sync(_watch(provider, online), len(online), end)
    if stopped is not None:
        start = time.perf_counter()
        stopped.start()
        catch_up = _until_in_sync(_watch(provider, [stopped]), 1, start)[0]
    consumer_cpu = sum(process_cpu(_pid(c)) for c in online) - cpu_before
    return Applied(len(plan.changes), sample, lags, catch_up, consumer_cpu)


def edited_copy(root: Path, dest: Path, count: int) -> int:
    """``root`` copied to ``dest`` with the display name of its first ``count`` mailboxes changed:
    that many modifications of existing entries. Returns how many were changed."""
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns(".git"))
    changed = 0
    for path in sorted(dest.rglob("*.yaml")):
        if changed >= count or path.name in ("tenant.yaml", "ispctl.yaml"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for i, line in enumerate(lines):
            # A mailbox's name sits at four spaces (tests/bench/generate.py writes two per level).
            if changed < count and line.startswith("    name: "):
                lines[i] = line.rstrip("\n") + " (front desk)\n"
                changed += 1
        path.write_text("".join(lines), encoding="utf-8")
    return changed


def directory_run(work: Path, root: Path, consumers: int, log: Callable[[str], None],
                  updated: Path | None = None) -> DirectoryRun:
    """The estate at ``root`` into a fresh provider with ``consumers`` online; then ``updated`` (the
    same estate with modifications) if given. With 0, one consumer is configured but stopped
    during each apply and started after it: its catch-up from the changelog."""
    run = DirectoryRun(consumers)
    with ExitStack() as stack:
        provider = started(stack, ProviderSlapdInstance(work / "provider"))
        replicas = [started(stack, ConsumerSlapdInstance.of(provider, work / f"consumer{i + 1}", rid=i + 1))
                    for i in range(max(consumers, 1))]
        _until_in_sync(_watch(provider, replicas), len(replicas), time.perf_counter())
        online, stopped = replicas[:consumers], (None if consumers else replicas[0])
        env = _env(provider, work.parent / "parse-cache")
        meter = Meter(_pid(provider))
        for what, estate in (("load", root), ("update", updated)):
            if estate is None:
                continue
            if stopped is not None:
                stopped.stop()
            done = _apply(estate, env, meter, online, stopped, provider)
            setattr(run, what, done)
            caught = "-" if done.catch_up is None else f"{done.catch_up:.2f} s"
            log(f"  {consumers} consumer(s), {what}: {done.changes} changes applied in {done.sample.wall:.2f} s; "
                f"lags {', '.join(f'{x:.2f}' for x in done.lags) or '-'}; catch-up {caught}")
        with open_session(updated or root, env) as session:
            run.nochange, plan = meter.call(session.plan)
        if not plan.empty:
            raise BenchError(f"the plan after the apply should be empty; got {plan.summary}")
        run.search_provider = _search(meter, provider)
        run.search_consumer = _search(Meter(_pid(replicas[0])), replicas[0])
        run.footprint = _footprint(provider, replicas[0])
    return run


def standalone_ldapadd(work: Path, ldif: Path) -> Sample:
    """The anchor: ``ldapadd -c`` of the same entries into a plain sandbox slapd."""
    slapd = SlapdInstance(work)
    slapd.start()
    try:
        sample, result = Meter(_pid(slapd)).child(tool_argv(slapd, "ldapadd", "-c", "-f", str(ldif)),
                                                  stdout=Path(os.devnull))
        if result.returncode != 0:
            raise BenchError(f"ldapadd -c failed ({result.returncode}): {result.stderr[-2000:]}")
    finally:
        slapd.stop()
    return sample


def dns_run(work: Path, zones: int, cache: Path, log: Callable[[str], None]) -> DnsRun:
    """``zones`` new zones on the primary, and a secondary following the catalog until it serves them all."""
    root = work / "dns-estate"
    generate_estate(root, 0, zones, "ou=ispctl,dc=example,dc=net")
    with open(root / "ispctl.yaml", "a", encoding="utf-8") as site:
        site.write("dns:\n  ns: [ns1.example.net., ns2.example.net.]\n")
    with ExitStack() as stack:
        primary, secondary = dns_pair(stack, work)
        env = {**primary.env(), CACHE_ENV: str(cache), "ISPCTL_PROVIDERS": "dns"}
        with open_session(root, env) as session:
            plan = session.plan()
            sample, result = Meter(_pid(primary)).call(lambda: session.apply(plan))
        end = time.perf_counter()
        if not result.ok:
            raise BenchError(f"the DNS apply failed for {len(result.failed)} changes: {result.failed[0].error}")
        watch = Secondaries(DnsConnection.from_env(env), [("secondary1", secondary.address)])
        served = len(watch.target) - 1  # the catalog itself is one of them
        caught = _until_in_sync(watch, 1, end)[0]
    log(f"  dns: {served} zones applied in {sample.wall:.2f} s, secondary in sync {caught:.2f} s later")
    return DnsRun(served, sample, caught)


def run(mailboxes: int, domains: int, zones: int, repeat: int, workdir: Path | None = None,
        quiet: bool = False, updates: int = 10_000) -> str:
    log = runner.progress(quiet)
    load = os.getloadavg()
    with runner.workdir(workdir) as work:
        root = work / "estate"
        size = generate_estate(root, mailboxes, domains, SlapdInstance(work / "unused").managed_base)
        cache = work / "parse-cache"
        _, compiled = load_desired(root, {CACHE_ENV: str(cache)})
        desired = {ident: r for ident, r in compiled.items() if r.kind in mapping.KINDS}
        ldif = work / "equivalent.ldif"
        ldif.write_text(equivalent_ldif(desired, SlapdInstance(work / "unused").managed_base), encoding="utf-8")
        updated = work / "estate-updated"
        modified = edited_copy(root, updated, updates) if updates else 0
        log(f"generated {size.entries} entries under {root}, {modified} of them modified in {updated}")
        runs: dict[int, list[DirectoryRun]] = {k: [] for k in CONSUMER_COUNTS}
        ldapadd: list[Sample] = []
        dns: list[DnsRun] = []
        for i in range(repeat):
            log(f"repeat {i + 1}/{repeat}")
            for k in CONSUMER_COUNTS:
                runs[k].append(directory_run(work / f"r{i}-c{k}", root, k, log,
                                             updated if modified else None))
                if workdir is None:  # a 100k provider, its changelog and consumers take GBs
                    shutil.rmtree(work / f"r{i}-c{k}", ignore_errors=True)
            ldapadd.append(standalone_ldapadd(work / f"r{i}-standalone", ldif))
            log(f"  ldapadd -c standalone: {ldapadd[-1].wall:.2f} s")
            if zones:
                dns.append(dns_run(work / f"r{i}-dns", zones, cache, log))
    header = [
        f"ispctl replication benchmark, {date.today().isoformat()}",
        machine_line(), load_line(load), code_line(),
        f"N = {size.mailboxes} mailboxes over {size.domains} domains = {size.entries} directory entries; "
        f"{modified} modified; {zones} DNS zones; repeat = {repeat}",
        "provider: delta-syncrepl (syncprov + accesslog, both olcDbNoSync), consumers and ispctl on the same machine",
    ]
    return report(header, size.entries, runs, ldapadd, dns)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.replication", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000, help="mailboxes in the estate (default 10000)")
    parser.add_argument("--domains", type=int, default=1_000, help="domains they are spread over (default 1000)")
    parser.add_argument("--zones", type=int, default=300, help="new zones for the DNS secondary (default 300; 0: skip)")
    parser.add_argument("--updates", type=int, default=10_000,
                        help="mailboxes whose display name the second apply changes (default 10000; 0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh runs of everything; medians reported (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the daemons' data here (must be empty)")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.domains < 1 or args.mailboxes < 1 or args.zones < 0 or args.updates < 0:
        parser.error("--repeat, --domains and --mailboxes must be at least 1, --zones and --updates at least 0")
    runner.start(parser, args.workdir)
    sys.stdout.write(run(args.mailboxes, args.domains, args.zones, args.repeat, args.workdir, args.quiet,
                         args.updates) + "\n")
    sys.stdout.flush()
    return 0


def iter_steps() -> Iterator[str]:
    """The row labels every report has (the test checks them)."""
    yield from ("apply, initial load, 0 consumer(s) attached", "apply, initial load, 2 consumer(s) attached",
                "ldapadd -c, standalone slapd (anchor)", "catch-up of a consumer down for all",
                "lag of consumer 1", "lag of consumer 2", "plan (no changes), provider",
                "ldapsearch of the subtree, consumer", "secondary serves all", "footprint after the runs",
                "per 10,000 changes, initial load", "catch-up from the changelog")


if __name__ == "__main__":
    sys.exit(main())
