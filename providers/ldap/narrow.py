"""The narrowed read: what a plan of some tenants or domains needs from the directory.

``Within`` names anchors (wanted with everything below them in the live tree) and further
addresses (wanted wherever they live: moved or renamed by hand or by git). The read is a
handful of requests, whatever the size of the estate:

1. one search of the managed base for every named object, by its identifying class and
   naming attribute (equality-indexed: ``uid``, ``mail``, ``associatedDomain``, ``o``);
2. one subtree search below each anchor found (anchors inside another one are covered by
   it), paged only when it holds more than a page (``reader.below``);
3. one batch of base-scope reads of the parents of what was read that were not read
   themselves, with only their classes and names: a resource's parent is an address.

A whole-base scan of the DNs alone (attribute list ``1.1``) would give every DN up front,
but it costs about a sixth of a full plan at 10k mailboxes (0.155 s of python-ldap against
ldapsearch's 0.19 s for everything), more than a narrowed plan may take in all. The DN of an
entry that was not read is looked up instead when a write asks for it (``DnMap``): the new
tenant of a domain that moved, the domain of a created mailbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import live, mapping, reader
from ispctl.reconciler.contract import Within

T = TypeVar("T")
CHUNK = 500  # alternatives per search filter: a few tens of KiB, far below slapd's limits


def naming(dmap: mapping.DirectoryMap = mapping.BASE) -> list[str]:
    """Enough to know an entry as a parent: its kind and its key."""
    return sorted({"objectClass", *(kmap.rdn_attr for kmap in dmap.kinds.values())})


NAMING = naming()


def _term(address: str, dmap: mapping.DirectoryMap) -> str | None:
    kind, _, key = address.partition(".")
    kmap = dmap.kinds.get(kind)
    if kmap is None or not key:
        return None  # another provider's kind
    return f"(&(objectClass={kmap.identifying_class})({kmap.rdn_attr}={dnlib.escape_filter(key)}))"


def _filters(addresses: Iterable[str], dmap: mapping.DirectoryMap) -> Iterator[str]:
    terms = sorted({term for term in (_term(a, dmap) for a in addresses) if term is not None})
    for start in range(0, len(terms), CHUNK):
        yield f"(&{mapping.SEARCH_FILTER}(|{''.join(terms[start:start + CHUNK])}))"


def _new(page: Iterable[reader.RawEntry], seen: set[str]) -> list[reader.RawEntry]:
    """The entries of ``page`` not read before (a named object below an anchor comes twice)."""
    fresh = [entry for entry in page if entry[0] not in seen]
    seen.update(entry[0] for entry in fresh)
    return fresh


def read_within(conn: reader.Connection, tree: live.LiveTree, base: str, within: Within, page_size: int,
                dmap: mapping.DirectoryMap = mapping.BASE) -> None:
    """Read into ``tree`` at least every live entry ``within`` names (see the module docstring)."""
    attributes = mapping.search_attributes(dmap)
    seen: set[str] = set()
    for filterstr in _filters(within.anchors | within.addresses, dmap):
        for page in reader.paged(conn, base, filterstr, attributes, page_size):
            tree.add(_new(page, seen))
    anchors = sorted((tree.dns[a] for a in within.anchors if a in tree.dns), key=lambda d: len(dnlib.split_rdns(d)))
    tops: list[str] = []
    for anchor in anchors:  # shallowest first, so an anchor inside another is seen to be
        if not any(dnlib.is_within(anchor, top) for top in tops):
            tops.append(anchor)
    for top in tops:
        for page in reader.below(conn, top, mapping.SEARCH_FILTER, attributes, page_size):
            tree.add(_new(page, seen))
    tree.note(reader.lookups(conn, tree.unknown_parents(), naming(dmap), mapping.SEARCH_FILTER))


def locate(conn: reader.Connection, tree: live.LiveTree, base: str, address: str,
           dmap: mapping.DirectoryMap = mapping.BASE) -> None:
    """Note in ``tree`` the live entries that could be ``address`` (one indexed search)."""
    for filterstr in _filters([address], dmap):
        for page in reader.paged(conn, base, filterstr, naming(dmap), 100):
            tree.note(page)


class DnMap(dict[str, str]):
    """Address -> DN of the entries a narrowed read saw; any other address is looked up in the
    directory the first time ``get`` asks for it (``locate``), and kept."""

    def __init__(self, known: dict[str, str], locate: Callable[[str], str | None]) -> None:
        super().__init__(known)
        self._locate = locate

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...

    @overload
    def get(self, key: str, default: str, /) -> str: ...

    @overload
    def get(self, key: str, default: T, /) -> str | T: ...

    def get(self, key: str, default: Any = None, /) -> Any:
        found = super().get(key)
        if found is None:
            found = self._locate(key)
            if found is None:
                return default
            self[key] = found
        return found

