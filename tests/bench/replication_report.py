"""What the replication benchmark (``replication.py``) measured, and its report: medians of every
row with all runs beside them, ratios against the standalone ``ldapadd -c``, the footprint, and the
figures per 10,000 changes the README's sizing guide quotes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.bench.measure import Sample

CONSUMER_COUNTS = (0, 1, 2)
W = 56  # the label column


@dataclass(frozen=True)
class Applied:
    """One apply on the provider and how the consumers followed it."""

    changes: int
    sample: Sample
    lags: list[float]  # per online consumer: seconds from the apply's end until its contextCSN was the provider's
    catch_up: float | None  # no consumer online: a stopped consumer's restart until it was in sync
    consumer_cpu: float  # the online consumers' slapd CPU from the apply's start until all were in sync


@dataclass
class DirectoryRun:
    """One fresh provider with ``consumers`` online during its applies."""

    consumers: int
    load: Applied | None = None  # the whole estate into the empty provider
    update: Applied | None = None  # then modifications of existing entries (display names)
    nochange: Sample | None = None
    search_provider: Sample | None = None
    search_consumer: Sample | None = None
    footprint: dict[str, float] = field(default_factory=dict)  # MiB: slapd peak RSS, disk used, per part


@dataclass(frozen=True)
class DnsRun:
    zones: int
    apply: Sample
    catch_up: float  # apply end until the secondary serves every zone at the primary's serial


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _row(label: str, samples: Sequence[Sample], per: float | None = None) -> str:
    walls = [s.wall for s in samples]
    wall, cpu = median(walls), median([s.cpu for s in samples])
    rate = f"{per / wall:>11.0f}" if per and wall > 0 else f"{'':>11}"
    return f"{label:<{W}}{wall:>9.3f}{cpu:>9.3f}{rate}   {', '.join(f'{w:.3f}' for w in walls)}"


def _secs(label: str, values: Sequence[float]) -> str:
    return f"{label:<{W}}{median(values):>9.3f}{'':>9}{'':>11}   {', '.join(f'{v:.3f}' for v in values)}"


def _applies(runs: dict[int, list[DirectoryRun]], what: str) -> dict[int, list[Applied]]:
    return {k: [a for r in done if (a := getattr(r, what)) is not None] for k, done in runs.items()}


def _follow_rows(title: str, applied: dict[int, list[Applied]], per: float | None) -> list[str]:
    lines = [_row(f"{title}, {k} consumer(s) attached", [a.sample for a in applied[k]], per)
             for k in CONSUMER_COUNTS]
    for k in CONSUMER_COUNTS[1:]:
        for i in range(k):
            lines.append(_secs(f"  lag of consumer {i + 1} ({k} attached)", [a.lags[i] for a in applied[k]]))
    lines.append(_secs(f"  catch-up of a consumer down for all {applied[0][0].changes}",
                       [a.catch_up for a in applied[0] if a.catch_up is not None]))
    return lines


def _per_10k(title: str, applied: dict[int, list[Applied]]) -> list[str]:
    changes = max(applied[0][0].changes, 1)
    scale = 10_000 / changes
    lines = [f"per 10,000 changes, {title} ({changes} changes, medians):"]
    for k in CONSUMER_COUNTS:
        lines.append(f"  apply with {k} consumer(s): {median([a.sample.wall for a in applied[k]]) * scale:.1f} s wall, "
                     f"{median([a.sample.cpu for a in applied[k]]) * scale:.1f} s CPU (client + provider)")
    for k in CONSUMER_COUNTS[1:]:
        lines.append(f"  consumers' slapd CPU while following ({k} attached): "
                     f"{median([a.consumer_cpu for a in applied[k]]) * scale:.1f} s in all")
    catch = median([a.catch_up for a in applied[0] if a.catch_up is not None])
    lines.append(f"  catch-up from the changelog: {catch * scale:.1f} s ({changes / catch:.0f} changes/s)")
    return lines


def report(header: Sequence[str], entries: int, runs: dict[int, list[DirectoryRun]], ldapadd: list[Sample],
           dns: list[DnsRun]) -> str:
    loads, updates = _applies(runs, "load"), _applies(runs, "update")
    lines = [*header, "", f"{'step':<{W}}{'wall s':>9}{'CPU s':>9}{'entries/s':>11}   runs (s)"]
    lines += _follow_rows("apply, initial load", loads, entries)
    lines.append(_row("ldapadd -c, standalone slapd (anchor)", ldapadd, entries))
    if updates[0]:
        lines += _follow_rows(f"apply, {updates[0][0].changes} modifications", updates, None)
    every = [r for k in CONSUMER_COUNTS for r in runs[k]]
    lines.append(_row("plan (no changes), provider", [r.nochange for r in every if r.nochange], entries))
    lines.append(_row("ldapsearch of the subtree, provider", [r.search_provider for r in every if r.search_provider]))
    lines.append(_row("ldapsearch of the subtree, consumer", [r.search_consumer for r in every if r.search_consumer]))
    if dns:
        lines.append(_row(f"dns apply of {dns[0].zones} new zones (primary)", [d.apply for d in dns], dns[0].zones))
        lines.append(_secs(f"secondary serves all {dns[0].zones} zones, after apply", [d.catch_up for d in dns]))
    base, base_cpu = median([s.wall for s in ldapadd]), median([s.cpu for s in ldapadd])
    lines += ["", "ratios of medians", f"{'':<{W}}{'wall':>9}{'CPU':>9}"]
    for k in CONSUMER_COUNTS:
        wall = median([a.sample.wall for a in loads[k]]) / base
        cpu = median([a.sample.cpu for a in loads[k]]) / base_cpu
        lines.append(f"{f'initial load ({k} consumers) / ldapadd -c standalone':<{W}}{wall:>9.2f}{cpu:>9.2f}")
    provider = median([r.search_provider.wall for r in every if r.search_provider])
    consumer = median([r.search_consumer.wall for r in every if r.search_consumer])
    lines.append(f"{'ldapsearch consumer / provider':<{W}}{consumer / provider:>9.2f}")
    lines += ["", "footprint after the runs, MiB (medians over every run):"]
    for what in every[0].footprint:
        lines.append(f"  {what}: {median([r.footprint[what] for r in every]):.1f}")
    lines += ["", *_per_10k("initial load", loads)]
    if updates[0]:
        lines += _per_10k("modifications", updates)
    return "\n".join(lines)
