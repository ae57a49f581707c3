"""Acceptance of narrowed runs (estate.incremental) under random changes of a generated estate:
whatever the edits, the narrowed run gives the full run's result or falls back.

A generated estate (``tests/bench/generate.py``: resellers, clients, 30 domains, 300 mailboxes,
with the example's DNS and web settings and a cluster of two mail stores) is committed and
warmed by a full run. A seeded generator edits it as pull requests do (a quota changed, a
mailbox added or removed, a forward to an address of the estate that may or may not exist, an
alias, a domain file deleted, a mailbox copied into another file); every result is compared
with the full run (``incremental_helpers.assert_equivalent``). One chain keeps going under the
same snapshot, which each narrowed run updates, so a stale fact would show at a later step.

Also on the generated estate: limits at their boundary with the other files outlined, tenant
folders renamed, a mail store exactly full with default placements, and random edits planned
by the command line against real slapd and named (byte-equal both ways). Random edits of the
example, which reach every rule across files, are in ``test_incremental_mutations_example``.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ispctl.reconciler.estate import snapshot
from ispctl.reconciler.estate.desired import Desired, check_desired
from ispctl.reconciler.estate.incremental import Fallback, load_narrowed
from tests.bench.generate import generate_estate
from tests.incremental_helpers import EXAMPLE, Files, Warm, applied, box, plan_both_ways, rich_example
from tests.wiring import SCHEMA

SEEDS = range(40)
CHAIN = 20


def generated(repo: Path) -> None:
    root = repo / "desired-state"
    generate_estate(root, 300, 30, "ou=ispctl,dc=example,dc=net")
    example = Files(EXAMPLE).load("ispctl.yaml")
    Files(root).edit("ispctl.yaml", lambda d: d.update({
        "dns": {key: value for key, value in example["dns"].items() if key != "dkim"},
        "web": example["web"],
        "cluster": {"hosts": {"mx1.example.net": {"roles": ["mail_store", "imap", "ftp"], "capacity": 400},
                              "mx2.example.net": {"roles": ["mail_store", "imap", "ftp"], "capacity": 200}}}}))


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Warm:
    base = tmp_path_factory.mktemp("generated")
    generated(base / "repo")
    return Warm(base / "repo", base / "cache")


@pytest.fixture
def estate(warm: Warm) -> Iterator[Warm]:
    yield warm
    warm.restore()


_PARSED: dict[bytes, Any] = {}


# -- the edits --------------------------------------------------------------------------------

class Editor:
    """Random edits of the estate's domain files, as a pull request makes them."""

    def __init__(self, estate: Warm, seed: int) -> None:
        self.estate = estate
        self.rng = random.Random(seed)

    def domain_files(self) -> list[str]:
        tenants = self.estate.root / "tenants"
        return sorted(str(p.relative_to(tenants)) for p in tenants.rglob("*.yaml") if p.name != "tenant.yaml")

    def read(self, rel: str) -> Any:
        """The file's data, read only (a round-trip parse is slow: each version parsed once)."""
        raw = self.estate.path(rel).read_bytes()
        if raw not in _PARSED:
            _PARSED[raw] = self.estate.load(rel)
        return _PARSED[raw]

    def addresses(self) -> list[str]:
        """Every address the domain files claim, and a few that nothing claims."""
        found = []
        for rel in self.domain_files():
            data = self.read(rel)
            for section in ("mailboxes", "aliases"):
                found += [f"{local}@{data['domain']}" for local in data.get(section) or {}]
            found.append(f"nobody@{data['domain']}")
        return found + ["someone@outside.example"]

    def with_mailboxes(self) -> str:
        return self.rng.choice([rel for rel in self.domain_files() if self.read(rel).get("mailboxes")])

    def edit(self) -> str:
        kind = self.rng.choice(["quota", "add", "remove", "forward", "alias", "delete", "copy"])
        rel = self.with_mailboxes()
        data = self.estate.load(rel)
        boxes = data["mailboxes"]
        local = self.rng.choice(sorted(boxes))
        if kind == "quota":
            boxes[local]["quota"] = self.rng.choice(["100 MiB", "3 GiB", "40 GiB", "900 GiB"])
        elif kind == "add":
            boxes[f"new{self.rng.randrange(1000)}"] = box()
        elif kind == "remove":  # with its own file's mentions: what is left to break is in other files
            boxes.pop(local)
            unmention(data, {local, f"{local}@{data['domain']}"})
        elif kind == "forward":
            boxes[local]["forward"] = {"to": [self.rng.choice(self.addresses())]}
        elif kind == "alias":
            data.setdefault("aliases", {})[f"list{self.rng.randrange(100)}"] = self.rng.sample(self.addresses(), 2)
        elif kind == "delete":
            self.estate.remove(rel)
            return f"delete {rel}"
        else:
            into = self.rng.choice(self.domain_files())
            copied: dict[str, Any] = dict(boxes[local])
            self.estate.edit(into, lambda d: d.setdefault("mailboxes", {}).__setitem__(local, copied))
            return f"copy {local} of {rel} into {into}"
        self.estate.write(rel, data)
        return f"{kind} {local} of {rel}"


