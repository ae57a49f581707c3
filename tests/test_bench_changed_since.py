"""The --changed-since benchmark (tests/bench/changed_since.py) at a tiny size: it runs against
its own slapd, checks both plans hold the pull request's one change, prints both rows and the
ratio, and stops its slapd. No figure is asserted: timing belongs to the benchmark, not tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.changed_since import RATIO_LABEL

REPO = Path(__file__).resolve().parents[1]


def test_the_changed_since_benchmark_compares_both_plans_and_stops_its_slapd(tmp_path: Path) -> None:
    workdir = tmp_path / "bench"
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.changed_since", "--mailboxes", "30", "--domains", "3",
         "--repeat", "2", "--workdir", str(workdir), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "N = 30 mailboxes over 3 domains = 44 directory entries; repeat = 2" in out
    assert "with bytecode compiled once (PYTHONPYCACHEPREFIX in the work dir)" in out
    assert (workdir / "bytecode" / "compiled").exists()
    number = r" +\d+\.\d{3}"
    for step in ("ispctl plan (warm cache)", "ispctl plan --changed-since"):
        # wall and CPU medians, then both runs
        assert re.search(rf"^{re.escape(step)}{number * 3}, \d+\.\d{{3}}$", out, re.M), step
    assert re.search(rf"^{re.escape(RATIO_LABEL)}: \d+\.\d{{3}} wall, \d+\.\d{{3}} CPU \(target <= 0\.1\)$", out, re.M)
    assert re.search(r"^CPU runs \(s\): full \d+\.\d{3}(, \d+\.\d{3})*; narrowed \d+\.\d{3}", out, re.M)
    assert (workdir / "estate" / ".git").is_dir()
    assert not SlapdInstance(workdir / "slapd").running()


def test_a_used_workdir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "left-over").write_text("x", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.changed_since", "--mailboxes", "30", "--domains", "3",
         "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "is not empty" in result.stderr


def test_the_plan_children_run_with_bytecode_kept_in_the_work_dir(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.bench import cli_runs

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = cli_runs.cli_env(SlapdInstance(tmp_path / "slapd"))
    prefix = tmp_path / cli_runs.BYTECODE_DIR
    assert env["PYTHONPYCACHEPREFIX"] == str(prefix) and "PYTHONDONTWRITEBYTECODE" not in env
    assert (prefix / "compiled").exists()
    compiled = {p.name for p in prefix.rglob("*.pyc")}
    assert any(name.startswith("gitinfo.") for name in compiled) and any(name.startswith("app.") for name in compiled)
