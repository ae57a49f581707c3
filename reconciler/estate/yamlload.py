"""Load YAML with positions, safely: every name as written, every limit before allocation.

A file's size is checked before it is read and its characters before it is parsed (no NUL,
C0/C1 control or line-separator character: each is reported with its line and column, as an
invalid UTF-8 byte is). The parser (libyaml through ruamel.yaml.clib when installed, about
five times faster than ruamel's pure-Python parser, which decides when libyaml refuses
valid YAML 1.2) only produces events; ``ispctl.reconciler.estate.yamlevents`` builds the
plain data and the position of every key, list item and value from them, with the limits
on nesting, values and anchor/alias expansion checked as the events arrive.

Validation errors found later (by pydantic or by cross-file rules) name the exact place
through ``Document.location``. Parser messages are reworded so that they never quote the
input (a malformed value may be a pasted password). Nothing comment-preserving is needed
for reading; the provisioning commands that edit YAML use ruamel's round-trip loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import StreamEndEvent

from ispctl.reconciler.engine.errors import Location, Problem
from ispctl.reconciler.estate.yamlevents import (
    MAX_DEPTH,
    MAX_NODES,
    TAG_MESSAGE,
    Builder,
    FieldPath,
    Positions,
    Refused,
)

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "Document", "FieldPath", "format_path", "load_bytes",
           "load_document", "load_text", "read_file"]

# A domain cannot be split over files, so one file holds a whole domain: 32 MiB is about
# 120,000 mailboxes with their hashes. Larger files are refused before they are read.
MAX_FILE_BYTES = 32 * 1024 * 1024
# What YAML 1.2 does not allow in a document, plus U+2028/U+2029 (libyaml counts them as
# line breaks, so every later line number would be off) and a byte order mark other than
# the first character. Tabs, line feeds and carriage returns are the only controls allowed.
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


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
    """A loaded YAML file: plain data plus the position of every field path.

    ``positions`` holds where each key and list item starts; ``value_positions`` where a
    scalar value starts when that is on a later line than its key (a value on the next
    line, a block scalar), so that a problem about the value names the value's own line.
    """

    file: str
    data: Any
    positions: Positions = field(default_factory=Positions)
    value_positions: Positions = field(default_factory=Positions)

    def known(self, path: FieldPath) -> FieldPath:
        """The longest prefix of ``path`` that was written in the file.

        A field the models fill in from a short form (``info: [a, b]`` for ``info: {to: [a,
        b]}``) is skipped when the list item after it was written, so that item's own line
        is found rather than the line of the key above it.
        """
        current: FieldPath = ()
        index = 0
        while index < len(path):
            step = current + (path[index],)
            if step in self.positions:
                current, index = step, index + 1
                continue
            following = path[index + 1] if index + 1 < len(path) else None
            if isinstance(path[index], str) and isinstance(following, int) and current + (following,) in self.positions:
                index += 1
                continue
            break
        return current

    def location(self, path: FieldPath, key: bool = False) -> Location:
        """The closest known position for ``path``; the value's line unless ``key``."""
        probe = self.known(tuple(path))
        found = None if key else self.value_positions.get(probe)
        if found is None:
            found = self.positions.get(probe) if probe else None
        line, col = found or self.positions.get((), (1, 1))
        return Location(self.file, line, col)

    def problem(self, path: FieldPath, message: str, key: bool = False) -> Problem:
        return Problem(self.location(path, key), format_path(path), message)


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


# A quoted fragment of a parser message is kept only when it cannot be the input: a token
# name ('<block end>'), one YAML indicator or an escaped whitespace character.
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_SAFE_FRAGMENT = re.compile(r"<[a-z ]+>|[][{},:?#&*!|>'\"%@`-]| |\\[nrt]|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}")


def _safe_fragment(match: re.Match[str]) -> str:
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    return match.group(0) if _SAFE_FRAGMENT.fullmatch(inner) else "something else"


