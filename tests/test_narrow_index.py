"""The narrowed plan's one pass over the desired state (``engine.narrow_index``): what it says is
what a plain walk up every object says, over random reference graphs and over outlines, whether
the outlines come in groups (``outlined.Outlined``) or not."""

from __future__ import annotations

import random

import pytest

from ispctl.reconciler.engine.narrow_index import DesiredIndex, OutlineRow, summarise
from ispctl.reconciler.engine.outlined import Outlined, OutlineGroup
from ispctl.reconciler.engine.resources import Incomplete, Resource, ancestors, is_outline, outline

Resources = dict[tuple[str, str], Resource]


def _refs(resource: Resource) -> tuple[str, ...]:
    return tuple(a for a in (resource.parent, *resource.depends_on) if a)


def reference(context: Resources, anchors: frozenset[str]) -> tuple[list[str], dict[str, set[str]],
                                                                   dict[str, list[str]]]:
    """Below (an anchor, or any reference below), the kinds each kind refers to, the claimants:
    one object at a time, as the definitions say."""
    by_address = {f"{kind}.{key}": r for (kind, key), r in context.items()}

    def below(address: str, seen: frozenset[str]) -> bool:
        if address in anchors:
            return True
        if address not in by_address or address in seen:
            return False
        return any(below(ref, seen | {address}) for ref in _refs(by_address[address]))

    parents: dict[str, set[str]] = {}
    claimants: dict[str, list[str]] = {}
    for address, resource in by_address.items():
        for ref in _refs(resource):
            parents.setdefault(resource.kind, set()).add(ref.split(".", 1)[0])
        for key in resource.previous:
            claimants.setdefault(f"{resource.kind}.{key}", []).append(address)
    return [a for a in by_address if below(a, frozenset())], parents, claimants


