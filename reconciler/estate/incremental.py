"""The desired state of a plan narrowed by ``--changed-since``, from a few files instead of all.

A full run loads, checks and compiles the whole estate. When the last full run that found no
problem left a snapshot (``estate.snapshot``), a narrowed plan needs far less: only files
that changed since, and the files whose facts (``estate.facts``) share a name with theirs,
can have a new problem or a new value. ``load_narrowed`` loads that subset S of the domain
files (always every tenant file and the site settings) through the very pipeline of a full
run (``desired.run_desired``: load, the catalog's rules, every service's hook, lifecycle),
with the totals of the files not loaded as ``Catalog.outside``. S is the fixpoint of:

* every changed domain file (added, removed, different from the snapshot, or named by git);
* every domain file below a changed tenant file (its values follow the tenant's);
* every unchanged file naming what a changed file declares, before or after the change;
* the files declaring what a file of S needs (transitively: delivery chains, alias domains).

The facts after the change are only known once S is loaded, so S is loaded again while they
widen it. The desired state handed to the plan (``engine.outlined.Outlined``) is S's compiled
resources (with every tenant's and the site's) and an outline (``engine.resources.outline``) of
every resource of every file not loaded, a group per file with the summary the snapshot keeps of
its outlines (the engine looks at a group as a whole), made only when looked up; a plan that
needs the value of an outline raises ``Incomplete`` and is made again over the whole estate. The
subset only has to find out whether there is a problem, never to word it: any problem, or
anything uncertain, gives a ``Fallback`` with its reason, and the caller runs the full way
(which words every problem exactly as always). A narrowed run with no problem updates the
snapshot for the files it loaded: the estate it saw is valid too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.outlined import Outlined, OutlineGroup
from ispctl.reconciler.engine.resources import Incomplete
from ispctl.reconciler.estate.desired import Desired, Partial, run_desired
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.loader import SITE_FILE, TENANT_FILE, display_of, estate_files, scans_kept
from ispctl.reconciler.estate.schema import EstateSchema
from ispctl.reconciler.estate.snapshot import indexed, known_digest, load, outlines_by_file, snapshot_path
from ispctl.reconciler.estate.snapshot_format import SITE, FileEntry, OutlineData, Snapshot, Stat, write
from ispctl.reconciler.estate.snapshot_index import Damaged

# More changed files than this share of the estate's files: the full run is about as cheap.
MAX_CHANGED_SHARE = 0.2
# Loads of a widening subset before giving up (each one widens it; a chain of needs is
# followed whole in one step, so more than a few means something keeps changing).
MAX_ROUNDS = 6


@dataclass(frozen=True)
class Fallback:
    """Why the narrowed run cannot stand in for a full one (on the progress line, and to tests)."""

    reason: str


def load_narrowed(root: Path, schema: EstateSchema, env: Mapping[str, str] | None, changed: Sequence[Path],
                  tolerate: Collection[str] = ()) -> Desired | Fallback:
    """The estate's desired state from the files ``changed`` (and those the snapshot says
    differ) and the files their facts reach, the rest outlined; or why not (module docstring).
    ``tolerate``: problem codes a command can live with, as in ``load_desired``."""
    with collector_paused(), scans_kept():  # (each folder listed once: ``_current``, then every load)
        try:
            return _Narrowed(root, schema, env, tolerate).run(changed)
        except _Fall as exc:
            return Fallback(str(exc))
        except Damaged:
            return Fallback("the snapshot is damaged")


class _Fall(Exception):
    pass


class _Narrowed:
    def __init__(self, root: Path, schema: EstateSchema, env: Mapping[str, str] | None,
                 tolerate: Collection[str]) -> None:
        self.root = root
        self.schema = schema
        self.env = env
        self.tolerate = tolerate

    def run(self, changed: Sequence[Path]) -> Desired:
        missing = [e.service for e in self.schema.extensions if e.facts is None]
        if missing:
            raise _Fall(f"service {missing[0]} declares no facts")
        snapshot, why = load(self.root, self.schema, self.env)
        if snapshot is None:
            raise _Fall(why)
        self.snapshot = snapshot
        try:
            self.current = self._current()
        except OSError as exc:  # a folder that cannot be listed: the full run says what is wrong
            raise _Fall(f"cannot list the estate's files ({exc.strerror or type(exc).__name__})") from None
        self.changed = self._changed(changed)
        if len(self.changed) > MAX_CHANGED_SHARE * max(len(self.current), len(snapshot.files)):
            raise _Fall(f"{len(self.changed)} of {len(self.current)} files changed")
        self.tenants = {name for name in self.current if _is_tenant(name)}
        return self._fixpoint()

    # -- what changed --------------------------------------------------------------------

    def _current(self) -> dict[str, bytes]:
        """The digest of every file now (by its stat where the snapshot's is the same)."""
        current = {}
        self.stats: dict[str, Stat | None] = {}
        files = self.snapshot.files
        for name, path in estate_files(self.root).items():
            found, self.stats[name] = known_digest(path, files.get(name))
            if found is None:
                raise _Fall(f"cannot read {name}")
            current[name] = found
        return current

    def _changed(self, named: Iterable[Path]) -> set[str]:
        files = self.snapshot.files
        changed = {name for name, found in self.current.items()
                   if name not in files or files[name].digest != found}
        changed |= files.keys() - self.current.keys() - {SITE}
        root = self.root.resolve()
        for path in named:
            resolved = path.resolve()
            if resolved == root / SITE_FILE:
                raise _Fall("the site settings changed")
            if not resolved.is_relative_to(root):
                continue
            # Named as the estate's own files are (under ``self.root`` as given, which may be
            # relative: ``--dir .``), else a file git names would be no file of the estate.
            name = display_of(self.root / resolved.relative_to(root), self.root)
            if name in self.current or name in files:
                changed.add(name)
        return changed

    # -- the subset S ----------------------------------------------------------------------

    def _holders(self, names: set[str]) -> dict[str, tuple[list[str], list[str]]]:
        """The unchanged domain files naming each of ``names`` without needing it, and those
        needing it (their snapshot facts hold), from the snapshot's index: no file's facts
        unpacked."""
        found: dict[str, tuple[list[str], list[str]]] = {}
        current, changed = self.current, self.changed
        for name, files in self.snapshot.index.holders(names).items():
            naming, needing = ([file for file in part if file in current and file not in changed] for part in files)
            if naming or needing:
                found[name] = naming, needing
        return found

    def _facts(self, name: str) -> Facts:
        found = self.facts.get(name)
        if found is not None:
            return found
        entry = self.snapshot.files.get(name)
        return Facts() if entry is None or name in self.changed else entry.facts

    def _widen(self, subset: set[str]) -> set[str]:
        """S as far as the facts known now reach (module docstring)."""
        out = set(subset)
        for name in self.changed:
            if _is_tenant(name):
                folder = name[:-len(TENANT_FILE)]
                out.update(n for n in self.current if n.startswith(folder) and not _is_tenant(n))
            elif name in self.current:
                out.add(name)
        # What a changed file declares (before or after the change) loads every file that names
        # it; what it only needs loads the files declaring it (below): two files that both only
        # use a name (forwards to the same address outside) meet in no rule.
        shared: set[str] = set()
        for name in self.changed:
            entry = self.snapshot.files.get(name)
            if entry is not None:
                shared |= entry.facts.names - entry.facts.needs
            new = self.facts.get(name)
            if new is not None:
                shared |= new.names - new.needs
        for naming, needing in self._holders(shared).values():
            out.update(naming, needing)
        # The needs, level by level (each level one pass over the files' names).
        frontier, seen = out | self.tenants, set[str]()
        while frontier:
            needs = set().union(*(self._facts(name).needs for name in frontier)) - seen
            seen |= needs
            # The holders that do not need it (the index says so of a file's snapshot facts,
            # which hold for the unchanged files it gives, unless this run loaded them).
            frontier = set()
            for need, holders in self._holders(needs).items():
                for needs_it, files in enumerate(holders):
                    for holder in files:
                        if holder not in out:
                            loaded = self.facts.get(holder)
                            if (need not in loaded.needs) if loaded is not None else not needs_it:
                                frontier.add(holder)
            out |= frontier
        return {name for name in out if name in self.current and not _is_tenant(name)}

    def _fixpoint(self) -> Desired:
        self.facts: dict[str, Facts] = {}
        subset: set[str] = set()
        for rounds in range(1, MAX_ROUNDS + 1):
            wider = self._widen(subset)
            if rounds > 1 and wider == subset:
                if self.problems:
                    raise _Fall(f"{len(self.problems)} problem(s), e.g. {self.problems[0]}")
                return self._result(subset, rounds - 1)
            subset = wider
            self._load(subset)
        raise _Fall(f"the files to load kept growing after {MAX_ROUNDS} loads")

    def _load(self, subset: set[str]) -> None:
        # The totals of the unchanged domain files not loaded: the estate's (the index's) less
        # those of the domain files loaded or changed (removed ones among them) it counts.
        files = self.snapshot.files
        outside = self.snapshot.index.outside(
            files[name].facts for name in subset | self.changed if name in files and indexed(name))
        try:
            desired, problems = run_desired(self.root, self.schema, self.env, facts=True,
                                            only=frozenset(subset), outside=outside, known=self.current)
        except Exception as exc:  # the full run words it (or does not fail): never wrong, only slower
            raise _Fall(f"the narrowed run failed: {exc!r}") from None
        if desired is None:
            raise _Fall("the site settings cannot be used")
        if desired.facts is None:
            raise _Fall("a service declares no facts")
        self.desired = desired
        self.facts = dict(desired.facts)
        self.problems = sorted(p for p in problems if not (p.code and p.code in self.tolerate))

    # -- the result ------------------------------------------------------------------------

    def _result(self, subset: set[str], rounds: int) -> Desired:
        desired = self.desired
        estate = desired.catalog.estate
        loaded = subset | self.tenants
        for name in loaded:
            if estate.digests is not None and estate.digests.get(name) != self.current[name]:
                raise _Fall(f"{name} changed during the run")
        try:
            compiled = desired.resources
        except Exception as exc:
            raise _Fall(f"the narrowed compile failed: {exc!r}") from None
        by_file, unplaced = outlines_by_file(compiled.values())
        if unplaced is not None:
            raise _Fall(unplaced)
        site = by_file.pop(display_of(self.root / SITE_FILE, self.root), [])
        known = self.snapshot.files.get(SITE)
        if {o[:2] for o in site} != ({o[:2] for o in known.outlines} if known is not None else set()):
            raise _Fall("the site settings compile to other resources than in the snapshot")
        stray = sorted(set(by_file) - loaded)
        if stray:
            raise _Fall(f"resources come from {stray[0]}, which was not loaded")
        files = self.snapshot.files
        outlined = [name for name in self.current if name not in loaded]
        fresh = {name: self._entry(name, files.get(name), by_file.get(name, ())) for name in loaded}
        self._unique(fresh, frozenset(outlined))
        # The files not loaded as groups of outlines, made only when looked up (a narrowed plan
        # looks at a few dozen of their ~70,000 objects at 30,000 mailboxes); which group holds
        # an address, from the snapshot's index of identities.
        groups = [OutlineGroup(files[name].summary, _rows_of(files[name])) for name in outlined]
        position = {name: number for number, name in enumerate(outlined)}
        identities = self.snapshot.identities

        def locate(address: str) -> list[int]:
            return [position[name] for name in identities.files_of(address) if name in position]

        desired._resources = Outlined(compiled, groups, locate)
        desired.partial = Partial(frozenset(subset), frozenset(outlined), frozenset(self.changed), rounds)
        self._update(fresh)
        return desired

    def _unique(self, fresh: Mapping[str, FileEntry], outlined: frozenset[str]) -> None:
        """No object compiled from a loaded file is also an outlined file's: only an address a
        loaded file did not have in the snapshot can be (the snapshot's estate was valid), and
        the snapshot's index of identities says whose it is there."""
        old = self.snapshot.files
        for name, entry in fresh.items():
            before = old.get(name)
            if before is entry:
                continue
            known = set(before.addresses()) if before is not None else set()
            for address in entry.addresses():
                if address not in known:
                    for holder in self.snapshot.identities.files_of(address):
                        if holder in outlined and address in self.snapshot.files[holder].addresses():
                            raise _Fall(f"{address} of {holder} is also compiled from the files loaded")

    def _update(self, fresh: Mapping[str, FileEntry]) -> None:
        """The snapshot with the files loaded as this run saw them (the estate is valid)."""
        old = self.snapshot.files
        # Files not loaded that were read again (touched, the same bytes): known by the new stat.
        touched = {name: entry.restated(self.stats[name]) for name, entry in old.items()
                   if name in self.stats and name not in fresh and entry.stat != self.stats[name]}
        if old.keys() - {SITE} <= self.current.keys() and not touched and all(
                old.get(name) is entry for name, entry in fresh.items()):
            return
        files = {name: entry for name, entry in old.items() if name in self.current or name == SITE}
        files.update(touched)
        files.update(fresh)
        # The index follows the domain files whose facts may differ: those loaded, those gone;
        # the identities, the files whose outlines may differ: those loaded anew, those gone.
        changes: dict[str, tuple[Facts | None, Facts | None]] = {
            name: (old[name].facts if name in old else None, entry.facts)
            for name, entry in fresh.items() if indexed(name)}
        changes.update((name, (entry.facts, None)) for name, entry in old.items()
                       if name not in files and indexed(name))
        moved: dict[str, tuple[Collection[str], Collection[str]]] = {
            name: (old[name].addresses() if name in old else (), entry.addresses())
            for name, entry in fresh.items() if old.get(name) is not entry}
        moved.update((name, (entry.addresses(), ())) for name, entry in old.items() if name not in files)
        path = snapshot_path(self.root, self.env)
        if path is not None:
            snapshot = self.snapshot
            write(path, Snapshot(snapshot.context, files, snapshot.index.updated(changes),
                                 snapshot.identities.updated(moved)))

    def _entry(self, name: str, old: FileEntry | None, rows: Sequence[OutlineData]) -> FileEntry:
        """A loaded file's entry as this run saw it: its old one when the same in every part
        (compared unpacked: cheaper than packing the new one, for most of the files loaded)."""
        facts, stat = self.facts.get(name, Facts()), self.stats.get(name)
        if old is not None and old.digest == self.current[name] and old.stat == stat \
                and old.data == facts.to_data() and old.outlines == tuple(rows):
            return old
        return FileEntry.of(self.current[name], facts, rows, stat)


def _rows_of(entry: FileEntry) -> Callable[[], Sequence[OutlineData]]:
    """A group's rows, read when the plan first looks into it: damaged, the plan goes the full way."""
    def rows() -> Sequence[OutlineData]:
        try:
            return entry.outlines
        except Damaged:
            raise Incomplete("the snapshot is damaged") from None

    return rows


def _is_tenant(name: str) -> bool:
    return name.endswith("/" + TENANT_FILE)


__all__ = ["Fallback", "MAX_CHANGED_SHARE", "load_narrowed"]
