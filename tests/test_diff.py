"""Diff: identity set arithmetic, attribute-level updates, moves, pruning, drift."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ispctl.reconciler.engine.diff import attr_changes, compute_plan
from ispctl.reconciler.engine.plan import AttrChange
from ispctl.reconciler.engine.resources import Resource, Value

Index = dict[tuple[str, str], Resource]


def index(*resources: Resource) -> Index:
    return {r.identity: r for r in resources}


def written(resource: Resource) -> Resource:
    """The resource as a provider returns it after ispctl wrote it (no drift)."""
    return Resource(resource.kind, resource.key, resource.attrs, resource.parent, resource.depends_on,
                    resource.sensitive, recorded_fingerprint=resource.fingerprint())


def box(key: str, parent: str = "domain.x.example", **attrs: Value) -> Resource:
    return Resource("mailbox", key, {"quota": 100, "status": "active", **attrs}, parent=parent,
                    sensitive=frozenset({"password"}))


def identities(resources: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return set(resources)


def test_creates_and_deletes_are_set_arithmetic() -> None:
    a, b, c = box("a@x.example"), box("b@x.example"), box("c@x.example")
    same_key_other_kind = Resource("alias", "a@x.example", {"targets": ("b@x.example",)})
    desired = index(a, b, same_key_other_kind)
    live = index(written(b), written(c))
    plan = compute_plan(desired, live)
    creates = {(ch.kind, ch.key) for ch in plan.changes if ch.action == "create"}
    deletes = {(ch.kind, ch.key) for ch in plan.changes if ch.action == "delete"}
    assert creates == identities(desired) - identities(live)
    assert deletes == identities(live) - identities(desired)
    # (kind, key) is the identity: the alias with a mailbox's key is its own create.
    assert ("alias", "a@x.example") in creates and ("mailbox", "a@x.example") in creates
    assert plan.count("update") == 0


def test_identical_states_give_an_empty_plan() -> None:
    a, b = box("a@x.example"), box("b@x.example", forward=("z@y.example",))
    assert compute_plan(index(a, b), index(written(a), written(b))).empty


def test_update_carries_exactly_the_changed_attributes() -> None:
    have = written(box("a@x.example", quota=100, status="active", display_name="A", forward=("p@q.example",)))
    want = box("a@x.example", quota=200, status="active", display_name="A", forward=("r@q.example", "p@q.example"))
    (change,) = compute_plan(index(want), index(have)).changes
    assert change.action == "update"
    assert change.attrs == (
        AttrChange("forward", ("p@q.example",), ("p@q.example", "r@q.example")),
        AttrChange("quota", 100, 200),
    )
    assert change.before is have and change.after is want
    assert not change.is_move


def test_added_and_removed_attributes_show_none_on_the_missing_side() -> None:
    have = written(Resource("domain", "x.example", {"catch_all": "a@x.example"}))
    want = Resource("domain", "x.example", {"description": "new"})
    (change,) = compute_plan(index(want), index(have)).changes
    assert change.attrs == (
        AttrChange("catch_all", "a@x.example", None),
        AttrChange("description", None, "new"),
    )


def test_create_and_delete_list_every_non_empty_attribute() -> None:
    r = box("a@x.example", password="{CRYPT}secret", home=None)
    (created,) = compute_plan(index(r), {}).changes
    assert [(a.name, a.before, a.after) for a in created.attrs] == [
        ("password", None, "{CRYPT}secret"), ("quota", None, 100), ("status", None, "active"),
    ]
    (deleted,) = compute_plan({}, index(written(r))).changes
    assert [(a.name, a.before, a.after) for a in deleted.attrs] == [
        ("password", "{CRYPT}secret", None), ("quota", 100, None), ("status", "active", None),
    ]


def test_sensitive_flag_comes_from_either_side() -> None:
    plain = Resource("mailbox", "a@x.example", {"password": "h1", "quota": 1})
    secret = Resource("mailbox", "a@x.example", {"password": "h2", "quota": 1}, sensitive=frozenset({"password"}))
    for before, after in ((plain, secret), (secret, plain)):
        (attr,) = attr_changes(before, after)
        assert attr.name == "password" and attr.sensitive


def test_parent_change_is_a_move() -> None:
    have = written(box("a@x.example", parent="domain.old.example"))
    want = box("a@x.example", parent="domain.new.example")
    (change,) = compute_plan(index(want), index(have)).changes
    assert change.action == "update"
    assert change.is_move
    assert change.attrs == ()  # nothing but the parent changed
    assert change.to_dict()["moved"] == {"from": "domain.old.example", "to": "domain.new.example"}


def test_move_made_by_hand_is_drift() -> None:
    want = written(box("a@x.example", parent="domain.x.example"))
    # Same values, recorded fingerprint from ispctl's write, but someone moved the entry.
    moved_by_hand = Resource(want.kind, want.key, want.attrs, "domain.elsewhere.example",
                             sensitive=want.sensitive, recorded_fingerprint=want.recorded_fingerprint)
    (change,) = compute_plan(index(want), index(moved_by_hand)).changes
    assert change.is_move and change.attrs == ()
    assert change.drift == "changed outside ispctl"


def test_move_with_attribute_changes_keeps_both() -> None:
    have = written(Resource("domain", "x.example", {"status": "active"}, parent="tenant.a"))
    want = Resource("domain", "x.example", {"status": "suspended"}, parent="tenant.b")
    (change,) = compute_plan(index(want), index(have)).changes
    assert change.is_move
    assert [a.name for a in change.attrs] == ["status"]


def test_creates_and_deletes_are_never_moves() -> None:
    r = box("a@x.example")
    plan = compute_plan(index(r), index(written(box("b@x.example", parent="domain.y.example"))))
    assert [c.is_move for c in plan.changes] == [False, False]


def test_prune_false_leaves_deletes_out() -> None:
    keep, gone = box("a@x.example"), box("b@x.example")
    want_keep = box("a@x.example", quota=5)
    desired = index(want_keep, box("c@x.example"))
    live = index(written(keep), written(gone))
    pruned = compute_plan(desired, live, prune=True)
    unpruned = compute_plan(desired, live, prune=False)
    assert [(c.action, c.key) for c in pruned.changes] == [
        ("update", "a@x.example"), ("delete", "b@x.example"), ("create", "c@x.example"),
    ]
    assert [(c.action, c.key) for c in unpruned.changes] == [("update", "a@x.example"), ("create", "c@x.example")]


def test_drift_propagates_from_live_resources() -> None:
    desired = box("a@x.example", quota=100)
    # Edited by hand after ispctl wrote it: the stored fingerprint no longer matches.
    edited = Resource("mailbox", "a@x.example", {"quota": 999, "status": "active"}, parent="domain.x.example",
                      recorded_fingerprint=desired.fingerprint())
    foreign = Resource("mailbox", "f@x.example", {"quota": 1}, parent="domain.x.example")
    fresh = box("n@x.example")
    plan = compute_plan(index(desired, fresh), index(edited, foreign))
    by_key = {c.key: c for c in plan.changes}
    assert by_key["a@x.example"].drift == "changed outside ispctl"
    assert by_key["f@x.example"].drift == "created outside ispctl"
    assert by_key["f@x.example"].action == "delete"
    assert by_key["n@x.example"].drift is None  # nothing live, nothing drifted
    assert [c.key for c in plan.drifted] == ["a@x.example", "f@x.example"]


def test_update_without_drift_has_no_drift_flag() -> None:
    old = box("a@x.example", quota=1)
    (change,) = compute_plan(index(box("a@x.example", quota=2)), index(written(old))).changes
    assert change.drift is None


def test_changes_sorted_by_address() -> None:
    desired = index(
        Resource("tenant", "t"), Resource("alias", "z@x.example"), box("m@x.example"),
        Resource("domain", "x.example"), box("a@x.example"),
    )
    live = index(written(Resource("domain", "a.example")), written(Resource("tenant", "a")))
    plan = compute_plan(desired, live)
    addresses = [c.address for c in plan.changes]
    assert addresses == sorted(addresses)
    assert addresses[0] == "alias.z@x.example" and addresses[-1] == "tenant.t"
    assert len(addresses) == 7


def renamed(resource: Resource, *previous: str) -> Resource:
    return dataclasses.replace(resource, previous=previous)


def test_a_previous_key_found_live_is_a_rename_not_a_destroy_and_create() -> None:
    old = written(box("old@x.example", quota=1))
    new = renamed(box("new@x.example", quota=2), "old@x.example")
    plan = compute_plan(index(new), index(old))
    assert [(c.action, c.address, c.renamed_from) for c in plan.changes] == [
        ("update", "mailbox.new@x.example", "mailbox.old@x.example")]
    assert plan.changes[0].attrs == (AttrChange("quota", 1, 2),)
    assert plan.changes[0].to_dict()["renamed_from"] == "mailbox.old@x.example"
    assert plan.summary == {"add": 0, "change": 1, "destroy": 0}


def test_a_previous_key_is_ignored_when_it_is_still_desired_or_not_live() -> None:
    kept = written(box("old@x.example"))
    new = renamed(box("new@x.example"), "old@x.example")
    # The old key is itself still desired: the new one is a plain create.
    plan = compute_plan(index(new, box("old@x.example")), index(kept))
    assert [(c.action, c.address, c.renamed_from) for c in plan.changes] == [("create", "mailbox.new@x.example", None)]
    # Nothing live under any name: a create.
    assert [c.action for c in compute_plan(index(new), {}).changes] == ["create"]
    # Both the new key and the old one live (a rename interrupted half-way elsewhere): update + delete.
    both = compute_plan(index(new), index(kept, written(box("new@x.example", quota=1))))
    assert [(c.action, c.address) for c in both.changes] == [
        ("update", "mailbox.new@x.example"), ("delete", "mailbox.old@x.example")]


def test_the_first_live_previous_key_wins_and_serves_one_rename_only() -> None:
    a = written(box("a@x.example"))
    b = written(box("b@x.example"))
    first = renamed(box("n1@x.example"), "gone@x.example", "b@x.example", "a@x.example")
    second = renamed(box("n2@x.example"), "b@x.example")
    plan = compute_plan(index(first, second), index(a, b))
    assert [(c.action, c.address, c.renamed_from) for c in plan.changes] == [
        ("delete", "mailbox.a@x.example", None),
        ("update", "mailbox.n1@x.example", "mailbox.b@x.example"),
        ("create", "mailbox.n2@x.example", None),
    ]


def test_deletes_of_archiving_kinds_are_marked_as_archives() -> None:
    home = Resource("maildir", "a@x.example", {"path": "/var/vmail/x.example/a"})
    gone = box("a@x.example")
    plan = compute_plan({}, index(written(home), written(gone)), archives={"maildir": "moved to the mail archive"})
    assert {(c.address, c.action, c.archive) for c in plan.changes} == {
        ("maildir.a@x.example", "delete", True), ("mailbox.a@x.example", "delete", False)}
    assert not any(c.archive for c in compute_plan({}, index(written(home))).changes)  # nobody said it archives


def _tree(top: str, domain: str) -> list[Resource]:
    """A top tenant, a domain under it: the ancestors a mailbox's walk reaches."""
    return [Resource("tenant", top, {}), Resource("domain", domain, {}, parent=f"tenant.{top}")]


