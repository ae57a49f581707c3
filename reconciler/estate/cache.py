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

A run writes at most one file (creating a file per entry was most of what a cold run added):
the entries live in one pack per estate, named by a hash of the code key and the estate's
resolved path, holding key -> entry for what the run that wrote it parsed (files on disk and
blobs from git history alike, so a blob with a file's bytes is that file's entry). A run
reads the pack's index once when it first parses, and an entry's body when it is asked for;
it writes the pack again, whole, only when some entry was missing or more than a quarter of
the pack went unused (the unused entries are then left out: a few stale ones cost less than
rewriting). A run that reads only part of the estate (a ``--changed-since`` plan) writes
nothing: leaving out what it did not read would make the next full run parse the whole estate
again, and rewriting the whole pack for its few new entries costs more than parsing them again.

The cache lives in ``$ISPCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/ispctl``, else
``~/.cache/ispctl`` (packs under ``parsed/``), never inside the estate's repository;
``ISPCTL_CACHE_DIR=off`` turns it off. The folder is 0700 and packs 0600 (they hold what
the files hold, password hashes included), written to a temporary name of the writer's own
and renamed into place, so two runs at once never see a torn pack: each reads a whole one,
and the last to write wins. A pack is used only when its header names its own key and a
digest of its index matches; an entry only when a digest of its key and body matches.
Anything else (truncated, corrupt, foreign, unreadable) is ignored, parsed and written anew.
Packs not used for 30 days are removed, and the cache is kept under a size bound by
removing the packs used longest ago.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import os
import struct
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
from ispctl.reconciler.estate.private_files import replace_private
from ispctl.reconciler.estate.yamlevents import Positions
from ispctl.reconciler.estate.yamlload import Document, load_bytes, read_file

CACHE_ENV = "ISPCTL_CACHE_DIR"
OFF_VALUES = frozenset({"off", "no", "none", "false", "0"})
# A 10,000-mailbox estate's pack is ~4 MB; this keeps several estates' worth (and their
# recent versions) while bounding what a busy CI runner accumulates.
MAX_CACHE_BYTES = 512 * 1024 * 1024
# A pack no run used for this long belongs to an estate or a version of ispctl gone by.
MAX_AGE = 30 * 86400.0
# A run that only reads refreshes its pack's time (what pruning goes by) at most this often.
_TOUCH_AFTER = 3600.0
# A file that is not a pack (a temporary one a crashed writer left, an entry of the earlier
# one-file-per-entry layout) is removed once this old: a live writer's is seconds old.
_LEFT_OVER = 3600.0
_SUFFIX = ".pack"
_MAGIC = b"ispctl parsed pack v3\n"
# The header: magic, the pack's key, its number of entries and a digest of its index; then
# the index, a row per entry (its key, a digest of key + body, offset and length of the body
# in the pack); then the bodies (``marshal`` of what ``_flatten`` gives).
_HEAD = struct.Struct(f"<{len(_MAGIC)}s32sI32s")
_ROW = struct.Struct("<32s32sQI")


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


def pack_key(code: bytes, root: Path | None) -> bytes:
    """The key of the pack of the estate at ``root`` (None: content with no estate)."""
    where = b"" if root is None else os.fsencode(root.resolve())
    return hashlib.sha256(code + b"\0root\0" + where).digest()


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
    written: int = 0  # entries this run added to its pack
    ignored: int = 0  # a pack, or entries, present but unusable (damaged, foreign, unreadable)
    dropped: int = 0  # entries the pack held that this run did not use, left out when it wrote
    packs: int = 0  # packs written: at most one per run


# Where a used entry's body is: a row of the pack read (digest, offset, length), or, parsed
# in this run, the body itself.
_Row = tuple[bytes, int, int]


