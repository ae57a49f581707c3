"""A narrowed plan over a desired state known only in outline outside the scope (``--changed-since``
with a snapshot) is the narrowed plan over the whole desired state, or raises ``Incomplete``.

Pure engine tests over the example estate and the in-memory providers of ``test_narrow``: every
desired object outside what a changed file's run loads (its anchor's subtree, all tenants) is
replaced by its ``outline`` (identity and references only; any value raises ``Incomplete``).
What the plan and everything computed from it then reads of an outline is a value the run
needed from a file it did not load: that must be ``Incomplete`` (the command line redoes the run
the full way), never a different answer, and in the common case it must not happen at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ispctl.reconciler.engine import gates
from ispctl.reconciler.engine.groups import plan_crossings, plan_groups
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Incomplete, Resource, ancestors, is_outline, outline
from ispctl.reconciler.engine.saved import live_fingerprints, value_digests
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.engine.session import Session
from ispctl.reconciler.views.text import plan_json
from tests.test_narrow import GIT_EDITS, LIVE_EDITS, PROVIDERS, Resources, Setup, as_live, session, states


def _refs(resource: Resource) -> tuple[str, ...]:
    return tuple(a for a in (resource.parent, *resource.depends_on) if a)


def file_of(resource: Resource, by_address: Mapping[str, Resource]) -> str:
    """The file an object is compiled from, as far as the engine can tell: its domain (the
    first one up its walk), else itself (a tenant)."""
    for address in ancestors(resource, by_address):
        if address.startswith("domain."):
            return address
    return resource.address


def loaded(desired: Resources, anchors: frozenset[str]) -> set[str]:
    """What a run over the anchors' files compiles: every tenant (tenant files are always loaded),
    the files of the objects whose walk up (any reference) meets an anchor, and the files those
    refer to (an alias domain's target), as whole files."""
    by_address = {r.address: r for r in desired.values()}
    known: dict[str, bool] = {}

    def below(address: str, depth: int = 0) -> bool:
        if address in anchors:
            return True
        if address in known or address not in by_address or depth > 64:
            return known.get(address, False)
        known[address] = any(below(ref, depth + 1) for ref in _refs(by_address[address]))
        return known[address]

    files: dict[str, set[str]] = {}
    for address, resource in by_address.items():
        files.setdefault(file_of(resource, by_address), set()).add(address)
    chosen = {file_of(r, by_address) for a, r in by_address.items() if r.kind == "tenant" or below(a)}
    todo = list(chosen)
    while todo:
        for address in files.get(todo.pop(), ()):
            for ref in _refs(by_address[address]):
                if ref in by_address and (other := file_of(by_address[ref], by_address)) not in chosen:
                    chosen.add(other)
                    todo.append(other)
    return {a for name in chosen for a in files.get(name, ())}


def outlined(desired: Resources, keep: set[str]) -> Resources:
    """``desired`` with every object not in ``keep`` replaced by its outline."""
    return {ident: r if r.address in keep else outline(r.kind, r.key, r.parent, r.depends_on, r.previous)
            for ident, r in desired.items()}


def run(desired: Resources, setup: Setup, live: list[Resource], anchors: frozenset[str]) -> dict[str, object]:
    """The narrowed plan and everything ``make_plan`` computes from it, as plain data."""
    planner: Session = session(desired, setup, live)
    narrowed = planner.plan(anchors=anchors)
    context = planner.scope_context or desired
    plan: Plan = apply_scope(narrowed, Scope(anchors=anchors, everything=False), context, planner.live)
    assert not any(is_outline(r) for c in plan.changes for r in (c.before, c.after) if r is not None)
    return {"json": plan_json(plan), "groups": plan_groups(plan, context, planner.live),
            "crossings": plan_crossings(plan, context, planner.live),
            "protected": gates.protection_violations(plan, planner.live),
            "thresholds": gates.threshold_violations(plan, planner.existing, gates.Thresholds(0.05, 2)),
            "fingerprints": live_fingerprints(plan, planner.live), "digests": value_digests(plan, b"k")}


def same_or_incomplete(full: Resources, live: list[Resource], setup: Setup, anchors: frozenset[str]) -> bool:
    """Assert the outlined run equals the full one where it answers; whether it answered."""
    expected = run(full, setup, live, anchors)
    try:
        got = run(outlined(full, loaded(full, anchors)), setup, live, anchors)
    except Incomplete:
        return False
    assert got == expected, sorted(anchors)
    return True


def domain_anchor(name: str) -> frozenset[str]:
    return frozenset({f"domain.{name}"})


# The scenarios whose changed file's own run needs nothing from another file: no outline is read.
COMMON = {"dns record changed": "northwind.example", "mailbox renamed in its domain": "northwind.example",
          "mailbox deleted": "northwind.example", "nothing": "hartcole.example",
          "domain moved between tenants": "hartcole.example", "domain file deleted": "southbay.example"}


@pytest.mark.parametrize("git_edit", sorted(COMMON))
def test_a_changed_files_plan_over_outlines_reads_none_of_them(tmp_path: Path, git_edit: str) -> None:
    before, after, _root = states(tmp_path, GIT_EDITS[git_edit])
    anchors = domain_anchor(COMMON[git_edit])
    kept = loaded(after, anchors)
    assert len(kept) < len(after) / 2  # most of the estate is only outlined
    for name, setup in PROVIDERS.items():
        for live_edit in ("converged", "hand-made entries", "protected tenants"):
            by_address = {r.address: r for r in as_live(before)}
            LIVE_EDITS[live_edit](by_address)
            assert same_or_incomplete(after, list(by_address.values()), setup, anchors), (name, live_edit)


@pytest.mark.parametrize("git_edit", sorted(GIT_EDITS))
def test_every_scenario_over_outlines_plans_the_same_or_says_it_cannot(tmp_path: Path, git_edit: str) -> None:
    """Every tenant and domain as the anchor, every live state, every provider set-up: where the
    outlines outside the anchor's files suffice the plan is the same, else ``Incomplete``. Most
    runs need nothing outside (those that do: a live object read whose desired counterpart is
    elsewhere, as a domain moved by hand or a rename across files)."""
    before, after, _root = states(tmp_path, GIT_EDITS[git_edit])
    answered = runs = 0
    for edit in LIVE_EDITS.values():
        by_address = {r.address: r for r in as_live(before)}
        edit(by_address)
        live = list(by_address.values())
        names = {r.address for r in [*after.values(), *live] if r.kind in ("tenant", "domain")}
        for setup in PROVIDERS.values():
            for anchor in sorted(names):
                answered += same_or_incomplete(after, live, setup, frozenset({anchor}))
                runs += 1
    assert answered > runs * 3 / 4, (answered, runs)


def test_a_rename_whose_old_key_another_file_claims_needs_that_file(tmp_path: Path) -> None:
    """The support mailbox moves to another domain's file (a rename across files): the changed
    file's run finds the live support@northwind.example, and who takes it over is decided by
    the object claiming it, in a file the run did not load: Incomplete, not a create and a delete."""
    before, after, _root = states(tmp_path, GIT_EDITS["mailbox renamed across domains"])
    live = as_live(before)
    anchors = domain_anchor("northwind.example")
    setup = PROVIDERS["narrowing"]
    kept = loaded(after, anchors)
    assert "mailbox.helpdesk@northwind.net" not in kept
    with pytest.raises(Incomplete):
        run(outlined(after, kept), setup, live, anchors)
    # With the claiming file loaded too, the plan is the full desired state's.
    wider = kept | {r.address for r in after.values() if r.address.endswith("northwind.net")}
    assert run(outlined(after, wider), setup, live, anchors) == run(after, setup, live, anchors)


def test_an_outline_that_is_compared_is_incomplete_never_equal(tmp_path: Path) -> None:
    """A value changed in a file the run did not load cannot be hidden by its outline: the run
    that would compare it raises."""
    before, after, _root = states(tmp_path, GIT_EDITS["dns record changed"])
    anchors = domain_anchor("northwind.example")
    everything_outlined: Mapping[tuple[str, str], Resource] = outlined(after, set())
    with pytest.raises(Incomplete):
        run(dict(everything_outlined), PROVIDERS["narrowing"], as_live(before), anchors)


def test_the_helpers_outline_what_they_say(tmp_path: Path) -> None:
    _before, after, _root = states(tmp_path, GIT_EDITS["nothing"])
    kept = loaded(after, domain_anchor("northwind.example"))
    assert "mailbox.noc@northwind.example" in kept and "tenant.school" in kept
    assert "mailbox.noc@southbay.example" not in kept
    shown = outlined(after, kept)
    assert is_outline(shown[("mailbox", "noc@southbay.example")])
    assert not is_outline(shown[("mailbox", "noc@northwind.example")])