def test_a_rename_from_under_another_top_is_refused_naming_both() -> None:
    from ispctl.reconciler.engine.errors import Location, ValidationFailed

    victim = written(box("boss@beta.example", parent="domain.beta.example"))
    live = index(*map(written, _tree("beta", "beta.example") + _tree("acme", "acme.example")), victim)
    taker = dataclasses.replace(box("boss@acme.example", parent="domain.acme.example"),
                                previous=("boss@beta.example",), source=Location("acme.example.yaml", 7, 9))
    desired = index(*_tree("acme", "acme.example"), *_tree("beta", "beta.example"), taker)
    try:
        compute_plan(desired, live)
    except ValidationFailed as failed:
        [problem] = failed.problems
        assert str(problem) == (
            "acme.example.yaml:7:9: previous: mailbox.boss@acme.example names mailbox.boss@beta.example as its "
            "previous key, but that lives under tenant.beta, not tenant.acme: a rename cannot move an object from "
            "under another tenant")
    else:
        raise AssertionError("a rename across tops was planned")


def test_a_rename_within_one_top_and_one_whose_top_is_unknown_are_planned() -> None:
    old = written(box("old@acme.example", parent="domain.old.example"))
    tree = _tree("acme", "acme.example") + [Resource("domain", "old.example", {}, parent="tenant.acme")]
    new = dataclasses.replace(box("new@acme.example", parent="domain.acme.example"), previous=("old@acme.example",))
    plan = compute_plan(index(*tree, new), index(*map(written, tree), old))
    assert [c.renamed_from for c in plan.changes if c.kind == "mailbox"] == ["mailbox.old@acme.example"]
    # A runner that reads only mailboxes cannot see the tenants: the estate's own check stands.
    bare = compute_plan(index(new), index(old))
    assert [c.renamed_from for c in bare.changes] == ["mailbox.old@acme.example"]


