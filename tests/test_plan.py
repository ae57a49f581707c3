"""Plan: masked serialisation, deterministic checksum, summary counts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator

from ispctl.reconciler import __version__
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import FORMAT_VERSION, MASK, AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Resource, Value, canonical_json

SECRETS = ("{CRYPT}$6$old-hash", "{CRYPT}$6$new-hash", "{CRYPT}$6$gone-hash", "token-a", "token-b")
HIDDEN = frozenset({"password", "tokens"})


def box(key: str, password: str | None, parent: str = "domain.x.example", **attrs: Value) -> Resource:
    return Resource("mailbox", key, {"password": password, "quota": 10, **attrs}, parent=parent, sensitive=HIDDEN)


def written(r: Resource) -> Resource:
    return Resource(r.kind, r.key, r.attrs, r.parent, r.depends_on, r.sensitive, recorded_fingerprint=r.fingerprint())


def mixed_plan() -> Plan:
    """A plan with every action, a move, drift, and secrets in scalar and list form."""
    desired = {
        r.identity: r
        for r in (
            box("new@x.example", SECRETS[1], tokens=("token-a",)),
            box("upd@x.example", SECRETS[1], parent="domain.y.example", tokens=("token-b", "token-a"), quota=20),
            Resource("tenant", "t", {"status": "active"}),
        )
    }
    live = {
        r.identity: r
        for r in (
            written(box("upd@x.example", SECRETS[0], tokens=("token-b",))),
            written(box("gone@x.example", SECRETS[2])),
            Resource("tenant", "t", {"status": "suspended"}),  # no fingerprint: drift
        )
    }
    return compute_plan(desired, live)


def strings_in(data: object) -> Iterator[str]:
    """Every string anywhere in a JSON value, keys included."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from strings_in(item)


def test_to_dict_never_contains_a_sensitive_value() -> None:
    plan = mixed_plan()
    data = plan.to_dict()
    found = list(strings_in(data))
    for secret in SECRETS:
        assert not any(secret in s for s in found), secret
    # Also as text, in case a value ends up somewhere the walk above does not reach.
    dumped = json.dumps(data)
    for secret in SECRETS:
        assert secret not in dumped
    assert MASK in found  # the masked values are there, just not readable


def test_sensitive_attribute_changes_are_still_listed() -> None:
    upd = {c.address: c for c in mixed_plan().changes}["mailbox.upd@x.example"].to_dict()
    attrs = {a["name"]: a for a in upd["attributes"]}
    assert attrs["password"] == {"name": "password", "before": MASK, "after": MASK, "sensitive": True}
    assert attrs["tokens"]["before"] == MASK and attrs["tokens"]["after"] == MASK
    assert attrs["quota"] == {"name": "quota", "before": 10, "after": 20, "sensitive": False}


def test_masking_keeps_absent_as_null() -> None:
    # "Was there a password before?" is not a secret; showing null keeps creates readable.
    assert AttrChange("password", None, "h", True).to_dict() == {
        "name": "password", "before": None, "after": MASK, "sensitive": True,
    }


def test_list_values_serialise_as_lists() -> None:
    assert AttrChange("forward", ("a", "b"), None).to_dict()["before"] == ["a", "b"]


def test_to_dict_shape() -> None:
    plan = mixed_plan()
    data = plan.to_dict()
    assert data["format_version"] == FORMAT_VERSION
    assert data["ispctl_version"] == __version__
    assert data["summary"] == {"add": 1, "change": 2, "destroy": 1}
    assert data["drift"] == ["tenant.t"]
    assert [c["address"] for c in data["changes"]] == [
        "mailbox.gone@x.example", "mailbox.new@x.example", "mailbox.upd@x.example", "tenant.t",
    ]
    moved = data["changes"][2]["moved"]
    assert moved == {"from": "domain.x.example", "to": "domain.y.example"}
    assert "moved" not in data["changes"][1]
    json.dumps(data)  # must be plain JSON: no tuples-as-keys, no Resource objects


def test_checksum_is_deterministic() -> None:
    one, two = mixed_plan(), mixed_plan()
    assert one is not two
    assert one.checksum == two.checksum
    assert one.to_dict()["checksum"] == one.checksum
    assert one.checksum.startswith("sha256:")


def test_checksum_verifiable_from_the_masked_dict() -> None:
    # A saved plan holds no secrets, yet its checksum can be recomputed from it alone.
    data = mixed_plan().to_dict()
    claimed = data.pop("checksum")
    assert claimed == "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


