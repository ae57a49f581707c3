"""The bodies of the helpdesk's read commands (``cli.lookup`` registers them): each a typed
function returning an exit code. They read the validated estate and, with ``--live``, the live
state the way plan reads it (one session, in bulk or narrowed to the object, domain or tenant
asked about), and print through the one output module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path

from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.resources import Index, address_of
from ispctl.reconciler.estate.compile import ALIAS, DOMAIN, MAILBOX, TENANT
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.lookup import listing, usage
from ispctl.reconciler.lookup.find import find, live_findings
from ispctl.reconciler.lookup.kinds import known_nouns, object_key, resolve_kind, shown_address
from ispctl.reconciler.lookup.live import read_live
from ispctl.reconciler.lookup.objects import Used, describe, lines
from ispctl.reconciler.lookup.table import csv_text, text_table
from ispctl.reconciler.lookup.tree import Tree


def _dumps(data: object) -> None:
    output.write_raw(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _used(ctx: Wiring, live: Index, enabled: set[str]) -> dict[str, dict[str, int]]:
    """The services' usage figures (``UsagePart.used``) from one read of the live state: of the
    services whose provider ran here, or that have none and read what others' providers hold
    (FTP's logins are the directory's). A service not read here has no column, never zeros."""
    found: dict[str, dict[str, int]] = {}
    for service in ctx.registry:
        if service.usage is None or service.usage.used is None:
            continue
        if service.provider is not None and service.name not in enabled:
            continue
        for column, per in service.usage.used(live).items():
            found.setdefault(column, {}).update(per)
    return found


Anchors = Callable[[Desired], frozenset[str] | None]


Loaded = tuple[Desired, Index | None, Used | None, frozenset[str] | None]  # estate, live, usage, kinds read


def _load(ctx: Wiring, root: Path, live: bool, anchors: Anchors,
          kinds: Callable[[Desired], Collection[str]] = lambda _desired: ()) -> Loaded:
    """The estate and, with ``live``, the live state at and below the anchors ``anchors`` picks
    from it (all of it for None), the services' usage figures from that one read, and the kinds
    this machine's providers read. ``kinds``:
    what the command shows, which this machine's providers must read (else an error saying so,
    rather than calling every object not live)."""
    if not live:
        desired = ctx.desired(root)
        anchors(desired)  # names checked the same way, connected or not
        return desired, None, None, None
    with ctx.session(root) as session, output.progress() as show:
        desired = Desired(session.catalog, _resources=session.compiled)
        read = frozenset(kind for p in session.providers for kind in p.SUPPORTS)
        unread = sorted(set(kinds(desired)) - read)
        if unread:
            raise IspctlError(f"--live: no provider enabled on this machine reads {', '.join(unread)} (providers: "
                              f"{', '.join(p.name for p in session.providers) or 'none'}; see ISPCTL_PROVIDERS)")
        found = read_live(session, anchors(desired), show)
        return desired, found, _used(ctx, found, {p.name for p in session.providers}), read


def _kinds(desired: Desired) -> set[str]:
    return {kind for kind, _ in desired.resources} | {TENANT, DOMAIN, MAILBOX, ALIAS}


def _object(noun: str, name: str) -> Callable[[Desired], frozenset[str]]:
    """The anchor of one object (``kind.key``), its kind and key checked against the estate."""
    def pick(desired: Desired) -> frozenset[str]:
        kind = resolve_kind(noun, _kinds(desired))
        if kind is None:
            raise IspctlError(f"show {noun}: not a kind of object (known: {known_nouns(_kinds(desired))}); "
                              "a saved plan is shown with `ispctl show PLAN`")
        return frozenset({address_of(kind, object_key(kind, name))})
    return pick


def show_object_cmd(ctx: Wiring, root: Path, noun: str, name: str, live: bool, json_out: bool) -> int:
    pick = _object(noun, name)
    desired, found, used, read = _load(ctx, root, live, pick, lambda d: {next(iter(pick(d))).split(".", 1)[0]})
    kind, key = next(iter(pick(desired))).split(".", 1)
    shown = describe(kind, key, desired.resources, desired.catalog, found, used or {}, read)
    if json_out:
        _dumps(shown.to_dict())
    else:
        output.out().print("\n".join(lines(shown)), markup=False)
    return 0


def show_cmd(ctx: Wiring, root: Path, target: str, name: str | None, fmt: str, live: bool) -> int:
    """An object when a NAME follows ``target`` (a kind); else ``target`` is a saved plan."""
    if name is not None:
        return show_object_cmd(ctx, root, target, name, live, fmt == "json")
    path = Path(target)
    if not path.exists() and resolve_kind(target, _registered_kinds(ctx)) is not None:
        raise IspctlError(f"show {target}: which one? `ispctl show {target} NAME`")
    from ispctl.reconciler.cli import commands as cmd

    return cmd.show_cmd(path, fmt)


def _registered_kinds(ctx: Wiring) -> set[str]:
    """Every kind the estate's objects can have: the estate's own and the services'."""
    kinds = {TENANT, DOMAIN, MAILBOX, ALIAS}
    for service in ctx.registry:
        kinds |= service.kinds
        kinds |= {part.kind for part in service.directory}
    return kinds


