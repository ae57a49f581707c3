"""All terminal output goes through here: one stdout console, one stderr console.

Colour is used only on a terminal (rich decides; ``NO_COLOR`` and ``--no-color``
turn it off), so CI logs and files stay plain text.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

from ispctl.reconciler.engine.errors import ApprovalRequired

_state: dict[str, Console] = {}


def configure(no_color: bool = False) -> None:
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    _state["out"] = Console(file=sys.stdout, no_color=plain, highlight=False, soft_wrap=True)
    _state["err"] = Console(file=sys.stderr, no_color=plain, highlight=False, soft_wrap=True)


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
