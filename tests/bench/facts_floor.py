"""How cheap the rules across files could be over per-file facts: the floor of issue 11's design.

    python -m tests.bench.facts_floor --dir ESTATE [--repeat 3]

Session 22's design for ``plan --changed-since`` (notes: "H-PERF2") keeps, per domain file, a
compact record of what the rules across files read of it (the addresses it claims, where its
mail goes, what it uses of its tenants' limits) in a content-addressed cache, so that a
narrowed run loads and checks only the changed files and runs the rules over the facts of the
whole estate. Before building it, this measures what that would cost at a given size, in
this process, with the parse cache as the environment says:

* ``catalog stage``: ``build_catalog`` as every plan runs it today (the reference);
* ``facts: decode``: reading every file's facts back from one packed blob (``marshal``, as
  the parse cache stores its entries);
* ``facts: rules``: over the decoded facts of the whole estate, each address claimed once,
  every internal target deliverable (aliases of alias domains and catch-alls resolved), the
  limits' usage summed up each tenant chain, and the loops of the delivery graph.

The facts rules here are a model for timing, not a replacement for ``estate.validate``: they
only count what they find, and ``tests/test_bench_facts_floor.py`` checks that they find what
the catalog holds (claims, usage) and the loops ``estate.delivery`` finds. What it leaves out
is said in tests/bench/README.md: the services' compile hooks, which today need every domain.
"""

from __future__ import annotations

import argparse
import marshal
import os
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ispctl.providers.registry import services
from ispctl.reconciler.engine.heap import collector_paused
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.settings import with_overrides
from ispctl.reconciler.estate.sources import load_composed
from ispctl.reconciler.estate.validate import build_catalog

# One file's facts: (domain, tenant, alias_of, catch_all, claims, edges, usage), where claims
# is ((address, owner), ...), edges ((source, target), ...) and usage (mailboxes, aliases
# and extra addresses, quota sum, unlimited mailboxes).
Facts = tuple[str, str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[int, int, int, int]]
CATCH_ALL = "*@"
EXTERNAL = "external:"


def extract(catalog: Catalog) -> dict[str, Facts]:
    """Each domain file's facts, keyed by the file's name as problems show it."""
    claims: dict[str, list[tuple[str, str]]] = {}
    edges: dict[str, list[tuple[str, str]]] = {}
    usage: dict[str, list[int]] = {}
    for domain in catalog.domains.values():
        claims[domain.name], edges[domain.name], usage[domain.name] = [], [], [0, 0, 0, 0]
        if domain.catch_all is not None:
            edges[domain.name].append((CATCH_ALL + domain.name, domain.catch_all))
    for box in catalog.mailboxes.values():
        claims[box.domain].append((box.address, box.address))
        claims[box.domain].extend((extra, box.address) for extra in box.aliases)
        edges[box.domain].extend((box.address, target) for target in box.forward)
        used = usage[box.domain]
        used[0] += 1
        used[1] += len(box.aliases)
        used[2] += box.quota
        used[3] += box.quota == 0
    for alias in catalog.aliases.values():
        claims[alias.domain].append((alias.address, alias.address))
        edges[alias.domain].extend((alias.address, target) for target in alias.targets)
        usage[alias.domain][1] += 1
    found: dict[str, Facts] = {}
    for domain in catalog.domains.values():
        used = usage[domain.name]
        found[domain.origin.doc.file] = (domain.name, domain.tenant, domain.alias_of or "", domain.catch_all or "",
                                         tuple(claims[domain.name]), tuple(edges[domain.name]),
                                         (used[0], used[1], used[2], used[3]))
    return found


def pack(facts: Mapping[str, Facts]) -> bytes:
    return marshal.dumps(tuple(facts.items()))


def unpack(blob: bytes) -> dict[str, Facts]:
    return dict(marshal.loads(blob))


@dataclass
class Findings:
    duplicates: int = 0
    undeliverable: int = 0
    loops: int = 0
    # tenant -> [domains, mailboxes, aliases and extra addresses, quota sum, unlimited mailboxes]
    usage: dict[str, list[int]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)


