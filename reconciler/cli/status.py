"""``ispctl status``: the cluster at a glance.

The hosts ``cluster:`` declares, their roles and the objects the directory places on each
(mailboxes, FTP logins, sites: every service counting its own in one search, ``Service.placed``;
a host holding objects that ``cluster:`` no longer declares is listed too), every replica compared with its primary now
(one poll of each service's watch, no waiting: the directory consumers' ``contextCSN``, the DNS
secondaries' SOA serials), and the last apply of this estate from the audit trail with what
its replica check found. Reads the site settings only (no tenant or domain file), so it is
quick on any estate. Exit 0 when every replica is in sync (or none is declared), 3 when one is
behind or cannot be reached (as ``apply``), 1 on an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring

# This module is imported when the command line is built: it imports nothing heavy at the top.


def register(app: typer.Typer, ctx: Wiring, dir_option: Any) -> None:
    @app.command()
    def status(dir: Path | None = dir_option,
               json_out: bool = typer.Option(False, "--json", help="one JSON document (fields: README "
                                                                   "\"Replication\")")) -> None:
        """The cluster at a glance: hosts and roles, replication lag, secondaries' serials, last apply.

        Example: ispctl status --json
        """
        ctx.run(lambda: status_cmd(ctx, ctx.root(dir), json_out))


def last_apply(ctx: Wiring, root: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """This estate's newest apply record, and the ``replicas`` line of its run (None: none recorded)."""
    from ispctl.reconciler.cli.identity import estate_identity, same_estate
    from ispctl.reconciler.engine import audit

    path = audit.log_path()
    entries, _bad = audit.read(path)
    estate = estate_identity(ctx, root)
    mine = next((e for e in entries if same_estate(e.get("estate"), estate)), None)
    if mine is None or not mine.get("run") or not path.exists():
        return mine, None
    found = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if '"replicas"' not in line:
                continue  # most lines; parsing only the candidates keeps a long trail quick
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and item.get("type") == "replicas" and item.get("run") == mine["run"]:
                found = item
    return mine, found


def placed_objects(ctx: Wiring, site: Any, env: Any) -> dict[str, dict[str, int]]:
    """Each host's objects as the directory places them (host -> label -> count), from every
    service that counts its own (``Service.placed``), also hosts no longer in ``cluster:``."""
    found: dict[str, dict[str, int]] = {}
    for service in ctx.registry:
        if service.placed is None:
            continue
        for host, counts in service.placed(site, env).items():
            mine = found.setdefault(host, {})
            for label, count in counts.items():
                mine[label] = mine.get(label, 0) + count
    return found


def _counted(counts: dict[str, int]) -> str:
    return (" -- " + ", ".join(f"{n:,} {label}" for label, n in sorted(counts.items()))) if counts else ""


def status_cmd(ctx: Wiring, root: Path, json_out: bool) -> int:
    import os

    from ispctl.reconciler.cli import replicas
    from ispctl.reconciler.contract import CLUSTER
    from ispctl.reconciler.engine import audit, output

    site = ctx.site(root)
    cluster = site.section(CLUSTER)
    hosts: list[dict[str, Any]] = [{"name": name, "roles": list(host.roles), "directory": host.directory,
                                     "dns": host.dns} for name, host in sorted(cluster.hosts.items())]
    objects = placed_objects(ctx, site, os.environ) if hosts else {}
    for host in hosts:
        host["objects"] = objects.get(host["name"], {})
    result = replicas.check(ctx, site, os.environ, wait=0)
    states = list(result.states) if result is not None else []
    applied, replicated = last_apply(ctx, root)
    in_sync = all(s.in_sync for s in states)
    if json_out:
        document = {"hosts": hosts, "objects": objects, "in_sync": in_sync, "replicas": [s.to_dict() for s in states],
                    "last_apply": applied, "last_apply_replicas": replicated}
        output.write_raw(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
        return 0 if in_sync else replicas.LAGGING
    console = output.out()
    if not hosts:
        console.print("No cluster hosts declared (ispctl.yaml cluster.hosts): one host, no replicas.", markup=False)
    for host in hosts:
        roles = ", ".join(str(role).replace("_", " ") for role in host["roles"])
        console.print(f"{host['name']}: {roles}" + _counted(host["objects"]), markup=False)
    for name in sorted(set(objects) - {host["name"] for host in hosts}):
        output.err().print(f"{name} (not in cluster.hosts){_counted(objects[name])}", markup=False, style="yellow")
    if states:
        console.print(f"Replication: {sum(s.in_sync for s in states)} of {len(states)} replicas in sync", markup=False)
    for state in states:
        (console if state.in_sync else output.err()).print("  " + state.describe(), markup=False,
                                                           style=None if state.in_sync else "yellow")
    if applied is None:
        console.print("Last apply: none recorded for this estate.", markup=False)
    else:
        console.print(f"Last apply: {audit.describe(applied)}", markup=False)
    if replicated is not None:
        lagged = replicated.get("behind_at_first_poll") or []
        console.print(f"  its replica check: {'all in sync' if replicated.get('in_sync') else 'NOT all in sync'} "
                      f"after {replicated.get('waited_seconds')} s" + (f"; {len(lagged)} behind right after the apply"
                                                                       if lagged else ""), markup=False)
    return 0 if in_sync else replicas.LAGGING
