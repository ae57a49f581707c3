"""All terminal output goes through here: one stdout console, one stderr console.

Colour is used only on a terminal (rich decides; ``NO_COLOR`` and ``--no-color``
turn it off), so CI logs and files stay plain text.

``annotate`` also states a problem as a GitHub Actions workflow command (``::error
file=...,line=...,col=...::message``) when ``--errors github`` asked for it: the runner
turns those into annotations on the pull request's files. They go to stderr (the runner
reads both streams), so stdout stays the plan or JSON a workflow captures.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

from ispctl.reconciler.engine.errors import ApprovalRequired

_state: dict[str, Console] = {}
_annotations: dict[str, bool] = {"github": False}


def configure(no_color: bool = False) -> None:
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    _state["out"] = Console(file=sys.stdout, no_color=plain, highlight=False, soft_wrap=True)
    _state["err"] = Console(file=sys.stderr, no_color=plain, highlight=False, soft_wrap=True)


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
    if "out" not in _state or _state["out"].file is not sys.stdout:
        configure()
    return _state["out"]


def err() -> Console:
    if "err" not in _state or _state["err"].file is not sys.stderr:
        configure()
    return _state["err"]


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
