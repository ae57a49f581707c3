"""Saved plans: ``plan --out`` writes one, ``apply PLAN`` applies exactly it or refuses.

A saved plan is the plan's JSON with, in ``meta``, what it was computed from: the desired
state's commit (and whether the tree was dirty), the options and scope, a fingerprint of
the live state of every resource it touches, and a digest binding the values each change
will write. Its checksum covers all of that, so a file changed by hand is refused too. A
change's ``detail`` (its provider's diff of what it writes) is part of the change: when it
would read differently at apply time, the plan is stale like any other changed change.
Secrets are never in it: applying re-computes the plan from git and the live services, and
refuses unless it is exactly the saved one -- the same commit, the same live objects, the
same changes, the same values (like Terraform's "Saved plan is stale").

Why the values are bound: a plan shows a password hash only as "(sensitive value)", so two
plans writing different hashes look the same, and a plan reviewed from one working tree
could apply an unreviewed hash from another. ``meta.values`` holds, per change that writes,
HMAC-SHA256(key, fingerprint of everything it writes) with a random key made for this plan
and stored beside the digests. Why that is safe in a public CI artifact: the key only stops
digests from being compared across plans (the same hash in two plans gives unrelated
digests) and precomputed; it is not a secret. What keeps the values secret is that the only
masked values are salted password hashes ({CRYPT}$6$ / $2y$): to test a guess against a
digest one must guess the whole hash, salt included, and the salt (96 bits from ``ispctl
hash-password``) appears in no output -- and even with it, each guess costs a full crypt.
A key kept off the plan would be no safer and could not be checked on another runner.

A plan made from a working tree with uncommitted changes is marked dirty
(``meta.desired.dirty``); ``apply PLAN`` refuses it unless ``--allow-dirty``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Index, Resource, canonical_json, fingerprint


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


def value_digests(plan: Plan, key: bytes) -> dict[str, str]:
    """Per change that writes values, a keyed digest of all it writes (see the module docstring)."""
    digests = {}
    for change in plan.changes:
        if change.after is not None:
            after = change.after
            # A create writes the attributes the live side owns afterwards (an initial password) too.
            written = fingerprint(after.attrs, after.parent) if change.action == "create" else after.fingerprint()
            material = f"{change.action}\n{written}".encode()
            digests[change.address] = "hmac-sha256:" + hmac.new(key, material, hashlib.sha256).hexdigest()
    return digests


def saved_meta(plan: Plan, revision: Revision, live: Index, options: Mapping[str, Any]) -> dict[str, Any]:
    key = secrets.token_bytes(32)
    return {**plan.meta, "desired": revision.to_dict(), "live": live_fingerprints(plan, live), "options": dict(options),
            "values": {"key": key.hex(), "digests": value_digests(plan, key)}}


def check_clean(saved: Mapping[str, Any], path: Path, allow_dirty: bool) -> None:
    """Refuse a plan made from uncommitted files, unless the operator says so."""
    desired = (saved.get("meta") or {}).get("desired") or {}
    if desired.get("dirty") and not allow_dirty:
        where = f"commit {str(desired['commit'])[:12]} plus uncommitted changes" if desired.get("commit") else (
            "a folder that is not in git")
        raise StalePlan(f"Saved plan {path} was made from {where}: what it writes was never reviewed in git; "
                        "nothing was changed. Commit the changes and plan again, or pass --allow-dirty to apply it "
                        "anyway (the values it writes are still checked against the plan).")


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


def _by_name(change: Mapping[str, Any]) -> dict[str, Any]:
    """The change's JSON with its attribute list keyed by name, so a diff path names them."""
    return {**change, "attributes": {str(a.get("name")): a for a in change.get("attributes") or []}}


# What a difference in each part of a change means, for people.
_PARTS = {"moved": "its move", "renamed_from": "its rename", "drift": "its drift", "archive": "whether it is archived",
          "interrupted": "its interrupted apply", "detail": "what it writes (the diff its provider showed)"}
_SIDES = {"before": "its live value", "after": "the value it writes", "sensitive": "whether it is sensitive"}


