"""Building data from parser events: names as written, the YAML 1.2 core schema, anchors, limits."""

from __future__ import annotations

from typing import Any

import pytest

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.yamlevents import MAX_NODES
from ispctl.reconciler.estate.yamlload import Document, load_text


def loaded(text: str) -> Document:
    doc, problems = load_text(text, "f.yaml")
    assert problems == [], problems
    assert doc is not None
    return doc


def refused(text: str) -> Problem:
    doc, problems = load_text(text, "f.yaml")
    assert doc is None
    [problem] = problems
    return problem


@pytest.mark.parametrize("key", ["007", "0x1f", "0o17", "1e3", "1_000", "null", "Null", "~", "true", "FALSE", ".inf",
                                 ".nan", "-0", "+1", "2024-01-31", "=", "12:30", "0b101", "1.50"])
def test_keys_are_always_the_text_written(key: str) -> None:
    doc = loaded(f"{key}: x\nquoted:\n  '{key}': y\n")
    assert doc.data == {key: "x", "quoted": {key: "y"}}
    assert doc.positions[(key,)] == (1, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("007", 7), ("0x1f", 31), ("0o17", 15), ("-12", -12), ("+12", 12), ("1e3", 1000.0), ("1.5", 1.5),
        ("true", True), ("False", False), ("null", None), ("~", None), ("", None),
        # Not numbers in YAML 1.2's core schema: they stay text (ruamel's own rules differ)
        ("1_000", "1_000"), ("0b101", "0b101"), ("yes", "yes"), ("on", "on"), ("2024-01-31", "2024-01-31"),
        ("12:30", "12:30"), ("=", "="), ("0x", "0x"), ("1e", "1e"),
    ],
)
def test_plain_values_follow_the_yaml_1_2_core_schema(text: str, value: Any) -> None:
    assert loaded(f"a: {text}\n").data == {"a": value}
    assert type(loaded(f"a: {text}\n").data["a"]) is type(value)


@pytest.mark.parametrize("text", ["'007'", '"1e3"', "'null'", "|\n  007\n", '"true"'])
def test_quoted_and_block_values_are_text(text: str) -> None:
    assert isinstance(loaded(f"a: {text}\n").data["a"], str)


@pytest.mark.parametrize("text", [".inf", "-.inf", "+.INF", ".nan", ".NaN", "1e400", "-1e999"])
def test_numbers_must_be_finite(text: str) -> None:
    problem = refused(f"a: 1\nb: {text}\n")
    assert (problem.location.line, problem.location.column) == (2, 4)
    assert problem.message.startswith("numbers must be finite")


def test_very_long_numbers_are_refused_not_converted() -> None:
    problem = refused("a: " + "9" * 5000 + "\n")
    assert "longer than 64 characters" in problem.message and "999" not in problem.message


def test_duplicate_key_is_escaped_and_points_at_the_second_key() -> None:
    problem = refused('a: 1\n"x\\ny": 1\n"x\\ny": 2\n')
    assert str(problem) == 'f.yaml:3:1: YAML syntax: duplicate key "x\\ny" (each key may appear once)'


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "a: 1\n? - x\n: 2\n"])
def test_keys_must_be_plain_text(text: str) -> None:
    assert "a mapping key must be plain text" in refused(text).message


def test_an_alias_to_a_single_value_can_be_a_key() -> None:
    doc = loaded("names: [&k 007]\n*k : x\n")
    assert doc.data == {"names": [7], "007": "x"}  # the key is the text; the value a number


def test_an_anchor_on_a_single_value_needs_an_alias() -> None:
    # "password: &Sup3r x" would otherwise be the value "x" with an anchor named Sup3r.
    problem = refused("a: 1\npassword: &Sup3r x\n")
    assert (problem.location.line, problem.location.column) == (2, 11)
    assert "starting with '&'" in problem.message and "Sup3r" not in problem.message
    assert loaded("a: &v x\nb: *v\n").data == {"a": "x", "b": "x"}


def test_merge_keys_positions_and_errors() -> None:
    doc = loaded("base: &b {q: 1, r: 2}\nx:\n  <<: *b\n  q: 3\ny:\n  <<: [*b, {s: 4}]\n")
    assert doc.data["x"] == {"q": 3, "r": 2} and doc.data["y"] == {"q": 1, "r": 2, "s": 4}
    assert ("x", "r") not in doc.positions  # merged keys point at the mapping that merges them
    assert doc.location(("x", "r")).line == 2
    problem = refused("a:\n  <<: 5\n")
    assert (problem.location.line, problem.message) == (2, "'<<' must merge a mapping (or a list of mappings)")
    assert loaded("'<<': 1\n").data == {"<<": 1}  # quoted, it is an ordinary key


def test_positions_inside_an_alias_point_at_the_anchored_text() -> None:
    doc = loaded("a: &s\n  q: 1\n  l: [x, y]\nb:\n  c: *s\n")
    assert doc.data["b"]["c"] == {"q": 1, "l": ["x", "y"]}
    assert doc.positions[("b", "c", "q")] == (2, 3)
    assert doc.positions[("b", "c", "l", 1)] == (3, 10)


def test_a_plain_file_over_the_value_limit_is_not_blamed_on_aliases() -> None:
    text = "l:\n" + "- a\n" * (MAX_NODES + 5)
    problem = refused(text)
    assert problem.message == f"the file holds more than {MAX_NODES:,} values; split it up"
    assert problem.location.line == MAX_NODES - 1  # the mapping, its key and the list count too


def test_an_alias_that_adds_up_past_the_limit_is_named_as_such() -> None:
    text = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 1001) + "]\n"
    problem = refused(text)
    assert "anchors/aliases expand to more than" in problem.message
    assert problem.location.line == 2


@pytest.mark.parametrize(("text", "message"), [
    ("%YAML 1.1\n---\na: yes\n", "only YAML 1.2 is read; remove the %YAML directive"),
    ("%YAML 1.3\n---\na: 1\n", "YAML syntax: the file cannot be read as YAML"),
])
def test_only_yaml_1_2_is_read(text: str, message: str) -> None:
    assert refused(text).message == message
    assert loaded("%YAML 1.2\n---\na: yes\n").data == {"a": "yes"}
