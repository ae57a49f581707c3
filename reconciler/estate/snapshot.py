"""The snapshot of a valid estate that a plan narrowed by ``--changed-since`` starts from.

After a full run that found no problem, ``save`` keeps, per tenant and domain file: the
sha256 of its bytes, its ``Facts`` (``estate.facts``) and the outline of every resource
compiled from it (kind, key, parent, dependencies, previous keys: ``engine.resources.outline``).
``estate.incremental`` then loads only the files that changed and those their facts reach,
and stands in for the others with their outlines. Resources of the site settings (``SITE``)
are compiled again by every narrowed run; their outlines only tell it that they are the same.

A snapshot is only as good as the run it describes, so it is used only in the same
context: the same parsing code and ispctl code (``cache.code_key`` and a stamp of the code's
files), the same site settings (the bytes of ``ispctl.yaml``), the same environment
overrides, the same services, the same estate folder and the same inputs the services' hooks
read outside the estate's files (``EstateSchema.inputs_key``: the DKIM key store, the RADIUS
dictionary), taken before the run's hooks read them. It lives beside the parse cache
(``cache.ParseCache.of``: ``$ISPCTL_CACHE_DIR``, XDG, ``off``; never inside the estate's
repository), one file per estate named like its parse pack, written 0600 to a temporary
name and renamed into place. A snapshot that is damaged, foreign or of another context is
ignored (``load`` says why). A full run whose files and context are those of the snapshot
already there writes nothing.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.resources import Resource, outline
from ispctl.reconciler.estate.cache import ParseCache, code_key, pack_key
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.loader import SITE_FILE, display_of
from ispctl.reconciler.estate.schema import EstateSchema
from ispctl.reconciler.estate.settings import load_site

if TYPE_CHECKING:  # desired imports the whole pipeline; a snapshot only reads what it built
    from ispctl.reconciler.estate.desired import Desired

_MAGIC = b"ispctl snapshot v3\n"
# A file whose stat is older than this when it is taken is known by its stat until it changes
# (a younger one could still change within the file system's timestamp granularity unseen).
_SETTLED_NS = 2_000_000_000
_SUFFIX = ".snapshot"
# magic, context key, digest of the files (their names and digests), digest of all of it
_HEAD = struct.Struct(f"<{len(_MAGIC)}s32s32s32s")
_counter = iter(range(1 << 62))  # temporary names of this process's own

# The resources of the site settings (a RADIUS profile of ispctl.yaml) are kept under this
# name: a narrowed run compiles them again from the site settings, the same as the snapshot's
# (its context), and falls back if they are not the same objects. A service must compile such a
# resource from the site settings (and tenants) alone: one summing up the domain files would
# be worked out from a narrowed run's subset (each service's narrowed tests compare values).
SITE = ""

# One resource's outline as stored: kind, key, parent, depends_on, previous.
OutlineData = tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]


# Facts as stored (``Facts.to_data``): names, needs, totals, each sorted.
FactsData = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...]]


class FileEntry:
    """One tenant or domain file as the snapshot's run saw it: the digest of its bytes, its
    facts and the outlines of its resources. Facts and outlines are kept as ``marshal`` gave
    them until asked for: a narrowed run reads the names of every file and the outlines of
    those it does not load, and writes back only the few files it loaded (re-encoding a
    hundred thousand outlines was most of an update)."""

    __slots__ = ("digest", "packed_facts", "packed_outlines", "stat", "_data", "_facts", "_outlines")

    def __init__(self, digest: bytes, packed_facts: bytes, packed_outlines: bytes, stat: Stat | None = None) -> None:
        self.digest = digest
        self.packed_facts = packed_facts
        self.packed_outlines = packed_outlines
        # The file's stat when ``digest`` was taken (``stat_of``): the same stat now is the same
        # bytes, without reading them. None: read it.
        self.stat = stat
        self._data: FactsData | None = None
        self._facts: Facts | None = None
        self._outlines: tuple[OutlineData, ...] | None = None

    @classmethod
    def of(cls, digest: bytes, facts: Facts, outlines: Iterable[OutlineData], stat: Stat | None = None) -> FileEntry:
        entry = cls(digest, marshal.dumps(facts.to_data()), marshal.dumps(tuple(outlines)), stat)
        entry._facts = facts
        return entry

    @property
    def data(self) -> FactsData:
        """The facts as stored (``Facts.to_data``): names, needs, totals."""
        if self._data is None:
            self._data = _unpacked(self.packed_facts, _is_facts)
        return self._data

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            self._facts = Facts.from_data(self.data)
        return self._facts

    @property
    def outlines(self) -> tuple[OutlineData, ...]:
        if self._outlines is None:
            self._outlines = _unpacked(self.packed_outlines, _is_outlines)
        return self._outlines

    def resources(self) -> Iterable[Resource]:
        try:
            for kind, key, parent, depends_on, previous in self.outlines:
                yield outline(kind, key, parent, depends_on, previous)
        except (ValueError, TypeError):
            raise Damaged from None

    def __eq__(self, other: object) -> bool:
        # By content: marshal may encode equal data differently (it shares repeated objects).
        if not isinstance(other, FileEntry):
            return NotImplemented
        if self.digest != other.digest:
            return False
        # The same bytes decode to the same data: unpacked only when they differ (a narrowed
        # run compares every file it loaded, every tenant file among them, with its old entry).
        return (self.packed_facts == other.packed_facts or self.data == other.data) and \
            (self.packed_outlines == other.packed_outlines or self.outlines == other.outlines)

    __hash__ = None  # type: ignore[assignment]


class Damaged(Exception):
    """A snapshot's part that is not what ``write`` gives."""