def test_checksum_changes_when_a_change_changes() -> None:
    base = mixed_plan()
    variants = []
    for change in base.changes:
        if change.action == "update" and change.kind == "mailbox":
            # One attribute value differs: quota 20 -> 21.
            attrs = tuple(
                AttrChange(a.name, a.before, 21, a.sensitive) if a.name == "quota" else a for a in change.attrs
            )
            variants.append(
                Change(change.action, change.kind, change.key, change.before, change.after, attrs, change.drift)
            )
        else:
            variants.append(change)
    assert Plan(tuple(variants)).checksum != base.checksum
    # Dropping a change, or altering only its drift note, also alters the checksum.
    assert Plan(base.changes[1:]).checksum != base.checksum
    c = base.changes[0]
    redrifted = Change(c.action, c.kind, c.key, c.before, c.after, c.attrs, "changed outside ispctl")
    assert Plan((redrifted, *base.changes[1:])).checksum != base.checksum


def test_checksum_covers_meta() -> None:
    changes = mixed_plan().changes
    assert Plan(changes, {"commit": "a"}).checksum != Plan(changes, {"commit": "b"}).checksum
    assert Plan(changes, {"commit": "a"}).checksum == Plan(changes, {"commit": "a"}).checksum


def test_summary_counts_and_flags() -> None:
    plan = mixed_plan()
    assert plan.summary == {"add": 1, "change": 2, "destroy": 1}
    assert (plan.count("create"), plan.count("update"), plan.count("delete")) == (1, 2, 1)
    assert plan.destructive
    assert not plan.empty
    assert [c.address for c in plan.drifted] == ["tenant.t"]


def test_empty_plan() -> None:
    plan = Plan()
    assert plan.empty and not plan.destructive
    assert plan.summary == {"add": 0, "change": 0, "destroy": 0}
    assert plan.to_dict()["changes"] == []


def test_change_resource_prefers_after() -> None:
    before, after = Resource("tenant", "t", {"a": 1}), Resource("tenant", "t", {"a": 2})
    assert Change("update", "tenant", "t", before, after, ()).resource is after
    assert Change("delete", "tenant", "t", before, None, ()).resource is before
    assert Change("update", "tenant", "t", before, after, ()).address == "tenant.t"


def test_an_archiving_delete_is_flagged_in_json_and_counted() -> None:
    home = Resource("maildir", "a@x.example", {"path": "/var/vmail/x.example/a"})
    plan = compute_plan({},
                        {home.identity: written(home),
                         **{r.identity: r for r in [written(box("b@x.example", None))]}},
                        archives={"maildir": "moved to the mail archive"})
    data = {c["address"]: c for c in plan.to_dict()["changes"]}
    assert data["maildir.a@x.example"]["archive"] is True
    assert "archive" not in data["mailbox.b@x.example"]  # plans without archives keep their old form
    assert (plan.summary, plan.archived) == ({"add": 0, "change": 0, "destroy": 2}, 1)
    assert mixed_plan().archived == 0


DIFF = ("--- a/upd.conf", "+++ b/upd.conf", "@@ -1 +1 @@", "-quota = 10", "+quota = 20")


def test_detail_is_in_the_json_and_the_checksum_only_when_there_is_one() -> None:
    base = mixed_plan()
    described = Plan(tuple(dataclasses.replace(c, detail=DIFF) if c.action == "update" else c
                           for c in base.changes))
    changes = {c["address"]: c for c in described.to_dict()["changes"]}
    assert changes["mailbox.upd@x.example"]["detail"] == list(DIFF)
    # A change without one has no such key: plans made before detail existed keep their JSON.
    assert "detail" not in changes["mailbox.new@x.example"]
    assert all("detail" not in c for c in base.to_dict()["changes"])
    assert described.checksum != base.checksum  # what was reviewed is bound by a saved plan
    one_line_more = Plan(tuple(dataclasses.replace(c, detail=(*DIFF, "+x")) if c.action == "update" else c
                               for c in base.changes))
    assert one_line_more.checksum != described.checksum


def test_detail_takes_no_part_in_equality() -> None:
    # Derived from the rest of the change: a change is the same change whatever its provider says.
    for change in mixed_plan().changes:
        with_detail = dataclasses.replace(change, detail=DIFF)
        assert with_detail == change
        assert with_detail.detail == DIFF and change.detail == ()
