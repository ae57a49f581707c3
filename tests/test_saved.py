"""Saved plans: self-verifying files, and every way a plan goes stale."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from memory_provider import DescribingProvider

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.engine.saved import (
    StalePlan,
    check_clean,
    check_fresh,
    live_fingerprints,
    load,
    plan_from_dict,
    reviewed_changes,
    saved_meta,
    staleness,
)
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.views.text import plan_json, plan_text

SECRET = "{CRYPT}$6$saltsalt$" + "y" * 86
REV = Revision("a" * 40, False, "main")


def written(r: Resource) -> Resource:
    return dataclasses.replace(r, recorded_fingerprint=r.fingerprint())


def box(key: str, quota: int) -> Resource:
    return Resource("mailbox", key, {"quota": quota, "password": SECRET}, parent="domain.x.example",
                    sensitive=frozenset({"password"}))


def setup() -> tuple[dict, dict, Plan]:  # type: ignore[type-arg]
    desired = {r.identity: r for r in (box("a@x.example", 2), box("new@x.example", 1))}
    live = {r.identity: r for r in (written(box("a@x.example", 1)), written(box("gone@x.example", 1)))}
    plan = compute_plan(desired, live)
    return desired, live, dataclasses.replace(plan, meta=saved_meta(plan, REV, live, {"prune": True}))


def save(tmp_path: Path, plan: Plan) -> Path:
    path = tmp_path / "p.json"
    path.write_text(plan_json(plan))
    return path


def test_fingerprints_cover_every_touched_object_and_absence() -> None:
    _desired, live, plan = setup()
    prints = live_fingerprints(plan, live)
    assert set(prints) == {"mailbox.a@x.example", "mailbox.new@x.example", "mailbox.gone@x.example"}
    assert prints["mailbox.new@x.example"] is None
    assert prints["mailbox.a@x.example"] == live[("mailbox", "a@x.example")].fingerprint()


def test_a_saved_plan_round_trips_without_secrets_and_is_fresh(tmp_path: Path) -> None:
    desired, live, plan = setup()
    path = save(tmp_path, plan)
    assert SECRET not in path.read_text()
    saved = load(path)
    assert saved["meta"]["desired"] == {"commit": "a" * 40, "dirty": False, "branch": "main"}
    fresh = dataclasses.replace(compute_plan(desired, live), meta=plan.meta)
    assert staleness(saved, fresh, REV, live) == []
    check_fresh(saved, fresh, REV, live, path)


def test_a_hand_edited_saved_plan_is_refused(tmp_path: Path) -> None:
    _desired, _live, plan = setup()
    path = save(tmp_path, plan)
    data = json.loads(path.read_text())
    data["changes"][0]["action"] = "delete"
    path.write_text(json.dumps(data))
    with pytest.raises(IspctlError, match="does not match its checksum"):
        load(path)
    path.write_text("{not json")
    with pytest.raises(IspctlError, match="invalid JSON"):
        load(path)


def test_a_new_commit_is_stale() -> None:
    desired, live, plan = setup()
    saved = json.loads(plan_json(plan))
    reasons = staleness(saved, compute_plan(desired, live), Revision("b" * 40, False), live)
    assert reasons == [f"the desired state moved: the plan was made at commit {'a' * 12}, "
                       f"the working tree is now at {'b' * 12}"]


def test_a_live_change_to_a_touched_object_is_stale_and_named(tmp_path: Path) -> None:
    desired, live, plan = setup()
    saved = json.loads(plan_json(plan))
    changed = dict(live)
    changed[("mailbox", "gone@x.example")] = written(box("gone@x.example", 7))
    del changed[("mailbox", "a@x.example")]
    changed[("mailbox", "new@x.example")] = written(box("new@x.example", 1))
    reasons = staleness(saved, compute_plan(desired, changed), REV, changed)
    assert "mailbox.a@x.example was deleted in the live services since the plan was made" in reasons
    assert "mailbox.gone@x.example was changed in the live services since the plan was made" in reasons
    assert "mailbox.new@x.example now exists in the live services since the plan was made" in reasons
    assert "the plan computed now differs from the saved one:" in reasons
    with pytest.raises(StalePlan, match="is stale; nothing was changed"):
        check_fresh(saved, compute_plan(desired, changed), REV, changed, tmp_path / "p.json")


def test_an_untouched_live_object_does_not_make_the_plan_stale() -> None:
    desired, live, plan = setup()
    saved = json.loads(plan_json(plan))
    other = written(Resource("mailbox", "bystander@x.example", {"quota": 5}, parent="domain.x.example"))
    more_desired = {**desired, other.identity: dataclasses.replace(other, recorded_fingerprint=None)}
    more_live = {**live, other.identity: other}
    assert staleness(saved, compute_plan(more_desired, more_live), REV, more_live) == []


def test_a_saved_plan_rebuilds_into_the_same_views(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.saved import plan_from_dict
    from ispctl.reconciler.views.text import plan_text

    _desired, _live, plan = setup()
    saved = load(save(tmp_path, plan))
    rebuilt = plan_from_dict(saved)
    assert rebuilt.checksum == saved["checksum"] == plan.checksum
    assert plan_text(rebuilt).plain == plan_text(plan).plain


def test_a_changed_masked_value_makes_the_plan_stale_without_showing_it(tmp_path: Path) -> None:
    desired, live, plan = setup()
    saved = json.loads(plan_json(plan))
    other_hash = "{CRYPT}$6$pepperpe$" + "q" * 86
    swapped = dict(desired)
    swapped[("mailbox", "new@x.example")] = dataclasses.replace(desired[("mailbox", "new@x.example")],
                                                                attrs={"quota": 1, "password": other_hash})
    fresh = compute_plan(swapped, live)
    # The plan looks the same (the value is masked) ...
    assert fresh.to_dict()["changes"] == saved["changes"]
    # ... but it writes another value, and is refused, by address, without either hash.
    reasons = staleness(saved, fresh, REV, live)
    assert reasons == ["mailbox.new@x.example: a value it writes changed since the plan was made (masked values "
                       "such as password hashes included)"]
    with pytest.raises(StalePlan) as refused:
        check_fresh(saved, fresh, REV, live, tmp_path / "p.json")
    assert SECRET not in str(refused.value) and other_hash not in str(refused.value)


def test_the_value_digests_are_keyed_per_plan_and_hold_no_value(tmp_path: Path) -> None:
    _desired, live, plan = setup()
    again = saved_meta(plan, REV, live, {"prune": True})
    digests, other = plan.meta["values"]["digests"], again["values"]["digests"]
    assert set(digests) == {"mailbox.a@x.example", "mailbox.new@x.example"}  # the delete writes nothing
    # The same values under two plans' keys: unrelated digests (nothing to compare across plans).
    assert all(digests[a] != other[a] and digests[a].startswith("hmac-sha256:") for a in digests)
    text = save(tmp_path, plan).read_text()
    assert SECRET not in text and "saltsalt" not in text


def test_stale_reasons_name_addresses_and_attributes_not_diff_paths() -> None:
    desired, live, plan = setup()
    saved = json.loads(plan_json(plan))
    changed = dict(desired)
    changed[("mailbox", "a@x.example")] = box("a@x.example", 3)
    del changed[("mailbox", "new@x.example")]
    changed[("mailbox", "b@x.example")] = box("b@x.example", 1)
    reasons = staleness(saved, compute_plan(changed, live), REV, live)
    assert reasons == [
        "the plan computed now differs from the saved one:",
        "  mailbox.a@x.example: attribute quota changed since the plan was made (the value it writes)",
        "  mailbox.b@x.example: now needs a create that the plan does not have",
        "  mailbox.new@x.example: the plan would create it, now nothing is needed",
    ]
    assert not any("root[" in r for r in reasons)


def test_a_plan_made_from_a_dirty_tree_is_refused_unless_allowed(tmp_path: Path) -> None:
    _desired, live, plan = setup()
    dirty = dataclasses.replace(plan, meta=saved_meta(plan, Revision("a" * 40, True), live, {}))
    saved = json.loads(plan_json(dirty))
    with pytest.raises(StalePlan, match=f"made from commit {'a' * 12} plus uncommitted changes.*--allow-dirty"):
        check_clean(saved, tmp_path / "p.json", allow_dirty=False)
    check_clean(saved, tmp_path / "p.json", allow_dirty=True)
    check_clean(json.loads(plan_json(plan)), tmp_path / "p.json", allow_dirty=False)  # a clean one passes
    outside = json.loads(plan_json(dataclasses.replace(plan, meta=saved_meta(plan, Revision(None, True), live, {}))))
    with pytest.raises(StalePlan, match="made from a folder that is not in git"):
        check_clean(outside, tmp_path / "p.json", allow_dirty=False)


def test_an_initial_password_is_bound_though_the_live_side_owns_it_afterwards() -> None:
    # A create-only password is left out of the fingerprint, but a create writes it: swapping the
    # initial hash between plan and apply is refused like any other masked value.
    owned = frozenset({"password"})
    desired = {("mailbox", "new@x.example"): dataclasses.replace(box("new@x.example", 1), create_only=owned)}
    plan = compute_plan(desired, {})
    plan = dataclasses.replace(plan, meta=saved_meta(plan, REV, {}, {"prune": True}))
    saved = json.loads(plan_json(plan))
    other = {("mailbox", "new@x.example"): dataclasses.replace(
        desired[("mailbox", "new@x.example")], attrs={"quota": 1, "password": "{CRYPT}$6$pepperpe$" + "q" * 86})}
    assert staleness(saved, compute_plan(other, {}), REV, {}) == [
        "mailbox.new@x.example: a value it writes changed since the plan was made (masked values such as password "
        "hashes included)"]
    # Once the mailbox exists, a password its user changed does not make a plan touching it stale.
    created = desired[("mailbox", "new@x.example")]
    live = {created.identity: dataclasses.replace(created, recorded_fingerprint=created.fingerprint())}
    bigger = {k: dataclasses.replace(v, attrs={**v.attrs, "quota": 5}) for k, v in desired.items()}
    update = compute_plan(bigger, live)
    update = dataclasses.replace(update, meta=saved_meta(update, REV, live, {"prune": True}))
    users = {k: dataclasses.replace(v, attrs={**v.attrs, "password": "{CRYPT}$6$users$" + "u" * 86})
             for k, v in live.items()}
    assert staleness(json.loads(plan_json(update)), compute_plan(bigger, users), REV, users) == []


def described(desired: dict, live: dict) -> Plan:  # type: ignore[type-arg]
    """The plan a session makes with a provider that describes its changes (a diff of each file)."""
    return Session(desired, [DescribingProvider(live.values())]).plan()


def test_a_saved_plan_keeps_each_change_s_detail_and_rebuilds_to_the_same_checksum(tmp_path: Path) -> None:
    desired, live, _plan = setup()
    plan = described(desired, live)
    plan = dataclasses.replace(plan, meta=saved_meta(plan, REV, live, {"prune": True}))
    by_address = {c.address: c for c in plan.changes}
    assert by_address["mailbox.a@x.example"].detail[-2:] == ("-quota = 1", "+quota = 2")
    saved = load(save(tmp_path, plan))
    assert SECRET not in json.dumps(saved)  # the provider left the sensitive attribute out
    rebuilt = plan_from_dict(saved)
    assert [c.detail for c in rebuilt.changes] == [c.detail for c in plan.changes]
    assert rebuilt.checksum == saved["checksum"] == plan.checksum
    assert plan_text(rebuilt).plain == plan_text(plan).plain
    assert staleness(saved, dataclasses.replace(described(desired, live), meta=plan.meta), REV, live) == []


def test_a_change_whose_detail_differs_now_makes_the_plan_stale() -> None:
    desired, live, _plan = setup()
    plan = described(desired, live)
    saved = json.loads(plan_json(dataclasses.replace(plan, meta=saved_meta(plan, REV, live, {}))))
    # The same attribute changes, but the provider would now write something else (say its
    # renderer changed): what was reviewed is not what would be applied.
    fresh = dataclasses.replace(plan, changes=tuple(
        dataclasses.replace(c, detail=(*c.detail, "+ssl = on")) if c.address == "mailbox.a@x.example" else c
        for c in plan.changes))
    assert staleness(saved, fresh, REV, live) == [
        "the plan computed now differs from the saved one:",
        "  mailbox.a@x.example: what it writes (the diff its provider showed) changed since the plan was made",
    ]


def test_a_plan_saved_before_changes_had_detail_loads_and_is_refused_clearly(tmp_path: Path) -> None:
    desired, live, plan = setup()  # as an older ispctl made it: no change has a detail
    path = save(tmp_path, plan)
    saved = load(path)
    assert all("detail" not in c for c in saved["changes"])
    assert plan_from_dict(saved).checksum == saved["checksum"]  # it still shows as it was
    fresh = dataclasses.replace(described(desired, live), meta=plan.meta)
    reasons = staleness(saved, fresh, REV, live)
    older = "the plan does not show what it writes (the diff its provider shows now; made by an older ispctl)"
    assert reasons == ["the plan computed now differs from the saved one:",
                       f"  mailbox.a@x.example: {older}", f"  mailbox.gone@x.example: {older}",
                       f"  mailbox.new@x.example: {older}"]
    with pytest.raises(StalePlan, match="made by an older ispctl"):
        check_fresh(saved, fresh, REV, live, path)
    matched, why, _gone = reviewed_changes(saved, fresh)
    assert "mailbox.a@x.example" not in matched and why["mailbox.a@x.example"] == f"mailbox.a@x.example: {older}"
