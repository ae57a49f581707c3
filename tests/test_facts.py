"""Per-file facts (``estate.facts``): what a file declares, names, needs and counts."""

from __future__ import annotations

import marshal

from ispctl.reconciler.estate.facts import Facts, FactsBuilder, FileFacts, merge_all


def test_a_name_a_file_declares_is_not_one_it_needs() -> None:
    found = FileFacts()
    found.declared.update({"address:a@x.example", "domain:x.example"})
    found.used.update({"address:a@x.example", "domain:y.example"})
    found.named.add("address:old@x.example")
    facts = found.facts()
    assert facts.needs == {"domain:y.example"}
    assert facts.names == {"address:a@x.example", "domain:x.example", "domain:y.example", "address:old@x.example"}


def test_a_shared_name_does_not_hide_a_need() -> None:
    out = FactsBuilder()
    out.name("a.yaml", "domain:y.example")
    out.need("a.yaml", "domain:y.example")
    assert out.build()["a.yaml"].needs == {"domain:y.example"}


def test_the_builder_keeps_files_apart_and_sums_counts() -> None:
    out = FactsBuilder()
    out.need("a.yaml", "zone:x.example")
    out.count("a.yaml", "placed:mail_store:mx1")
    out.count("a.yaml", "placed:mail_store:mx1", 2)
    out.count("b.yaml", "placed:mail_store:mx2")
    built = out.build()
    assert built["a.yaml"] == Facts(frozenset({"zone:x.example"}), frozenset({"zone:x.example"}),
                                    {"placed:mail_store:mx1": 3})
    assert built["b.yaml"].names == frozenset() and dict(built["b.yaml"].totals) == {"placed:mail_store:mx2": 1}


def test_services_facts_merge_per_file() -> None:
    one = {"a.yaml": Facts(frozenset({"host:a"}), frozenset(), {"sites:t": 1})}
    two = {"a.yaml": Facts(frozenset({"zone:a"}), frozenset({"zone:a"}), {"sites:t": 2}),
           "b.yaml": Facts(frozenset({"host:b"}))}
    merged = merge_all([one, two])
    assert merged["a.yaml"].names == {"host:a", "zone:a"} and merged["a.yaml"].needs == {"zone:a"}
    assert dict(merged["a.yaml"].totals) == {"sites:t": 3}
    assert merged["b.yaml"] == two["b.yaml"]


def test_facts_round_trip_as_plain_data() -> None:
    facts = Facts(frozenset({"b", "a"}), frozenset({"a"}), {"usage:t:mailboxes": 4})
    data = marshal.loads(marshal.dumps(facts.to_data()))
    assert Facts.from_data(data) == facts
