"""The estate's flow with the services' compile hooks: resources, problems and added attributes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from estate_builder import simple_estate

from ispctl.reconciler.engine.errors import ConfigError, ValidationFailed
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import Compiled
from ispctl.reconciler.estate.desired import check_desired, load_desired
from ispctl.reconciler.estate.schema import EstateSchema, NamedExtension
from tests.wiring import SCHEMA

CODE = "test.warning"


def _with(*hooks: NamedExtension) -> EstateSchema:
    return replace(SCHEMA, extensions=SCHEMA.extensions + hooks)


def _homes(catalog: Catalog) -> Compiled:
    return Compiled(attrs={f"mailbox.{a}": {"shell": "/bin/false"} for a in catalog.mailboxes})


def _note(catalog: Catalog) -> Compiled:
    domain = next(iter(catalog.domains.values()))
    problem = replace(domain.doc.problem(("domain",), "a warning a command can live with"), code=CODE)
    return Compiled(resources=[Resource("note", domain.name, {"text": "hello"})], problems=[problem])


def test_a_hook_adds_resources_and_attributes_of_the_estates_own(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    desired = load_desired(builder.root, _with(NamedExtension("homes", _homes)))
    box = desired.resources[("mailbox", "anna@acme.example")]
    assert box.attrs["shell"] == "/bin/false"
    # The mail store's own hook gave the home, as before.
    assert box.attrs["home"] == "/var/vmail/acme.example/anna"
    assert ("maildir", "anna@acme.example") in desired.resources


def test_problems_of_a_hook_fail_validation_unless_their_code_is_tolerated(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    schema = _with(NamedExtension("note", _note))
    with pytest.raises(ValidationFailed) as failed:
        load_desired(builder.root, schema)
    assert [p.message for p in failed.value.problems] == ["a warning a command can live with"]
    desired = load_desired(builder.root, schema, tolerate=(CODE,))
    assert desired.resources[("note", "acme.example")].attrs == {"text": "hello"}
    found, problems = check_desired(builder.root, schema)
    assert found is not None and [p.code for p in problems] == [CODE]


def test_an_attribute_set_twice_or_on_nothing_is_refused(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)

    def clash(catalog: Catalog) -> Compiled:
        return Compiled(attrs={"mailbox.anna@acme.example": {"quota": 1}})

    def stray(catalog: Catalog) -> Compiled:
        return Compiled(attrs={"mailbox.nobody@acme.example": {"x": 1}})

    with pytest.raises(ConfigError, match="two sources set quota of mailbox.anna@acme.example"):
        _ = load_desired(builder.root, _with(NamedExtension("clash", clash))).resources
    with pytest.raises(ConfigError, match="adds attributes to mailbox.nobody@acme.example"):
        _ = load_desired(builder.root, _with(NamedExtension("stray", stray))).resources


def test_cycle_collection_is_off_while_building_and_as_it_was_afterwards(tmp_path: Path) -> None:
    import gc

    seen: list[bool] = []
    builder = simple_estate(tmp_path)
    def probe(catalog: Catalog) -> Compiled:
        seen.append(gc.isenabled())
        return Compiled()

    hook = NamedExtension("probe", probe)
    assert gc.isenabled()
    assert load_desired(builder.root, _with(hook)).resources
    assert seen == [False] and gc.isenabled()
    # As it was after a failure too, and left off when it was off: tests/test_heap.py.


def test_what_was_built_goes_to_the_oldest_generation_and_stays_collectable(tmp_path: Path) -> None:
    """The estate's objects are not walked by the young collections after the pause (they
    are in the oldest generation), and a reference cycle made while building is still
    collected: handed over, not frozen for good."""
    import gc
    import weakref

    class Node:
        other: object = None

    cycles: list[weakref.ref[Node]] = []

    def cyclic(catalog: Catalog) -> Compiled:
        first, second = Node(), Node()
        first.other, second.other = second, first  # garbage only the cyclic collector frees
        cycles.append(weakref.ref(first))
        return Compiled()

    desired = load_desired(simple_estate(tmp_path).root, _with(NamedExtension("cyclic", cyclic)))
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert not any(o is desired.catalog for o in gc.get_objects(generation=0))
    assert any(o is desired.catalog for o in gc.get_objects(generation=2))
    gc.collect()
    assert cycles[0]() is None


def test_contributions_are_let_go_once_compiled_and_a_failed_compile_fails_again(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    desired = load_desired(builder.root, _with(NamedExtension("homes", _homes)))
    assert desired.contributions
    first = desired.resources
    assert desired.contributions == [] and desired.resources is first
    assert first[("mailbox", "anna@acme.example")].attrs["shell"] == "/bin/false"

    def clash(catalog: Catalog) -> Compiled:
        return Compiled(attrs={"mailbox.anna@acme.example": {"quota": 1}})

    failing = load_desired(builder.root, _with(NamedExtension("clash", clash)))
    for _ in range(2):  # not a compile of what is left the second time
        with pytest.raises(ConfigError, match="two sources set quota"):
            _ = failing.resources
