"""A content-addressed cache of parsed YAML files: a run can only get faster, never different.

Parsing a file (``yamlload.load_bytes``) gives its plain data, the position of every field
and its parse problems, and depends on nothing but the file's bytes and the parsing code.
So an entry is found by a hash of exactly those: the bytes, plus the ispctl version, the
Python version (the entry format is ``marshal``'s), the YAML parser in use (ruamel.yaml's
and its libyaml's versions) and the source of the parsing modules themselves. Any edit to
a file, or to the code, gives another key; a renamed or moved file gives the same key, and
the name problems carry is put back from the current path when the entry is read, so every
message is what a cold run says. The checks against the models and every rule across files
run on every run, on the whole estate: only the parse is reused.

The cache lives in ``$ISPCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/ispctl``, else
``~/.cache/ispctl`` (entries under ``parsed/``), never inside the estate's repository;
``ISPCTL_CACHE_DIR=off`` turns it off. The folder is 0700 and entries 0600 (they hold what
the files hold, password hashes included), written to a temporary name and renamed into
place. An entry is used only when its header names its own key and a digest of its body
matches; anything else (truncated, corrupt, foreign, unreadable) is ignored and written
anew. The cache is kept under a size bound by removing the entries used longest ago.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import ruamel.yaml

from ispctl.reconciler import __version__
from ispctl.reconciler.engine.errors import Location, Problem
from ispctl.reconciler.estate import yamlevents, yamlload
from ispctl.reconciler.estate.yamlevents import Positions
from ispctl.reconciler.estate.yamlload import Document, load_bytes, read_file

CACHE_ENV = "ISPCTL_CACHE_DIR"
OFF_VALUES = frozenset({"off", "no", "none", "false", "0"})
# Entries of about a 10,000-mailbox estate take ~15 MB; this keeps several estates' worth
# (and their recent versions) while bounding what a busy CI runner accumulates.
MAX_CACHE_BYTES = 512 * 1024 * 1024
# A hit refreshes its entry's time (what pruning goes by) at most this often: a write per hit
# would cost more than the hit saves.
_TOUCH_AFTER = 3600.0
_MAGIC = b"ispctl parsed v1\n"
_DIGEST = 32
_HEADER = len(_MAGIC) + 2 * _DIGEST


@lru_cache(maxsize=1)
def code_key() -> bytes:
    """Everything besides a file's bytes that decides what parsing it gives."""
    digest = hashlib.sha256(_MAGIC)
    try:  # libyaml comes with it: another libyaml may accept or refuse other text
        clib = metadata.version("ruamel.yaml.clib")
    except metadata.PackageNotFoundError:
        clib = "none"
    for part in (__version__, sys.version, str(marshal.version), ruamel.yaml.__version__, clib, str(yamlload._PURE)):
        digest.update(part.encode() + b"\0")
    for module in (yamlload, yamlevents, sys.modules[__name__]):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.digest()


def cache_folder(env: Mapping[str, str] | None = None) -> Path | None:
    """The cache's folder as the environment sets it; None when it is turned off."""
    env = os.environ if env is None else env
    chosen = env.get(CACHE_ENV, "").strip()
    if chosen.lower() in OFF_VALUES:
        return None
    if chosen:
        return Path(chosen) / "parsed"
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "ispctl" / "parsed"


def _repository(root: Path) -> Path:
    """The git repository holding ``root`` (``root`` itself when there is none)."""
    root = root.resolve()
    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            return folder
    return root


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    written: int = 0
    ignored: int = 0  # entries present but unusable (corrupt, foreign, unreadable)


