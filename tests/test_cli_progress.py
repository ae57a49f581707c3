"""A plan says what it is doing on a terminal, and nowhere else (``output.progress``).

The installed ``ispctl`` runs as a child whose stderr is a pseudo-terminal (a real TTY, as
an operator's shell gives it) or a pipe (as CI gives it); stdout is always a pipe, so the
plan or JSON a workflow captures is compared byte for byte between the two.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

from ldap_helpers import ENV_NAMES, apply_ok, cli_env, copy_example, ispctl_binary

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

LABELS = ("validating ", " files in ", "reading ldap")


def _env(slapd: SlapdInstance) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({k: v for k, v in cli_env(slapd).items() if v is not None})
    env["TERM"] = "xterm-256color"  # a terminal rich animates (not "dumb")
    return env


def _run(slapd: SlapdInstance, *args: str, tty: bool) -> tuple[int, bytes, str]:
    """``ispctl ARGS``: exit code, stdout, stderr (what the terminal or the pipe received)."""
    argv = [ispctl_binary(), *args]
    if not tty:
        done = subprocess.run(argv, env=_env(slapd), stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              check=False)
        return done.returncode, done.stdout, done.stderr.decode()
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(argv, env=_env(slapd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=follower)
        os.close(follower)
        follower = -1
        received = b""
        assert proc.stdout is not None
        stdout = b""
        # Read both until the child is done; a full pty would block the child.
        open_fds = {leader, proc.stdout.fileno()}
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], 60)
            assert ready, "ispctl neither wrote nor ended within 60 s"
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the pty's other end closed (EIO on Linux)
                    chunk = b""
                if not chunk:
                    open_fds.discard(fd)
                elif fd == leader:
                    received += chunk
                else:
                    stdout += chunk
        code = proc.wait(timeout=60)
        proc.stdout.close()
        return code, stdout, received.decode(errors="replace")
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_a_plan_on_a_terminal_says_what_it_is_validating_and_reading(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    code, stdout, terminal = _run(slapd, "plan", "-d", str(root), tty=True)
    assert code == 0, terminal
    files = sum(1 for p in root.rglob("*.yaml"))
    assert f"validating {files} files in " in terminal  # then the folder, cut to the terminal's width
    assert "reading ldap" in terminal
    assert b"to add" in stdout or b"Plan:" in stdout  # the plan itself still goes to stdout


def test_no_progress_without_a_terminal_and_json_is_byte_identical(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    edited = next(root.rglob("*.yaml"))
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # same estate, changed file
    for args in (["plan", "--json"], ["plan", "--format", "markdown"], ["plan"]):
        code, piped, errors = _run(slapd, *args, "-d", str(root), tty=False)
        assert code == 0, errors
        assert not any(label in errors for label in LABELS), errors  # a CI log gets no progress
        tty_code, on_terminal, terminal = _run(slapd, *args, "-d", str(root), tty=True)
        assert tty_code == 0, terminal
        assert "reading ldap" in terminal
        assert b"\x1b" not in on_terminal and b"reading ldap" not in on_terminal
        assert _same_run(on_terminal, args) == _same_run(piped, args), args  # progress or not


def _same_run(stdout: bytes, args: list[str]) -> bytes:
    """stdout without what differs between any two runs: a saved plan's random value key, and so
    its digests and checksum (``saved.saved_meta``). Everything else must match to the byte."""
    if "markdown" in args:  # the comment names the checksum's start
        return re.sub(rb"checksum `sha256:[0-9a-f]{12}", b"checksum `sha256:-", stdout)
    if "--json" not in args:
        return stdout
    data = json.loads(stdout)
    assert data.pop("checksum").startswith("sha256:") and data["meta"].pop("values")["key"]
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode()


def test_apply_shows_progress_while_it_plans_then_writes_as_before(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    code, stdout, terminal = _run(slapd, "apply", "--auto-approve", "-d", str(root), tty=True)
    assert code == 0, terminal
    assert "reading ldap" in terminal and "validating " in terminal
    assert b"Apply complete!" in stdout and b"reading ldap" not in stdout
    # Without a terminal the same apply (now a no-change one) prints no progress at all.
    code, stdout, errors = _run(slapd, "apply", "--auto-approve", "-d", str(root), tty=False)
    assert code == 0 and b"No changes." in stdout
    assert not any(label in errors for label in LABELS), errors