def unmention(data: Any, gone: set[str]) -> None:
    """The addresses ``gone`` out of the file's aliases (an alias left with none goes too)."""
    aliases = data.get("aliases") or {}
    for name in list(aliases):
        entry = aliases[name]
        targets = [entry] if isinstance(entry, str) else entry["to"] if isinstance(entry, dict) else entry
        kept = [t for t in targets if t not in gone]
        if not kept:
            aliases.pop(name)
        elif isinstance(entry, dict):
            entry["to"] = kept
        else:
            aliases[name] = kept


@pytest.mark.parametrize("seed", SEEDS)
def test_random_edits_give_the_full_runs_result(estate: Warm, seed: int) -> None:
    editor = Editor(estate, seed)
    edits = [editor.edit() for _ in range(editor.rng.randint(1, 3))]
    found = estate.compare()
    OUTCOMES[seed] = isinstance(found, Desired)
    assert isinstance(found, (Desired, Fallback)), edits


OUTCOMES: dict[int, bool] = {}


def test_random_edits_mostly_take_the_fast_path() -> None:
    """The random edits above are not all fallbacks (that would prove nothing) nor all fast
    (some make a problem the full run finds): the share is a property of the seeds."""
    if len(OUTCOMES) < len(SEEDS):
        pytest.skip("the random edits did not all run")
    fast = sum(OUTCOMES.values())
    assert len(SEEDS) // 3 <= fast < len(SEEDS), fast


def test_a_chain_of_edits_under_one_snapshot(estate: Warm, tmp_path: Path) -> None:
    """Edits one after the other, each narrowed run updating the snapshot; an edit with a
    problem is undone (the estate stays valid). Each result is the full run's, outlines
    included (their values are those of the last full run), and at the end the snapshot the
    narrowed runs kept is the one a full run saves."""
    editor = Editor(estate, 1234)
    fast = 0
    for _ in range(CHAIN):
        before = estate.files()
        edit = editor.edit()
        found = estate.compare()
        if isinstance(found, Fallback):
            for path in estate.files().keys() - before.keys():
                path.unlink()
            for path, raw in before.items():
                path.write_bytes(raw)
        else:
            fast += 1
            assert estate.last is not None, edit
            estate.warm = estate.last.resources
    assert fast >= CHAIN // 3
    kept, why = snapshot.load(estate.root, estate.schema, estate.env)
    assert kept is not None, why
    fresh = Warm.__new__(Warm)
    fresh.root, fresh.schema, fresh.env = estate.root, estate.schema, {"ISPCTL_CACHE_DIR": str(tmp_path / "fresh")}
    fresh.prime()
    again, why = snapshot.load(fresh.root, fresh.schema, fresh.env)
    assert again is not None, why
    assert kept.files == again.files and kept.index == again.index


# -- snapshots that are not this estate's ------------------------------------------------------

def test_a_snapshot_of_another_estate_is_not_used(estate: Warm, tmp_path: Path) -> None:
    other = tmp_path / "other"
    rich_example(other)
    shutil.copy(Warm(other, tmp_path / "other-cache").snapshot_path, estate.snapshot_path)
    estate.edit(Editor(estate, 0).domain_files()[0], lambda d: d.__setitem__("description", "x"))
    found = estate.compare()
    assert isinstance(found, Fallback) and "another context" in found.reason, found


def test_another_environment_is_another_context(estate: Warm) -> None:
    found = load_narrowed(estate.root, estate.schema, {**estate.env, "ISPCTL_MAIL_ROOT": "/srv/mail"}, [])
    assert isinstance(found, Fallback) and "another context" in found.reason, found
    assert isinstance(estate.compare(), Desired)  # the estate's own environment: the snapshot holds