def _unpacked(packed: bytes, shape: Callable[[Any], bool]) -> Any:
    try:
        found = marshal.loads(packed)
    except (ValueError, EOFError, TypeError):
        raise Damaged from None
    if not shape(found):
        raise Damaged
    return found


def _is_facts(data: Any) -> bool:
    return isinstance(data, tuple) and len(data) == 3 and all(isinstance(part, tuple) for part in data)


def _is_outlines(data: Any) -> bool:
    # (Each item's shape is checked where it is taken apart: ``FileEntry.resources`` and a
    # narrowed run's result raise ``Damaged``. The body's digest already rules out damage.)
    return isinstance(data, tuple)


@dataclass
class Snapshot:
    """Every tenant and domain file of a valid estate, by ``Document.file``."""

    context: bytes
    files: dict[str, FileEntry]

    def combined(self) -> bytes:
        return combined(self.context, ((name, entry.digest) for name, entry in self.files.items()))


def combined(context: bytes, digests: Iterable[tuple[str, bytes]]) -> bytes:
    """What a snapshot describes, in one digest: its context and every file's name and bytes."""
    digest = hashlib.sha256(context)
    for name, found in sorted(digests):
        if name == SITE:
            continue  # (the site settings are the context's)
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + found)
    return digest.digest()


def digest_of(path: Path | str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).digest()
    except OSError:
        return None


# size, modification time (ns), inode, device and change time (ns) of a file. The change time
# is what an edit that puts its modification time back (``os.utime``) cannot put back: git's
# index keeps it for the same reason.
Stat = tuple[int, int, int, int, int]


