"""What every benchmark's command line does the same way: its work directory, its progress on
stderr, and a SIGTERM that unwinds like Ctrl-C (so the daemons it started are stopped)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def workdir(path: Path | None) -> Iterator[Path]:
    """``path`` (made if missing, kept afterwards), or a temp directory removed afterwards."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ispctl-bench-") as tmp:
        yield Path(tmp)


def progress(quiet: bool) -> Callable[[str], None]:
    """A line of progress on stderr at once (the report alone goes to stdout); nothing if ``quiet``."""
    def log(text: str) -> None:
        if not quiet:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
    return log


def terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def start(parser: argparse.ArgumentParser, path: Path | None) -> None:
    """Refuse a used ``--workdir`` (it would hold an estate and daemons' data already), then make a
    SIGTERM (a CI timeout, ``kill``) unwind like Ctrl-C, so every daemon is stopped on that exit
    path too instead of being left running with the estate's data."""
    if path is not None and path.exists() and any(path.iterdir()):
        parser.error(f"--workdir {path} is not empty")
    signal.signal(signal.SIGTERM, terminated)
