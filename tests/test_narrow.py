"""A narrowed plan (--tenant, --changed-since) is exactly the full plan filtered by its scope.

Pure engine tests: in-memory providers that read honestly only what ``Within`` names
(``MemoryProvider._read_within``). Every scenario compares, for every single tenant and
domain as the anchor (and a few unions and the changed files' own scope), the plan that read
only the scope with ``apply_scope`` of the full plan -- as JSON -- and everything computed
downstream from the live state: groups, crossings, protection, the saved plan's live
fingerprints. The real services' narrowed reads are tested in tests/test_dns_within.py and
tests/test_mailstore_provider.py, and end to end in tests/test_runs.py.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from memory_provider import MemoryProvider

from ispctl.reconciler.engine import gates
from ispctl.reconciler.engine.errors import ValidationFailed
from ispctl.reconciler.engine.groups import plan_crossings, plan_groups
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.provider import Provider, Within
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.engine.saved import live_fingerprints
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.engine.session import Session, in_scope
from ispctl.reconciler.estate.scopes import changed_scope
from ispctl.reconciler.views.text import plan_json
from tests.wiring import load_desired

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
Resources = dict[tuple[str, str], Resource]
TENANTS = "tenants/northwind"


class Directory(MemoryProvider):
    name: ClassVar[str] = "directory"


class Homes(MemoryProvider):
    name: ClassVar[str] = "homes"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"maildir"})
    ARCHIVES: ClassVar[Mapping[str, str]] = {"maildir": "moved to the mail archive"}


class Dns(MemoryProvider):
    name: ClassVar[str] = "dns"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"dns_zone", "dns"})


class DnsReadsAll(Dns):
    """A service that cannot read part of its state: the default hook reads everything."""

    def _read_within(self, kinds: frozenset[str], within: Within) -> list[Resource]:
        return list(Provider._read_within(self, kinds, within))


class Generous(Directory):
    """Returns more than asked (the contract allows it): every other object too."""

    def _read_within(self, kinds: frozenset[str], within: Within) -> list[Resource]:
        asked = {r.address for r in super()._read_within(kinds, within)}
        return [r for i, r in enumerate(self.store.values()) if r.address in asked or i % 2]


def as_live(resources: Mapping[tuple[str, str], Resource]) -> list[Resource]:
    """The resources as a provider would read them back after applying them."""
    return [replace(r, source=None, previous=(), recorded_fingerprint=r.fingerprint()) for r in resources.values()]


LiveEdit = Callable[[dict[str, Resource]], None]
Setup = tuple[type[Provider], ...]
PROVIDERS: dict[str, Setup] = {
    "narrowing": (Directory, Homes, Dns),
    "dns-reads-all": (Directory, Homes, DnsReadsAll),
    "children-first": (Dns, Homes, Directory),
    "generous": (Generous, Homes, Dns),
    # A runner that reaches only some services: the others' kinds are context, never read.
    "no-directory": (Homes, Dns),
    "directory-only": (Directory,),
}


def providers_for(setup: Setup, live: list[Resource]) -> list[Provider]:
    out: list[Provider] = []
    for cls in setup:
        assert issubclass(cls, MemoryProvider)
        out.append(cls([r for r in live if r.kind in cls.SUPPORTS]))
    return out


def session(desired: Resources, setup: Setup, live: list[Resource]) -> Session:
    providers = providers_for(setup, live)
    return Session(in_scope(desired, providers), providers, compiled=desired)


def compare(desired: Resources, live: list[Resource], setup: Setup, anchors: frozenset[str]) -> Plan:
    """Plan narrowed and full; assert they agree on everything the run computes from them."""
    scope = Scope(anchors=anchors, everything=False)
    full_session = session(desired, setup, live)
    narrow_session = session(desired, setup, live)
    try:
        full = full_session.plan()
    except ValidationFailed as exc:
        refused_alike(exc, narrow_session, anchors)
        return Plan(())
    expected = apply_scope(full, scope, desired, full_session.live)
    narrowed = narrow_session.plan(anchors=anchors)
    # The views walk only the part of the desired state the narrowed plan can reach (as make_plan does).
    context = narrow_session.scope_context or desired
    got = apply_scope(narrowed, scope, context, narrow_session.live)
    where = f"anchors {sorted(anchors)}"
    assert plan_json(got) == plan_json(expected), where
    full_live, live_now = full_session.live, narrow_session.live
    assert plan_groups(got, context, live_now) == plan_groups(expected, desired, full_live), where
    assert plan_crossings(got, context, live_now) == plan_crossings(expected, desired, full_live), where
    assert gates.protection_violations(got, live_now) == gates.protection_violations(expected, full_live), where
    assert live_fingerprints(got, live_now) == live_fingerprints(expected, full_live), where
    return got


def refused_alike(exc: ValidationFailed, narrow_session: Session, anchors: frozenset[str]) -> None:
    """A rename the full plan refuses (it would cross between resellers, a fact only the live
    side shows) is refused by a narrowed plan that plans it, and only then (``narrow``)."""
    try:
        plan = narrow_session.plan(anchors=anchors)
    except ValidationFailed as again:
        assert again.problems == exc.problems
        return
    planned = {c.address for c in plan.changes}
    for problem in exc.problems:
        found = re.search(r"(\S+) names (\S+) as its previous key", problem.message)
        assert found is not None, problem.message
        assert found.group(1) not in planned and found.group(2) not in planned, (sorted(anchors), problem.message)


def every_anchor(desired: Resources, live: list[Resource]) -> list[frozenset[str]]:
    names = {r.address for r in [*desired.values(), *live] if r.kind in ("tenant", "domain")}
    singles = [frozenset({a}) for a in sorted(names)]
    return [*singles, frozenset(), frozenset({"tenant.bakery", "domain.southbay.example"}),
            frozenset({"domain.hartcole.example", "tenant.school"})]


def states(tmp_path: Path, edit: Callable[[Path], None]) -> tuple[Resources, Resources, Path]:
    before_root = tmp_path / "before"
    shutil.copytree(EXAMPLE, before_root)
    after_root = tmp_path / "after"
    shutil.copytree(EXAMPLE, after_root)
    edit(after_root)
    return load_desired(before_root)[1], load_desired(after_root)[1], after_root


def move(src: str, dst: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        (root / src).rename(root / dst)
    return edit


def remove(path: str) -> Callable[[Path], None]:
    return lambda root: (root / path).unlink()


def rewrite(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        text = (root / path).read_text(encoding="utf-8")
        assert old in text, old
        (root / path).write_text(text.replace(old, new, 1), encoding="utf-8")
    return edit


def write(path: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / path).write_text(text, encoding="utf-8") and None


def both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        for one in edits:
            one(root)
    return edit


NORTHWIND = f"{TENANTS}/northwind.example.yaml"
HARTCOLE = f"{TENANTS}/lawfirm/hartcole.example.yaml"
BAKERY = f"{TENANTS}/bakery/bäckerei-müller.example.yaml"
SOUTHBAY = "tenants/southbay/southbay.example.yaml"
# The whole entry of one mailbox, password line included.
_AFTER_SUPPORT = (EXAMPLE / NORTHWIND).read_text(encoding="utf-8").partition("  support:\n")[2]
SUPPORT = "  support:\n" + "".join(_AFTER_SUPPORT.splitlines(True)[:2])

GIT_EDITS: dict[str, Callable[[Path], None]] = {
    "nothing": lambda root: None,
    "domain moved between tenants": move(HARTCOLE, "tenants/northwind/hartcole.example.yaml"),
    "domain moved to another reseller": move(HARTCOLE, "tenants/southbay/hartcole.example.yaml"),
    "mailbox renamed across domains": both(
        rewrite(NORTHWIND, SUPPORT, ""),
        write(f"{TENANTS}/northwind.net.yaml", "domain: northwind.net\nmailboxes:\n  helpdesk:\n"
              "    previous: [support@northwind.example]\n" + SUPPORT.splitlines(True)[2])),
    "mailbox renamed in its domain": rewrite(NORTHWIND, SUPPORT,
                                             SUPPORT.replace("support:", "help:\n    previous: [support]")),
    "domain file deleted": remove(SOUTHBAY),
    "domain with an alias domain deleted": both(
        remove(BAKERY), remove(f"{TENANTS}/bakery/baeckerei-mueller.example.yaml"),
        rewrite(f"{TENANTS}/bakery/tenant.yaml", "contact: anna@xn--bckerei-mller-bfb28a.example\n", "")),
    "alias pointing into another domain": both(
        rewrite(HARTCOLE, "aliases:\n", "aliases:\n  nw: [noc@northwind.example, support@northwind.example]\n"),
        rewrite(NORTHWIND, "  sales: [ines.okafor, tom.reyes]\n", "  sales: [ines.okafor, j.hart@hartcole.example]\n")),
    "dns record changed": rewrite(NORTHWIND, "vpn: {A: 198.51.100.7,", "vpn: {A: 198.51.100.8,"),
    "tenant renamed": move(f"{TENANTS}/lawfirm", f"{TENANTS}/lawfirm2"),
    "mailbox deleted": rewrite(NORTHWIND, SUPPORT, ""),
}


def hand_made(live: dict[str, Resource]) -> None:
    """An entry made by hand under a domain, and one under a zone, with no fingerprint."""
    extra = Resource("mailbox", "intruder@hartcole.example", {"address": "intruder@hartcole.example"},
                     parent="domain.hartcole.example")
    live[extra.address] = extra
    record = Resource("dns", "northwind.example/hand/A", {"ttl": 60, "records": ("192.0.2.9",)},
                      parent="dns_zone.northwind.example")
    live[record.address] = record


def drifted(live: dict[str, Resource]) -> None:
    """A managed attribute changed by hand, an entry and a record set missing, an entry moved."""
    box = live["mailbox.noc@southbay.example"]
    live[box.address] = replace(box, attrs={**box.attrs, "quota": 1})
    del live["mailbox.anna@xn--bckerei-mller-bfb28a.example"]
    del live["dns.southbay.example/radius/A"]
    domain = live["domain.xn--bckerei-mller-bfb28a.example"]
    live[domain.address] = replace(domain, parent="tenant.lawfirm")  # moved by hand


def orphans(live: dict[str, Resource]) -> None:
    """What a domain that left git leaves live: its entry, mailboxes, maildirs, zone, records."""
    tenant = "tenant.school"
    for address, resource in [("domain.gone.example", Resource("domain", "gone.example", {}, parent=tenant)),
                              ("mailbox.a@gone.example", Resource("mailbox", "a@gone.example", {},
                                                                  parent="domain.gone.example")),
                              ("maildir.a@gone.example", Resource("maildir", "a@gone.example", {},
                                                                  depends_on=("mailbox.a@gone.example",))),
                              ("dns_zone.gone.example", Resource("dns_zone", "gone.example", {},
                                                                 depends_on=("domain.gone.example",))),
                              ("dns.gone.example/@/A", Resource("dns", "gone.example/@/A", {},
                                                                parent="dns_zone.gone.example"))]:
        live[address] = replace(resource, recorded_fingerprint=resource.fingerprint())


def protected(live: dict[str, Resource]) -> None:
    """Tenants protected in the live directory (the live flag decides, not git)."""
    for address in ("tenant.southbay", "tenant.bakery"):
        tenant = live[address]
        live[address] = replace(tenant, attrs={**tenant.attrs, "protected": True},
                                recorded_fingerprint=replace(tenant, attrs={**tenant.attrs, "protected": True})
                                .fingerprint())


LIVE_EDITS: dict[str, LiveEdit] = {
    "converged": lambda live: None,
    "hand-made entries": hand_made,
    "drift": drifted,
    "a domain that left git": orphans,
    "protected tenants": protected,
}


@pytest.mark.parametrize("live_edit", sorted(LIVE_EDITS))
@pytest.mark.parametrize("git_edit", sorted(GIT_EDITS))
def test_a_narrowed_plan_is_the_full_plan_filtered(tmp_path: Path, git_edit: str, live_edit: str) -> None:
    before, after, _root = states(tmp_path, GIT_EDITS[git_edit])
    by_address = {r.address: r for r in as_live(before)}
    LIVE_EDITS[live_edit](by_address)
    live = list(by_address.values())
    for name, setup in PROVIDERS.items():
        for anchors in every_anchor(after, live):
            try:
                compare(after, live, setup, anchors)
            except AssertionError as exc:
                raise AssertionError(f"{git_edit} / {live_edit} / providers {name}: {exc}") from None


def test_the_scenarios_plan_what_they_say(tmp_path: Path) -> None:
    """The sweep above is only worth something if its scenarios really plan moves, renames,
    deletes and drift inside some scope: check a few by name."""
    before, after, _root = states(tmp_path, GIT_EDITS["mailbox renamed across domains"])
    live = as_live(before)
    got = compare(after, live, PROVIDERS["narrowing"], frozenset({"domain.northwind.example"}))
    renamed = {c.address: c.renamed_from for c in got.changes if c.renamed_from}
    assert renamed == {"mailbox.helpdesk@northwind.net": "mailbox.support@northwind.example",
                       "maildir.helpdesk@northwind.net": "maildir.support@northwind.example"}
    before, after, _root = states(tmp_path / "2", GIT_EDITS["domain moved between tenants"])
    got = compare(after, as_live(before), PROVIDERS["narrowing"], frozenset({"tenant.lawfirm"}))
    assert [(c.address, c.is_move) for c in got.changes] == [("domain.hartcole.example", True)]
    # A domain of a protected tenant leaves git: every scope that plans its delete refuses it.
    before, after, _root = states(tmp_path / "3", GIT_EDITS["domain file deleted"])
    by_address = {r.address: r for r in as_live(before)}
    protected(by_address)
    narrowed = session(after, PROVIDERS["narrowing"], list(by_address.values()))
    plan = apply_scope(narrowed.plan(anchors=frozenset({"domain.southbay.example"})),
                       Scope(anchors=frozenset({"domain.southbay.example"}), everything=False), after, narrowed.live)
    assert any("tenant.southbay is protected" in p for p in gates.protection_violations(plan, narrowed.live))
    by_address = {r.address: r for r in as_live(before)}
    orphans(by_address)
    got = compare(before, list(by_address.values()), PROVIDERS["narrowing"], frozenset({"tenant.school"}))
    assert {c.address for c in got.changes if c.action == "delete"} == {
        "domain.gone.example", "mailbox.a@gone.example", "maildir.a@gone.example", "dns_zone.gone.example",
        "dns.gone.example/@/A"}


def test_a_narrowed_plan_reads_only_its_part(tmp_path: Path) -> None:
    before, after, _root = states(tmp_path, GIT_EDITS["dns record changed"])
    providers = providers_for(PROVIDERS["narrowing"], as_live(before))
    narrowed = Session(in_scope(after, providers), providers, compiled=after)
    plan = narrowed.plan(anchors=frozenset({"domain.southbay.example"}))
    assert plan.empty  # the change is in northwind.example: nothing here
    kinds_read = {r.kind for r in narrowed.live.values()}
    assert kinds_read == {"tenant", "domain", "mailbox", "alias", "maildir", "dns_zone", "dns"}
    zones = {r.key for r in narrowed.live.values() if r.kind == "dns_zone"}
    assert zones == {"southbay.example"}
    assert {r.key for r in narrowed.live.values() if r.kind == "mailbox"} == {
        "noc@southbay.example", "dialup-test@southbay.example", "ftp-test@southbay.example"}
    # The domain's ancestors are read too (a walk up must end where it would), nothing else.
    assert {r.address for r in narrowed.live.values() if r.kind == "tenant"} == {"tenant.southbay"}
    assert len(narrowed.live) < len(as_live(before)) / 3
    # Every provider was asked once: nothing was missing after the first pass.
    assert [len(p.narrow_reads) for p in providers if isinstance(p, MemoryProvider)] == [1, 1, 1]


def test_the_changed_files_scope_of_each_scenario(tmp_path: Path) -> None:
    for index, (name, edit) in enumerate(sorted(GIT_EDITS.items())):
        root = tmp_path / str(index)
        before, after, after_root = states(root, edit)
        catalog, _ = load_desired(after_root)
        changed = [p for p in after_root.rglob("*.yaml")
                   if not (root / "before" / p.relative_to(after_root)).exists()
                   or (root / "before" / p.relative_to(after_root)).read_bytes() != p.read_bytes()]
        changed += [after_root / p.relative_to(root / "before") for p in (root / "before").rglob("*.yaml")
                    if not (after_root / p.relative_to(root / "before")).exists()]
        scope = changed_scope(changed, catalog)
        full = compare(after, as_live(before), PROVIDERS["narrowing"], scope.anchors)
        assert name == "nothing" or not full.empty, name


def test_the_gate_counts_what_it_did_not_read_as_existing(tmp_path: Path) -> None:
    before, after, _root = states(tmp_path, GIT_EDITS["domain file deleted"])
    live = as_live(before)
    full = session(after, PROVIDERS["narrowing"], live)
    full_plan = full.plan()
    narrowed = session(after, PROVIDERS["narrowing"], live)
    anchors = frozenset({"domain.southbay.example"})
    plan = narrowed.plan(anchors=anchors)
    assert len(narrowed.live) < len(full.live)
    # Outside the scope the estate has converged: the shares are computed over the same counts.
    counts = {k: sum(1 for kind, _ in full.live if kind == k) for k in {k for k, _ in full.live}}
    assert {k: narrowed.existing[k] for k in counts} == counts and narrowed.existing.keys() <= counts.keys()
    limits = gates.Thresholds(max_share=0.05, min_existing=2)
    scope = Scope(anchors=anchors, everything=False)
    scoped = apply_scope(plan, scope, after, narrowed.live)
    assert gates.threshold_violations(scoped, narrowed.existing, limits) == gates.threshold_violations(
        apply_scope(full_plan, scope, after, full.live), counts, limits)
    assert gates.threshold_violations(scoped, narrowed.existing, limits)  # and it does fire here
    # A full plan's existing objects are its live ones.
    assert full.existing == counts


def shuffled(live: dict[str, Resource], rng: random.Random) -> None:
    """Random hand-made damage: entries deleted, moved under another parent of the same kind,
    values changed, orphans made, as an operator with ldapmodify might."""
    addresses = sorted(live)
    parents: dict[str, list[str]] = {}
    for resource in live.values():
        if resource.parent:
            parents.setdefault(resource.parent.split(".", 1)[0], []).append(resource.parent)
    for address in rng.sample(addresses, 15):
        resource = live.get(address)
        if resource is None:
            continue
        move = rng.choice(["delete", "move", "change", "orphan"])
        if move == "delete":
            del live[address]
        elif move == "move" and resource.parent:
            live[address] = replace(resource, parent=rng.choice(parents[resource.parent.split(".", 1)[0]]))
        elif move == "change":
            live[address] = replace(resource, attrs={**resource.attrs, "status": "suspended"})
        else:
            copy = replace(resource, key=f"x{rng.randrange(99)}{resource.key}", recorded_fingerprint=None)
            live[copy.address] = copy


@pytest.mark.parametrize("seed", range(32))
def test_random_hand_made_damage_plans_the_same_narrowed(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    git_edit = sorted(GIT_EDITS)[seed % len(GIT_EDITS)]
    before, after, _root = states(tmp_path, GIT_EDITS[git_edit])
    by_address = {r.address: r for r in as_live(before)}
    shuffled(by_address, rng)
    live = list(by_address.values())
    setup = list(PROVIDERS.values())[seed % len(PROVIDERS)]
    for anchors in every_anchor(after, live):
        compare(after, live, setup, anchors)


def test_what_a_service_returns_beyond_the_scope_is_not_compared(tmp_path: Path) -> None:
    """A service that can only read everything (the mail store walks every home) returns the
    whole estate; the plan takes in only what the scope needs, so it stays narrow."""
    before, after, _root = states(tmp_path, GIT_EDITS["dns record changed"])
    providers = providers_for(PROVIDERS["dns-reads-all"], as_live(before))
    narrowed = Session(in_scope(after, providers), providers, compiled=after)
    assert narrowed.plan(anchors=frozenset({"domain.southbay.example"})).empty
    assert {r.key for r in narrowed.live.values() if r.kind == "dns_zone"} == {"southbay.example"}
    assert not any(r.key.startswith("northwind.example/") for r in narrowed.live.values() if r.kind == "dns")
    # The gate still counts every record set the service has, read or not.
    assert narrowed.existing["dns"] == sum(1 for r in before.values() if r.kind == "dns")


def test_a_narrowed_plan_says_what_it_reads(tmp_path: Path) -> None:
    before, after, _root = states(tmp_path, GIT_EDITS["nothing"])
    seen: list[str] = []
    narrowed = session(after, PROVIDERS["children-first"], as_live(before))
    narrowed.plan(anchors=frozenset({"tenant.school"}), progress=seen.append)
    # Parents first, whatever the order the providers were given in.
    assert seen[0] == "reading directory"
    assert set(seen) == {"reading directory", "reading homes", "reading dns"}
