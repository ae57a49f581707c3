"""Run the real ``ispctl`` through the fault launcher, and wait for it to reach its point."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


def launch(action: str, point: str, args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """``ispctl ARGS`` as its own process, stopped at ``point`` by ``action`` (see launcher.py)."""
    return subprocess.Popen([sys.executable, str(LAUNCHER), action, point, *args], env=dict(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_paused(proc: subprocess.Popen[bytes], point: str) -> bytes:
    """Block until the launched process says it paused at ``point``; what it wrote to stderr."""
    assert proc.stderr is not None
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 180  # a guard against a hang, not a timing
        while f"paused at {point}\n".encode() not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, f"apply did not pause: {seen!r}"
            if sel.select(timeout=0.5):
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"apply closed stderr without pausing: {seen!r}"
                seen += chunk
    return seen


def finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str, str]:
    """Wait for the process; its exit code (negative: killed by that signal), stdout and stderr."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