def test_what_fast_runs_learnt_is_kept(estate: Warm) -> None:
    """Each step's facts come from a narrowed run (the snapshot it updated), never a full one:
    a forward and an alias into another file, added by fast runs, still stop that file from
    dropping what they reach."""
    editor = Editor(estate, 0)
    a, b = editor.domain_files()[3], editor.domain_files()[17]
    b_domain = editor.read(b)["domain"]

    def step(change: Callable[[], object], fast: bool) -> None:
        before = estate.files()
        change()
        found = estate.compare()
        assert isinstance(found, Desired) == fast, found if isinstance(found, Fallback) else found.partial
        if fast:
            assert estate.last is not None
            estate.warm = estate.last.resources
            return
        for path in estate.files().keys() - before.keys():
            path.unlink()
        for path, raw in before.items():
            path.write_bytes(raw)

    first = next(iter(editor.read(a)["mailboxes"]))
    step(lambda: estate.edit(b, lambda d: d["mailboxes"].__setitem__("x.target", box())), True)
    step(lambda: estate.edit(a, lambda d: d["mailboxes"][first].__setitem__(
        "forward", {"to": [f"x.target@{b_domain}"]})), True)
    step(lambda: estate.edit(a, lambda d: d.setdefault("aliases", {}).__setitem__(
        "via", [f"x.list@{b_domain}"])), False)  # nothing takes it yet
    step(lambda: estate.edit(b, lambda d: d.setdefault("aliases", {}).__setitem__("x.list", ["x.target"])), True)
    step(lambda: estate.edit(a, lambda d: d.setdefault("aliases", {}).__setitem__(
        "via", [f"x.list@{b_domain}"])), True)
    step(lambda: estate.edit(b, lambda d: d["mailboxes"].pop("x.target")), False)  # a forward and x.list reach it
    step(lambda: estate.edit(b, lambda d: d["aliases"].pop("x.list")), False)      # a's alias reaches it
    # an alias domain of a's now: x.target@ would be a's, where there is none
    step(lambda: estate.write(b, {"domain": b_domain, "type": "alias", "alias_of": editor.read(a)["domain"]}), False)
    # the whole domain gone, its addresses are foreign ones: a forward out, an alias out
    step(lambda: estate.remove(b), True)
    step(lambda: estate.edit(a, lambda d: (d["aliases"].pop("via"), d["mailboxes"][first].pop("forward"))), True)


# -- limits at their boundary, tenants renamed: the generated estate ----------------------------

CLIENT = "reseller000/reseller000-client001"   # 4 domains of 6, 40 mailboxes of 50, 18 aliases of 38, pool 75 GiB
LAW = f"{CLIENT}/law-00001.example.yaml"
LONE = "reseller000/reseller000-client008"     # one domain
GIB = 1024**3


def used(estate: Warm, what: str) -> int:
    """The client's usage (its files' totals in the snapshot's facts)."""
    kept, why = snapshot.load(estate.root, estate.schema, estate.env)
    assert kept is not None, why
    return sum(entry.facts.totals.get(f"usage:reseller000-client001:{what}", 0) for entry in kept.files.values())


def new_domains(count: int) -> Callable[[Warm], object]:
    return lambda e: [e.write(f"{CLIENT}/extra{i}.example.yaml", {"domain": f"extra{i}.example"})
                      for i in range(count)]


def new_mailboxes(count: int) -> Callable[[Warm], object]:
    return lambda e: e.edit(LAW, lambda d: d["mailboxes"].update({f"x{i}": box() for i in range(count)}))


def new_aliases(count: int) -> Callable[[Warm], object]:
    return lambda e: e.edit(LAW, lambda d: d["aliases"].update({f"x{i}": ["postmaster"] for i in range(count)}))


def pool_filled(over: int) -> Callable[[Warm], object]:
    return lambda e: e.edit(LAW, lambda d: d["mailboxes"].__setitem__(
        "x.big", box(quota=f"{75 * GIB - used(e, 'quota') + over} B")))


def renamed(previous: list[str]) -> Callable[[Warm], object]:
    def run(e: Warm) -> None:
        e.move(LONE, "reseller000/client-eight")
        e.edit("reseller000/client-eight/tenant.yaml", lambda d: d.__setitem__("previous", previous))
    return run


