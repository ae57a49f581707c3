"""The index a snapshot keeps of its domain files' names and totals (estate.snapshot_index):
what it answers, and that kept up to date change by change it is the one worked out anew.
Its use by narrowed runs is compared with full runs in test_incremental*."""

from __future__ import annotations

import marshal

import pytest

from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.snapshot_index import BUCKETS, Damaged, Index

A, B, C = "t/a.example.yaml", "t/b.example.yaml", "t/c.example.yaml"
FILES = {
    A: Facts(frozenset({"domain:a.example", "address:x@a.example", "domain:c.example"}),
             frozenset({"domain:c.example"}), {"usage:t:mailboxes": 1, "usage:t:quota": 0}),
    B: Facts(frozenset({"domain:b.example", "domain:c.example"}), frozenset({"domain:c.example"}),
             {"usage:t:mailboxes": 2}),
    C: Facts(frozenset({"domain:c.example"}), frozenset(), {"usage:t:mailboxes": 4, "usage:u:mailboxes": 1}),
}


def test_holders_tell_the_files_naming_a_name_from_those_needing_it() -> None:
    index = Index.of(FILES.items())
    assert index.holders(["domain:c.example", "domain:a.example", "domain:nowhere.example"]) == {
        "domain:c.example": ((C,), (A, B)),
        "domain:a.example": ((A,), ()),
    }
    assert index.holders([]) == {}


def test_totals_are_summed_without_zeros_and_outside_leaves_files_out() -> None:
    index = Index.of(FILES.items())
    assert index.totals == {"usage:t:mailboxes": 7, "usage:u:mailboxes": 1}
    assert index.outside([FILES[C]]) == {"usage:t:mailboxes": 3}
    assert index.outside([FILES[A], FILES[B], FILES[C]]) == {}
    assert index.outside([]) == index.totals


@pytest.mark.parametrize("change", ["edited", "removed", "added", "needs-turned-names", "unchanged"])
def test_an_updated_index_is_the_one_worked_out_anew(change: str) -> None:
    before = dict(FILES)
    after = dict(FILES)
    if change == "edited":
        after[A] = Facts(frozenset({"domain:a.example", "address:y@a.example"}), frozenset(), {"usage:t:mailboxes": 3})
    elif change == "removed":
        del after[C]
    elif change == "added":
        after["t/d.example.yaml"] = Facts(frozenset({"domain:d.example", "domain:c.example"}),
                                          frozenset({"domain:c.example"}), {"usage:v:mailboxes": 1})
    elif change == "needs-turned-names":
        after[B] = Facts(FILES[B].names, frozenset(), FILES[B].totals)
    changes = {file: (before.get(file), after.get(file)) for file in before.keys() | after.keys()}
    updated = Index.of(before.items()).updated(changes)
    anew = Index.of(after.items())
    assert updated == anew
    assert updated.totals == anew.totals
    names = {name for facts in (*before.values(), *after.values()) for name in facts.names}
    assert updated.holders(names) == anew.holders(names)


def test_an_index_reads_back_from_its_data_and_damage_is_told() -> None:
    index = Index.of(FILES.items())
    again = Index.from_data(marshal.loads(marshal.dumps(index.to_data())))
    assert again is not None and again == index
    assert Index.from_data(((b"",) * (BUCKETS - 1), {})) is None
    assert Index.from_data("not an index") is None
    broken = Index((b"\x00garbage",) * BUCKETS, {})
    with pytest.raises(Damaged):
        broken.holders(["domain:a.example"])
