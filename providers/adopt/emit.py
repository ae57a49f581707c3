"""A fast YAML emitter for what an import writes, giving exactly ruamel's round-trip output.

ruamel's round-trip dumper is pure Python and spends about a millisecond per node: at 100,000
mailboxes it was most of an import (minutes). What an import writes is a small subset of YAML:
block mappings with string keys, flow sequences of scalars, block sequences of mappings,
strings, integers and booleans, end-of-line comments and a comment at the top. For that subset
this module writes the same text ruamel writes (the writer's settings: width 120, mappings
indented by 2, sequences by 4 with the dash at 2), choosing each scalar's style as ruamel does
(plain when ruamel's resolver reads it back as the same string, else single-quoted).

Anything outside the subset or where ruamel's choice is not obvious (a string ruamel would
double-quote or fold over the line width, a comment before a key, an empty collection, a
flow mapping, None) makes ``dump`` return None, and the writer lets ruamel write that file:
the output never depends on which path wrote it (tests/test_adopt_emit.py compares both).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

WIDTH = 120
_STR = "tag:yaml.org,2002:str"
# Strings that are plain in both block and flow context whatever ruamel's analysis (no
# indicator first, none of ,[]{}:#'" inside, single spaces between words).
_SIMPLE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=$-]*(?: [A-Za-z0-9_./@+=$()-]+)*")
_RESOLVER = VersionedResolver()
_ANALYSER = Emitter(None, allow_unicode=True)  # as YAML() round-trip dumps


class Unsupported(Exception):
    """The value is outside what this emitter writes exactly as ruamel does."""


@lru_cache(maxsize=65536)
def scalar(text: str, flow: bool) -> str:
    """``text`` as ruamel writes it in block (or flow) context; Unsupported when unsure."""
    if _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR and _SIMPLE.fullmatch(text):
        return text
    try:
        analysis = _ANALYSER.analyze_scalar(text)
    except AttributeError:  # a leading ? or : needs the serializer's YAML version: ruamel decides
        raise Unsupported(text) from None
    if analysis.multiline or analysis.empty or "'" in text:
        raise Unsupported(text)
    if _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR and (
            analysis.allow_flow_plain if flow else analysis.allow_block_plain):
        return text
    if not analysis.allow_single_quoted:
        raise Unsupported(text)
    return "'" + text + "'"


def _value(value: Any, flow: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return scalar(value, flow)
    raise Unsupported(repr(value))


def _eol(mapping: Any, key: Any, line: str) -> str:
    """``line`` with the end-of-line comment of ``key`` as ruamel's emitter places it."""
    found = mapping.ca.items.get(key)
    if not found:
        return line
    if any(part is not None for i, part in enumerate(found) if i != 2) or found[2] is None:
        raise Unsupported("a comment ruamel places elsewhere")
    token = found[2]
    text: str = token.value.rstrip("\n")
    if "\n" in text:
        raise Unsupported("a comment of several lines")
    column: int = max(token.start_mark.column, len(line) + 1)
    return line + " " * (column - len(line)) + text


def _flow_seq(seq: list[Any]) -> str:
    return "[" + ", ".join(_value(item, True) for item in seq) + "]"


def _mapping(mapping: dict[Any, Any], indent: int, out: list[str], first_prefix: str | None = None) -> None:
    if not isinstance(mapping, CommentedMap) or mapping.fa.flow_style() or not mapping:
        raise Unsupported("a flow or empty mapping")
    if mapping.ca.comment is not None or mapping.ca.end:
        raise Unsupported("a comment inside a mapping")
    pad = " " * indent
    for n, (key, value) in enumerate(mapping.items()):
        lead = first_prefix if (n == 0 and first_prefix is not None) else pad
        head = f"{lead}{_value(key, False)}:"
        if isinstance(value, dict):
            out.append(_eol(mapping, key, head))
            _mapping(value, indent + 2, out)
        elif isinstance(value, list):
            seq = value if isinstance(value, CommentedSeq) else CommentedSeq(value)
            if seq.ca.items or seq.ca.comment is not None or not seq:
                raise Unsupported("a comment in a sequence, or an empty one")
            if seq.fa.flow_style():
                line = _eol(mapping, key, f"{head} {_flow_seq(seq)}")
                if len(line) > WIDTH:
                    raise Unsupported("a flow sequence ruamel would wrap")
                out.append(line)
            else:
                out.append(_eol(mapping, key, head))
                for item in seq:
                    if not isinstance(item, dict):
                        raise Unsupported("a block sequence of scalars")
                    _mapping(item, indent + 4, out, first_prefix=" " * (indent + 2) + "- ")
        else:
            line = _eol(mapping, key, f"{head} {_value(value, False)}")
            if len(line) > WIDTH and " " in str(value):
                raise Unsupported("a scalar ruamel would fold")
            out.append(line)


def dump(doc: CommentedMap) -> str | None:
    """The document as ruamel's round-trip dumper writes it, or None when it must do it itself."""
    out: list[str] = []
    try:
        top = doc.ca.comment
        if top is not None:
            if top[0] is not None or not top[1]:
                raise Unsupported("a comment ruamel places elsewhere")
            for token in top[1]:
                out.extend(token.value.rstrip("\n").split("\n"))
        saved, doc.ca.comment = doc.ca.comment, None
        try:
            _mapping(doc, 0, out)
        finally:
            doc.ca.comment = saved
    except Unsupported:
        return None
    return "\n".join(out) + "\n"
