"""Build plain data and field positions from YAML parser events, within fixed limits.

``ispctl.reconciler.estate.yamlload`` reads the file and runs the parser; this module turns
its events into data in one pass without recursion, so every limit is checked as the
events arrive, before anything large exists: nesting depth, the number of values, and the
expansion of anchors/aliases (an alias counts the whole anchored value at every use, so a
"billion laughs" document fails in time proportional to its text). It also holds the rules
that make a file mean what it says: no explicit tags (and their text is never repeated),
keys always as written, values by the YAML 1.2 core schema with finite numbers only,
duplicate keys refused, anchors on single values only when an alias uses them.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

FieldPath = tuple[str | int, ...]

# Values per file, anchors/aliases counted at every use: about 100,000 mailboxes.
MAX_NODES = 1_000_000
# Real files nest six or seven levels; anything this deep is a mistake or an attack.
MAX_DEPTH = 64
# A number literal longer than this is no quota, port or count (and converting very long
# digit strings costs quadratic time).
MAX_NUMBER_CHARS = 64
# A column fits in 32 bits: a file is at most 32 MiB (yamlload.MAX_FILE_BYTES).
_SHIFT = 32
_COLUMN = (1 << _SHIFT) - 1
TAG_MESSAGE = ("a YAML tag (text starting with '!') is not allowed here; quote the value if it starts with '!' "
               "(the text is not shown: it may be a password)")
# YAML 1.2 core schema (spec 10.3.2); anything else plain is a string.
_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NUMBER_START = frozenset("-+.0123456789")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")


def _pack(line: int, column: int) -> int:
    return line << _SHIFT | column


class Positions(Mapping[FieldPath, tuple[int, int]]):
    """Field path -> (line, column), each pair held as one number.

    A file holds a position per key and list item, so an estate of 100,000 mailboxes holds
    over a million: one int instead of a tuple of two ints is a third of the memory.
    """

    __slots__ = ("packed",)

    def __init__(self, packed: dict[FieldPath, int] | None = None) -> None:
        self.packed = {} if packed is None else packed

    def __getitem__(self, path: FieldPath) -> tuple[int, int]:
        found = self.packed[path]
        return found >> _SHIFT, found & _COLUMN

    def get(self, path: FieldPath, default: Any = None) -> Any:
        found = self.packed.get(path)
        return default if found is None else (found >> _SHIFT, found & _COLUMN)

    def __contains__(self, path: object) -> bool:
        return path in self.packed

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self.packed)

    def __len__(self) -> int:
        return len(self.packed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Positions):
            return self.packed == other.packed
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Positions({dict(self.items())!r})"


class Refused(Exception):
    """A rule of this module was broken at a known place (1-based line and column)."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 0
        self.column = mark.column + 1 if mark is not None else 0
        self.message = message


@dataclass
class _Anchor:
    value: Any
    text: str | None  # the source text, for a scalar (an alias used as a key)
    size: int
    height: int
    path: FieldPath
    entries: tuple[int, int]  # its span in _Builder.entries, replayed at every use


@dataclass
class _Frame:
    """An open mapping or sequence."""

    path: FieldPath
    record: bool
    data: Any
    mark: Any
    anchor: str | None
    nodes_before: int
    entries_before: int
    height: int = 0
    key: str | None = None
    key_mark: Any = None
    merging: bool = False
    merges: list[tuple[Any, Any]] = field(default_factory=list)


def _plain(text: str, mark: Any) -> Any:
    """A plain (unquoted) scalar value, as the YAML 1.2 core schema reads it."""
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if not text or text[0] not in _NUMBER_START:
        return text
    if _NOT_FINITE.fullmatch(text):
        raise Refused(mark, "numbers must be finite (.inf and .nan are not accepted); quote the value to mean text")
    is_int, is_float = _INT.fullmatch(text) is not None, _FLOAT.fullmatch(text) is not None
    if (is_int or is_float) and len(text) > MAX_NUMBER_CHARS:
        raise Refused(mark, f"a number longer than {MAX_NUMBER_CHARS} characters is not accepted; quote the value to "
                             "mean text")
    if is_int:
        return int(text[2:], 8 if text[1] == "o" else 16) if text[:2] in ("0o", "0x") else int(text)
    if is_float:
        number = float(text)
        if not math.isfinite(number):
            raise Refused(mark, "numbers must be finite (this one is beyond the range of a number); quote the value "
                                 "to mean text")
        return number
    return text


