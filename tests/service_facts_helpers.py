"""A service's facts (``Service.facts``, ``estate.facts``) of an estate the real pipeline built,
and narrowed runs (``estate.incremental``) checked against the full run.

The facts hooks are called as the estate calls them: on the catalog of the whole estate, each
with what its own compile hook returned in that run, and on an estate with problems too (a
test shows the two files of a rule across files share a name even where they conflict).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.engine.resources import Resource, is_outline
from ispctl.reconciler.estate import snapshot
from ispctl.reconciler.estate.desired import Desired, Partial, check_desired
from ispctl.reconciler.estate.facts import Facts, merge_all
from ispctl.reconciler.estate.incremental import Fallback, load_narrowed
from ispctl.reconciler.estate.schema import EstateSchema
from tests.wiring import SCHEMA


def service_facts(root: Path, service: str) -> tuple[dict[str, Facts], list[str]]:
    """``service``'s facts of the estate at ``root`` (file as problems name it -> facts) and
    every problem of the estate's full validation, as text."""
    desired, problems = check_desired(root, SCHEMA)
    assert desired is not None, problems
    index = [extension.service for extension in SCHEMA.extensions].index(service)
    hook = SCHEMA.extensions[index].facts
    assert hook is not None, f"{service} declares no facts"
    return dict(hook(desired.catalog, desired.contributions[index])), _texts(problems)


def every_service_facts(root: Path) -> dict[str, Facts]:
    """Every service's facts of a valid estate, merged per file as a full run merges them
    (services that declare none yet left out)."""
    desired, problems = check_desired(root, SCHEMA)
    assert desired is not None and not problems, problems
    return merge_all(extension.facts(desired.catalog, compiled)
                     for extension, compiled in zip(SCHEMA.extensions, desired.contributions, strict=True)
                     if extension.facts is not None)


def _texts(problems: list[Problem]) -> list[str]:
    return [str(p) for p in sorted(set(problems))]


def shared(facts: dict[str, Facts], one: str, other: str) -> set[str]:
    """The names two files' facts share (so a narrowed plan loads them together)."""
    return set(facts[one].names) & set(facts[other].names)


def loaded_with(facts: dict[str, Facts], file: str) -> set[str]:
    """The other files a narrowed run loads with ``file`` for its needs (transitively): those
    that name a need of a file loaded without needing it themselves (``estate.incremental``)."""
    out, queue = {file}, [file]
    while queue:
        needs = facts[queue.pop()].needs
        for other, found in facts.items():
            if other not in out and (needs & found.names) - found.needs:
                out.add(other)
                queue.append(other)
    return out - {file}


# -- narrowed runs (estate.incremental) ----------------------------------------------------------

def _alone(schema: EstateSchema, service: str) -> EstateSchema:
    """The schema with ``service``'s facts hook and every other's saying nothing: the catalog's
    own facts and this service's must be enough for the narrowed run to be right."""
    return replace(schema, extensions=tuple(
        e if e.service == service else replace(e, facts=lambda catalog, compiled: {}) for e in schema.extensions))


class Narrowing:
    """An estate primed for narrowed runs of ``service``'s facts alone (``_alone``): the snapshot
    of a full run that found no problem, in its own cache folder. The estate needs more than
    five files for one changed file to be narrowed (``incremental.MAX_CHANGED_SHARE``)."""

    def __init__(self, root: Path, cache: Path, service: str) -> None:
        self.root = root
        self.schema = _alone(SCHEMA, service)
        self.env = {"ISPCTL_CACHE_DIR": str(cache)}
        desired, problems = check_desired(root, self.schema, self.env, facts=True)
        assert desired is not None and not problems, problems
        assert snapshot.save(root, self.schema, self.env, desired) is None

    def narrowed(self, *changed: Path) -> Desired | Fallback:
        return load_narrowed(self.root, self.schema, self.env, list(changed))

    def full(self) -> tuple[dict[tuple[str, str], Resource], list[str]]:
        """The full run's resources (none when it has problems) and problems, as text."""
        desired, problems = check_desired(self.root, self.schema, self.env)
        assert desired is not None
        return ({} if problems else desired.resources), _texts(problems)

    def falls_back(self, *changed: Path) -> str:
        """The one problem the full run finds, which the narrowed run falls back on."""
        found = self.narrowed(*changed)
        _, problems = self.full()
        assert len(problems) == 1, problems
        assert isinstance(found, Fallback), f"the full run finds {problems[0]}, the narrowed one nothing"
        assert problems[0] in found.reason, found.reason
        return problems[0]

    def same_as_full(self, *changed: Path) -> Partial:
        """The narrowed run's files: it took the fast path and compiled exactly what the full
        run compiles (its outlines have the full run's identities)."""
        found = self.narrowed(*changed)
        assert isinstance(found, Desired), found
        expected, problems = self.full()
        assert problems == []
        assert set(found.resources) == set(expected)
        for identity, resource in found.resources.items():
            if not is_outline(resource):
                assert resource == expected[identity] and dict(resource.attrs) == dict(expected[identity].attrs)
        assert found.partial is not None
        return found.partial
