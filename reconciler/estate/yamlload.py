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

Parsing uses libyaml through ruamel.yaml.clib when it is installed (about five times
faster than the pure-Python round-trip parser, which dominated validating a large estate)
and only *composes* the document: the plain data and the positions are built here, from the
node graph, with ruamel's own rules for scalars. Nothing comment-preserving is needed for
reading; the provisioning commands that edit YAML use the round-trip loader themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ispctl.reconciler.engine.errors import Location, Problem

FieldPath = tuple[str | int, ...]
# Far above any real file (10,000 mailboxes are ~100,000 nodes) yet small enough that
# converting a document just under the bound stays quick.
MAX_NODES = 1_000_000
# Real files nest six or seven levels; anything this deep is a mistake or an attack.
MAX_DEPTH = 64
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
        raise _GraphProblem(node, f"YAML anchors/aliases expand to more than {MAX_NODES:,} values (a 'billion laughs' "
                                  "document?)")
    return total


try:  # libyaml's parser, if ruamel.yaml.clib is installed; the pure-Python one otherwise
    YAML(typ="safe", pure=False).compose("a: 1")
    _PURE = False
except Exception:
    _PURE = True

_MERGE = _CORE + "merge"
_PLAIN_SCALARS = frozenset(_CORE + t for t in ("int", "float", "bool", "null"))


class _TooDeep(Exception):
    pass


class _Builder:
    """Plain data and field positions from a composed (and already checked) node graph."""

    def __init__(self, scalars: SafeConstructor) -> None:
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.nodes = 0
        # ruamel's own reading of ints, floats, booleans and nulls (YAML 1.2).
        self.scalars = scalars

    def build(self, node: Node, path: FieldPath, record: bool = True) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge()
        if len(path) > MAX_DEPTH:
            raise _TooDeep()
        if isinstance(node, MappingNode):
            return self._mapping(node, path, record)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                if record:
                    self.positions.setdefault(path + (index,), (item.start_mark.line + 1, item.start_mark.column + 1))
                items.append(self.build(item, path + (index,), record))
            return items
        if node.tag in _PLAIN_SCALARS:
            return self.scalars.construct_object(node, deep=True)
        return str(node.value)  # str, and timestamps kept as the text that was written

    def _key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise _GraphProblem(node, "a mapping key must be a plain value, not a list or mapping")
        value = self.build(node, ())
        return value if isinstance(value, str) else str(value)

    def _mapping(self, node: MappingNode, path: FieldPath, record: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            key = self._key(key_node)
            if key in out:
                # The value is not quoted in the message: it may be a secret.
                raise _GraphProblem(key_node, f'YAML syntax: duplicate key "{key}" (each key may appear once)')
            if record:
                self.positions.setdefault(path + (key,), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            out[key] = self.build(value_node, path + (key,), record)
        # Merge keys ("<<: *defaults"): explicit keys win, then earlier sources over later
        # ones. Merged keys have no position of their own (errors point at the mapping).
        for source in merged:
            if not isinstance(source, MappingNode):
                raise _GraphProblem(source, "'<<' must merge a mapping (or a list of mappings)")
            for key, value in self._mapping(source, path, record=False).items():
                out.setdefault(key, value)
        return out


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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(Location(display), "", f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, [Problem(Location(display), "", f"cannot read file: {exc.strerror}")]
    return load_text(text, display)


def load_text(text: str, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse YAML text (a file's, or one read from git history) with the same safety rules."""
    yaml = YAML(typ="safe", pure=_PURE)
    builder = _Builder(yaml.constructor)
    try:
        try:
            root = yaml.compose(text)
        except MarkedYAMLError:
            if _PURE:
                raise
            # libyaml parses YAML 1.1 and refuses some valid YAML 1.2 (a plain scalar with
            # ':' in a flow list, as in [2001:db8::53]); the pure-Python parser decides.
            yaml = YAML(typ="safe", pure=True)
            builder = _Builder(yaml.constructor)
            root = yaml.compose(text)
        if root is None:
            return Document(display, None, {(): (1, 1)}), []
        _measure(root, {}, set())
        data = builder.build(root, ())
    except _GraphProblem as exc:
        mark = exc.node.start_mark
        return None, [Problem(Location(display, mark.line + 1, mark.column + 1), "", exc.message)]
    except MarkedYAMLError as exc:
        return None, [_mark_problem(display, exc)]
    except YAMLError as exc:
        return None, [Problem(Location(display), "", f"YAML syntax: {type(exc).__name__}")]
    except (_TooDeep, RecursionError):
        return None, [Problem(Location(display), "", "YAML is nested too deeply")]
    except _TooLarge:
        return None, [Problem(Location(display, 1, 1), "", "YAML is too large or nested too deeply")]
    builder.positions.setdefault((), (1, 1))
    return Document(display, data, builder.positions), []