class Builder:
    """Plain data and field positions from a stream of parser events, within the limits."""

    def __init__(self) -> None:
        # (path, is_value, line, column) in document order: an anchor's span is replayed
        # under the path of every alias to it, so errors inside shared settings find a line.
        self.entries: list[tuple[FieldPath, bool, int, int]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.expanded = False
        self.documents = 0
        self.root: Any = None
        # Anchors on single values that no alias used yet: "password: &Sup3r x" reads as the
        # value "x" with an anchor named "Sup3r", which is never what was meant.
        self.unused: dict[str, Any] = {}

    def count(self, size: int, mark: Any) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            if self.expanded:
                raise Refused(mark, f"YAML anchors/aliases expand to more than {MAX_NODES:,} values (a 'billion "
                                     "laughs' document?)")
            raise Refused(mark, f"the file holds more than {MAX_NODES:,} values; split it up")

    def feed(self, events: Iterable[Any]) -> Any:
        # Dispatch on the exact event class (the parsers make no subclasses of their own);
        # anything else goes through the isinstance checks below.
        handlers: dict[type, Callable[[Any], None]] = {
            ScalarEvent: self.scalar, MappingStartEvent: self.start, SequenceStartEvent: self.start,
            AliasEvent: self.alias, MappingEndEvent: self.end, SequenceEndEvent: self.end}
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif isinstance(event, ScalarEvent):
                self.scalar(event)
            elif isinstance(event, CollectionStartEvent):
                self.start(event)
            elif isinstance(event, AliasEvent):
                self.alias(event)
            elif isinstance(event, DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise Refused(event.start_mark, "a file holds one YAML document; found a second one ('---')")
                if event.version not in (None, (1, 2)):
                    raise Refused(event.start_mark, "only YAML 1.2 is read; remove the %YAML directive")
            elif isinstance(event, CollectionEndEvent):
                self.end()
        if self.unused:
            raise Refused(min(self.unused.values(), key=lambda m: (m.line, m.column)),
                           "a value starting with '&' is read as an anchor name followed by the value; quote the value "
                           "(an anchor on a single value is only allowed when an alias (*name) uses it)")
        return self.root

    # -- positions -----------------------------------------------------------------------

    def record(self, path: FieldPath, mark: Any, is_value: bool = False) -> None:
        self.entries.append((path, is_value, mark.line + 1, mark.column + 1))

    def positions(self) -> tuple[Positions, Positions]:
        keys: dict[FieldPath, int] = {(): _pack(1, 1)}
        values: dict[FieldPath, int] = {}
        for path, is_value, line, col in self.entries:
            (values if is_value else keys).setdefault(path, _pack(line, col))
        return Positions(keys), Positions(values)

    # -- where a new value goes ------------------------------------------------------------

    def key_slot(self, event: Any) -> bool:
        """True when ``event`` is a mapping key (then it has been taken as one)."""
        frame = self.stack[-1] if self.stack else None
        if frame is None or not isinstance(frame.data, dict) or frame.key is not None or frame.merging:
            return False
        if not isinstance(event, ScalarEvent):
            if isinstance(event, AliasEvent):
                anchor = self.anchors.get(event.anchor)
                if anchor is not None and anchor.text is not None:
                    self.take_key(frame, anchor.text, event.start_mark)
                    return True
            raise Refused(event.start_mark, "a mapping key must be plain text, not a list or mapping")
        if event.tag is not None:
            raise Refused(event.start_mark, TAG_MESSAGE)
        if event.value == "<<" and event.implicit[0]:
            frame.merging, frame.key_mark = True, event.start_mark
            return True
        self.take_key(frame, event.value, event.start_mark)
        return True

    def take_key(self, frame: _Frame, key: str, mark: Any) -> None:
        # Every mailbox repeats the same few keys (name, password, quota...): one string each,
        # shared by the data, the field paths and the models' dicts, instead of one per use.
        key = sys.intern(key)
        self.count(1, mark)
        if key in frame.data:
            # The value is not quoted in the message: it may be a secret.
            raise Refused(mark, f"YAML syntax: duplicate key {_shown(key)} (each key may appear once)")
        frame.key, frame.key_mark = key, mark
        if frame.record:
            self.record(frame.path + (key,), mark)

    def place(self, value: Any, mark: Any, is_scalar: bool) -> FieldPath | None:
        """Put a finished value in its parent; returns its path (None: at the root or merged)."""
        if not self.stack:
            self.root = value
            return ()
        frame = self.stack[-1]
        if frame.merging:
            frame.merges.append((value, frame.key_mark))
            frame.merging = False
            return None
        if isinstance(frame.data, dict):
            key, frame.key = frame.key, None
            assert key is not None
            frame.data[key] = value
            path = frame.path + (key,)
            if frame.record and is_scalar and mark.line != frame.key_mark.line:
                self.record(path, mark, is_value=True)
            return path
        frame.data.append(value)
        return frame.path + (len(frame.data) - 1,)

    def child_path(self, mark: Any) -> tuple[FieldPath, bool]:
        """Path and recording flag of a value about to start (positions of list items now)."""
        if not self.stack:
            return (), True
        frame = self.stack[-1]
        if frame.merging:
            return frame.path, False
        if isinstance(frame.data, dict):
            assert frame.key is not None
            return frame.path + (frame.key,), frame.record
        path = frame.path + (len(frame.data),)
        if frame.record:
            self.record(path, mark)
        return path, frame.record

    # -- events ----------------------------------------------------------------------------

    def scalar(self, event: Any) -> None:
        if event.tag is not None:
            raise Refused(event.start_mark, TAG_MESSAGE)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and not frame.merging and event.anchor is None:
            # The common cases, inlined (a scalar is most of a file's events): a key, or a value
            # in a mapping or list; what they do is what key_slot/child_path/place do below.
            data = frame.data
            if type(data) is dict:
                key = frame.key
                if key is None:
                    if event.value == "<<" and event.implicit[0]:
                        frame.merging, frame.key_mark = True, event.start_mark
                    else:
                        self.take_key(frame, event.value, event.start_mark)
                    return
                self.count(1, event.start_mark)
                mark = event.start_mark
                data[key] = _plain(event.value, mark) if event.implicit[0] else event.value
                frame.key = None
                if frame.record and mark.line != frame.key_mark.line:
                    self.entries.append((frame.path + (key,), True, mark.line + 1, mark.column + 1))
                return
            self.count(1, event.start_mark)
            if frame.record:
                self.record(frame.path + (len(data),), event.start_mark)
            data.append(_plain(event.value, event.start_mark) if event.implicit[0] else event.value)
            return
        value: Any = event.value
        if not self.key_slot(event):
            self.count(1, event.start_mark)
            self.child_path(event.start_mark)
            value = _plain(event.value, event.start_mark) if event.implicit[0] else event.value
            self.place(value, event.start_mark, True)
            self.note_height(0)
        if event.anchor is not None:
            start = len(self.entries)
            self.anchors[event.anchor] = _Anchor(value, event.value, 1, 0, (), (start, start))
            self.unused[event.anchor] = event.start_mark

    def start(self, event: Any) -> None:
        if self.key_slot(event):
            return
        if event.tag is not None:
            raise Refused(event.start_mark, TAG_MESSAGE)
        if len(self.stack) >= MAX_DEPTH:
            raise Refused(event.start_mark, f"YAML is nested more than {MAX_DEPTH} levels deep")
        self.count(1, event.start_mark)
        if event.anchor is not None:
            self.anchors.pop(event.anchor, None)  # an alias inside refers to this one: recursive
        path, record = self.child_path(event.start_mark)
        data: Any = {} if isinstance(event, MappingStartEvent) else []
        self.stack.append(_Frame(path, record, data, event.start_mark, event.anchor, self.nodes - 1,
                                 len(self.entries)))

    def end(self, _event: Any = None) -> None:
        frame = self.stack.pop()
        for source, mark in frame.merges:
            # "<<: *defaults" or a list of them: explicit keys win, then earlier sources.
            for item in source if isinstance(source, list) else [source]:
                if not isinstance(item, dict):
                    raise Refused(mark, "'<<' must merge a mapping (or a list of mappings)")
                for key, value in item.items():
                    frame.data.setdefault(key, value)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchor(frame.data, None, self.nodes - frame.nodes_before, frame.height + 1,
                                                 frame.path, (frame.entries_before, len(self.entries)))
        self.place(frame.data, frame.mark, False)
        self.note_height(frame.height + 1)

    def note_height(self, height: int) -> None:
        if self.stack:  # merged values count as children too (one level too many: harmless)
            self.stack[-1].height = max(self.stack[-1].height, height)

    def alias(self, event: Any) -> None:
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            if any(f.anchor == event.anchor for f in self.stack):
                raise Refused(event.start_mark, "an alias refers to the anchor that contains it (recursive alias)")
            raise Refused(event.start_mark, "a value starting with '*' is read as an alias to an anchor that does not "
                                             "exist; quote the value")
        self.unused.pop(event.anchor, None)
        if self.key_slot(event):
            return
        if len(self.stack) + anchor.height > MAX_DEPTH:
            raise Refused(event.start_mark, f"YAML anchors/aliases nest more than {MAX_DEPTH} levels deep")
        if anchor.size > 1:
            self.expanded = True
        self.count(anchor.size, event.start_mark)
        path, record = self.child_path(event.start_mark)
        self.place(anchor.value, event.start_mark, False)
        if record and anchor.height:
            start, stop = anchor.entries
            cut = len(anchor.path)
            for index in range(start, stop):
                old, is_value, line, col = self.entries[index]
                self.entries.append((path + old[cut:], is_value, line, col))
        self.note_height(anchor.height)


def _shown(text: str) -> str:
    """A key for a message: quoted, with line breaks and controls escaped."""
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