def _parser_problem(file: str, exc: MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    text = str(exc.problem or exc.context or "invalid YAML")
    if exc.context and text.startswith("but "):
        text = f"{exc.context}, {text}"
    lowered = text.lower()
    if "tag" in lowered or "uri" in lowered or (exc.context and "tag" in str(exc.context)):
        return Problem(Location(file, line, col), "", TAG_MESSAGE)
    if "alias" in lowered:
        text = "a value starting with '*' is read as an alias to an anchor that does not exist; quote the value"
    elif "anchor" in lowered:
        text = "a value starting with '&' is read as an anchor; quote the value"
    else:
        text = _QUOTED.sub(_safe_fragment, text)
    return Problem(Location(file, line, col), "", f"YAML syntax: {text}")


def load_document(path: Path, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML file. Returns the document or the problems that prevented it."""
    raw, problems = read_file(path, display)
    return (None, problems) if raw is None else load_bytes(raw, display)


def read_file(path: Path, display: str) -> tuple[bytes | None, list[Problem]]:
    """A file's bytes, within the size limit (checked before reading); or why it cannot be read."""
    limit = f"ispctl reads YAML files of up to {MAX_FILE_BYTES // 1024 // 1024} MiB"
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(Location(display), "", f"file is {size / 1024 / 1024:.1f} MiB; {limit}")]
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # a file that grew since stat() is still bounded
    except OSError as exc:
        return None, [Problem(Location(display), "", f"cannot read file: {exc.strerror}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(Location(display), "", f"file is larger than {limit.split('up to ')[1]}; {limit}")]
    return raw, []


def load_bytes(raw: bytes, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse a file's bytes. What comes out depends on the bytes alone, apart from ``display``
    (the name problems and the document carry), which ``estate.cache`` relies on."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start].decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        line, col = _position(prefix, len(prefix))
        return None, [Problem(Location(display, line, col), "", f"file is not valid UTF-8 (byte {exc.start} cannot be "
                                                                 "decoded); save it as UTF-8")]
    return load_text(text, display)


def load_text(text: str, display: str) -> tuple[Document | None, list[Problem]]:
    """Parse YAML text (a file's, or one read from git history) with the same safety rules."""
    if len(text) > MAX_FILE_BYTES:
        return None, [Problem(Location(display), "", f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as some Windows editors write
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        line, col = _position(text, bad.start())
        message = (f"control or invisible character U+{ord(bad.group()):04X} is not allowed in ispctl files (it "
                   "would change what a name or value means)")
        return None, [Problem(Location(display, line, col), "", message)]
    try:
        try:
            builder = Builder()
            data = builder.feed(YAML(typ="safe", pure=True).parse(text) if _PURE else _libyaml_events(text))
        except MarkedYAMLError:
            if _PURE:
                raise
            # libyaml parses YAML 1.1 and refuses some valid YAML 1.2 (a plain scalar with
            # ':' in a flow list, as in [2001:db8::53]); the pure-Python parser decides.
            builder = Builder()
            data = builder.feed(YAML(typ="safe", pure=True).parse(text))
    except Refused as exc:
        return None, [Problem(Location(display, exc.line, exc.column), "", exc.message)]
    except MarkedYAMLError as exc:
        return None, [_parser_problem(display, exc)]
    except (YAMLError, AssertionError, ValueError):
        # ruamel checks some things with assert (a %YAML 1.3 directive); the text of such an
        # error is not shown, as it may quote the input.
        return None, [Problem(Location(display), "", "YAML syntax: the file cannot be read as YAML")]
    keys, values = builder.positions()
    return Document(display, data, keys, values), []


def _libyaml_events(text: str) -> Iterator[Any]:
    """libyaml's events straight from its parser: what ``YAML(pure=False).parse`` yields, without
    building a loader (constructor, resolver, plug-in search) for every file, which cost as much
    as the parsing itself for an estate's many small files."""
    parser = _CParser(text)
    try:
        while True:
            event = parser.get_event()
            yield event
            if isinstance(event, StreamEndEvent):
                return
    finally:
        parser.dispose()


try:  # libyaml's parser, if ruamel.yaml.clib is installed; the pure-Python one otherwise
    import importlib

    # (imported by name: the C extension's class has no type information)
    _CParser: Any = importlib.import_module("ruamel.yaml.cyaml").CParser
    list(_libyaml_events("a: 1"))
    _PURE = False
except Exception:
    _PURE = True