class ParseCache:
    """Parses files through the cache (``folder`` None: no cache, every file parsed)."""

    def __init__(self, folder: Path | None, max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.stats = Stats()
        self.ready = False  # the folder is known to exist
        if folder is not None:
            try:
                self.prefix: bytes = code_key()
            except OSError:  # the parsing code cannot be read, so it cannot be named: no cache
                self.folder = None

    @classmethod
    def of(cls, env: Mapping[str, str] | None, estate: Path) -> ParseCache:
        """The cache the environment asks for, unless it lies inside the estate's repository
        (entries would show up as files there)."""
        folder = cache_folder(env)
        if folder is not None:
            try:
                if folder.resolve().is_relative_to(_repository(estate)):
                    folder = None
            except OSError:
                folder = None
        return cls(folder)

    def load(self, path: Path, display: str) -> tuple[Document | None, list[Problem]]:
        """What ``yamlload.load_document(path, display)`` gives, parsed at most once per content."""
        raw, problems = read_file(path, display)
        return (None, problems) if raw is None else self.parse(raw, display)

    def parse(self, raw: bytes, display: str) -> tuple[Document | None, list[Problem]]:
        """What ``yamlload.load_bytes(raw, display)`` gives (a file's bytes, or a blob's from git
        history), parsed at most once per content."""
        if self.folder is None:
            return load_bytes(raw, display)
        key = hashlib.sha256(self.prefix + raw).digest()
        entry = self.folder / key.hex()
        body = self._read(entry, key)
        if body is not None:
            self.stats.hits += 1
            return _rebuild(body, display)
        self.stats.misses += 1
        doc, problems = load_bytes(raw, display)
        self._write(entry, key, _flatten(doc, problems))
        return doc, problems

    def _read(self, entry: Path, key: bytes) -> Any:
        try:
            with entry.open("rb") as handle:
                blob = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
        except OSError:
            return None  # not there yet (or unreadable): parsed and written anew
        body = _unpack(blob, key)
        if body is None:
            self.stats.ignored += 1
            return None
        if time.time() - mtime > _TOUCH_AFTER:
            try:
                os.utime(entry)
            except OSError:
                pass
        return body

    def _write(self, entry: Path, key: bytes, body: tuple[Any, ...]) -> None:
        try:
            payload = marshal.dumps(body)
        except ValueError:  # not plain data (cannot happen for parsed YAML): just not cached
            return
        blob = _MAGIC + key + hashlib.sha256(payload).digest() + payload
        # One flat folder and a temporary name of this process's own: creating files is most
        # of what a cold run adds, so no folder per entry prefix and no random names.
        temporary = f"{entry}.{os.getpid()}.tmp"
        if not self.ready:
            try:
                assert self.folder is not None
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # (only the last one made 0700)
            except OSError:
                self.folder = None  # no folder to be had (not writable): the rest of the run parses
                return
            self.ready = True
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                try:
                    view = memoryview(blob)
                    while view:
                        view = view[os.write(handle, view):]
                finally:
                    os.close(handle)
                os.replace(temporary, entry)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return  # a cache that cannot be written (full, read-only) only costs speed
        self.stats.written += 1

    def finish(self) -> None:
        """Keep the cache within its size bound, if this run added to it."""
        if self.folder is not None and self.stats.written:
            prune(self.folder, self.max_bytes)


def prune(folder: Path, max_bytes: int) -> None:
    """Remove the entries used longest ago until the cache holds at most 3/4 of ``max_bytes``."""
    found: list[tuple[float, int, str]] = []
    try:
        with os.scandir(folder) as items:
            for item in items:
                if item.is_file(follow_symlinks=False):  # entries, and temporary files a crash left
                    info = item.stat(follow_symlinks=False)
                    found.append((info.st_mtime, info.st_size, item.path))
    except OSError:
        return
    total = sum(size for _, size, _ in found)
    if total <= max_bytes:
        return
    for _, size, name in sorted(found):
        try:
            os.unlink(name)
        except OSError:
            continue
        total -= size
        if total <= max_bytes * 3 // 4:
            break


def _flatten(doc: Document | None, problems: list[Problem]) -> tuple[Any, ...]:
    """What parsing gave, without the file's name (a renamed file shares the entry)."""
    shown = tuple((p.location.line, p.location.column, p.path, p.message, p.code) for p in problems)
    if doc is None:
        return (False, None, {}, {}, shown)
    return (True, doc.data, doc.positions.packed, doc.value_positions.packed, shown)


def _rebuild(body: tuple[Any, ...], display: str) -> tuple[Document | None, list[Problem]]:
    parsed, data, positions, values, shown = body
    problems = [Problem(Location(display, line, col), path, message, code) for line, col, path, message, code in shown]
    return (Document(display, data, Positions(positions), Positions(values)) if parsed else None), problems


def _unpack(blob: bytes, key: bytes) -> Any:
    """The entry's body, or None unless it is whole and written for ``key``."""
    if len(blob) < _HEADER or not blob.startswith(_MAGIC) or blob[len(_MAGIC):len(_MAGIC) + _DIGEST] != key:
        return None
    payload = blob[_HEADER:]
    if hashlib.sha256(payload).digest() != blob[_HEADER - _DIGEST:_HEADER]:
        return None
    try:
        body = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    shapes = (bool, object, dict, dict, tuple)
    if not isinstance(body, tuple) or len(body) != len(shapes) or not all(map(isinstance, body, shapes)):
        return None
    return body