def rules(facts: Mapping[str, Facts], parents: Mapping[str, str | None]) -> Findings:
    """The rules across files over the facts of every file (counts only)."""
    out = Findings()
    domains: dict[str, tuple[str, str]] = {}
    for name, _tenant, alias_of, catch_all, claims, _edges, _used in facts.values():
        domains[name] = (alias_of, catch_all)
        for address, owner in claims:
            if address in out.claims:
                out.duplicates += 1
            else:
                out.claims[address] = owner

    def node(target: str) -> str:
        local, _, dom = target.partition("@")
        for _ in range(2):  # an alias domain once; alias domains never chain
            owner = out.claims.get(f"{local}@{dom}")
            if owner is not None:
                return owner
            if dom not in domains:
                return EXTERNAL + target
            alias_of, catch_all = domains[dom]
            if not alias_of:
                return CATCH_ALL + dom if catch_all else ""
            dom = alias_of
        return ""

    graph: dict[str, list[str]] = {}
    for _name, _tenant, _alias_of, _catch_all, _claims, edges, _used in facts.values():
        for source, target in edges:
            to = node(target)
            if not to:
                out.undeliverable += 1
            graph.setdefault(source, []).append(to)
    out.loops = sum(1 for _ in _cycles(graph))
    for _name, tenant, _alias_of, _catch_all, _claims, _edges, used in facts.values():
        current: str | None = tenant
        while current is not None and current in parents:
            total = out.usage.setdefault(current, [0, 0, 0, 0, 0])
            total[0] += 1
            for i, value in enumerate(used, start=1):
                total[i] += value
            current = parents[current]
    return out


def _cycles(graph: Mapping[str, list[str]]) -> Iterator[str]:
    """One node per loop (iterative DFS with three colours, as ``estate.delivery`` walks)."""
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(graph.get(start, ())))]
        state[start] = 1
        while stack:
            current, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                state[current] = 2
                stack.pop()
            elif not nxt or nxt.startswith(EXTERNAL):
                continue
            elif state.get(nxt) == 1:
                yield nxt
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(graph.get(nxt, ()))))


def load_catalog(root: Path, env: Mapping[str, str] | None = None) -> Catalog:
    """The estate's catalog as a plan builds it (problems or not: the rules still ran)."""
    schema = services().schema
    estate, problems = load_composed(root, schema.files, env)
    if estate is None:
        raise SystemExit(f"{root}: the estate cannot be read: {problems[:3]}")
    estate.site = with_overrides(estate.site, schema.overrides, env)
    return build_catalog(estate, problems)[0]


def measure(root: Path, repeat: int, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """CPU seconds (medians) of the catalog stage and of the facts path, and the sizes."""
    schema = services().schema
    catalog_s, decode_s, rules_s = [], [], []
    with collector_paused():
        estate, problems = load_composed(root, schema.files, env)
        if estate is None:
            raise SystemExit(f"{root}: the estate cannot be read")
        estate.site = with_overrides(estate.site, schema.overrides, env)
        catalog = build_catalog(estate, problems)[0]
        blob = pack(extract(catalog))
        parents = {name: tenant.parent for name, tenant in catalog.tenants.items()}
        for _ in range(repeat):
            start = time.process_time()
            build_catalog(estate, problems)
            catalog_s.append(time.process_time() - start)
            start = time.process_time()
            facts = unpack(blob)
            decode_s.append(time.process_time() - start)
            start = time.process_time()
            rules(facts, parents)
            rules_s.append(time.process_time() - start)
    return {"files": len(catalog.domains), "facts_bytes": len(blob), "catalog": statistics.median(catalog_s),
            "decode": statistics.median(decode_s), "rules": statistics.median(rules_s)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.facts_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="the estate's root")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each part; medians are reported (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    found = measure(args.dir, args.repeat, os.environ)
    sys.stdout.write(f"domain files {found['files']}, facts {found['facts_bytes']} bytes packed\n"
                     f"{'catalog stage (today)':<28}{found['catalog']:>8.3f}\n"
                     f"{'facts: decode':<28}{found['decode']:>8.3f}\n"
                     f"{'facts: rules':<28}{found['rules']:>8.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