def test_what_hangs_below_a_renamed_object_goes_along_and_may_be_renamed_too() -> None:
    # tenant.acme renamed to tenant.apex; its domain is compared under the new name (not a move),
    # still told drifted or not from what was read; a mailbox renamed below it is not refused as
    # coming from under another top (the top is the same tenant, renamed).
    tree = _tree("acme", "acme.example")
    live = index(*map(written, tree), written(box("old@acme.example", parent="domain.acme.example")))
    apex = Resource("tenant", "apex", tree[0].attrs, previous=("acme",))
    domain = dataclasses.replace(tree[1], parent="tenant.apex", attrs={"status": "suspended"})
    new = dataclasses.replace(box("new@acme.example", parent="domain.acme.example"), previous=("old@acme.example",))
    plan = compute_plan(index(apex, domain, new), live)
    assert [(c.address, c.renamed_from, c.is_move, c.drift) for c in plan.changes] == [
        ("domain.acme.example", None, False, None),
        ("mailbox.new@acme.example", "mailbox.old@acme.example", False, None),
        ("tenant.apex", "tenant.acme", False, None)]
    before = plan.changes[0].before
    assert before is not None and before.parent == "tenant.apex"  # the provider moves nothing
    alone = compute_plan(index(apex, dataclasses.replace(domain, attrs=tree[1].attrs)), live, prune=False)
    assert [c.address for c in alone.changes] == ["tenant.apex"]  # the domain itself has nothing to do


