"""The replication report's arithmetic: medians over runs, ratios to the anchor, figures scaled to
10,000 changes, and rows left out when a part was not run."""

from __future__ import annotations

from tests.bench.measure import Sample
from tests.bench.replication_report import Applied, DirectoryRun, DnsRun, W, median, report


def _sample(wall: float, cpu: float = 1.0) -> Sample:
    return Sample(wall, cpu, 0.0)


def _run(k: int, wall: float, lag: float, with_update: bool) -> DirectoryRun:
    load = Applied(20_000, _sample(wall, wall / 2), [lag] * k, None if k else lag * 10, 0.5 * k)
    update = Applied(5_000, _sample(wall / 4), [lag / 2] * k, None if k else 1.0, 0.1) if with_update else None
    return DirectoryRun(k, load, update, _sample(3.0), _sample(0.2), _sample(0.4),
                        {"provider slapd peak RSS": 100.0 + k})


def _runs(with_update: bool) -> dict[int, list[DirectoryRun]]:
    return {k: [_run(k, wall + k, 0.1 * (k + 1), with_update) for wall in (10.0, 30.0, 20.0)] for k in (0, 1, 2)}


def _figure(text: str, label: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return float(line[W:W + 9])


def test_rows_are_medians_of_the_runs_and_ratios_divide_medians() -> None:
    text = report(["header"], 40_000, _runs(True), [_sample(5.0), _sample(4.0), _sample(6.0)],
                  [DnsRun(7, _sample(2.0), 1.5)])
    assert _figure(text, "apply, initial load, 0 consumer(s) attached") == 20.0  # median of 10, 30, 20
    assert _figure(text, "apply, initial load, 2 consumer(s) attached") == 22.0
    assert _figure(text, "ldapadd -c, standalone slapd (anchor)") == 5.0
    assert _figure(text, "  lag of consumer 2 (2 attached)") == 0.3
    assert _figure(text, "  catch-up of a consumer down for all 20000") == 1.0
    assert _figure(text, "apply, 5000 modifications, 1 consumer(s) attached") == 5.25  # 21 / 4
    assert _figure(text, "initial load (1 consumers) / ldapadd -c standalone") == 4.2  # 21 / 5
    assert _figure(text, "ldapsearch consumer / provider") == 2.0
    assert "secondary serves all 7 zones" in text
    # 20,000 changes in 20 s: 10 s per 10,000; catch-up 1.0 s for 20,000: 20,000 changes/s.
    assert "apply with 0 consumer(s): 10.0 s wall, 5.0 s CPU" in text
    assert "catch-up from the changelog: 0.5 s (20000 changes/s)" in text
    assert "per 10,000 changes, modifications (5000 changes, medians):" in text
    assert "provider slapd peak RSS: 101.0" in text  # the median over all nine runs (100, 101, 102 each thrice)


def test_parts_not_run_leave_no_rows() -> None:
    text = report(["header"], 40_000, _runs(False), [_sample(5.0)], [])
    assert "modifications" not in text
    assert "dns apply" not in text and "secondary serves" not in text
    assert "per 10,000 changes, initial load (20000 changes, medians):" in text


def test_median_of_nothing_is_not_a_number() -> None:
    assert median([]) != median([])  # NaN: an empty part shows as nan, never as 0
    assert median([3.0, 1.0, 2.0]) == 2.0
