"""Load YAML with positions, safely.

ruamel.yaml's round-trip loader keeps the line and column of every key and item; we
convert its output to plain Python data and keep a map from field path to position so
that validation errors found later (by pydantic or by cross-file rules) can name the
exact place. Duplicate keys are errors. Anchors and aliases are allowed (operators use
them for shared settings) but their expansion is bounded, so a "billion laughs"
document fails cleanly instead of exhausting memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import Location, Problem

FieldPath = tuple[str | int, ...]
MAX_NODES = 2_000_000


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


class _Converter:
    def __init__(self) -> None:
        self.positions: dict[FieldPath, tuple[int, int]] = {}
        self.nodes = 0
        self.active: set[int] = set()

    def convert(self, node: Any, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge()
        if isinstance(node, (CommentedMap, CommentedSeq)):
            if id(node) in self.active:
                raise _TooLarge()  # a recursive alias
            self.active.add(id(node))
            try:
                return self._container(node, path)
            finally:
                self.active.discard(id(node))
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
    found = re.match(r'found duplicate key "(.*)" with value', text)
    if found:
        # ruamel's message quotes the duplicated value, which may be a secret.
        text = f'duplicate key "{found.group(1)}" (each key may appear once)'
    return Problem(Location(file, line, col), "", f"YAML syntax: {text}")


def load_document(path: Path, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML file. Returns the document or the problems that prevented it."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(Location(display), "", f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, [Problem(Location(display), "", f"cannot read file: {exc.strerror}")]
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        return None, [_mark_problem(display, exc)]
    except YAMLError as exc:
        return None, [Problem(Location(display), "", f"YAML syntax: {type(exc).__name__}")]
    converter = _Converter()
    try:
        data = converter.convert(raw, ())
    except _TooLarge:
        return None, [Problem(Location(display, 1, 1), "", "YAML anchors/aliases expand too far (or refer to themselves)")]
    converter.positions.setdefault((), (1, 1))
    return Document(display, data, converter.positions), []
