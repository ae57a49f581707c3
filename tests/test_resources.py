"""Resources: canonical values, stable fingerprints, drift reasons."""

from __future__ import annotations

import dataclasses

import pytest

from ispctl.reconciler.engine.resources import (
    Canonical,
    Incomplete,
    Resource,
    Value,
    address_of,
    canonical_json,
    fingerprint,
    left_out,
    normalise_value,
    outline,
    outlines,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["b", "a", "c"], ("a", "b", "c")),
        (("z", "y"), ("y", "z")),
        ({"mail", "imap"}, ("imap", "mail")),
        (frozenset({"x"}), ("x",)),
        (["a", "a", "b"], ("a", "b")),  # multi-valued attributes are sets: duplicates collapse
        ([], None),
        ((), None),
        (set(), None),
        ("", None),
        (None, None),
        ("text", "text"),
        (0, 0),
        (42, 42),
        (False, False),
        (True, True),
    ],
)
def test_normalise_value(raw: object, expected: object) -> None:
    assert normalise_value(raw) == expected


def test_normalise_value_keeps_types_apart() -> None:
    # 0 and False must not collapse into None or into each other: they are real values.
    assert normalise_value(0) is not None
    assert normalise_value(False) is False
    assert type(normalise_value(1)) is int


def test_normalise_value_stringifies_list_items() -> None:
    assert normalise_value([3, 1, 2]) == ("1", "2", "3")


@pytest.mark.parametrize("bad", [1.5, {"a": 1}, b"bytes", object()])
def test_normalise_value_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="unsupported attribute value"):
        normalise_value(bad)


def test_resource_normalises_and_sorts_attrs() -> None:
    # Lists are accepted on purpose (YAML and LDAP hand them over); the type says Value.
    r = Resource("mailbox", "a@x.example", {"z": ["b", "a"], "a": "", "m": 5})  # type: ignore[dict-item]
    assert r.attrs == {"a": None, "m": 5, "z": ("a", "b")}
    assert list(r.attrs) == ["a", "m", "z"]


def test_address_and_identity() -> None:
    r = Resource("domain", "x.example")
    assert r.address == "domain.x.example" == address_of("domain", "x.example")
    assert r.identity == ("domain", "x.example")


def test_fingerprint_stable_across_dict_order() -> None:
    one = fingerprint({"a": 1, "b": ("x", "y"), "c": "s"})
    two = fingerprint({"c": "s", "b": ("x", "y"), "a": 1})
    assert one == two
    assert one.startswith("sha256:") and len(one) == len("sha256:") + 64


def test_fingerprint_of_resource_ignores_input_order_of_lists_and_keys() -> None:
    a = Resource("alias", "a@x.example", {"targets": ("b@x.example", "a@x.example"), "status": "active"})
    b = Resource("alias", "a@x.example", {"status": "active", "targets": ("a@x.example", "b@x.example")})
    assert a.fingerprint() == b.fingerprint()


def test_fingerprint_changes_with_any_value() -> None:
    base: dict[str, Value] = {"quota": 100, "status": "active", "services": ("imap", "mail")}
    seen = {fingerprint(base)}
    for variant in (
        {**base, "quota": 101},
        {**base, "status": "suspended"},
        {**base, "services": ("mail",)},
        {**base, "extra": "x"},
    ):
        seen.add(fingerprint(variant))
    assert len(seen) == 5


def test_fingerprint_treats_absent_and_none_alike() -> None:
    # The directory cannot store an empty value, so "absent" and None must hash the same.
    assert fingerprint({"a": 1, "b": None}) == fingerprint({"a": 1})


def test_fingerprint_distinguishes_int_from_string() -> None:
    assert fingerprint({"quota": 1}) != fingerprint({"quota": "1"})


def test_fingerprint_covers_the_parent() -> None:
    # A hand-made move must not pass for ispctl's own write.
    here = Resource("domain", "x.example", {"status": "active"}, parent="tenant.a")
    there = Resource("domain", "x.example", {"status": "active"}, parent="tenant.b")
    top = Resource("domain", "x.example", {"status": "active"})
    assert len({here.fingerprint(), there.fingerprint(), top.fingerprint()}) == 3
    assert top.fingerprint() == fingerprint(top.attrs)  # no parent: the values alone


