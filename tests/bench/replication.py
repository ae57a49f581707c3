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
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ispctl.providers.dns.catalog_check import Secondaries
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.sandbox.secondary import SecondaryNamedInstance
from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.replication import DirectoryReplicas
from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.cache import CACHE_ENV
from ispctl.reconciler.harness.daemons import free_port
from ispctl.reconciler.harness.instance import DaemonInstance
from tests.bench.directory import BenchError, equivalent_ldif, tool_argv
from tests.bench.generate import generate_estate
from tests.bench.measure import Meter, Sample, process_cpu
from tests.bench.run_bench import _workdir, code_line, load_line, machine_line
from tests.wiring import load_desired, open_session

CONSUMER_COUNTS = (0, 1, 2)
# How long a replica may take before the run is declared broken (not a measurement limit).
PATIENCE = 1800.0
_POLL = 0.02
_W = 52  # the label column of the report


@dataclass
class DirectoryRun:
    """One fresh provider with ``consumers`` online during the apply."""

    consumers: int
    changes: int = 0
    apply: Sample | None = None
    consumer_cpu: float = 0.0  # the consumers' slapd CPU from the apply's start until all were in sync
    lags: list[float] = field(default_factory=list)  # per consumer, seconds after the apply's end
    catch_up: float | None = None  # 0 consumers: the stopped consumer's restart until in sync
    nochange: Sample | None = None
    search_provider: Sample | None = None
    search_consumer: Sample | None = None
    footprint: dict[str, float] = field(default_factory=dict)  # MiB: slapd peak RSS, disk used, per part


@dataclass
class DnsRun:
    zones: int
    apply: Sample
    catch_up: float  # apply end until the secondary serves every zone at the primary's serial


def _stop(instance: DaemonInstance) -> Callable[[], None]:
    def stop() -> None:
        if instance.running():
            instance.stop()
    return stop


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


def directory_run(work: Path, root: Path, consumers: int, log: Callable[[str], None]) -> DirectoryRun:
    run = DirectoryRun(consumers)
    with ExitStack() as stack:
        provider = ProviderSlapdInstance(work / "provider")
        provider.start()
        stack.callback(_stop(provider))
        # The 0 case still has one consumer configured: it is stopped for the apply and
        # started after it, to measure a catch-up from the changelog.
        replicas = [ConsumerSlapdInstance.of(provider, work / f"consumer{i + 1}", rid=i + 1)
                    for i in range(max(consumers, 1))]
        for consumer in replicas:
            consumer.start()
            stack.callback(_stop(consumer))
        _until_in_sync(_watch(provider, replicas), len(replicas), time.perf_counter())
        if consumers == 0:
            replicas[0].stop()
        online = replicas[:consumers]
        env = _env(provider, work.parent / "parse-cache")
        meter = Meter(_pid(provider))
        with open_session(root, env) as session:
            plan = session.plan()
            run.changes = len(plan.changes)
            cpu_before = sum(process_cpu(_pid(c)) for c in online)
            run.apply, result = meter.call(lambda: session.apply(plan))
        end = time.perf_counter()
        if not result.ok:
            first = result.failed[0]
            raise BenchError(f"apply failed for {len(result.failed)} changes, first {first.change.address}: "
                             f"{first.error}")
        if online:
            run.lags = _until_in_sync(_watch(provider, online), len(online), end)
            run.consumer_cpu = sum(process_cpu(_pid(c)) for c in online) - cpu_before
        else:
            start = time.perf_counter()
            replicas[0].start()
            run.catch_up = _until_in_sync(_watch(provider, replicas[:1]), 1, start)[0]
        caught = "-" if run.catch_up is None else f"{run.catch_up:.2f} s"
        log(f"  {consumers} consumer(s): {run.changes} changes applied in {run.apply.wall:.2f} s; "
            f"lags {', '.join(f'{x:.2f}' for x in run.lags) or '-'}; catch-up {caught}")
        with open_session(root, env) as session:
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
        secondary_port = free_port()
        primary = NamedInstance(work / "primary", notify_ports=(secondary_port,))
        primary.start()
        stack.callback(_stop(primary))
        secondary = SecondaryNamedInstance(work / "secondary", primary_port=primary.port,
                                           tsig_secret=primary.tsig_secret, port=secondary_port)
        secondary.start()
        stack.callback(_stop(secondary))
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


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _row(label: str, samples: Sequence[Sample], per: float | None = None) -> str:
    walls = [s.wall for s in samples]
    wall, cpu = _median(walls), _median([s.cpu for s in samples])
    rate = f"{per / wall:>11.0f}" if per else f"{'':>11}"
    return f"{label:<{_W}}{wall:>9.3f}{cpu:>9.3f}{rate}   {', '.join(f'{w:.3f}' for w in walls)}"


def _secs(label: str, values: Sequence[float]) -> str:
    return f"{label:<{_W}}{_median(values):>9.3f}{'':>9}{'':>11}   {', '.join(f'{v:.3f}' for v in values)}"