GENERATED: dict[str, tuple[Callable[[Warm], object], bool]] = {
    "max-domains-reached": (new_domains(2), True),
    "max-domains-exceeded": (new_domains(3), False),
    "max-mailboxes-reached": (new_mailboxes(10), True),
    "max-mailboxes-exceeded": (new_mailboxes(11), False),
    "max-aliases-reached": (new_aliases(20), True),
    "max-aliases-exceeded": (new_aliases(21), False),
    "quota-pool-reached": (pool_filled(0), True),
    "quota-pool-exceeded": (pool_filled(1), False),
    "tenant-renamed-with-previous": (renamed(["reseller000-client008"]), True),
    "tenant-folder-renamed": (renamed([]), True),
    "tenant-previous-names-a-tenant": (lambda e: e.edit(f"{LONE}/tenant.yaml", lambda d: d.__setitem__(
        "previous", ["reseller000-client007"])), False),
    "domain-moved-to-a-sibling-client": (lambda e: e.move(f"{LONE}/dental-00029.example.yaml",
                                                          f"{CLIENT}/dental-00029.example.yaml"), True),
}


@pytest.mark.parametrize("name", GENERATED)
def test_limits_and_tenants_of_the_generated_estate(estate: Warm, name: str) -> None:
    change, fast = GENERATED[name]
    change(estate)
    found = estate.compare()
    assert isinstance(found, Desired) == fast, found if isinstance(found, Fallback) else found.partial
    if not fast:
        assert estate.last is None and isinstance(found, Fallback) and "problem" in found.reason


def test_a_default_placement_at_capacity(tmp_path: Path) -> None:
    """mx2 exactly full: the mailboxes rendezvous hashing gives it and a domain pinned to it
    to fill it up. New mailboxes of another file, some of which hash to mx2, overfill it while
    the other files are outlined; pinned to mx1 they do not."""
    repo = tmp_path / "repo"
    generated(repo)
    files = Files(repo / "desired-state")
    full, problems = check_desired(files.root, SCHEMA, {"ISPCTL_CACHE_DIR": str(tmp_path / "probe")}, facts=True)
    assert full is not None and full.facts is not None and not problems
    placed = sum(facts.totals.get("placed:mail_store:mx2.example.net", 0) for facts in full.facts.values())
    assert 0 < placed < 200
    files.edit("reseller000/tenant.yaml", lambda d: d["limits"].__setitem__("max_mailboxes", 1000))
    files.write("reseller000/filler.example.yaml", {
        "domain": "filler.example", "services": ["mail"], "placement": {"mail_store": "mx2.example.net"},
        "mail": {"default_quota": "1 MiB"}, "mailboxes": {f"f{i}": box() for i in range(200 - placed)}})
    estate = Warm(repo, tmp_path / "cache")
    rel = Editor(estate, 0).domain_files()[5]
    estate.edit(rel, lambda d: d["mailboxes"].update({f"new{i}": box() for i in range(8)}))
    found = estate.compare()
    assert isinstance(found, Fallback) and "capacity" in found.reason, found
    estate.restore()
    estate.edit(rel, lambda d: d["mailboxes"].update(
        {f"new{i}": box(placement={"mail_store": "mx1.example.net"}) for i in range(8)}))
    assert isinstance(estate.compare(), Desired)


# -- the plan: random edits planned by the command line -----------------------------------------

PLANNED_SEEDS = range(100, 108)


@pytest.fixture(scope="module")
def live(warm: Warm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with applied(warm, tmp_path_factory) as env:
        yield env


PLANNED: dict[int, bool] = {}


@pytest.mark.parametrize("seed", PLANNED_SEEDS)
def test_random_edits_plan_as_the_full_way(estate: Warm, live: dict[str, str], seed: int,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``ispctl plan --changed-since`` over the snapshot and the full way, byte-equal
    (``incremental_helpers.plan_both_ways``), after random edits against real slapd and named."""
    editor = Editor(estate, seed)
    for _ in range(editor.rng.randint(1, 3)):
        editor.edit()
    PLANNED[seed] = plan_both_ways(estate, live, capsys).fast


def test_random_edits_are_mostly_planned_the_fast_way() -> None:
    if len(PLANNED) < len(PLANNED_SEEDS):
        pytest.skip("the planned random edits did not all run")
    assert len(PLANNED_SEEDS) // 3 <= sum(PLANNED.values()) < len(PLANNED_SEEDS), PLANNED