def test_canonical_json_is_compact_sorted_and_unicode() -> None:
    assert canonical_json({"b": 1, "a": "ä"}) == '{"a":"ä","b":1}'


def test_drifted_reasons() -> None:
    desired = Resource("mailbox", "a@x.example", {"quota": 10})
    assert Resource("mailbox", "a@x.example", {"quota": 10}).drifted() == "created outside ispctl"
    clean = Resource("mailbox", "a@x.example", {"quota": 10}, recorded_fingerprint=desired.fingerprint())
    assert clean.drifted() is None
    edited = Resource("mailbox", "a@x.example", {"quota": 99}, recorded_fingerprint=desired.fingerprint())
    assert edited.drifted() == "changed outside ispctl"
    moved = Resource("mailbox", "a@x.example", {"quota": 10}, parent="domain.y.example",
                     recorded_fingerprint=desired.fingerprint())
    assert moved.drifted() == "changed outside ispctl"


def test_resource_is_frozen() -> None:
    r = Resource("tenant", "t")
    with pytest.raises(AttributeError):
        r.key = "u"  # type: ignore[misc]


def test_create_only_attributes_are_left_out_of_the_fingerprint_and_named_after_it() -> None:
    plain = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h1"})
    owned = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h1"}, create_only=frozenset({"password"}))
    other_hash = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h2"},
                          create_only=frozenset({"password"}))
    assert owned.fingerprint() == other_hash.fingerprint() != plain.fingerprint()
    assert owned.fingerprint().endswith(";without=password")
    assert left_out(owned.fingerprint()) == {"password"}
    assert left_out(plain.fingerprint()) == frozenset() and left_out(None) == frozenset()
    # Nothing left out: the digest ispctl always wrote (fingerprints stored before still match).
    assert plain.fingerprint() == fingerprint(plain.attrs)


def test_a_live_resource_is_checked_against_what_its_stored_fingerprint_covered() -> None:
    written = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h1"}, create_only=frozenset({"password"}))
    # The user changed the password: neither drift nor a different live fingerprint (saved plans stay fresh).
    changed_by_user = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h2"},
                               recorded_fingerprint=written.fingerprint())
    assert changed_by_user.create_only == {"password"}
    assert changed_by_user.drifted() is None
    assert changed_by_user.fingerprint() == written.fingerprint()
    quota_by_hand = Resource("mailbox", "a@x.example", {"quota": 99, "password": "h1"},
                             recorded_fingerprint=written.fingerprint())
    assert quota_by_hand.drifted() == "changed outside ispctl"
    # A fingerprint written before (covering the password) still matches while the password is ispctl's.
    legacy = Resource("mailbox", "a@x.example", {"quota": 10, "password": "h1"},
                      recorded_fingerprint=fingerprint({"quota": 10, "password": "h1"}))
    assert legacy.create_only == frozenset() and legacy.drifted() is None


def test_a_resource_holds_no_per_instance_dict() -> None:
    # A live read keeps a hundred thousand of them: slots, and the attrs dict is the only copy.
    r = Resource("tenant", "t", {"b": 1, "a": ["y", "x"]})  # type: ignore[dict-item]
    assert not hasattr(r, "__dict__")
    assert type(r.attrs) is Canonical and not hasattr(r.attrs, "__dict__")
    same = dataclasses.replace(r, parent="tenant.top")
    assert same.attrs is r.attrs and same.attrs == {"a": ("x", "y"), "b": 1}


def test_canonical_attrs_are_kept_as_they_are_and_equal_the_normalised_ones() -> None:
    values: list[Value] = ["x", None, ("a", "b"), 0, False]
    fast = Resource.canonical("mailbox", "a@x.example", ["a", "b", "c", "d", "e"], values, parent="domain.x.example",
                              sensitive=frozenset({"a"}), recorded_fingerprint="sha256:00;without=a",
                              interrupted="half-done")
    slow = Resource("mailbox", "a@x.example", {"e": False, "d": 0, "c": ["b", "a"], "b": "", "a": "x"},
                    parent="domain.x.example", sensitive=frozenset({"a"}), recorded_fingerprint="sha256:00;without=a",
                    interrupted="half-done")
    assert fast == slow and list(fast.attrs) == list(slow.attrs) and fast.interrupted == "half-done"
    assert fast.create_only == frozenset({"a"}) and fast.fingerprint() == slow.fingerprint()
    with pytest.raises(ValueError):
        Resource.canonical("tenant", "t", ["a", "b"], ["only one"])


