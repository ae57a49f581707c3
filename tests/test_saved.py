"""Saved plans: self-verifying files, and every way a plan goes stale."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.engine.saved import StalePlan, check_fresh, live_fingerprints, load, saved_meta, staleness
from ispctl.reconciler.views.text import plan_json

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