def test_a_rename_never_takes_a_top_below_another_or_one_out_to_the_top() -> None:
    from ispctl.reconciler.engine.errors import ValidationFailed

    live = index(*map(written, _tree("acme", "acme.example") + _tree("beta", "beta.example")),
                 written(Resource("tenant", "shop", {}, parent="tenant.beta")))
    for want, words in [
        (Resource("tenant", "client", {}, parent="tenant.beta", previous=("acme",)),
         "tenant.client names tenant.acme as its previous key, but that is at the top and this one under "
         "tenant.beta: a rename keeps an object where it is"),
        (Resource("tenant", "store", {}, previous=("shop",)),
         "tenant.store names tenant.shop as its previous key, but that is under tenant.beta and this one at the top: "
         "a rename keeps an object where it is"),
    ]:
        try:
            compute_plan(index(want, *_tree("beta", "beta.example")), live)
        except ValidationFailed as failed:
            assert [problem.message for problem in failed.problems] == [words]
        else:
            raise AssertionError(f"{want.address} was planned as a rename")


def test_create_only_attributes_are_written_on_create_then_never_compared() -> None:
    owned = frozenset({"password"})
    want = dataclasses.replace(box("a@x.example", password="initial"), create_only=owned)
    create = compute_plan(index(want), {}).changes[0]
    assert create.action == "create" and "password" in {a.name for a in create.attrs}
    # The user changed it since: no change, no drift.
    live = Resource("mailbox", "a@x.example", {**want.attrs, "password": "users-own"}, parent=want.parent,
                    sensitive=want.sensitive, recorded_fingerprint=want.fingerprint())
    assert compute_plan(index(want), index(live)).empty
    # git changing the initial value is not planned either (the live side owns it now).
    edited = dataclasses.replace(want, attrs={**want.attrs, "password": "new-initial"})
    assert compute_plan(index(edited), index(live)).empty
    # Another change is planned without it, and not called drift.
    bigger = dataclasses.replace(want, attrs={**want.attrs, "quota": 200})
    (change,) = compute_plan(index(bigger), index(live)).changes
    assert [a.name for a in change.attrs] == ["quota"] and change.drift is None
    # An operator opting the object back into git's value: compared (and reverted) again.
    managed = dataclasses.replace(want, create_only=frozenset())
    (revert,) = compute_plan(index(managed), index(live)).changes
    assert [a.name for a in revert.attrs] == ["password"] and revert.attrs[0].sensitive and revert.drift is None