def test_a_plain_dict_is_always_normalised_even_after_a_canonical_one() -> None:
    canonical = Resource.canonical("tenant", "t", ["a"], [("x",)])
    plain = dataclasses.replace(canonical, attrs={"a": ["y", "x", "x"], "b": ""})  # type: ignore[dict-item]
    assert plain.attrs == {"a": ("x", "y"), "b": None} and type(plain.attrs) is Canonical


def test_what_a_fingerprint_leaves_out_is_one_shared_set_per_spelling() -> None:
    first = left_out("sha256:00;without=password,quota")
    again = left_out("sha256:11;without=password,quota")
    assert first == frozenset({"password", "quota"}) and again is first
    assert left_out("sha256:00") is left_out(None) is left_out("sha256:11") and not left_out(None)
    assert left_out("sha256:00;without=") == frozenset()


def _fingerprint_as_first_written(attrs: dict[str, object], parent: str | None, without: frozenset[str]) -> str:
    """The formula every stored fingerprint was computed with (json.dumps per call, tuples copied
    into lists): the faster code must give the very same strings, or every entry would be drift."""
    import hashlib
    import json

    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items() if v is not None and k not in without}
    if parent is not None:
        plain["@parent"] = parent
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return digest + ";without=" + ",".join(sorted(without)) if without else digest


def test_fingerprint_equals_the_formula_stored_fingerprints_were_written_with() -> None:
    varied: list[tuple[dict[str, object], str | None, frozenset[str]]] = [
        ({}, None, frozenset()),
        ({}, "tenant.acme", frozenset()),
        ({"a": 1, "b": True, "c": False, "d": None, "e": 0, "f": -7}, None, frozenset()),
        ({"quota": 1024, "status": "active", "aliases": ["b@x.net", "a@x.net"]}, "domain.x.net", frozenset()),
        ({"password": "{SSHA}abc", "quota": 5, "name": "Zoë Ångström"}, "domain.exämple.net",
         frozenset({"password"})),
        ({"password": "p", "secret": "s", "q": 1}, None, frozenset({"secret", "password"})),
        ({"x": "emoji \U0001f600 \u2028 \"quoted\" back\\slash\ttab\nnewline \x00 \x1f"}, "tenant.\u00e9", frozenset()),
        ({"Z": "upper", "_u": "under", "a1": "digit", "members": ["ß", "ss", "SS", "é", "e\u0301"]}, "t.k",
         frozenset({"missing"})),
        ({"big": 2**70, "neg": -(2**40), "empty": ()}, None, frozenset()),
    ]
    for attrs, parent, without in varied:
        resource = Resource("mailbox", "m@x.net", attrs, parent=parent, create_only=without)  # type: ignore[arg-type]
        expected = _fingerprint_as_first_written(dict(resource.attrs), parent, without)
        assert resource.fingerprint() == expected
        assert fingerprint(resource.attrs, parent, without) == expected
        assert Resource("mailbox", "m@x.net", attrs, parent=parent,  # type: ignore[arg-type]
                        recorded_fingerprint=expected).fingerprint() == expected  # read back: same covered set


OUTLINE_FIELDS = ("kind", "key", "parent", "depends_on", "previous", "recorded_fingerprint", "interrupted", "address")


def test_outlines_are_the_outlines_of_each_row_in_order() -> None:
    rows = [("mailbox", "a@b.example", "domain.b.example", ("tenant.t",), ("old@b.example",)),
            ("domain", "b.example", None, ("tenant.t",), ()),
            ("zone", "b.example", None, ("domain.b.example", "domain.c.example"), ())]
    made = outlines(rows)
    assert len(made) == len(rows)
    for row, bulk in zip(rows, made, strict=True):
        one = outline(*row)
        assert type(bulk) is type(one)
        assert [getattr(bulk, f) for f in OUTLINE_FIELDS] == [getattr(one, f) for f in OUTLINE_FIELDS]
        with pytest.raises(Incomplete):
            _ = bulk.attrs
    assert outlines([]) == []


def test_an_outline_row_of_another_length_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        outlines([("mailbox", "a@b.example", None, (), ()), ("mailbox", "c@b.example")])
