"""Where each compiled object sits: the walk up from it to its domain and its tenants.

The engine's own walk (``resources.ancestors``: the parent, else the first dependency) over one
index of the compiled estate by address, built once per command: a DNS record reaches its zone,
its domain and the tenants above, a site its domain, a maildir its mailbox.
"""

from __future__ import annotations

from ispctl.reconciler.engine.resources import Index, Resource, ancestors
from ispctl.reconciler.estate.compile import DOMAIN, TENANT


class Tree:
    def __init__(self, compiled: Index) -> None:
        self.by_address = {r.address: r for r in compiled.values()}

    def chain(self, resource: Resource) -> list[str]:
        """Its address and those above it, nearest first."""
        return ancestors(resource, self.by_address)

    def nearest(self, resource: Resource, kind: str) -> str | None:
        """The key of the nearest object of ``kind`` at or above it."""
        prefix = kind + "."
        return next((a[len(prefix):] for a in self.chain(resource) if a.startswith(prefix)), None)

    def tenant(self, resource: Resource) -> str | None:
        return self.nearest(resource, TENANT)

    def domain(self, resource: Resource) -> str | None:
        return self.nearest(resource, DOMAIN)
