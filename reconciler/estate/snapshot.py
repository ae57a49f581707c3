"""The snapshot of a valid estate that a plan narrowed by ``--changed-since`` starts from.

After a full run that found no problem, ``save`` keeps, per tenant and domain file: the
sha256 of its bytes, its ``Facts`` (``estate.facts``) and the outline of every resource
compiled from it (kind, key, parent, dependencies, previous keys: ``engine.resources.outline``),
and once for all the domain files the index of their names and the sum of their totals
(``estate.snapshot_index``: a narrowed run unpacks no facts of the files it does not load),
and which file's outlines hold each address (``Identities``: it makes the outlines of only
the few files whose objects it looks up).
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
import os
import sys
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.resources import Resource, address_of
from ispctl.reconciler.estate.cache import ParseCache, code_key, pack_key
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.loader import SITE_FILE, TENANT_FILE, display_of
from ispctl.reconciler.estate.schema import EstateSchema
from ispctl.reconciler.estate.settings import load_site
from ispctl.reconciler.estate.snapshot_format import (
    SITE,
    FileEntry,
    OutlineData,
    Snapshot,
    Stat,
    combined,
    described,
    mapped,
    read,
    write,
)
from ispctl.reconciler.estate.snapshot_index import Identities, Index

if TYPE_CHECKING:  # desired imports the whole pipeline; a snapshot only reads what it built
    from ispctl.reconciler.estate.desired import Desired

# A file whose stat is older than this when it is taken is known by its stat until it changes
# (a younger one could still change within the file system's timestamp granularity unseen).
_SETTLED_NS = 2_000_000_000
_SUFFIX = ".snapshot"


def indexed(name: str) -> bool:
    """Whether the snapshot's index (``snapshot_index``) holds a file's facts: every domain
    file's (a narrowed run loads every tenant file, and the site settings have none)."""
    return name != SITE and not name.endswith("/" + TENANT_FILE)


def digest_of(path: Path | str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).digest()
    except OSError:
        return None


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
    if described(path) == (context, combined(context, estate.digests.items())):
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
    index = Index.of((name, entry.facts) for name, entry in files.items() if indexed(name))
    # (Named by the same strings as the table and the index: ``marshal`` writes each once.)
    identities = Identities.of((name, [address_of(kind, key) for kind, key, *_ in outlines.get(name, ())])
                               for name in files if name != SITE)
    return write(path, Snapshot(context, files, index, identities))


def load(root: Path, schema: EstateSchema, env: Mapping[str, str] | None) -> tuple[Snapshot | None, str]:
    """The estate's snapshot if it is usable in this context, else None and why not."""
    path = snapshot_path(root, env)
    if path is None:
        return None, "the cache is off"
    context = context_key(root, schema, env)
    if context is None:
        return None, "the site settings cannot be read"
    try:
        raw = mapped(path)
    except FileNotFoundError:
        return None, "no snapshot of a full run yet"
    except (OSError, ValueError) as exc:  # (ValueError: not a file that can be mapped)
        return None, f"cannot read the snapshot ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    return read(raw, context)
