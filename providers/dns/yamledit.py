"""Write a domain's ``dns:`` section in place, keeping everything else of the file as it was.

ruamel's round-trip mode keeps the comments and layout outside ``dns:``; the full-line
comments that followed a replaced section stay with what comes after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from ispctl.reconciler.contract import IspctlError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long TXT value (a DKIM key) over lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _last_leaf(node: Any) -> tuple[Any, Any]:
    """The container and key of the last scalar in a section (ruamel hangs the comments
    that follow a section on it)."""
    parent, key = None, None
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        parent = node
        key = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        node = node[key]
    return parent, key


def _carry_tail_comment(old: Any, new: CommentedMap) -> None:
    """Keep the full-line comments that followed the replaced section (they belong to
    whatever comes after it), not the end-of-line comment of its last value."""
    parent, key = _last_leaf(old)
    if parent is None:
        return
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.get(key)
    token = entry[slot] if entry and len(entry) > slot else None
    if token is None or "\n" not in token.value:
        return
    rest = token.value.split("\n", 1)[1]
    if not rest.strip():
        return
    target, tkey = _last_leaf(new)
    if target is None:
        return
    comment = CommentToken("\n" + rest, CommentMark(0))
    if isinstance(target, CommentedMap):
        target.ca.items[tkey] = [None, None, comment, None]
    else:
        target.ca.items[tkey] = [comment, None]


def write_section(path: Path, display_name: str, section: CommentedMap) -> str | None:
    """Put ``section`` as ``dns:`` into the domain file; returns the previous text (None: new)."""
    yaml = _yaml()
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    if previous is not None:
        data = yaml.load(previous)
        if not isinstance(data, CommentedMap):
            raise IspctlError(f"{path} is not a mapping")
        if "dns" in data:
            _carry_tail_comment(data["dns"], section)
        data["dns"] = section
    else:
        data = CommentedMap([("domain", display_name), ("dns", section)])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    os.replace(tmp, path)
    return previous
