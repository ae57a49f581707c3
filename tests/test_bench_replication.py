"""The replication benchmark runs end to end at a tiny size against real daemons (two or three
slapds, two nameds) and refuses to report a replica that never caught up. No timing is checked:
only that every row is there, that it measured what it says, and that its daemons are gone."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance
from tests.bench import replication
from tests.bench.directory import BenchError
from tests.bench.generate import generate_estate


def test_tiny_run_reports_every_row_with_measured_figures(tmp_path: Path) -> None:
    text = replication.run(30, 3, 3, 1, workdir=tmp_path / "work", quiet=True)
    for label in replication.iter_steps():
        assert label in text, f"{label!r} missing from:\n{text}"
    # 30 mailboxes in 3 domains: 44 directory entries, all of them one change each of the initial load.
    assert "= 44 directory entries" in text
    assert "catch-up of a consumer down for 44 changes" in text
    assert "dns apply of 3 new zones" in text and "secondary serves all 3 zones" in text
    rows = [line for line in text.splitlines()
            if re.match(r"(apply|lag|catch-up|ldapsearch|plan|dns|secondary)", line) and " / " not in line]
    assert len(rows) == 12, text
    for line in rows:
        figure = float(line[replication._W:replication._W + 9])
        assert math.isfinite(figure) and figure >= 0, line
    # The provider holds the entries and the changelog of their adds: both take room.
    footprint = dict(line.strip().rsplit(": ", 1) for line in text.splitlines() if "on disk:" in line or "RSS:" in line)
    assert float(footprint["provider database on disk"]) > 0 and float(footprint["provider slapd peak RSS"]) > 0
    assert float(footprint["provider changelog (accesslog) on disk"]) > 0, text
    # Every daemon was stopped: none of their pid files names a live process.
    for pidfile in (tmp_path / "work").rglob("*.pid"):
        pid = int(pidfile.read_text(encoding="ascii").strip() or 0)
        assert not pid or not Path(f"/proc/{pid}").exists(), pidfile


def test_a_run_keeps_the_consumers_apart_and_each_lag_is_its_own(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    size = generate_estate(root, 10, 2, "ou=ispctl,dc=example,dc=net")
    done = replication.directory_run(tmp_path / "two", root, 2, lambda _text: None)
    assert done.changes == size.entries
    assert len(done.lags) == 2 and done.catch_up is None
    assert done.nochange is not None and done.search_consumer is not None
    alone = replication.directory_run(tmp_path / "none", root, 0, lambda _text: None)
    assert alone.lags == [] and alone.catch_up is not None


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
