"""The benchmarks' shared command-line parts (tests/bench/runner.py)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import pytest

from tests.bench import runner


def test_a_given_workdir_is_made_and_kept_a_temporary_one_removed(tmp_path: Path) -> None:
    with runner.workdir(tmp_path / "w") as work:
        assert work == tmp_path / "w" and work.is_dir()
    assert (tmp_path / "w").is_dir()
    with runner.workdir(None) as temporary:
        (temporary / "data").write_text("x", encoding="utf-8")
    assert not temporary.exists()


def test_progress_goes_to_stderr_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    runner.progress(False)("one")
    runner.progress(True)("two")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "one\n")


def test_a_used_workdir_is_refused_and_sigterm_unwinds_like_an_exit(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x", encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        runner.start(parser, tmp_path / "used")
    assert refused.value.code == 2 and f"--workdir {tmp_path / 'used'} is not empty" in capsys.readouterr().err
    before = signal.getsignal(signal.SIGTERM)
    try:
        runner.start(parser, tmp_path / "fresh")  # absent: fine, made later by workdir()
        with pytest.raises(SystemExit) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
        assert stopped.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, before)
