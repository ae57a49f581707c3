"""Write a domain's ``dns:`` section in place, keeping everything else of the file as it was.

The round-trip editing is provisioning's (``contract.round_trip``: comments, key order and
layout outside ``dns:`` kept); ``carry_tail_comment`` keeps the full-line comments that
followed a replaced section with what comes after it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from ispctl.reconciler.contract import IspctlError, carry_tail_comment, round_trip


def write_section(path: Path, display_name: str, section: CommentedMap) -> str | None:
    """Put ``section`` as ``dns:`` into the domain file; returns the previous text (None: new)."""
    yaml = round_trip()
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    if previous is not None:
        data = yaml.load(previous)
        if not isinstance(data, CommentedMap):
            raise IspctlError(f"{path} is not a mapping")
        if "dns" in data:
            carry_tail_comment(data["dns"], section)
        data["dns"] = section
    else:
        data = CommentedMap([("domain", display_name), ("dns", section)])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    os.replace(tmp, path)
    return previous
