"""Saved plans: ``plan --out`` writes one, ``apply PLAN`` applies exactly it or refuses.

A saved plan is the plan's JSON with, in ``meta``, what it was computed from: the desired
state's commit (and whether the tree was dirty), the options and scope, and a fingerprint
of the live state of every resource it touches. Its checksum covers all of that, so a
file changed by hand is refused too. Secrets are never in it: applying re-computes the
plan from git and the live services, and refuses unless it is exactly the saved one --
the same commit, the same live objects, the same changes (like Terraform's "Saved plan
is stale").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Index, Resource, canonical_json

if TYPE_CHECKING:  # deepdiff is imported only for a stale plan: it costs ~40 ms at every start
    from deepdiff import DeepDiff


class StalePlan(IspctlError):
    """The saved plan no longer describes what apply would do."""


def live_fingerprints(plan: Plan, live: Index) -> dict[str, str | None]:
    """For each touched object, a digest of its live values (None: it did not exist)."""
    by_address = {r.address: r for r in live.values()}
    prints: dict[str, str | None] = {}
    for change in plan.changes:
        subject = change.before.address if change.before is not None else change.address
        found = by_address.get(subject)
        prints[subject] = found.fingerprint() if found is not None else None
    return dict(sorted(prints.items()))


def saved_meta(plan: Plan, revision: Revision, live: Index, options: Mapping[str, Any]) -> dict[str, Any]:
    return {**plan.meta, "desired": revision.to_dict(), "live": live_fingerprints(plan, live), "options": dict(options)}


def _checksum_of(body: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def load(path: Path) -> dict[str, Any]:
    """Read a saved plan and verify its checksum."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IspctlError(f"cannot read the saved plan {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise IspctlError(f"{path} is not a saved plan (invalid JSON at line {exc.lineno})") from None
    if not isinstance(data, dict) or "checksum" not in data or "changes" not in data:
        raise IspctlError(f"{path} is not a saved ispctl plan")
    body = {k: v for k, v in data.items() if k != "checksum"}
    if _checksum_of(body) != data["checksum"]:
        raise IspctlError(f"{path} does not match its checksum: it was changed after it was saved; plan again")
    return data


def _moved(what: str, diff: DeepDiff) -> list[str]:
    """DeepDiff's findings in operator words, a few at most."""
    lines = []
    for kind, items in diff.to_dict().items():
        for path in list(items)[:5]:
            lines.append(f"  {what}: {kind.replace('_', ' ')} at {path}")
    return lines


def staleness(saved: Mapping[str, Any], fresh: Plan, revision: Revision, live: Index) -> list[str]:
    """Why ``saved`` may not be applied now; empty when it is exactly what apply would do."""
    reasons: list[str] = []
    meta = saved.get("meta", {})
    then = meta.get("desired", {}) or {}
    if then.get("commit") != revision.commit:
        reasons.append(f"the desired state moved: the plan was made at commit {str(then.get('commit'))[:12]}, "
                       f"the working tree is now at {str(revision.commit)[:12]}")
    by_address = {r.address: r for r in live.values()}
    for address, digest in sorted((meta.get("live") or {}).items()):
        now = by_address.get(address)
        now_digest = now.fingerprint() if now is not None else None
        if now_digest != digest:
            state = "was deleted" if now is None else ("now exists" if digest is None else "was changed")
            reasons.append(f"{address} {state} in the live services since the plan was made")
    fresh_changes = fresh.to_dict()["changes"]
    if fresh_changes != saved.get("changes"):
        from deepdiff import DeepDiff

        diff = DeepDiff(saved.get("changes"), fresh_changes, ignore_order=False, verbose_level=0)
        reasons.append("the plan computed now differs from the saved one:")
        reasons.extend(_moved("changes", diff))
    return reasons


def check_fresh(saved: Mapping[str, Any], fresh: Plan, revision: Revision, live: Index, path: Path) -> None:
    reasons = staleness(saved, fresh, revision, live)
    if reasons:
        raise StalePlan(f"Saved plan {path} is stale; nothing was changed. Plan again. Why:\n  " + "\n  ".join(reasons))


def _value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Rebuild a plan from its JSON for viewing (``ispctl show``); values stay masked.

    The rebuilt plan renders and checksums exactly like the original: every field the
    views use (attribute changes, moves, renames, drift, archive) is in the JSON.
    """
    meta = dict(data.get("meta") or {})
    archives = meta.get("archives")
    notes: dict[str, str] = archives if isinstance(archives, dict) else {}
    changes = []
    for item in data.get("changes", []):
        attrs = tuple(AttrChange(a["name"], _value(a["before"]), _value(a["after"]), bool(a.get("sensitive")))
                      for a in item.get("attributes", []))
        moved = item.get("moved") or {}
        renamed = item.get("renamed_from")
        kind, key, action = item["kind"], item["key"], item["action"]
        old_key = renamed.split(".", 1)[1] if renamed else key
        before = None if action == "create" else Resource(kind, old_key, {}, parent=moved.get("from"))
        after = None if action == "delete" else Resource(kind, key, {}, parent=moved.get("to"))
        archive = bool(item.get("archive"))
        changes.append(Change(action, kind, key, before, after, attrs, item.get("drift"), archive=archive,
                              archive_note=notes.get(kind) if archive else None))
    return Plan(tuple(changes), meta=meta)