def _scope(tenant: str | None, domain: str | None) -> Anchors:
    """The anchors a live read is narrowed to: the ``--domain``, else the ``--tenant`` (None: all),
    after checking both name objects of the estate."""
    def pick(desired: Desired) -> frozenset[str] | None:
        key = object_key(DOMAIN, domain) if domain is not None else None
        listing.selector(Tree(desired.resources), desired.catalog, tenant, key)
        if key is not None:
            return frozenset({address_of(DOMAIN, key)})
        return frozenset({address_of(TENANT, tenant)}) if tenant is not None else None
    return pick


def list_cmd(ctx: Wiring, root: Path, noun: str, tenant: str | None, domain: str | None, fmt: str,
             live: bool) -> int:
    def kinds(desired: Desired) -> set[str]:
        found = resolve_kind(noun, _kinds(desired))
        if found is None:
            raise IspctlError(f"list {noun}: not a kind of object (known: {known_nouns(_kinds(desired))})")
        return {found}

    desired, found, used, _ = _load(ctx, root, live, _scope(tenant, domain), kinds)
    [kind] = kinds(desired)
    domain_key = object_key(DOMAIN, domain) if domain is not None else None
    rows = listing.list_rows(kind, desired.resources, desired.catalog, tenant=tenant, domain=domain_key,
                             live=found, used=used)
    columns = listing.columns(kind, live, used)
    if fmt == "json":
        _dumps({"kind": kind, "count": len(rows), "live": live, "rows": rows})
    elif fmt == "csv":
        output.write_raw(csv_text(rows, ["key", *columns, "file", "line"]).rstrip("\r\n"))
    elif not rows:
        output.out().print(f"No {kind.replace('_', '-')} matches.", markup=False)
    else:
        output.out().print("\n".join(text_table(rows, columns, listing.SIZES | set(used or {}))), markup=False)
    return 0


def find_cmd(ctx: Wiring, root: Path, query: str, json_out: bool, live: bool = False) -> int:
    """0 when something holds or points to the address, 1 when nothing does."""
    desired, found, _, _ = _load(ctx, root, live, lambda _desired: None)  # all of it: pointers live anywhere
    address, findings = find(query, desired.catalog, desired.resources)
    if found is not None:
        findings += live_findings(address, found, findings)
    if json_out:
        _dumps({"address": address, "display": shown_address(address),
                "found": [f.to_dict() for f in findings]})
    elif findings:
        width = max(len(f.role) for f in findings)
        output.out().print(f"{shown_address(address)}:", markup=False)
        for f in findings:
            output.out().print(f"  {f.role.ljust(width)}  {f.detail}  [{f.location or 'live'}]", markup=False)
    if not findings:
        output.err().print(f"Nothing in the desired state holds or points to {shown_address(address)}.",
                           markup=False)
        return 1
    return 0


def report_usage_cmd(ctx: Wiring, root: Path, tenant: str | None, fmt: str, live: bool) -> int:
    counted = [kind for s in ctx.registry if s.usage is not None for kind in s.usage.counts]
    desired, _, used, _ = _load(ctx, root, live, _scope(tenant, None))
    rows = usage.usage_rows(desired.resources, desired.catalog, counted, used, tenant)
    if fmt == "json":
        _dumps({"live": live, "tenants": rows})
    elif fmt == "csv":
        output.write_raw(csv_text(rows, usage.columns(counted, used)).rstrip("\r\n"))
    else:
        shown, heads = usage.table_rows(rows, counted, used)
        output.out().print("\n".join(text_table(shown, heads, frozenset(used or {}))), markup=False)
    return 0
