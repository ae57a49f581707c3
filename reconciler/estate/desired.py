"""The estate's flow: load the files -> apply this machine's overrides -> build the catalog
-> run the services' compile hooks -> compile every resource.

``check_desired`` collects every problem and never raises for them (the DNS import checks
its own result with it); ``load_desired`` raises ``ValidationFailed`` with all of them, less
the ones a command can live with (``tolerate``: problem codes, e.g. the missing DKIM key
that ``ispctl dkim init`` exists to fix).

Asked for ``facts``, the run also gathers every file's ``Facts`` (``estate.facts``): the
estate's own (``estate.catalog_facts``) and each service's, from its facts hook right after
its compile hook (before the compile takes its contribution), and the digest of every file
read. A snapshot of them (``estate.snapshot``) lets a later plan narrowed to a few changed
files load only those (``estate.incremental``), which runs this same pipeline on a subset.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ispctl.reconciler.engine.errors import Problem, ValidationFailed
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.engine.resources import Index
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.catalog_facts import catalog_facts
from ispctl.reconciler.estate.compile import Compiled, compile_catalog
from ispctl.reconciler.estate.facts import Facts, merge_all
from ispctl.reconciler.estate.lifecycle import lifecycle_problems
from ispctl.reconciler.estate.schema import EstateSchema
from ispctl.reconciler.estate.settings import with_overrides
from ispctl.reconciler.estate.sources import load_composed
from ispctl.reconciler.estate.validate import build_catalog


@dataclass
class Desired:
    """A validated estate and everything it compiles to."""

    catalog: Catalog
    contributions: list[Compiled] = field(default_factory=list)
    # (A narrowed run's are an ``outlined.Outlined``: the files it did not load in outlines.)
    _resources: Index | None = None
    _failed: Exception | None = None
    # Every file's facts (``Document.file`` -> merged facts) when the run was asked for them;
    # None when it was not, or when a service with a compile hook declares none.
    facts: dict[str, Facts] | None = None
    # A narrowed run (``estate.incremental``): what it loaded and what it only outlined.
    partial: Partial | None = None
    # What the services' hooks read outside the files (``EstateSchema.inputs_key``), taken
    # before they ran: a full run asked for facts, for the snapshot it saves (``estate.snapshot``).
    inputs: bytes | None = None

    @property
    def resources(self) -> Index:
        """Compiled on first use. The services' contributions are handed over to the compile
        and let go of one by one as they are merged: what they add is in the resources
        afterwards, and kept here it was a dict per mailbox for the rest of the run (tens of
        MB at 100,000 mailboxes, at the desired side's peak). A compile that failed fails the
        same way again rather than compiling what is left."""
        if self._resources is None:
            if self._failed is not None:
                raise self._failed
            parts, self.contributions = self.contributions, []
            try:
                with collector_paused():
                    self._resources = compile_catalog(self.catalog, _handed_over(parts))
            except Exception as exc:
                self._failed = exc
                raise
        return self._resources


@dataclass(frozen=True)
class Partial:
    """What a narrowed run (``estate.incremental``) read: the domain files it loaded (besides
    every tenant file and the site settings), those whose resources are only outlined, the
    files that changed since the snapshot, and how many times the subset was widened."""

    loaded: frozenset[str]
    outlined: frozenset[str]
    changed: frozenset[str]
    rounds: int = 1


def _handed_over(parts: list[Compiled]) -> Iterator[Compiled]:
    """Each part in order, no longer held by ``parts`` once it is given out."""
    parts.reverse()
    while parts:
        yield parts.pop()


def check_desired(root: Path, schema: EstateSchema, env: Mapping[str, str] | None = None,
                  facts: bool = False) -> tuple[Desired | None, list[Problem]]:
    """The estate as far as it can be read (with every repository it is composed of, see
    ``estate.sources``), and every problem found on the way; with ``facts``, also every
    file's facts (``Desired.facts``) and digest (``Estate.digests``), and the services' inputs
    (``Desired.inputs``)."""
    with collector_paused():
        return run_desired(root, schema, env, facts=facts, inputs=facts)


def run_desired(root: Path, schema: EstateSchema, env: Mapping[str, str] | None, *, facts: bool = False,
                only: frozenset[str] | None = None, outside: Mapping[str, int] | None = None,
                inputs: bool = False, known: Mapping[str, bytes] | None = None) -> tuple[Desired | None, list[Problem]]:
    """``check_desired``'s pipeline; a narrowed run (``estate.incremental``) reads ``only``
    these domain files (``Found.only``) with ``outside`` the totals of the others
    (``Catalog.outside``), and files by the digests it ``known`` (``Found.known``).
    ``inputs``: also the services' inputs, taken before the hooks run."""
    estate, problems = load_composed(root, schema.files, env, only=only, digests=facts, known=known)
    if estate is None:
        return None, problems
    estate.site = with_overrides(estate.site, schema.overrides, env)
    catalog, more = build_catalog(estate, problems, outside)
    problems += more
    taken = schema.inputs_key(estate.site, os.environ if env is None else env) if inputs else None
    contributions = []
    parts: list[dict[str, Facts]] | None = [catalog_facts(catalog)] if facts else None
    for extension in schema.extensions:
        compiled = extension.hook(catalog)
        problems += compiled.problems
        contributions.append(compiled)
        if parts is not None:
            if extension.facts is None:
                parts = None  # its rules across files are unknown: no facts at all
            else:
                parts.append(dict(extension.facts(catalog, compiled)))
    problems += lifecycle_problems(catalog, contributions, schema.attributes)
    return Desired(catalog, contributions, facts=None if parts is None else merge_all(parts), inputs=taken), problems


def load_desired(root: Path, schema: EstateSchema, env: Mapping[str, str] | None = None,
                 tolerate: Collection[str] = ()) -> Desired:
    """Load and check everything; raise ValidationFailed with every problem found."""
    desired, problems = check_desired(root, schema, env)
    problems = [p for p in problems if not (p.code and p.code in tolerate)]
    if problems or desired is None:
        raise ValidationFailed(sorted(set(problems)))
    return desired


@dataclass
class EstateSession(Session):
    """A session over a validated estate: the catalog travels with it for scopes and gates."""

    catalog: Catalog = field(kw_only=True)
