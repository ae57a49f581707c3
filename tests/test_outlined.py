"""A narrowed run's desired state (``engine.outlined.Outlined``): the compiled objects and the
outlines of the files not loaded, made a group at a time when looked up. It must answer as the
plain mapping of every object would, and make no group it is not asked about."""

from __future__ import annotations

from collections import Counter

import pytest

from ispctl.reconciler.engine.narrow_index import summarise
from ispctl.reconciler.engine.outlined import Outlined, OutlineGroup, held, kind_counts
from ispctl.reconciler.engine.resources import Incomplete, OutlineRow, Resource, is_outline

ROWS: list[list[OutlineRow]] = [
    [("domain", "a.example", "tenant.t", (), ()), ("mailbox", "x@a.example", "domain.a.example", (), ()),
     ("maildir", "x@a.example", "mailbox.x@a.example", (), ())],
    [("domain", "b.example", "tenant.t", (), ("old.example",)), ("zone", "b.example", None, ("domain.b.example",), ())],
]
COMPILED = {("tenant", "t"): Resource("tenant", "t"), ("domain", "c.example"): Resource("domain", "c.example",
                                                                                      parent="tenant.t")}


class Counted:
    """The rows of a group, and how many times they were asked for."""

    def __init__(self, rows: list[OutlineRow]) -> None:
        self.rows = rows
        self.asked = 0

    def __call__(self) -> list[OutlineRow]:
        self.asked += 1
        return self.rows


def outlined(locate: dict[str, tuple[int, ...]] | None = None) -> tuple[Outlined, list[Counted]]:
    loads = [Counted(rows) for rows in ROWS]
    groups = [OutlineGroup(summarise(rows), load) for rows, load in zip(ROWS, loads, strict=True)]
    if locate is None:
        return Outlined.of(COMPILED, groups), loads
    return Outlined(COMPILED, groups, lambda address: locate.get(address, ())), loads


def test_a_lookup_makes_only_the_group_that_holds_it() -> None:
    found, loads = outlined()
    for load in loads:
        load.asked = 0  # (``of`` read them to index them; a snapshot's index is saved instead)
    assert found.get(("tenant", "t")) is COMPILED[("tenant", "t")]
    assert [load.asked for load in loads] == [0, 0]
    mailbox = found[("mailbox", "x@a.example")]
    assert is_outline(mailbox) and mailbox.parent == "domain.a.example"
    assert found.get(("mailbox", "x@a.example")) is mailbox  # made once: the same object
    assert [load.asked for load in loads] == [1, 0]
    assert found.get(("mailbox", "nobody@a.example")) is None and ("mailbox", "nobody@a.example") not in found
    assert "mailbox.x@a.example" not in found  # type: ignore[comparison-overlap]  (an address is no identity)
    with pytest.raises(KeyError):
        found[("zone", "a.example")]
    assert found.home("zone.b.example") == 1 and found.home("zone.z.example") is None


def test_counts_come_from_the_summaries_and_the_whole_walk_is_the_plain_mapping() -> None:
    found, loads = outlined()
    for load in loads:
        load.asked = 0
    assert found.kind_counts() == Counter({"domain": 3, "tenant": 1, "mailbox": 1, "maildir": 1, "zone": 1})
    assert len(found) == 7 and [load.asked for load in loads] == [0, 0]
    plain = {**COMPILED, **{row[:2]: row for rows in ROWS for row in rows}}
    assert sorted(found) == sorted(plain)
    assert all(found[ident] is resource for ident, resource in found.items())
    assert kind_counts(dict(found)) == found.kind_counts()


def test_a_view_of_some_kinds_holds_the_same_objects() -> None:
    found, _ = outlined()
    view = found.only({"domain", "zone"})
    assert view.kind_counts() == Counter({"domain": 3, "zone": 1}) and len(view) == 4
    assert ("mailbox", "x@a.example") not in view and ("tenant", "t") not in view
    assert view[("domain", "a.example")] is found[("domain", "a.example")]
    assert sorted(view) == sorted(ident for ident in found if ident[0] in {"domain", "zone"})
    assert held(view, found) and held(dict(view), found)
    assert not held(found, found.only({"tenant"}))  # (a view holds a part, not the whole)
    other = dict(view)
    other[("domain", "a.example")] = Resource("domain", "a.example", parent="tenant.u")
    assert not held(other, found)


def test_a_group_named_in_vain_is_looked_past() -> None:
    """Two addresses may share a digest in the snapshot's index: it names both groups."""
    found, _ = outlined({"zone.b.example": (0, 1), "mailbox.x@a.example": (1, 0)})
    assert found[("zone", "b.example")].depends_on == ("domain.b.example",)
    assert found[("mailbox", "x@a.example")].key == "x@a.example"
    assert found.home("zone.b.example") == 1


def test_rows_that_are_not_rows_make_the_plan_go_the_full_way() -> None:
    broken = OutlineGroup(summarise([]), lambda: [("domain", "d.example")])  # type: ignore[list-item]
    found = Outlined(COMPILED, [broken], lambda address: (0,))
    with pytest.raises(Incomplete):
        found.get(("domain", "d.example"))