def report(header: Sequence[str], entries: int, runs: dict[int, list[DirectoryRun]], ldapadd: list[Sample],
           dns: list[DnsRun]) -> str:
    lines = [*header, "", f"{'step':<{_W}}{'wall s':>9}{'CPU s':>9}{'entries/s':>11}   runs (s)"]
    for k in CONSUMER_COUNTS:
        done = runs[k]
        lines.append(_row(f"apply, {k} consumer(s) attached", [r.apply for r in done if r.apply], entries))
    lines.append(_row("ldapadd -c, standalone slapd (anchor)", ldapadd, entries))
    for k in CONSUMER_COUNTS[1:]:
        for i in range(k):
            lines.append(_secs(f"lag of consumer {i + 1} after the apply ({k} attached)", [r.lags[i] for r in runs[k]]))
    lines.append(_secs(f"catch-up of a consumer down for {runs[0][0].changes} changes",
                       [r.catch_up for r in runs[0] if r.catch_up is not None]))
    every = [r for k in CONSUMER_COUNTS for r in runs[k]]
    lines.append(_row("plan (no changes), provider", [r.nochange for r in every if r.nochange], entries))
    lines.append(_row("ldapsearch of the subtree, provider", [r.search_provider for r in every if r.search_provider]))
    lines.append(_row("ldapsearch of the subtree, consumer", [r.search_consumer for r in every if r.search_consumer]))
    if dns:
        lines.append(_row(f"dns apply of {dns[0].zones} new zones (primary)", [d.apply for d in dns], dns[0].zones))
        lines.append(_secs(f"secondary serves all {dns[0].zones} zones, after apply", [d.catch_up for d in dns]))
    base = _median([s.wall for s in ldapadd])
    base_cpu = _median([s.cpu for s in ldapadd])
    lines += ["", "ratios of medians", f"{'':<{_W}}{'wall':>9}{'CPU':>9}"]
    for k in CONSUMER_COUNTS:
        samples = [r.apply for r in runs[k] if r.apply]
        wall, cpu = _median([s.wall for s in samples]) / base, _median([s.cpu for s in samples]) / base_cpu
        lines.append(f"{f'apply ({k} consumers) / ldapadd -c standalone':<{_W}}{wall:>9.2f}{cpu:>9.2f}")
    provider_search = [r.search_provider.wall for r in every if r.search_provider]
    consumer_search = [r.search_consumer.wall for r in every if r.search_consumer]
    lines.append(f"{'ldapsearch consumer / provider':<{_W}}{_median(consumer_search) / _median(provider_search):>9.2f}")
    lines += ["", "footprint after the load, MiB (medians over every run):"]
    for what in every[0].footprint:
        lines.append(f"  {what}: {_median([r.footprint[what] for r in every]):.1f}")
    changes = runs[CONSUMER_COUNTS[-1]][0].changes
    lines += ["", f"per 10,000 changes (initial load of {changes} changes, medians):"]
    for k in CONSUMER_COUNTS:
        wall = _median([r.apply.wall for r in runs[k] if r.apply])
        lines.append(f"  apply with {k} consumer(s): {wall * 10_000 / max(changes, 1):.1f} s")
    for k in CONSUMER_COUNTS[1:]:
        lines.append(f"  consumers' slapd CPU while following ({k} attached): "
                     f"{_median([r.consumer_cpu for r in runs[k]]) * 10_000 / max(changes, 1):.1f} s in all")
    catch = _median([r.catch_up for r in runs[0] if r.catch_up is not None])
    lines.append(f"  catch-up from the changelog: {catch * 10_000 / max(runs[0][0].changes, 1):.1f} s "
                 f"({runs[0][0].changes / catch:.0f} changes/s)")
    return "\n".join(lines)


def run(mailboxes: int, domains: int, zones: int, repeat: int, workdir: Path | None = None,
        quiet: bool = False) -> str:
    def log(text: str) -> None:
        if not quiet:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    load = os.getloadavg()
    with _workdir(workdir) as work:
        root = work / "estate"
        size = generate_estate(root, mailboxes, domains, SlapdInstance(work / "unused").managed_base)
        cache = work / "parse-cache"
        _, compiled = load_desired(root, {CACHE_ENV: str(cache)})
        desired = {ident: r for ident, r in compiled.items() if r.kind in mapping.KINDS}
        ldif = work / "equivalent.ldif"
        ldif.write_text(equivalent_ldif(desired, SlapdInstance(work / "unused").managed_base), encoding="utf-8")
        log(f"generated {size.entries} entries under {root}")
        runs: dict[int, list[DirectoryRun]] = {k: [] for k in CONSUMER_COUNTS}
        ldapadd: list[Sample] = []
        dns: list[DnsRun] = []
        for i in range(repeat):
            log(f"repeat {i + 1}/{repeat}")
            for k in CONSUMER_COUNTS:
                runs[k].append(directory_run(work / f"r{i}-c{k}", root, k, log))
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
        f"{zones} DNS zones; repeat = {repeat}; provider: delta-syncrepl (syncprov + accesslog, both olcDbNoSync)",
    ]
    return report(header, size.entries, runs, ldapadd, dns)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.replication", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000, help="mailboxes in the estate (default 10000)")
    parser.add_argument("--domains", type=int, default=1_000, help="domains they are spread over (default 1000)")
    parser.add_argument("--zones", type=int, default=300, help="new zones for the DNS secondary (default 300; 0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh runs of everything; medians reported (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the daemons' data here (must be empty)")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.domains < 1 or args.mailboxes < 1 or args.zones < 0:
        parser.error("--repeat, --domains and --mailboxes must be at least 1, --zones at least 0")
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty")
    # A SIGTERM unwinds like Ctrl-C, so every daemon is stopped on that exit path too.
    signal.signal(signal.SIGTERM, _terminated)
    sys.stdout.write(run(args.mailboxes, args.domains, args.zones, args.repeat, args.workdir, args.quiet) + "\n")
    sys.stdout.flush()
    return 0


def iter_steps() -> Iterator[str]:
    """The row labels every report has (the test checks them)."""
    yield from ("apply, 0 consumer(s) attached", "ldapadd -c, standalone slapd (anchor)", "catch-up of a consumer",
                "lag of consumer 1", "lag of consumer 2", "plan (no changes), provider",
                "ldapsearch of the subtree, consumer", "secondary serves all")


if __name__ == "__main__":
    sys.exit(main())
