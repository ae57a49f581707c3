"""A service's facts (``Service.facts``, ``estate.facts``) of an estate the real pipeline built.

The facts hooks are called as the estate calls them: on the catalog of the whole estate, each
with what its own compile hook returned in that run, and on an estate with problems too (a
test shows the two files of a rule across files share a name even where they conflict).
"""

from __future__ import annotations

from pathlib import Path

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.desired import check_desired
from ispctl.reconciler.estate.facts import Facts, merge_all
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
