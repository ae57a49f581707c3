"""The audit trail file: append-only JSON lines without values, read back newest first."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from memory_provider import MemoryProvider

from ispctl.reconciler.engine.apply import apply_plan
from ispctl.reconciler.engine.audit import Trail, append, describe, log_path, read, record
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.resources import Resource

SECRET = "{CRYPT}$6$saltsalt$" + "z" * 86


def applied():  # type: ignore[no-untyped-def]
    desired = {r.identity: r for r in (
        Resource("tenant", "t", {"status": "active"}),
        Resource("mailbox", "a@x.example", {"password": SECRET}, parent="tenant.t", sensitive=frozenset({"password"})),
        Resource("mailbox", "b@x.example", {"password": SECRET}, parent="tenant.t", sensitive=frozenset({"password"})),
    )}
    provider = MemoryProvider(fail={"mailbox.b@x.example"})
    plan = compute_plan(desired, provider.read())
    return plan, apply_plan(plan, lambda kind: provider)


def test_a_record_has_who_what_when_and_outcomes_but_no_values(tmp_path: Path) -> None:
    plan, result = applied()
    when = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    entry = record(plan, result, Revision("f" * 40, True, "main"), lock_id="L1", now=when)
    path = tmp_path / "audit" / "audit.jsonl"
    append(entry, path)
    append(entry, path)
    text = path.read_text()
    assert SECRET not in text and len(text.splitlines()) == 2
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    (latest, _older), bad = read(path)
    assert bad == 0 and latest["summary"] == {"added": 2, "changed": 0, "destroyed": 0, "failed": 1, "skipped": 0}
    assert {c["address"]: c["status"] for c in latest["changes"]} == {
        "tenant.t": "ok", "mailbox.a@x.example": "ok", "mailbox.b@x.example": "failed"}
    assert describe(latest).startswith("2026-11-24T12:00:00+00:00 apply by ")
    assert f"at {'f' * 12} (dirty): 2 added, 0 changed, 0 destroyed, 1 failed, 0 skipped" in describe(latest)


def test_reading_skips_a_torn_line_and_limits(tmp_path: Path) -> None:
    plan, result = applied()
    path = tmp_path / "a.jsonl"
    for _ in range(3):
        append(record(plan, result, Revision(None, True)), path)
    with path.open("a") as handle:
        handle.write('{"time": "torn')
    entries, bad = read(path, limit=2)
    assert len(entries) == 2 and bad == 1
    assert read(tmp_path / "missing.jsonl") == ([], 0)


def test_location_comes_from_the_environment(tmp_path: Path) -> None:
    assert log_path({"ISPCTL_AUDIT_LOG": "/srv/a.jsonl"}) == Path("/srv/a.jsonl")
    assert log_path({"XDG_STATE_HOME": "/state"}) == Path("/state/ispctl/audit.jsonl")
    blocked = tmp_path / "file"
    blocked.write_text("")
    plan, result = applied()
    with pytest.raises(IspctlError, match="cannot write the audit record"):
        append(record(plan, result, Revision(None, False)), blocked / "audit.jsonl")


def test_a_killed_apply_shows_as_interrupted_with_what_it_did(tmp_path: Path) -> None:
    plan, result = applied()
    path = tmp_path / "audit.jsonl"
    killed = Trail(path, plan, Revision("c" * 40, False), "L1")
    for outcome in result.outcomes[:2]:  # two outcomes were recorded, then the process died
        killed.outcome(outcome)
    finished = Trail(path, plan, Revision("d" * 40, False), "L2")
    for outcome in result.outcomes:
        finished.outcome(outcome)
    finished.end(result)
    (latest, interrupted), bad = read(path)
    assert bad == 0 and latest["result"] == "failed" and latest["run"] == finished.run_id
    assert interrupted["result"] == "interrupted" and interrupted["run"] == killed.run_id
    assert interrupted["summary"] == {"added": 2, "changed": 0, "destroyed": 0, "failed": 0, "skipped": 0}
    assert [c["address"] for c in interrupted["changes"]] == [o.change.address for o in result.outcomes[:2]]
    assert ": INTERRUPTED (killed before it recorded an outcome; 3 change(s) planned): 2 added" in describe(interrupted)
    assert SECRET not in path.read_text()


def test_a_stopped_apply_says_why(tmp_path: Path) -> None:
    plan, result = applied()
    path = tmp_path / "audit.jsonl"
    Trail(path, plan, Revision(None, True), None).end(dataclasses.replace(result, stopped="SIGTERM"))
    (entry,), _ = read(path)
    assert entry["result"] == "stopped" and ": STOPPED (SIGTERM): 2 added" in describe(entry)


def test_the_run_context_names_the_estate_and_the_force_in_both_lines(tmp_path: Path) -> None:
    plan, result = applied()
    path = tmp_path / "audit.jsonl"
    estate = {"repository": "https://git.example/isp/estate.git", "folder": "desired-state",
              "services": {"ldap": {"directory": "ldaps://ldap.example.net", "base_dn": "ou=ispctl,dc=example"}}}
    context = {"estate": estate, "force": True, "force_reason": "PR #7 label ispctl:force",
               "reviewed": {"plan": "sha256:ab", "commit": "0123456789abcdef", "exact": False,
                            "held_back": ["tenant.t"]}}
    trail = Trail(path, plan, Revision("c" * 40, False), None, context)
    start = path.read_text().splitlines()[0]
    assert '"estate": {' in start and '"force_reason": "PR #7 label ispctl:force"' in start
    trail.end(result)
    (entry,), bad = read(path)
    assert bad == 0 and entry["estate"] == estate and entry["type"] == "end"
    assert describe(entry).endswith("[FORCED: PR #7 label ispctl:force] [reviewed plan at 0123456789ab, 1 held back]")
