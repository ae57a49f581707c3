"""The replication benchmark runs end to end at a tiny size against real daemons (two or three
slapds, two nameds) and refuses to report a replica that never caught up. No timing is checked:
only that every row is there, that it measured what it says, and that its daemons are gone."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance
from tests.bench import replication
from tests.bench.directory import BenchError
from tests.bench.generate import generate_estate
from tests.bench.replication_report import W


def test_tiny_run_reports_every_row_with_measured_figures(tmp_path: Path) -> None:
    text = replication.run(30, 3, 3, 1, workdir=tmp_path / "work", quiet=True, updates=7)
    for label in replication.iter_steps():
        assert label in text, f"{label!r} missing from:\n{text}"
    # 30 mailboxes in 3 domains: 44 directory entries, all of them one change each of the initial load.
    assert "= 44 directory entries; 7 modified" in text
    assert "catch-up of a consumer down for all 44" in text and "catch-up of a consumer down for all 7" in text
    assert "dns apply of 3 new zones" in text and "secondary serves all 3 zones" in text
    table = text.split("entries/s   runs (s)\n")[1].split("\n\nratios of medians")[0].splitlines()
    # 3 applies + 3 lags + 1 catch-up, twice (load, modifications); the anchor; plan; 2 searches; 2 DNS rows.
    assert len(table) == 20, text
    for line in table:
        figure = float(line[W:W + 9])
        assert math.isfinite(figure) and figure >= 0, line
    # The provider holds the entries and the changelog of their adds: both take room.
    footprint = dict(line.strip().rsplit(": ", 1) for line in text.splitlines() if "on disk:" in line or "RSS:" in line)
    assert float(footprint["provider database on disk"]) > 0 and float(footprint["provider slapd peak RSS"]) > 0
    assert float(footprint["provider changelog (accesslog) on disk"]) > 0, text
    # Every daemon was stopped: none of their pid files names a live process.
    for pidfile in (tmp_path / "work").rglob("*.pid"):
        pid = int(pidfile.read_text(encoding="ascii").strip() or 0)
        assert not pid or not Path(f"/proc/{pid}").exists(), pidfile


def test_a_run_keeps_the_consumers_apart_and_the_modifications_are_exactly_those_asked(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    size = generate_estate(root, 10, 2, "ou=ispctl,dc=example,dc=net")
    assert replication.edited_copy(root, tmp_path / "updated", 4) == 4
    done = replication.directory_run(tmp_path / "two", root, 2, lambda _text: None, tmp_path / "updated")
    assert done.load is not None and done.update is not None
    assert (done.load.changes, done.update.changes) == (size.entries, 4)
    assert len(done.load.lags) == len(done.update.lags) == 2 and done.load.catch_up is None
    assert done.nochange is not None and done.search_consumer is not None
    alone = replication.directory_run(tmp_path / "none", root, 0, lambda _text: None)
    assert alone.load is not None and alone.update is None
    assert alone.load.lags == [] and alone.load.catch_up is not None
    # Asked for more than there are: every mailbox, once.
    assert replication.edited_copy(root, tmp_path / "all", 1000) == 10


def test_a_replica_that_never_catches_up_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replication, "PATIENCE", 0.5)
    provider = ProviderSlapdInstance(tmp_path / "provider")
    provider.start()
    consumer = ConsumerSlapdInstance.of(provider, tmp_path / "consumer")
    try:
        consumer.start()
        consumer.stop()
        added = provider.ldapadd(f"dn: cn=late,{provider.suffix}\nobjectClass: organizationalRole\ncn: late\n")
        assert added.returncode == 0, added.stderr
        with pytest.raises(BenchError, match="not in sync within"):
            replication._until_in_sync(replication._watch(provider, [consumer]), 1, time.perf_counter())
    finally:
        if consumer.running():
            consumer.stop()
        provider.stop()
