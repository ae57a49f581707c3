"""The audit trail: one JSON line per apply, appended to a file on the applying host.

Why a file and not the directory: the trail must survive a directory restore, be readable
when the directory is down, and be appendable without a schema change on every replica.
Applies run where the services are reachable (a self-hosted runner, the mail host), so
that is where the trail lives; ship it with the host's log tooling.

Location: ``$ISPCTL_AUDIT_LOG``, else ``$XDG_STATE_HOME/ispctl/audit.jsonl`` (default
``~/.local/state/ispctl/audit.jsonl``). Each record: time (UTC), who, host, operation, the
desired commit and whether the tree was dirty, the plan checksum, the summary, and every
change's outcome (address, action, status, error). Values are never recorded, so no
secret can reach the trail. Lines are written with O_APPEND in one write and fsynced.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ispctl.reconciler.engine.apply import ApplyResult
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.gitinfo import Revision
from ispctl.reconciler.engine.plan import Plan


def log_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ISPCTL_AUDIT_LOG"):
        return Path(env["ISPCTL_AUDIT_LOG"])
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ispctl" / "audit.jsonl"


def record(plan: Plan, result: ApplyResult, revision: Revision, lock_id: str | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    done = [o for o in result.outcomes if o.status == "ok"]
    return {
        "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "operation": "apply",
        "who": user,
        "host": socket.gethostname(),
        "desired": revision.to_dict(),
        "plan_checksum": plan.checksum,
        "lock": lock_id,
        "summary": {
            "added": sum(1 for o in done if o.change.action == "create"),
            "changed": sum(1 for o in done if o.change.action == "update"),
            "destroyed": sum(1 for o in done if o.change.action == "delete"),
            "failed": sum(1 for o in result.outcomes if o.status == "failed"),
            "skipped": sum(1 for o in result.outcomes if o.status == "skipped"),
        },
        "changes": [o.to_dict() for o in result.outcomes],
    }


def append(entry: Mapping[str, Any], path: Path) -> None:
    line = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise IspctlError(f"cannot write the audit record to {path}: {exc.strerror}") from None


def read(path: Path, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Records newest first, and how many lines could not be read."""
    if not path.exists():
        return [], 0
    entries, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                bad += 1  # a torn last line after a crash, or a hand edit
                continue
            if isinstance(item, dict):
                entries.append(item)
            else:
                bad += 1
    entries.reverse()
    return (entries[:limit] if limit else entries), bad


def describe(entry: Mapping[str, Any]) -> str:
    s = entry.get("summary", {})
    desired = entry.get("desired") or {}
    commit = str(desired.get("commit") or "no commit")[:12] + (" (dirty)" if desired.get("dirty") else "")
    problems = ""
    if s.get("failed") or s.get("skipped"):
        problems = f", {s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped"
    return (f"{entry.get('time')} {entry.get('operation')} by {entry.get('who')}@{entry.get('host')} "
            f"at {commit}: {s.get('added', 0)} added, {s.get('changed', 0)} changed, "
            f"{s.get('destroyed', 0)} destroyed{problems}")