def random_estate(rng: random.Random, size: int) -> Resources:
    """Tenants, domains below them, mailboxes below domains, maildirs below mailboxes, zones
    depending on domains, alias domains with a parent and a dependency, a few renames, a few
    references to what does not exist, and a cycle now and then."""
    out: Resources = {}

    def add(resource: Resource) -> None:
        out[resource.identity] = resource

    tenants = [f"t{i}" for i in range(max(1, size // 20))]
    for t in tenants:
        add(Resource("tenant", t))
    domains = []
    for i in range(size // 4):
        d = f"d{i}.example"
        domains.append(d)
        previous = (f"old{i}.example",) if rng.random() < 0.05 else ()
        add(Resource("domain", d, parent=f"tenant.{rng.choice(tenants)}", previous=previous))
        if rng.random() < 0.3:
            add(Resource("zone", d, depends_on=(f"domain.{d}",)))
        if rng.random() < 0.1 and domains:
            add(Resource("alias_domain", f"a{i}.example", parent=f"tenant.{rng.choice(tenants)}",
                         depends_on=(f"domain.{rng.choice(domains)}",)))
    for i in range(size):
        d = rng.choice(domains) if domains and rng.random() > 0.02 else "gone.example"
        m = f"m{i}@{d}"
        previous = (f"was{i}@{d}", f"x@{d}") if rng.random() < 0.05 else ()
        add(Resource("mailbox", m, parent=f"domain.{d}", previous=previous))
        if rng.random() < 0.7:
            add(outline("maildir", m, f"mailbox.{m}"))
    if domains and rng.random() < 0.5:  # a cycle (never valid): below only through a way out of it
        add(Resource("loop", "a", parent="loop.b"))
        add(Resource("loop", "b", parent="loop.a", depends_on=(f"domain.{rng.choice(domains)}",)))
        add(Resource("loop", "c", parent="loop.c"))
    return out


def anchors_of(rng: random.Random, context: Resources) -> frozenset[str]:
    addresses = [f"{kind}.{key}" for kind, key in context]
    picked = set(rng.sample(addresses, min(len(addresses), rng.randint(0, 5))))
    return frozenset(picked | {"domain.deleted.example", "loop.a"} if rng.random() < 0.3 else picked)


@pytest.mark.parametrize("seed", range(40))
def test_the_index_is_the_walk_up_of_every_object(seed: int) -> None:
    rng = random.Random(seed)
    context = random_estate(rng, rng.choice([0, 3, 40, 400]))
    anchors = anchors_of(rng, context)
    desired = {i: r for i, r in context.items() if i[0] != "zone"}  # the session plans a part
    index = DesiredIndex.build(desired, context, anchors)
    below, parents, claimants = reference(context, anchors)
    assert index.below == below
    assert index.parents == parents
    assert index.claimants == claimants
    assert index.by_address == {f"{k}.{key}": r for (k, key), r in context.items()}
    assert all(index.by_address[a] is r for a, r in zip(index.by_address, context.values(), strict=True))


def test_a_desired_object_the_context_has_otherwise_wins() -> None:
    context: Resources = {("tenant", "t"): Resource("tenant", "t"),
                          ("domain", "d"): Resource("domain", "d", parent="tenant.u")}
    moved = Resource("domain", "d", parent="tenant.t")
    extra = Resource("mailbox", "m@d", parent="domain.d")
    index = DesiredIndex.build({moved.identity: moved, extra.identity: extra}, context, frozenset({"tenant.t"}))
    assert index.by_address["domain.d"] is moved
    assert index.below == ["tenant.t", "domain.d", "mailbox.m@d"]
    assert index.parents == {"domain": {"tenant"}, "mailbox": {"domain"}}


def test_outlines_are_indexed_without_reading_a_value() -> None:
    rows = [outline("domain", "d", "tenant.t", previous=("old",)), outline("mailbox", "m@d", "domain.d"),
            outline("zone", "d", None, ("domain.d",))]
    context: Resources = {r.identity: r for r in rows}
    index = DesiredIndex.build(context, context, frozenset({"domain.d"}))
    assert index.below == ["domain.d", "mailbox.m@d", "zone.d"]  # an anchor that is an object is below
    index = DesiredIndex.build(context, context, frozenset({"tenant.t"}))
    assert index.below == ["domain.d", "mailbox.m@d", "zone.d"]
    assert index.claimants == {"domain.old": ["domain.d"]}
    with pytest.raises(Incomplete):
        rows[0].attrs  # noqa: B018 (what the index never does)


def test_an_empty_desired_state_has_an_empty_index() -> None:
    index = DesiredIndex.build({}, {}, frozenset({"domain.d"}))
    assert (index.by_address, index.claimants, index.parents, index.below) == ({}, {}, {}, [])


def grouped(context: Resources, rng: random.Random) -> Outlined:
    """``context`` with most objects outlined, in a group per domain (the first one up an
    object's walk, as a file of domains would be), the rest compiled (a file loaded)."""
    by_address = {f"{kind}.{key}": r for (kind, key), r in context.items()}
    files: dict[str, list[Resource]] = {}
    compiled: Resources = {}
    for ident, resource in context.items():
        domain = next((a for a in ancestors(resource, by_address) if a.startswith("domain.")), None)
        if not is_outline(resource) and (domain is None or rng.random() < 0.1):
            compiled[ident] = resource
        else:
            files.setdefault(domain or resource.address, []).append(resource)
    groups = []
    for resources in files.values():
        rows: list[OutlineRow] = [(r.kind, r.key, r.parent, r.depends_on, r.previous) for r in resources]
        groups.append(OutlineGroup(summarise(rows), lambda rows=rows: rows))  # type: ignore[misc]
    return Outlined.of(compiled, groups)


def referrers(context: Resources, address: str) -> list[str]:
    return sorted(f"{k}.{key}" for (k, key), r in context.items() if address in _refs(r))


@pytest.mark.parametrize("seed", range(40))
def test_groups_of_outlines_index_as_their_objects_do(seed: int) -> None:
    rng = random.Random(seed)
    context = grouped(random_estate(rng, rng.choice([0, 3, 40, 400])), rng)
    compiled = sorted(f"{kind}.{key}" for (kind, key), r in context.compiled.items() if not is_outline(r))
    anchors = frozenset(rng.sample(compiled, min(len(compiled), rng.randint(0, 3))) + ["domain.deleted.example"])
    kinds = set(context.kind_counts()) - {"zone"}
    index = DesiredIndex.build(context.only(kinds), context, anchors)
    assert not isinstance(index.by_address, dict)  # (the groups were taken as they are)
    whole = dict(context)  # (every object made: the plain walk's input)
    below, parents, claimants = reference(whole, anchors)
    assert sorted(index.below) == sorted(below)
    assert index.parents == parents
    assert {old: sorted(c) for old, c in index.claimants.items()} == {old: sorted(c) for old, c in claimants.items()}
    assert dict(index.by_address) == {f"{k}.{key}": r for (k, key), r in whole.items()}
    assert all(index.by_address.get(a) is r for a, r in index.by_address.items())
    assert "mailbox.nobody@example.net" not in index.by_address and index.by_address.get("nothing") is None
    for address in rng.sample(sorted(index.by_address), min(len(index.by_address), 20)) + ["domain.gone.example"]:
        assert sorted(index.referrers(address)) == referrers(whole, address)


def test_a_plain_desired_state_of_the_contexts_objects_takes_the_groups() -> None:
    rng = random.Random(7)
    context = grouped(random_estate(rng, 40), rng)
    desired = {i: r for i, r in context.items() if i[0] != "zone"}  # (made: the same objects)
    assert not isinstance(DesiredIndex.build(desired, context, frozenset({"tenant.t0"})).by_address, dict)


def test_outlines_that_cannot_stand_as_groups_are_looked_at_one_by_one() -> None:
    rows: list[OutlineRow] = [("domain", "d", "tenant.t", (), ()), ("mailbox", "m@d", "domain.d", (), ())]
    whole = OutlineGroup(summarise(rows), lambda: rows)
    context = Outlined.of({("tenant", "t"): Resource("tenant", "t")}, [whole])
    # An anchor among the outlines: each object is looked at.
    index = DesiredIndex.build(context, context, frozenset({"domain.d"}))
    assert isinstance(index.by_address, dict) and index.below == ["domain.d", "mailbox.m@d"]
    # A group taken as a whole: not looked into when nothing out of it is below.
    index = DesiredIndex.build(context, context, frozenset({"tenant.u"}))
    assert not isinstance(index.by_address, dict) and index.below == []
    index = DesiredIndex.build(context, context, frozenset({"tenant.t"}))
    assert not isinstance(index.by_address, dict) and sorted(index.below) == ["domain.d", "mailbox.m@d", "tenant.t"]
    # A kind with a "." in it: an address no longer tells the identity.
    dotted = Outlined.of({("tenant", "t"): Resource("tenant", "t"), ("a.b", "c"): Resource("a.b", "c")}, [whole])
    assert isinstance(DesiredIndex.build(dotted, dotted, frozenset()).by_address, dict)
    # A desired object the context has otherwise: the context's groups are not taken.
    moved = Resource("domain", "d", parent="tenant.u")
    index = DesiredIndex.build({moved.identity: moved}, context, frozenset({"tenant.u"}))
    assert isinstance(index.by_address, dict) and index.by_address["domain.d"] is moved
    assert index.below == ["domain.d", "mailbox.m@d"]


def test_a_summary_is_what_refers_out_of_the_rows() -> None:
    rows: list[OutlineRow] = [("domain", "d", "tenant.t", (), ("old",)), ("mailbox", "m@d", "domain.d", (), ()),
                              ("alias_domain", "a", "tenant.t", ("domain.e",), ())]
    assert summarise(rows) == (("domain.e", "tenant.t"),
                               (("alias_domain", "domain"), ("alias_domain", "tenant"), ("domain", "tenant"),
                                ("mailbox", "domain")),
                               (("domain.old", "domain.d"),),
                               (("alias_domain", 1), ("domain", 1), ("mailbox", 1)))
    assert summarise([]) == ((), (), (), ())
