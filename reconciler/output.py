"""All terminal output goes through here: one stdout console, one stderr console.

Colour is used only on a terminal (rich decides; ``NO_COLOR`` and ``--no-color``
turn it off), so CI logs and files stay plain text.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

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