def _compare(address: str, then: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    if then.get("action") != now.get("action"):
        return [f"{address}: the plan would {then.get('action')} it, now it needs a {now.get('action')}"]
    # deepdiff finds what differs; its paths (root['attributes']['quota']['after']) are turned
    # into the address and attribute an operator knows. Imported here: only a stale plan needs it.
    from deepdiff import DeepDiff

    found: dict[str, None] = {}
    tree = DeepDiff(_by_name(then), _by_name(now), view="tree")
    for items in tree.values():
        for item in items:
            path = [str(step) for step in item.path(output_format="list")]
            if path[:1] == ["attributes"] and len(path) > 1:
                what = _SIDES.get(path[2], "") if len(path) > 2 else ""
                detail = f" ({what})" if what else ""
                found[f"{address}: attribute {path[1]} changed since the plan was made{detail}"] = None
            elif path[:1] == ["detail"] and "detail" not in then:
                # Saved by an ispctl that did not show it yet: the same format, one part fewer.
                found[f"{address}: the plan does not show what it writes (the diff its provider shows now; made by "
                      "an older ispctl)"] = None
            elif path:
                words = _PARTS.get(path[0], f"its {path[0]}")
                found[f"{address}: {words} changed since the plan was made"] = None
    return sorted(found)


def _differences(saved_changes: list[Any], fresh_changes: list[Any], limit: int = 20) -> list[str]:
    """How the changes differ, by address and attribute, in operator words."""
    then = {c.get("address"): c for c in saved_changes if isinstance(c, dict)}
    now = {c.get("address"): c for c in fresh_changes}
    found: list[str] = []
    for address in sorted(set(then) | set(now), key=str):
        if address not in now:
            found.append(f"{address}: the plan would {then[address].get('action')} it, now nothing is needed")
        elif address not in then:
            found.append(f"{address}: now needs a {now[address].get('action')} that the plan does not have")
        else:
            found.extend(_compare(str(address), then[address], now[address]))
    if len(found) > limit:
        found = [*found[:limit], f"... and {len(found) - limit} more"]
    return found


def _values_differ(meta: Mapping[str, Any], fresh: Plan, reported: set[str]) -> list[str]:
    values = meta.get("values")
    if not isinstance(values, dict) or not isinstance(values.get("key"), str):
        return ["the plan does not bind the values it writes (made by an older ispctl)"]
    try:
        key = bytes.fromhex(values["key"])
    except ValueError:
        return ["the plan's value digests are damaged"]
    saved_digests = values.get("digests") or {}
    found = []
    for address, digest in sorted(value_digests(fresh, key).items()):
        if address in saved_digests and saved_digests[address] != digest and address not in reported:
            found.append(f"{address}: a value it writes changed since the plan was made (masked values such as "
                         "password hashes included)")
    return found


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
    saved_changes = list(saved.get("changes") or [])
    if fresh_changes != saved_changes:
        reasons.append("the plan computed now differs from the saved one:")
        reasons.extend(f"  {line}" for line in _differences(saved_changes, fresh_changes))
    by_then = {c.get("address"): c for c in saved_changes if isinstance(c, dict)}
    reported = {c["address"] for c in fresh_changes if by_then.get(c["address"]) != c}
    reasons.extend(_values_differ(meta, fresh, reported))
    return reasons


def reviewed_changes(saved: Mapping[str, Any], fresh: Plan) -> tuple[set[str], dict[str, str], list[str]]:
    """Which changes of ``fresh`` the saved (reviewed) plan has exactly: the same change and
    the same values written (masked ones compared by their digests). Returns those
    addresses, why each other change is not one (by address), and the reviewed changes
    that are no longer needed."""
    then = {c.get("address"): c for c in saved.get("changes") or [] if isinstance(c, dict)}
    values = (saved.get("meta") or {}).get("values")
    try:
        key = bytes.fromhex(values["key"]) if isinstance(values, dict) and isinstance(values.get("key"), str) else None
    except ValueError:
        key = None
    saved_digests = (values or {}).get("digests") or {} if isinstance(values, dict) else {}
    fresh_digests = value_digests(fresh, key) if key is not None else {}
    matched: set[str] = set()
    why: dict[str, str] = {}
    for change in fresh.changes:
        now = change.to_dict()
        old = then.get(change.address)
        if old is None:
            why[change.address] = f"{change.address}: the reviewed plan does not have this {change.action}"
        elif old != now:
            why[change.address] = "; ".join(_compare(change.address, old, now)) or (
                f"{change.address}: differs from the reviewed plan")
        elif key is None or saved_digests.get(change.address) != fresh_digests.get(change.address):
            why[change.address] = (f"{change.address}: a value it writes differs from the reviewed plan (masked "
                                   "values such as password hashes included)")
        else:
            matched.add(change.address)
    addresses = {c.address for c in fresh.changes}
    gone = [f"{a}: the reviewed {then[a].get('action')} is no longer needed" for a in sorted(then, key=str)
            if a not in addresses]
    return matched, why, gone


def check_fresh(saved: Mapping[str, Any], fresh: Plan, revision: Revision, live: Index, path: Path) -> None:
    reasons = staleness(saved, fresh, revision, live)
    if reasons:
        raise StalePlan(f"Saved plan {path} is stale; nothing was changed. Plan again. Why:\n  " + "\n  ".join(reasons))


def _value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Rebuild a plan from its JSON for viewing (``ispctl show``); values stay masked.

    The rebuilt plan renders and checksums exactly like the original: every field the
    views use (attribute changes, moves, renames, drift, archive, detail) is in the JSON. A
    plan saved before changes had a ``detail`` has none, and its JSON and checksum are as
    they were (the part is written only when there is one).
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
                              archive_note=notes.get(kind) if archive else None,
                              interrupted=item.get("interrupted"),
                              detail=tuple(str(line) for line in item.get("detail") or ())))
    return Plan(tuple(changes), meta=meta)
