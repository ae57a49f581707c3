"""The indexes a snapshot keeps (estate.snapshot_index): of its domain files' names and totals,
and of which file holds each identity: what they answer, and that kept up to date change by
change each is the one worked out anew. Their use by narrowed runs is compared with full runs
in test_incremental*."""

from __future__ import annotations

import marshal
import zlib

import pytest

from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.snapshot_index import BUCKETS, Damaged, Identities, Index

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
    assert Index.from_data(((b"",) * (BUCKETS - 1), {}, ())) is None
    assert Index.from_data((index.packed, index.totals, list(index.names))) is None
    assert Index.from_data("not an index") is None
    broken = Index((b"\x00garbage",) * BUCKETS, {}, index.names)
    with pytest.raises(Damaged):
        broken.holders(["domain:a.example"])
    with pytest.raises(Damaged):  # a file number past the files
        Index(index.packed, index.totals, ()).holders(["domain:a.example"])


# Two addresses with the same crc32: the identities' index keeps a digest, not the address.
SHARED = ("mailbox.u29685295@c.example", "mailbox.u32060020@c.example")
ADDRESSES = {
    A: ["domain.a.example", "mailbox.x@a.example", SHARED[0]],
    B: ["domain.b.example", "mailbox.y@b.example"],
    C: ["domain.c.example", SHARED[1]],
}


def test_identities_name_every_file_that_may_hold_an_address() -> None:
    assert zlib.crc32(SHARED[0].encode()) == zlib.crc32(SHARED[1].encode())  # (else this shows nothing)
    identities = Identities.of(ADDRESSES.items())
    assert identities.files_of("mailbox.x@a.example") == (A,)
    assert identities.files_of("domain.c.example") == (C,)
    assert identities.files_of("mailbox.nobody@a.example") == ()
    assert set(identities.files_of(SHARED[0])) == set(identities.files_of(SHARED[1])) == {A, C}


@pytest.mark.parametrize("change", ["edited", "removed", "added", "moved", "same-file-collision", "unchanged"])
def test_updated_identities_are_the_ones_worked_out_anew(change: str) -> None:
    before = {file: list(addresses) for file, addresses in ADDRESSES.items()}
    after = {file: list(addresses) for file, addresses in ADDRESSES.items()}
    if change == "edited":
        after[A] = ["domain.a.example", "mailbox.z@a.example"]
    elif change == "removed":
        del after[C]
    elif change == "added":
        after["t/d.example.yaml"] = ["domain.d.example", "mailbox.y@d.example"]
    elif change == "moved":  # a mailbox from one file to another (and the shared digest with it)
        after[A].remove(SHARED[0])
        after[B].append(SHARED[0])
    elif change == "same-file-collision":  # both addresses of one digest in one file, then one goes
        before[C].append(SHARED[0])
        before[A].remove(SHARED[0])
        after = {file: list(addresses) for file, addresses in before.items()}
        after[C].remove(SHARED[1])
    changes = {file: (before.get(file, []), after.get(file, [])) for file in before.keys() | after.keys()}
    updated = Identities.of(before.items()).updated(changes)
    anew = Identities.of(after.items())
    assert updated == anew
    everything = {address for addresses in (*before.values(), *after.values()) for address in addresses}
    for address in everything | {"mailbox.nobody@a.example"}:
        assert sorted(updated.files_of(address)) == sorted(anew.files_of(address)), address
        holders = {file for file, addresses in after.items() if address in addresses}
        assert holders <= set(updated.files_of(address))


def test_identities_read_back_and_damage_is_told() -> None:
    identities = Identities.of(ADDRESSES.items())
    again = Identities.from_data(tuple(map(bytes, identities.packed)), identities.names)
    assert again is not None and again == identities
    assert Identities.from_data((b"",) * (BUCKETS - 1), ()) is None
    assert Identities.from_data(identities.packed, ["not", "a", "tuple"]) is None
    with pytest.raises(Damaged):
        Identities((b"\x00garbage",) * BUCKETS, ()).files_of("domain.a.example")
    with pytest.raises(Damaged):  # a file number past the names
        Identities(identities.packed, ()).files_of("domain.a.example")
