"""After an apply: wait for the replicas the cluster declares, and say which ones lag.

The services that keep replicas (``Service.replicas``: the directory's syncrepl consumers, DNS
secondaries) give watches; this polls them until every replica has what the primary held
right after the apply, for at most ``cluster.wait``, then reports each replica that was behind
(also one that caught up during the wait) and records the outcome in the audit trail, as a
``replicas`` line of the apply's run. It runs after the estate lock is released: a slow replica
never holds the next apply back. Only services enabled on this machine are asked (their
connection settings are here).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from ispctl.reconciler.contract import CLUSTER, Registry, ReplicaState, ReplicaWatch, SiteFile
from ispctl.reconciler.engine import audit, output
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.replicas import Convergence, converge
from ispctl.reconciler.estate.settings import enabled_providers

# ``apply``'s exit code when every change was applied but a replica had not caught up in time.
LAGGING = 3


class Wired(Protocol):
    registry: Registry


def watches(ctx: Wired, site: SiteFile, env: Mapping[str, str]) -> tuple[list[ReplicaWatch], list[ReplicaState]]:
    """This machine's services' watches, and a state for each service whose primary could not be read."""
    found: list[ReplicaWatch] = []
    failed: list[ReplicaState] = []
    enabled = enabled_providers(site, env)
    for service in ctx.registry:
        if service.replicas is None or service.name not in enabled:
            continue
        try:
            watch = service.replicas(site, env)
        except IspctlError as exc:
            failed.append(ReplicaState(service.name, "(primary)", "primary", "", in_sync=False,
                                       error=f"cannot read what the primary holds: {exc}"))
            continue
        if watch is not None:
            found.append(watch)
    return found, failed


def check(ctx: Wired, site: SiteFile, env: Mapping[str, str], wait: float) -> Convergence | None:
    """Poll every replica until all are in sync or ``wait`` is over; None when the cluster has none."""
    found, failed = watches(ctx, site, env)
    if not found and not failed:
        return None
    try:
        result = converge(found, wait)
    finally:
        for watch in found:
            watch.close()
    if failed:
        result = Convergence(tuple(failed) + result.states, tuple(failed) + result.first, result.polls, result.waited)
    return result


def after_apply(ctx: Wired, site: SiteFile, run_id: str, env: Mapping[str, str] | None = None) -> bool:
    """Wait for the replicas, report them, record the outcome; True when every one is in sync (or none exists)."""
    env = os.environ if env is None else env
    wait = site.section(CLUSTER).wait
    result = check(ctx, site, env, float(wait))
    if result is None:
        return True
    audit.append({"type": "replicas", "run": run_id, "time": datetime.now(UTC).isoformat(timespec="seconds"),
                  **result.to_dict()}, audit.log_path(env))
    report(result, f"cluster.wait {wait} s")
    return result.in_sync


def report(result: Convergence, limit: str) -> None:
    caught = {(s.service, s.host, s.role) for s in result.caught_up}
    if result.in_sync:
        output.out().print(f"Replicas: all {len(result.states)} in sync (waited {result.waited:.1f} s).", markup=False,
                           style="green")
    else:
        output.err().print(f"Replicas: {len(result.lagging)} of {len(result.states)} NOT in sync after "
                           f"{result.waited:.1f} s ({limit}). The changes are on the primary; the replicas get them "
                           "by themselves once they answer (ispctl status shows them).", markup=False,
                           style="bold yellow")
    first = {(s.service, s.host, s.role): s for s in result.first}
    for state in result.states:
        key = (state.service, state.host, state.role)
        line = "  " + state.describe()
        if key in caught:
            line += f" (caught up during the wait; right after the apply: {first[key].condition()})"
        console = output.out() if state.in_sync else output.err()
        console.print(line, markup=False, style=None if state.in_sync else "yellow")
