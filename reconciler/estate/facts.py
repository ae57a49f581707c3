"""What the rules across files read of each file: the facts a narrowed plan checks instead of
loading the whole estate (``estate.incremental``).

A full run knows every file; a plan narrowed by ``--changed-since`` wants to load, check and
compile only the files it plans, and still refuse everything the full run would. It can,
when the last full run that found no problem left a snapshot (``estate.snapshot``) of every
file's facts: only files that changed since, and the files whose facts share a name with
theirs, can have a new problem or a new value. Each file's ``Facts`` say how it touches the
others, in three plain forms, so the engine can tell which files to load without knowing any
rule:

* ``names``: identifiers this file declares or uses that another file could also declare or
  use, namespaced by what they are (``address:x@example.com``, ``domain:example.com``,
  ``host:www.example.com``, ``uid:108610645``). Two files sharing a name are always loaded
  together when either changed, so every rule comparing them runs as in a full run.
* ``needs``: the subset of ``names`` this file only uses, whose declaring files must be
  loaded with it (and theirs, transitively): a forwarding target's mailbox and domain, an
  alias domain's target. A rule that follows references (delivery loops) then sees the whole
  chain.
* ``totals``: counters summed over the estate by rules with a bound (``usage:<tenant>:mailboxes``,
  ``placed:mail_store:<host>``). The files not loaded are summed into ``Catalog.outside`` so
  those rules see the whole estate's count.

A name or total that a rule depends on and that is not declared here makes a narrowed plan
wrong, so each service declares its own (``Service.facts``) and its tests show a rule across
files is still enforced when only one of the two files changed. Facts are plain data (strings
and ints) so they store with ``marshal``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the catalog imports the loader, which is heavy; facts are plain data
    from ispctl.reconciler.estate.catalog import Catalog
    from ispctl.reconciler.estate.compile import Compiled

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Facts:
    """One file's part in the rules across files (module docstring)."""

    names: frozenset[str] = frozenset()
    needs: frozenset[str] = frozenset()   # a subset of names
    totals: Mapping[str, int] = field(default_factory=lambda: _EMPTY)

    def merged(self, other: Facts) -> Facts:
        if not other.names and not other.totals:
            return self
        totals = dict(self.totals)
        for key, value in other.totals.items():
            totals[key] = totals.get(key, 0) + value
        return Facts(self.names | other.names, self.needs | other.needs, totals)

    def to_data(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, int], ...]]:
        return tuple(sorted(self.names)), tuple(sorted(self.needs)), tuple(sorted(self.totals.items()))

    @classmethod
    def from_data(cls, data: tuple[Iterable[str], Iterable[str], Iterable[tuple[str, int]]]) -> Facts:
        names, needs, totals = data
        return cls(frozenset(names), frozenset(needs), dict(totals))


class FileFacts:
    """One file's facts as they are gathered: what it declares, names and uses.

    ``declared``: names the file takes (an address, a host); ``named``: names it shares with
    others' rules without taking or needing them (a ``previous:`` address); ``used``: names
    it needs from the files declaring them. What the file declares itself it needs from no
    other (a forward to a mailbox of its own domain): the files that need it find this file
    as its declarer, so ``facts`` leaves it out of the needs."""

    __slots__ = ("declared", "named", "used", "totals")

    def __init__(self) -> None:
        self.declared: set[str] = set()
        self.named: set[str] = set()
        self.used: set[str] = set()
        self.totals: dict[str, int] = {}

    def count(self, key: str, value: int = 1) -> None:
        self.totals[key] = self.totals.get(key, 0) + value

    def facts(self) -> Facts:
        needs = self.used - self.declared
        return Facts(frozenset(self.declared | self.named | needs), frozenset(needs), self.totals)


class FactsBuilder:
    """Facts per file, added to name by name (``file`` as problems show it: ``Document.file``)."""

    def __init__(self) -> None:
        self.files: dict[str, FileFacts] = {}

    def of(self, file: str) -> FileFacts:
        found = self.files.get(file)
        if found is None:
            found = self.files[file] = FileFacts()
        return found

    def name(self, file: str, *names: str) -> None:
        self.of(file).named.update(names)

    def need(self, file: str, *names: str) -> None:
        self.of(file).used.update(names)

    def count(self, file: str, key: str, value: int = 1) -> None:
        self.of(file).count(key, value)

    def build(self) -> dict[str, Facts]:
        return {file: found.facts() for file, found in self.files.items()}


# A service's facts of the files of a catalog, from the catalog and what its compile hook
# returned for it in the same run (``Service.facts``). Files it says nothing about have none.
FactsHook = Callable[["Catalog", "Compiled"], Mapping[str, Facts]]


def merge_all(parts: Iterable[Mapping[str, Facts]]) -> dict[str, Facts]:
    out: dict[str, Facts] = {}
    for part in parts:
        for file, facts in part.items():
            found = out.get(file)
            out[file] = facts if found is None else found.merged(facts)
    return out