class ParseCache:
    """Parses files through the cache (``folder`` None: no cache, every file parsed), in the
    pack of the estate at ``root``; ``finish`` writes the pack if this run changed it."""

    def __init__(self, folder: Path | None, max_bytes: int = MAX_CACHE_BYTES, root: Path | None = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.stats = Stats()
        self._pack: io.FileIO | None = None  # kept open: a writer's rename leaves it the pack it read
        self._opened = False
        self._index: dict[bytes, _Row] = {}
        self._used: dict[bytes, _Row | bytes] = {}  # in the order of use, what the pack will hold
        self._mtime = 0.0
        if folder is not None:
            try:
                self.prefix: bytes = code_key()
                self.key = pack_key(self.prefix, root)
            except OSError:  # the parsing code cannot be read, so it cannot be named: no cache
                self.folder = None
            else:
                self.path = folder / (self.key.hex() + _SUFFIX)

    @classmethod
    def of(cls, env: Mapping[str, str] | None, estate: Path) -> ParseCache:
        """The cache the environment asks for, unless it lies inside the estate's repository
        (packs would show up as files there)."""
        folder = cache_folder(env)
        if folder is not None:
            try:
                if folder.resolve().is_relative_to(_repository(estate)):
                    folder = None
            except OSError:
                folder = None
        return cls(folder, root=estate)

    def load(self, path: Path, display: str) -> tuple[Document | None, list[Problem]]:
        """What ``yamlload.load_document(path, display)`` gives, parsed at most once per content."""
        raw, problems = read_file(path, display)
        return (None, problems) if raw is None else self.parse(raw, display)

    def parse(self, raw: bytes, display: str, digest: bytes | None = None) -> tuple[Document | None, list[Problem]]:
        """What ``yamlload.load_bytes(raw, display)`` gives (a file's bytes, or a blob's from git
        history), parsed at most once per content. ``digest``: the sha256 of ``raw``, when the
        caller has it already."""
        if self.folder is None:
            return load_bytes(raw, display)
        digest = hashlib.sha256(raw).digest() if digest is None else digest
        found = self.held(digest, display)
        if found is not None:
            return found
        self.stats.misses += 1
        doc, problems = load_bytes(raw, display)
        try:
            self._used[self._key(digest)] = marshal.dumps(_flatten(doc, problems))
        except ValueError:  # not plain data (cannot happen for parsed YAML): just not cached
            pass
        return doc, problems

    def held(self, digest: bytes, display: str) -> tuple[Document | None, list[Problem]] | None:
        """What ``parse`` gives for the bytes whose sha256 is ``digest``, when the cache holds
        them; None when it does not (the caller reads and parses the file). A narrowed run
        knows most files' digests by their stat (``estate.snapshot``) and need not read them."""
        if self.folder is None:
            return None
        if not self._opened:
            self._open()
        body = self._find(self._key(digest))
        if body is None:
            return None
        self.stats.hits += 1
        return _rebuild(body, display)

    def _key(self, digest: bytes) -> bytes:
        """An entry's key: the content's digest under this code's (``code_key``)."""
        return hashlib.sha256(self.prefix + digest).digest()

    def _open(self) -> None:
        """Read the pack's index (none when there is no usable pack: every entry is missing)."""
        self._opened = True
        try:
            handle = open(self.path, "rb", buffering=0)  # kept open until finish
        except OSError:
            return  # not there yet (or unreadable, or not a file): written anew
        magic = key = digest = index = b""
        size = count = 0
        try:
            info = os.fstat(handle.fileno())
            size, self._mtime = info.st_size, info.st_mtime
            head = os.pread(handle.fileno(), _HEAD.size, 0)  # then the index, in one read
            if len(head) == _HEAD.size:
                magic, key, count, digest = _HEAD.unpack(head)
            if magic == _MAGIC and key == self.key and _HEAD.size + count * _ROW.size <= size:
                index = os.pread(handle.fileno(), count * _ROW.size, _HEAD.size)
        except OSError:
            magic = b""
        if magic != _MAGIC or key != self.key or len(index) != count * _ROW.size \
                or hashlib.sha256(key + index).digest() != digest:
            self.stats.ignored += 1  # damaged, foreign or unreadable: as if there were none
            handle.close()
            return
        self._pack = handle
        self._index = {row[0]: row[1:] for row in _ROW.iter_unpack(index)}

    def _find(self, key: bytes) -> Any:
        """The body of ``key``'s entry, verified; None if missing or damaged."""
        used = self._used.get(key)
        if isinstance(used, bytes):
            return _decode(used)  # parsed earlier in this run (a copied file): a fresh copy
        row = self._index.get(key)
        if row is None or self._pack is None:
            return None
        digest, offset, length = row
        try:
            body = os.pread(self._pack.fileno(), length, offset)
        except OSError:
            body = b""
        found = _decode(body) if len(body) == length and hashlib.sha256(key + body).digest() == digest else None
        if found is None:
            self.stats.ignored += 1
            del self._index[key]  # parsed again, and the pack written with the new entry
            return None
        self._used[key] = row
        return found

    def finish(self, partial: bool = False) -> None:
        """Write the pack if some entry was missing or much of it went unused, and keep the
        cache within its bounds; touch it otherwise. ``partial``: the run read only some of the
        estate's files, so what it did not use is no sign of being stale: only touch it. The
        cache can be used again afterwards."""
        if self.folder is None or not self._opened:
            return
        try:
            added = sum(isinstance(value, bytes) for value in self._used.values())
            unused = len(self._index.keys() - self._used.keys())
            if not partial and (added or unused * 4 > len(self._index)):
                if self._write():
                    self.stats.written += added
                    self.stats.dropped += unused
                    self.stats.packs += 1
                    prune(self.folder, self.max_bytes, keep=self.path)
            elif self._pack is not None and time.time() - self._mtime > _TOUCH_AFTER:
                try:
                    os.utime(self.path)
                except OSError:
                    pass
        finally:
            if self._pack is not None:
                self._pack.close()
            self._pack, self._opened, self._index, self._used = None, False, {}, {}

    def _write(self) -> bool:
        """Write the entries used, in the order of use, as the pack (temporary name, rename)."""
        assert self.folder is not None
        keys, bodies = [], []
        for key, value in self._used.items():
            if isinstance(value, tuple):
                body = b""
                if self._pack is not None:
                    try:  # from the pack this run read (its digest travels with it: checked when read)
                        body = os.pread(self._pack.fileno(), value[2], value[1])
                    except OSError:
                        pass
                if len(body) != value[2]:
                    continue
                keys.append((key, value[0]))
            else:
                body = value
                keys.append((key, hashlib.sha256(key + body).digest()))
            bodies.append(body)
        offset = _HEAD.size + len(keys) * _ROW.size
        rows = []
        for (key, digest), body in zip(keys, bodies, strict=True):
            rows.append(_ROW.pack(key, digest, offset, len(body)))
            offset += len(body)
        index = b"".join(rows)
        head = _HEAD.pack(_MAGIC, self.key, len(rows), hashlib.sha256(self.key + index).digest())
        try:
            replace_private(self.path, [head, index, *bodies])
        except OSError:
            return False  # a cache that cannot be written (full, read-only, no folder) only costs speed
        return True


def prune(folder: Path, max_bytes: int, keep: Path | None = None, now: float | None = None) -> None:
    """Remove packs not used for ``MAX_AGE`` and left-over files, then the packs used longest
    ago until the cache holds at most 3/4 of ``max_bytes`` (never ``keep``, just written)."""
    now = time.time() if now is None else now
    found: list[tuple[float, int, str]] = []
    total = 0
    try:
        with os.scandir(folder) as items:
            for item in items:
                if not item.is_file(follow_symlinks=False):
                    continue
                info = item.stat(follow_symlinks=False)
                pack = item.name.endswith(_SUFFIX) and not item.name.startswith(".")
                if keep is not None and item.name == keep.name:
                    total += info.st_size
                elif now - info.st_mtime > (MAX_AGE if pack else _LEFT_OVER):
                    _remove(item.path)
                elif pack:
                    found.append((info.st_mtime, info.st_size, item.path))
                    total += info.st_size
    except OSError:
        return
    if total <= max_bytes:
        return
    for _, size, name in sorted(found):
        if _remove(name):
            total -= size
        if total <= max_bytes * 3 // 4:
            break


def _remove(name: str) -> bool:
    try:
        os.unlink(name)
    except OSError:
        return False
    return True


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


def _decode(payload: bytes) -> Any:
    """An entry's body, or None unless it has the shape ``_flatten`` gives."""
    try:
        body = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    shapes = (bool, object, dict, dict, tuple)
    if not isinstance(body, tuple) or len(body) != len(shapes) or not all(map(isinstance, body, shapes)):
        return None
    return body
