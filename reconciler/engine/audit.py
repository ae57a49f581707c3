"""The audit trail: JSON lines per apply, appended to a file on the applying host.

Why a file and not the directory: the trail must survive a directory restore, be readable
when the directory is down, and be appendable without a schema change on every replica.
Applies run where the services are reachable (a self-hosted runner, the mail host), so
that is where the trail lives; ship it with the host's log tooling.

Location: ``$ISPCTL_AUDIT_LOG``, else ``$XDG_STATE_HOME/ispctl/audit.jsonl`` (default
``~/.local/state/ispctl/audit.jsonl``). Each record: time (UTC), who, host, operation, the
desired commit and whether the tree was dirty, the plan checksum, the summary, and every
change's outcome (address, action, status, error), and which estate it touched
(repository, folder, each service's live side such as the directory URL and base DN,
never credentials), whether it was forced and why, which reviewed plan it applied. Values
are never recorded, so no secret can reach the trail. Lines are written with O_APPEND in one write.

An apply writes three kinds of line, tied together by a run id: ``start`` (fsynced before
the first write to any service: who, what commit, how many changes are planned), one
``change`` line per outcome as it happens (not fsynced: a killed process loses nothing the
kernel has, and a crash of the whole host loses at most the last few), and ``end`` (the
full record, fsynced) once the run is over, however it ended: ``result`` is ``complete``,
``failed`` or ``stopped`` (SIGTERM, Ctrl-C, a lost lock, with ``stopped`` saying which).
A run with a start and no end was killed (SIGKILL, OOM, power): ``read`` reports it as
``interrupted``, with the outcomes its change lines recorded, so its changes still appear
in ``ispctl history``. Records written before run ids existed are read as they are.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ispctl.reconciler.engine.apply import ApplyResult, Outcome
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import Plan


def log_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ISPCTL_AUDIT_LOG"):
        return Path(env["ISPCTL_AUDIT_LOG"])
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ispctl" / "audit.jsonl"


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _summary(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    done = [o for o in outcomes if o.get("status") == "ok"]
    return {
        "added": sum(1 for o in done if o.get("action") == "create"),
        "changed": sum(1 for o in done if o.get("action") == "update"),
        "destroyed": sum(1 for o in done if o.get("action") == "delete"),
        "failed": sum(1 for o in outcomes if o.get("status") == "failed"),
        "skipped": sum(1 for o in outcomes if o.get("status") == "skipped"),
    }


def start_record(plan: Plan, revision: Revision, lock_id: str | None, run_id: str,
                 now: datetime | None = None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What is about to be applied: written (and fsynced) before the first change."""
    return {
        **(context or {}),
        "type": "start", "run": run_id,
        "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "operation": "apply", "who": _who(), "host": socket.gethostname(), "pid": os.getpid(),
        "desired": revision.to_dict(), "plan_checksum": plan.checksum, "lock": lock_id,
        "planned": {"add": plan.count("create"), "change": plan.count("update"),
                    "destroy": plan.count("delete"), "total": len(plan.changes)},
    }


def record(plan: Plan, result: ApplyResult, revision: Revision, lock_id: str | None = None,
           now: datetime | None = None, run_id: str | None = None,
           context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole outcome of an apply (the ``end`` line of a run)."""
    changes = [o.to_dict() for o in result.outcomes]
    outcome = "stopped" if result.stopped else ("complete" if result.ok else "failed")
    return {
        **(context or {}),
        "type": "end", "run": run_id, "result": outcome, "stopped": result.stopped,
        "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "operation": "apply",
        "who": _who(),
        "host": socket.gethostname(),
        "desired": revision.to_dict(),
        "plan_checksum": plan.checksum,
        "lock": lock_id,
        "summary": _summary(changes),
        "changes": changes,
    }


class Trail:
    """One apply's lines in the trail: start, each outcome as it happens, end.

    ``context`` goes into the start and end lines: which estate the apply touched
    (``estate``), whether ``--force`` lifted the thresholds and why (``force``,
    ``force_reason``), and which reviewed plan it applied (``reviewed``).
    """

    def __init__(self, path: Path, plan: Plan, revision: Revision, lock_id: str | None,
                 context: Mapping[str, Any] | None = None) -> None:
        self.path, self.plan, self.revision, self.lock_id = path, plan, revision, lock_id
        self.context = dict(context or {})
        self.run_id = uuid.uuid4().hex
        append(start_record(plan, revision, lock_id, self.run_id, context=self.context), path)

    def outcome(self, outcome: Outcome) -> None:
        append({"type": "change", "run": self.run_id, **outcome.to_dict()}, self.path, sync=False)

    def end(self, result: ApplyResult) -> None:
        append(record(self.plan, result, self.revision, self.lock_id, run_id=self.run_id, context=self.context),
               self.path)


def append(entry: Mapping[str, Any], path: Path, sync: bool = True) -> None:
    line = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise IspctlError(f"cannot write the audit record to {path}: {exc.strerror}") from None


def read(path: Path, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Records newest first (one per apply), and how many lines could not be read."""
    if not path.exists():
        return [], 0
    lines, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                bad += 1  # a torn last line after a crash, or a hand edit
                continue
            if isinstance(item, dict):
                lines.append(item)
            else:
                bad += 1
    entries = _runs(lines)
    entries.reverse()
    return (entries[:limit] if limit else entries), bad


def _runs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per apply, in the order the applies started."""
    ended = {item.get("run") for item in lines if item.get("type") == "end" and item.get("run")}
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for item in lines:
        if item.get("type") == "change" and item.get("run") not in ended:
            outcomes.setdefault(str(item.get("run")), []).append(
                {k: item.get(k) for k in ("address", "action", "status", "error")})
    entries: list[dict[str, Any]] = []
    ends = {item["run"]: item for item in lines if item.get("type") == "end" and item.get("run")}
    for item in lines:
        kind, run = item.get("type"), item.get("run")
        if kind is None or (kind == "end" and not run):
            entries.append(item)  # a record from before run ids, or one without a start line
        elif kind == "start" and run in ends:
            entries.append(ends[run])
        elif kind == "start":
            changes = outcomes.get(str(run), [])
            entries.append({**item, "type": "end", "result": "interrupted", "summary": _summary(changes),
                            "changes": changes})
    return entries


def describe(entry: Mapping[str, Any]) -> str:
    s = entry.get("summary", {})
    desired = entry.get("desired") or {}
    commit = str(desired.get("commit") or "no commit")[:12] + (" (dirty)" if desired.get("dirty") else "")
    problems = ""
    if s.get("failed") or s.get("skipped"):
        problems = f", {s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped"
    how = ""
    if entry.get("result") == "interrupted":
        planned = (entry.get("planned") or {}).get("total", "?")
        how = f"INTERRUPTED (killed before it recorded an outcome; {planned} change(s) planned): "
    elif entry.get("result") == "stopped":
        how = f"STOPPED ({entry.get('stopped')}): "
    extra = ""
    if entry.get("force"):
        extra += f" [FORCED: {entry.get('force_reason') or 'no reason given'}]"
    reviewed = entry.get("reviewed")
    if isinstance(reviewed, dict):
        held = len(reviewed.get("held_back") or [])
        extra += f" [reviewed plan at {str(reviewed.get('commit'))[:12]}" + (f", {held} held back]" if held else "]")
    return (f"{entry.get('time')} {entry.get('operation')} by {entry.get('who')}@{entry.get('host')} "
            f"at {commit}: {how}{s.get('added', 0)} added, {s.get('changed', 0)} changed, "
            f"{s.get('destroyed', 0)} destroyed{problems}{extra}")
