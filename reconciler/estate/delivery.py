"""Where mail to each address of the estate ends up: the delivery graph, checked as a whole.

Each rule of validation checks one reference; only the whole graph shows a loop that runs
through two aliases, an alias domain and a forward, or a catch-all that hands every unknown
address to the outside world. Postfix would bounce the first after a thousand expansions
(``virtual_alias_recursion_limit``) and happily relay the second, so both are refused here,
with the path in the message.

Nodes are the owners of addresses (a mailbox or an alias, named by its address) and one
``*@domain`` node per catch-all; an extra address, an alias domain and a catch-all are
followed while resolving a target, and each step is written into the path. The walk is
iterative and linear in the size of the estate (100k mailboxes must not hit Python's
recursion limit or a quadratic search).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ispctl.reconciler.estate.catalog import Catalog, Origin
from ispctl.reconciler.estate.yamlload import FieldPath

EXTERNAL = "external"


@dataclass(frozen=True)
class Edge:
    """One declared hop: ``source`` sends mail to ``target``, as written at ``origin``/``path``."""

    source: str
    address: str         # the target as written (resolved to its full form)
    target: str          # the node that takes it, EXTERNAL:<address>, or "" when nothing does
    origin: Origin
    path: FieldPath


@dataclass(frozen=True)
class DeliveryProblem:
    origin: Origin
    path: FieldPath
    message: str


def catch_all_node(domain: str) -> str:
    return f"*@{domain}"


class DeliveryGraph:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.edges: dict[str, list[Edge]] = {}
        self._build()

    def resolve(self, address: str) -> str:
        """The node that takes mail for ``address`` (through extra addresses, alias domains
        and catch-alls), ``EXTERNAL:address`` outside the estate, or "" when nothing does."""
        seen: set[str] = set()
        current = address
        while current not in seen:
            seen.add(current)
            owner = self.catalog.addresses.get(current)
            if owner is not None:
                return owner
            local, dom = current.split("@", 1)
            domain = self.catalog.domains.get(dom)
            if domain is None:
                return f"{EXTERNAL}:{current}"
            if domain.alias_of:
                current = f"{local}@{domain.alias_of}"
                continue
            return catch_all_node(dom) if domain.catch_all is not None else ""
        return ""  # alias domains cannot chain (validation refuses it); belt and braces

    def _add(self, source: str, target: str, origin: Origin, path: FieldPath) -> None:
        self.edges.setdefault(source, []).append(Edge(source, target, self.resolve(target), origin, path))

    def _build(self) -> None:
        for alias in self.catalog.aliases.values():
            for target in alias.targets:
                self._add(alias.address, target, alias.origin, alias.written[target])
        for box in self.catalog.mailboxes.values():
            for target in box.forward:
                self._add(box.address, target, box.origin, box.written[target])
        for domain in self.catalog.domains.values():
            if domain.catch_all is not None:
                self._add(catch_all_node(domain.name), domain.catch_all, domain.origin, ("mail", "catch_all"))

    # -- checks --------------------------------------------------------------------------

    def cycles(self) -> Iterator[list[Edge]]:
        """Each loop once, as the edges that make it (iterative DFS with three colours)."""
        state: dict[str, int] = {}  # 1 on the current path, 2 finished
        for start in sorted(self.edges):
            if state.get(start):
                continue
            path: list[Edge] = []
            stack: list[tuple[str, Iterator[Edge]]] = [(start, iter(self.edges.get(start, ())))]
            state[start] = 1
            while stack:
                node, pending = stack[-1]
                edge = next(pending, None)
                if edge is None:
                    state[node] = 2
                    stack.pop()
                    if path:
                        path.pop()
                    continue
                nxt = edge.target
                if not nxt or nxt.startswith(EXTERNAL):
                    continue
                if state.get(nxt) == 1:
                    first = next(i for i, e in enumerate(path + [edge]) if e.source == nxt)
                    yield (path + [edge])[first:]
                elif not state.get(nxt):
                    state[nxt] = 1
                    path.append(edge)
                    stack.append((nxt, iter(self.edges.get(nxt, ()))))

    def relays(self) -> Iterator[list[Edge]]:
        """From each catch-all, the first way out of the estate (breadth first: the shortest)."""
        for domain in sorted(self.catalog.domains.values(), key=lambda d: d.name):
            if domain.catch_all is None:
                continue
            start = catch_all_node(domain.name)
            came: dict[str, Edge | None] = {start: None}
            queue = [start]
            found: Edge | None = None
            while queue and found is None:
                nxt_queue = []
                for node in queue:
                    for edge in self.edges.get(node, ()):
                        if edge.target.startswith(EXTERNAL):
                            found = edge
                            break
                        if edge.target and edge.target not in came:
                            came[edge.target] = edge
                            nxt_queue.append(edge.target)
                    if found is not None:
                        break
                queue = nxt_queue
            if found is not None:
                chain = [found]
                back = came.get(found.source)
                while back is not None:
                    chain.insert(0, back)
                    back = came.get(back.source)
                yield chain


def describe(edges: list[Edge], start: str) -> str:
    """``a@x → b@y = *@y → a@x``: each hop as written, ``= node`` where it lands elsewhere
    (an extra address, an alias domain, a catch-all)."""
    parts = [start]
    for edge in edges:
        lands = edge.target
        if lands and not lands.startswith(EXTERNAL) and lands != edge.address:
            parts.append(f"{edge.address} = {lands}")
        else:
            parts.append(edge.address)
    return " → ".join(parts)


def check_delivery(catalog: Catalog,
                   maybe_internal: Callable[[str], bool] = lambda address: False) -> list[DeliveryProblem]:
    """Loops and open relays; a way out to an address that ``maybe_internal`` (in a domain
    file that failed to load, which would look external) is not called a relay."""
    graph = DeliveryGraph(catalog)
    problems = []
    for loop in graph.cycles():
        first = min(loop, key=lambda e: (e.origin.doc.file, e.source))
        rotated = loop[loop.index(first):] + loop[:loop.index(first)]
        problems.append(DeliveryProblem(first.origin, first.path,
                                        f"mail loops: {describe(rotated, first.source)}; no mailbox ever receives it"))
    for chain in graph.relays():
        if maybe_internal(chain[-1].address):
            continue
        head = chain[0]
        problems.append(DeliveryProblem(
            head.origin, head.path,
            f"the catch-all sends mail for every unknown address out of the estate ({describe(chain, head.source)}): "
            "an open relay for spam; point it at a mailbox or alias that keeps the mail here"))
    return problems
