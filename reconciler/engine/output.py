"""All terminal output goes through here: one stdout console, one stderr console.

Colour is used only on a terminal (rich decides; ``NO_COLOR`` and ``--no-color``
turn it off), so CI logs and files stay plain text.

``annotate`` also states a problem as a GitHub Actions workflow command (``::error
file=...,line=...,col=...::message``) when ``--errors github`` asked for it: the runner
turns those into annotations on the pull request's files. They go to stderr (the runner
reads both streams), so stdout stays the plan or JSON a workflow captures.

``progress`` says what a long run is doing (validating, reading each service) as one
transient line on stderr, only when stderr is a terminal: CI logs, files and pipes get
nothing, and stdout (the plan, JSON or Markdown) never does.

rich is imported when a console is first needed, not with this module: ``ispctl
--version`` and ``--help`` should not pay for it (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ispctl.reconciler.engine.errors import ApprovalRequired

if TYPE_CHECKING:
    from rich.console import Console

_state: dict[str, Console] = {}
_annotations: dict[str, bool] = {"github": False}
_plain: dict[str, bool] = {"no_color": False}


def configure(no_color: bool = False) -> None:
    """How the two consoles print; each is made on its first use (issue 11: a command that
    prints only machine-readable output, ``plan --json``, need not import rich at all)."""
    _plain["no_color"] = no_color
    _state.clear()


def _console(name: str) -> Console:
    from rich.console import Console

    plain = _plain["no_color"] or bool(os.environ.get("NO_COLOR"))
    stream = sys.stdout if name == "out" else sys.stderr
    _state[name] = Console(file=stream, no_color=plain, highlight=False, soft_wrap=True)
    return _state[name]


def set_annotations(github: bool) -> None:
    _annotations["github"] = github


def _escape(text: str, prop: bool = False) -> str:
    # The escaping the runner undoes; a property value also may not hold ':' or ','.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def annotate(level: str, message: str, file: str = "", line: int = 0, column: int = 0) -> None:
    """A problem as a GitHub annotation (``level``: error or warning), when enabled."""
    if not _annotations["github"]:
        return
    props = []
    if file:
        path = os.path.relpath(file) if os.path.isabs(file) else file  # the runner wants repository paths
        props.append(f"file={_escape(path, prop=True)}")
        if line:
            props.append(f"line={line}")
            if column:
                props.append(f"col={column}")
    head = f"::{level} " + ",".join(props) if props else f"::{level}"
    sys.stderr.write(f"{head}::{_escape(message)}\n")
    sys.stderr.flush()


def out() -> Console:
    if "out" in _state and _state["out"].file is not sys.stdout:
        configure()  # a new stdout (a test's runner): both consoles afresh, as at the start
    return _state["out"] if "out" in _state else _console("out")


def err() -> Console:
    if "err" in _state and _state["err"].file is not sys.stderr:
        configure()
    return _state["err"] if "err" in _state else _console("err")


def _stderr_is_terminal() -> bool:
    # The real stream, not only rich's guess: FORCE_COLOR (set in some CI jobs for coloured
    # logs) makes rich treat a log file as a terminal, and a spinner has no place in a log.
    try:
        return sys.stderr is not None and sys.stderr.isatty() and err().is_terminal
    except ValueError:  # a closed stream
        return False


@contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A callable that shows a label ("reading ldap") as the one line of progress, replaced by
    the next label and erased when the block ends; on anything but a terminal it does nothing."""
    if not _stderr_is_terminal():
        yield lambda _label: None
        return
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

    spinner = Spinner("dots", text="")
    # No redirection of sys.stdout/sys.stderr: err() and write_raw() keep the real streams,
    # and what the err console prints meanwhile appears above the line.
    with Live(spinner, console=err(), transient=True, refresh_per_second=8, redirect_stdout=False,
              redirect_stderr=False) as live:
        def show(label: str) -> None:
            spinner.update(text=Text(f"{label} ..."))
            live.refresh()

        yield show


def write_raw(text: str) -> None:
    """Machine-readable output (JSON, shell exports): bypasses rich entirely."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def confirm(question: str, expected: str, *, refusal: str, outcome: str, hint: str,
            expected_name: str | None = None) -> None:
    """Ask on the terminal; raise ApprovalRequired unless the answer is exactly ``expected``.

    The error reads "<refusal>: <why>. <outcome>" ("Apply cancelled: the answer was not
    'yes'. Nothing was changed."); ``hint`` says how to answer without a terminal ("pass
    --auto-approve in CI"). A closed standard input (a CI job) is no answer.
    """
    out().print(f"{question}\n  Only '{expected}' will be accepted to approve.\n", style="bold", markup=False)
    out().print("  Enter a value: ", end="", markup=False)
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if answer.strip() != expected:
        if not answer:
            detail = f"no answer on standard input ({hint})"
        else:
            detail = f"the answer was not {expected_name or repr(expected)}"
        raise ApprovalRequired(f"{refusal}: {detail}. {outcome}")