def stat_of(path: Path | str) -> Stat | None:
    """The stat a file is known by (``FileEntry.stat``), taken before its bytes are read; None
    when it cannot be taken or the file changed too recently to be told apart by it."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if info.st_mtime_ns > time.time_ns() - _SETTLED_NS:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev, info.st_ctime_ns)


def known_digest(path: Path | str, entry: FileEntry | None) -> tuple[bytes | None, Stat | None]:
    """The digest of a file's bytes (None: unreadable) and its stat: ``entry``'s digest when
    its stat is the file's, else read (the stat taken first, so a change while it is read shows
    as another stat next time)."""
    stat = stat_of(path)
    if stat is not None and entry is not None and entry.stat == stat:
        return entry.digest, stat
    return digest_of(path), stat


def _code_stamp(schema: EstateSchema) -> bytes:
    """Names, sizes and times of the source files of the engine and of every service hook's
    package: a change of code that compiles or checks differently is another context (the
    parse cache's ``code_key`` covers only the parsing code and the version)."""
    folders = {Path(__file__).resolve().parents[1]}
    for extension in schema.extensions:
        for function in (extension.hook, extension.facts):
            module = getattr(function, "__module__", None) or ""
            if not module.startswith("ispctl."):
                continue  # (a test's own hook)
            package = sys.modules.get(".".join(module.split(".")[:3])) or sys.modules.get(module)
            file = getattr(package, "__file__", None)
            if file:
                folders.add(Path(file).resolve().parent)
    return _stamp(tuple(sorted(folders)))


@lru_cache(maxsize=4)
def _stamp(folders: tuple[Path, ...]) -> bytes:
    """Once per process: the code that runs is the code it imported, whatever changes later."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.digest()


def inputs_of(root: Path, schema: EstateSchema, env: Mapping[str, str] | None) -> bytes | None:
    """What the services' compile hooks read outside the estate's files now, in one value
    (``EstateSchema.inputs_key`` over the site settings as a run reads them); None when the
    site settings cannot be used (the run says why)."""
    env = os.environ if env is None else env
    try:
        site = load_site(root, schema.files.site, schema.overrides, env)
    except IspctlError:
        return None
    return schema.inputs_key(site, env)


def context_key(root: Path, schema: EstateSchema, env: Mapping[str, str] | None,
                inputs: bytes | None = None) -> bytes | None:
    """The context a snapshot holds for (module docstring); None without usable site settings.
    ``inputs``: the services' inputs as a run took them (``Desired.inputs``), else taken now."""
    site = digest_of(root / SITE_FILE)
    if site is None:
        return None
    if inputs is None:
        inputs = inputs_of(root, schema, env)
        if inputs is None:
            return None
    env = os.environ if env is None else env
    digest = hashlib.sha256(code_key() + _code_stamp(schema) + site)
    digest.update(os.fsencode(root.resolve()) + b"\0")
    for override in schema.overrides:
        value = env.get(override.variable)
        digest.update(f"{override.variable}={'' if value is None else value}\0".encode("utf-8", "surrogateescape"))
    for extension in schema.extensions:
        digest.update(f"service {extension.service}\0".encode())
    digest.update(len(inputs).to_bytes(8, "big") + inputs)
    return digest.digest()


def snapshot_path(root: Path, env: Mapping[str, str] | None) -> Path | None:
    """Where the snapshot of the estate at ``root`` is kept; None when the cache is off."""
    folder = ParseCache.of(env, root).folder
    if folder is None:
        return None
    try:
        key = pack_key(code_key(), root)
    except OSError:
        return None
    return folder.parent / "snapshots" / (key.hex() + _SUFFIX)


def outlines_by_file(resources: Iterable[Resource]) -> tuple[dict[str, list[OutlineData]], str | None]:
    """The outline of every resource by the file it was compiled from; the second item says
    why the resources cannot be told apart by file (one with no source), else None."""
    found: dict[str, list[OutlineData]] = {}
    for resource in resources:
        source = resource.source
        if source is None:
            return found, f"{resource.address} has no source file"
        rows = found.get(source.file)
        if rows is None:
            rows = found[source.file] = []
        depends_on, previous = resource.depends_on, resource.previous
        rows.append((resource.kind, resource.key, resource.parent,
                     depends_on if type(depends_on) is tuple else tuple(depends_on),
                     previous if type(previous) is tuple else tuple(previous)))
    return found, None


def save(root: Path, schema: EstateSchema, env: Mapping[str, str] | None, desired: Desired) -> str | None:
    """Keep the snapshot of ``desired``, the result of a full ``check_desired(..., facts=True)``
    that found no problem (none a command does not tolerate). Returns why nothing was written
    (None: written, or the snapshot there already describes exactly these files)."""
    with collector_paused():  # a tuple per resource: the collector would walk the whole heap again and again
        return _save(root, schema, env, desired)


def _save(root: Path, schema: EstateSchema, env: Mapping[str, str] | None, desired: Desired) -> str | None:
    estate = desired.catalog.estate
    if desired.partial is not None:
        return "a narrowed run keeps its snapshot up to date itself"
    if desired.facts is None:
        missing = [e.service for e in schema.extensions if e.facts is None]
        return f"service {missing[0]} declares no facts" if missing else "the run gathered no facts (facts=True)"
    if estate.sources or estate.confined is not None:
        return "the estate is composed of several repositories"
    if estate.digests is None:
        return "the run kept no digests of its files (check_desired(..., facts=True))"
    if desired.inputs is None:
        return "the run took no digest of the services' inputs (check_desired(..., facts=True))"
    # The inputs as the run took them, before its hooks read them, and as they are now: a key
    # made during the run may or may not be in its result, so it describes neither.
    if inputs_of(root, schema, env) != desired.inputs:
        return "the inputs changed during the run"
    path = snapshot_path(root, env)
    context = context_key(root, schema, env, desired.inputs)
    if path is None or context is None:
        return "the cache is off" if path is None else "the site settings cannot be read"
    if _head(path) == (context, combined(context, estate.digests.items())):
        return None  # (before the outlines: a repeated full plan pays only this check)
    outlines, unplaced = outlines_by_file(desired.resources.values())
    if unplaced is not None:
        return unplaced
    site = outlines.pop(display_of(root / SITE_FILE, root), None)
    unknown = sorted(set(outlines) - estate.digests.keys())
    if unknown:
        return f"resources come from {unknown[0]}, which is no tenant or domain file"
    files = {}
    for name, found in estate.digests.items():
        # The stat taken now, before the file is read again: if it still has the bytes the run
        # read, that stat names them (if it changed since, no snapshot: the next run makes one).
        where = root.parent / name
        digest, stat = known_digest(where, None)
        if digest != found:
            return f"{name} changed during the run"
        files[name] = FileEntry.of(found, desired.facts.get(name, Facts()), outlines.get(name, ()), stat)
    if site:
        files[SITE] = FileEntry.of(b"", Facts(), site)
    return write(path, Snapshot(context, files))


def write(path: Path, snapshot: Snapshot, force: bool = False) -> str | None:
    """Write ``snapshot`` to ``path`` unless the one there describes the same files (``force``:
    whatever is there); returns why it was not written, None when written or current."""
    summary = snapshot.combined()
    if not force and _head(path) == (snapshot.context, summary):
        return None
    data = {name: (entry.digest, entry.packed_facts, entry.packed_outlines, entry.stat)
            for name, entry in snapshot.files.items()}
    try:
        body = marshal.dumps(data)
    except ValueError:
        return "a fact or an outline is not plain data"
    head = _HEAD.pack(_MAGIC, snapshot.context, summary, _digest(snapshot.context, summary, body))
    temporary = path.parent / f".{path.name}.{os.getpid()}.{next(_counter)}.tmp"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                os.fchmod(handle, 0o600)
                for part in (head, body):  # (one after the other: joined, the body was copied first)
                    view = memoryview(part)
                    while view:
                        view = view[os.write(handle, view):]
            finally:
                os.close(handle)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        return f"cannot write {path} ({exc.strerror or type(exc).__name__})"
    return None


def _digest(context: bytes, summary: bytes, body: bytes | memoryview) -> bytes:
    """The digest of a body, bound to the header that describes it: sha256 of the three
    joined, fed one after the other (joined, a body of tens of megabytes was copied first)."""
    digest = hashlib.sha256(context)
    digest.update(summary)
    digest.update(body)
    return digest.digest()


def _head(path: Path) -> tuple[bytes, bytes] | None:
    """The context and files a whole, undamaged snapshot at ``path`` describes."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) < _HEAD.size:
        return None
    magic, context, summary, digest = _HEAD.unpack_from(raw)
    if magic != _MAGIC or _digest(context, summary, memoryview(raw)[_HEAD.size:]) != digest:
        return None
    return context, summary


def load(root: Path, schema: EstateSchema, env: Mapping[str, str] | None) -> tuple[Snapshot | None, str]:
    """The estate's snapshot if it is usable in this context, else None and why not."""
    path = snapshot_path(root, env)
    if path is None:
        return None, "the cache is off"
    context = context_key(root, schema, env)
    if context is None:
        return None, "the site settings cannot be read"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "no snapshot of a full run yet"
    except OSError as exc:
        return None, f"cannot read the snapshot ({exc.strerror or type(exc).__name__})"
    if len(raw) < _HEAD.size:
        return None, "the snapshot is damaged"
    magic, found, summary, digest = _HEAD.unpack_from(raw)
    body = memoryview(raw)[_HEAD.size:]
    if magic != _MAGIC:
        return None, "the snapshot is of another format"
    if found != context:
        return None, "the snapshot is of another context (code, site settings, environment or services changed)"
    if _digest(found, summary, body) != digest:
        return None, "the snapshot is damaged"
    files = _decode(body)  # (marshal reads the buffer in place: no copy of the body)
    if files is None:
        return None, "the snapshot is damaged"
    return Snapshot(context, files), ""


def _decode(body: bytes | memoryview) -> dict[str, FileEntry] | None:
    """The files of a body, or None unless it has the shape ``write`` gives (what each file's
    facts and outlines hold is checked when they are first read: ``Damaged``)."""
    try:
        data: Any = marshal.loads(body)
        files = {}
        for name, (found, facts, outlines, stat) in data.items():
            if not all(isinstance(part, bytes) for part in (found, facts, outlines)) or not isinstance(name, str) \
                    or not (stat is None or isinstance(stat, tuple) and len(stat) == 5):
                return None
            files[name] = FileEntry(found, facts, outlines, stat)
    except (ValueError, EOFError, TypeError, AttributeError):
        return None
    return files
