"""Load YAML with positions, safely.

ruamel.yaml's round-trip loader keeps the line and column of every key and item; we
convert its output to plain Python data and keep a map from field path to position so
that validation errors found later (by pydantic or by cross-file rules) can name the
exact place. Duplicate keys are errors. Anchors and aliases are allowed (operators use
them for shared settings) but their expansion is bounded, so a "billion laughs"
document fails cleanly instead of exhausting memory.

Before anything is constructed, the parsed node graph is walked once with memoised
sizes: that finds recursive aliases and over-large expansions in time proportional to
the text, not to the expansion, and rejects explicit tags (``!!python/...``,
``!!binary``, ``!custom``) that no ispctl file uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from .errors import Location, Problem

FieldPath = tuple[str | int, ...]
# Far above any real file (10,000 mailboxes are ~100,000 nodes) yet small enough that
# converting a document just under the bound stays quick.
MAX_NODES = 1_000_000
_CORE = "tag:yaml.org,2002:"
# Implicit tags the resolver gives plain YAML; "timestamp" because an unquoted date in a
# description is read as one (it is turned back into its text).
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge", "timestamp"))


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            plain = re.fullmatch(r"[A-Za-z0-9_-]+", text) is not None
            out += (("." if out else "") + text) if plain else f"[{text!r}]"
    return out


@dataclass
class Document:
    """A loaded YAML file: plain data plus the position of every field path."""

    file: str
    data: Any
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: FieldPath) -> Location:
        """The closest known position for ``path`` (walking up to its parents)."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                line, col = self.positions[probe]
                return Location(self.file, line, col)
            probe = probe[:-1]
        line, col = self.positions.get((), (1, 1))
        return Location(self.file, line, col)

    def problem(self, path: FieldPath, message: str) -> Problem:
        return Problem(self.location(path), format_path(path), message)


class _TooLarge(Exception):
    pass


class _GraphProblem(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _measure(node: Node, sizes: dict[int, int], active: set[int]) -> int:
    """Expanded size of ``node`` (aliases counted at every use), memoised per node."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _GraphProblem(node, "an alias refers to the anchor that contains it (recursive alias)")
    tag = str(node.tag)
    if tag not in ALLOWED_TAGS:
        raise _GraphProblem(node, f"YAML tag {tag.replace(_CORE, '!!')} is not supported in ispctl files (remove it)")
    active.add(key)
    total = 1
    if isinstance(node, MappingNode):
        for k, v in node.value:
            total += _measure(k, sizes, active) + _measure(v, sizes, active)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            total += _measure(item, sizes, active)
    active.discard(key)
    sizes[key] = total
    if total > MAX_NODES:
        raise _GraphProblem(node, f"YAML anchors/aliases expand to more than {MAX_NODES:,} values (a 'billion laughs' document?)")
    return total


class _CheckedConstructor(RoundTripConstructor):
    """Checks the composed node graph before building any Python object from it.

    Hooked in as the loader's constructor so the text is parsed once: composing is
    most of the cost of loading, and large estates have thousands of files.
    """

    def construct_document(self, node: Any) -> Any:
        _measure(node, {}, set())
        return super().construct_document(node)


class _Converter:
    def __init__(self) -> None:
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.nodes = 0

    def convert(self, node: Any, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge()
        if isinstance(node, (CommentedMap, CommentedSeq)):
            return self._container(node, path)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return str(node)

    def _container(self, node: CommentedMap | CommentedSeq, path: FieldPath) -> Any:
        if isinstance(node, CommentedMap):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                skey = key if isinstance(key, str) else str(key)
                sub = path + (skey,)
                try:
                    line, col = node.lc.key(key)
                    self.positions.setdefault(sub, (line + 1, col + 1))
                except (KeyError, TypeError):
                    pass  # merged keys ("<<") have no position of their own
                out[skey] = self.convert(value, sub)
            return out
        items = []
        for index, value in enumerate(node):
            sub = path + (index,)
            try:
                line, col = node.lc.item(index)
                self.positions.setdefault(sub, (line + 1, col + 1))
            except (KeyError, TypeError, IndexError):
                pass
            items.append(self.convert(value, sub))
        return items


def _mark_problem(file: str, exc: MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    text = exc.problem or exc.context or "invalid YAML"
    if exc.context and text.startswith("but "):
        # e.g. "expected a single document in the stream, but found another document"
        text = f"{exc.context}, {text}"
    found = re.match(r'found duplicate key "(.*)" with value', text)
    if found:
        # ruamel's message quotes the duplicated value, which may be a secret.
        text = f'duplicate key "{found.group(1)}" (each key may appear once)'
    elif text.startswith("found undefined alias"):
        # The "alias name" is usually an unquoted value starting with '*', e.g. a password.
        text = "a value starting with '*' is read as an alias to an anchor that does not exist; quote the value"
    return Problem(Location(file, line, col), "", f"YAML syntax: {text}")


def load_document(path: Path, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML file. Returns the document or the problems that prevented it."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _CheckedConstructor
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(Location(display), "", f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, [Problem(Location(display), "", f"cannot read file: {exc.strerror}")]
    try:
        raw = yaml.load(text)
    except _GraphProblem as exc:
        mark = exc.node.start_mark
        return None, [Problem(Location(display, mark.line + 1, mark.column + 1), "", exc.message)]
    except MarkedYAMLError as exc:
        return None, [_mark_problem(display, exc)]
    except YAMLError as exc:
        return None, [Problem(Location(display), "", f"YAML syntax: {type(exc).__name__}")]
    except RecursionError:
        return None, [Problem(Location(display), "", "YAML is nested too deeply")]
    converter = _Converter()
    try:
        data = converter.convert(raw, ())
    except (_TooLarge, RecursionError):
        return None, [Problem(Location(display, 1, 1), "", "YAML is too large or nested too deeply")]
    converter.positions.setdefault((), (1, 1))
    return Document(display, data, converter.positions), []
