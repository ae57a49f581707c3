"""What is left of a file once its faulty fields are set aside, so later rules still run.

A file with one bad field used to be left out of the estate altogether: the rules across
files never saw it, and its other mistakes (a mail loop, a DNS record, a limit it breaks)
only surfaced in the next run, after the first was fixed. Here the fields the model refused
are removed (a whole entry when what it lacks is required), and the rest is validated again,
a few rounds at most. The result is only ever used to look for *more* problems: the run
still fails with the model's own problems, and what was cut is not reported again as
missing (``ispctl.reconciler.estate.uncertain``).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ispctl.reconciler.estate.model import DomainFile, SiteFile

M = TypeVar("M", bound=BaseModel)
# Fields whose default would change how the rest of the file reads: a domain whose refused
# ``type`` became "primary", or whose ``services`` lost "dns", would draw complaints about
# its alias_of, primaries or dns: section that are not mistakes. Such a file is not salvaged.
# Nor are site settings whose refused defaults would change every domain that relies on them.
DECISIVE: dict[type[BaseModel], frozenset[str]] = {
    DomainFile: frozenset({"type", "services", "primaries", "alias_of"}),
    SiteFile: frozenset({"defaults"}),
}
ROUNDS = 6  # each round removes every field the last one refused; a seventh finds nothing new
_GONE = object()  # a removed list item, dropped once a round's removals are done (indices stay put)


def salvage(model: type[M], data: Any) -> M | None:
    """The model of ``data`` without the fields it refuses, or None when nothing usable is left."""
    if not isinstance(data, dict):
        return None
    decisive = next((names for base, names in DECISIVE.items() if issubclass(model, base)), frozenset())
    current = copy.deepcopy(data)
    for _ in range(ROUNDS):
        try:
            return model.model_validate(current)
        except ValidationError as exc:
            done: set[tuple[int | str, ...]] = set()
            for err in exc.errors(include_url=False):
                loc = clean_loc(err["loc"])
                if err["type"] == "missing":
                    # An entry of a collection (a mailbox, an alias) that lacks a required field
                    # goes as a whole; a whole section cannot go: its absence would mean
                    # something else (no dns: section is "DNS not managed") and every file
                    # would then be refused for it. Nor can the file itself.
                    loc = loc[:-1]
                    if len(loc) < 2:
                        return None
                if not loc or loc[0] in decisive:
                    return None  # the file itself is at fault, or what decides how it reads
                # Several errors may name one field (or one inside another): it goes once.
                if any(loc[:n] in done for n in range(1, len(loc) + 1)):
                    continue
                path = _remove(current, loc)
                if path is not None:
                    done.add(path)
            if not done:
                return None
            current = _compact(current)
    return None


def clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Pydantic's location as a path into the data: without validator names and the
    ``[key]`` marker of a refused mapping key (the key's own entry is meant)."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))


def _remove(data: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    """Remove the deepest item of ``loc`` that the data holds, and return its path (None: none).

    A location may run past what was written (a short form the model expands, a union's
    member name): the deepest written part is removed then, which is the part at fault.
    """
    parent: Any = None
    key: int | str | None = None
    depth = 0
    node = data
    for step in loc:
        if isinstance(node, dict) and step in node:
            parent, key, node = node, step, node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node) and node[step] is not _GONE:
            parent, key, node = node, step, node[step]
        else:
            break
        depth += 1
    if parent is None or key is None:
        return None
    if isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = _GONE
    return loc[:depth]


def _compact(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _compact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_compact(v) for v in data if v is not _GONE]
    return data
