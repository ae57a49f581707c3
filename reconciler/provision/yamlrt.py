"""Round-trip YAML for edits: what a file did not change keeps its bytes.

ruamel's round-trip mode keeps comments, key order, quoting and layout; the settings here
are the estate's conventions (two-space mappings, sequences indented under their key, no
folding of long values such as DKIM keys). ``carry_tail_comment`` keeps the full-line
comments that followed a replaced section with what comes after it, where ruamel would
otherwise drop them with the section's last value.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long value (a DKIM key) over lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_text(text: str) -> Any:
    return round_trip().load(text)


def dump_text(data: Any) -> str:
    buffer = io.StringIO()
    round_trip().dump(data, buffer)
    return buffer.getvalue()


def _last_leaf(node: Any) -> tuple[Any, Any]:
    """The container and key of the last scalar in a section (ruamel hangs the comments
    that follow a section on it)."""
    parent, key = None, None
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        parent = node
        key = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        node = node[key]
    return parent, key


def tail_comment(node: Any) -> str | None:
    """The full-line comments after ``node`` (ruamel keeps them on its last value), if any."""
    parent, key = _last_leaf(node)
    if parent is None:
        return None
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.get(key)
    token = entry[slot] if entry and len(entry) > slot else None
    if token is None or "\n" not in token.value:
        return None
    rest: str = token.value.split("\n", 1)[1]
    return rest if rest.strip() else None


def set_tail_comment(node: Any, rest: str) -> bool:
    """Hang full-line comments after ``node``'s last value; False when it has no value to carry them."""
    target, key = _last_leaf(node)
    if target is None:
        return False
    comment = CommentToken("\n" + rest, CommentMark(0))
    if isinstance(target, CommentedMap):
        old = target.ca.items.get(key)
        token = old[2] if old and len(old) > 2 else None
        if token is not None and token.value.split("\n", 1)[0].strip():
            # an end-of-line comment of that value stays where it was (its column too);
            # the full-line comments follow it
            token.value = token.value.split("\n", 1)[0] + "\n" + rest
        else:
            target.ca.items[key] = [None, None, comment, None]
    else:
        target.ca.items[key] = [comment, None]
    return True


def carry_tail_comment(old: Any, new: Any) -> None:
    """Keep the full-line comments that followed the replaced section ``old`` (they belong to
    whatever comes after it), not the end-of-line comment of its last value."""
    rest = tail_comment(old)
    if rest is not None:
        set_tail_comment(new, rest)
