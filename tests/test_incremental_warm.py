"""A plan's desired state from the changed files only (estate.incremental), continued from
test_incremental (its estates, changes and comparisons with the full run): a snapshot kept up to
date by narrowed runs, a damaged one, the site settings' resources, files known by their stat,
and many changes in turn over a generated estate.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from test_incremental import (
    EXAMPLE,
    FACTS_SCHEMA,
    HART,
    NORTHWIND,
    SCHOOL,
    SOUTHBAY,
    Estate,
    box,
    example,
    example_name,
    falls_back,
    fast,
)

from ispctl.reconciler.engine.resources import Incomplete, is_outline
from ispctl.reconciler.estate import snapshot, snapshot_format
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.incremental import Fallback
from tests.bench.generate import generate_estate

__all__ = ["example"]  # a fixture of test_incremental, used here by name

_yaml = YAML()


# -- a warm snapshot, kept up to date by narrowed runs ----------------------------------------

def test_a_snapshot_updated_by_narrowed_runs_is_what_a_full_run_saves(example: Estate, tmp_path: Path) -> None:
    steps: list[Callable[[Estate], list[Path]]] = [
        lambda e: [e.edit(HART, lambda d: d["mailboxes"].__setitem__("x.new", box()))],
        lambda e: [e.edit(HART, lambda d: d["mailboxes"].__setitem__("x.newer", {
            **d["mailboxes"].pop("x.new"), "previous": ["x.new"]}))],
        lambda e: [e.edit(NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__(
            "forward", {"to": ["x.newer@hartcole.example"]}))],
        lambda e: [e.edit(HART, lambda d: d["mailboxes"].__setitem__("x.newer", box()))],
        lambda e: [e.write("southbay/clinic/tenant.yaml", {"name": "Clinic"}),
                   e.write("southbay/clinic/clinic.example.yaml", {"domain": "clinic.example", "services": ["mail"]})],
        lambda e: [e.delete("southbay/clinic/clinic.example.yaml")],
        lambda e: [e.edit(SCHOOL, lambda d: d.__setitem__("description", "Riverside"))],
        lambda e: [e.delete(SCHOOL), e.write("southbay/school/riverside.yaml", _yaml.load(
            (EXAMPLE / "tenants" / SCHOOL).read_text(encoding="utf-8")))],  # the file renamed
    ]
    for step in steps:
        fast(example, step(example))
    # a tenant renamed: its folder moves (more files than a fifth of the estate's: the full way)
    old, new = example.path("northwind/lawfirm"), example.path("northwind/hartlaw")
    old.rename(new)
    example.edit("northwind/hartlaw/tenant.yaml", lambda d: d.__setitem__("previous", ["lawfirm"]))
    moved = [old / "tenant.yaml", old / "hartcole.example.yaml", new / "tenant.yaml", new / "hartcole.example.yaml"]
    assert "files changed" in falls_back(example, moved).reason
    example.prime()
    kept, why = snapshot.load(example.root, FACTS_SCHEMA, example.env)
    assert kept is not None, why
    fresh = Estate(example.root, tmp_path / "fresh-cache")
    fresh.prime()
    again, why = snapshot.load(fresh.root, FACTS_SCHEMA, fresh.env)
    assert again is not None, why
    assert kept.files == again.files and kept.index == again.index


def test_a_damaged_part_of_the_snapshot_falls_back(example: Estate) -> None:
    """Read when it is needed: the outlines of a file the run loads (compared with what it
    compiles), or of one it looks up (``engine.outlined``: the plan goes the full way)."""
    path = snapshot.snapshot_path(example.root, example.env)
    kept, _ = snapshot.load(example.root, FACTS_SCHEMA, example.env)
    assert path is not None and kept is not None
    name = example_name(SOUTHBAY)
    entry = kept.files[name]
    kept.files[name] = snapshot_format.FileEntry(entry.digest, entry.packed_facts, b"\x00not outlines", entry.stat,
                                                 entry.summary)
    assert snapshot_format.write(path, kept, force=True) is None
    assert example.narrowed([example.path(SOUTHBAY)]) == Fallback("the snapshot is damaged")
    found = example.narrowed([])
    assert isinstance(found, Desired)
    with pytest.raises(Incomplete):
        found.resources.get(("domain", "southbay.example"))


def test_resources_of_the_site_settings_are_compiled_again(tmp_path: Path) -> None:
    """A dialup profile of ispctl.yaml is a resource of the site settings: compiled in every
    narrowed run, as in the full one."""
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    estate = Estate(tmp_path / "desired-state", tmp_path / "cache")
    with (estate.root / "ispctl.yaml").open("a", encoding="utf-8") as handle:
        handle.write("radius:\n  profiles:\n    dsl: {session_timeout: 1d}\n")
    estate.prime()
    full, _ = estate.full()
    assert full is not None
    site = [r for r in full.resources.values() if r.source and r.source.file == "desired-state/ispctl.yaml"]
    assert site
    found = fast(estate, [estate.edit(HART, lambda d: d["mailboxes"].__setitem__("x.new", box()))])
    assert all(not is_outline(found.resources[r.identity]) for r in site)


def test_files_known_by_their_stat_are_not_read_again(example: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's copies keep their old times: the snapshot knows them by their stat, so a
    narrowed run reads only what changed; a file touched (same bytes) is read, and still the same."""
    read: list[str] = []
    digest_of = snapshot.digest_of
    monkeypatch.setattr(snapshot, "digest_of", lambda path: read.append(str(path)) or digest_of(path))

    def files_read() -> list[str]:  # (the site settings are read for the context in every run)
        found = sorted(name for name in read if not name.endswith("/ispctl.yaml"))
        read.clear()
        return found

    fast(example, [])
    assert files_read() == []
    os.utime(example.path(SCHOOL))
    path = example.edit(HART, lambda d: d["mailboxes"].__setitem__("x.new", box()))
    found = fast(example, [path])
    assert files_read() == sorted([str(example.path(SCHOOL)), str(path)])
    assert found.partial is not None and found.partial.changed == {example_name(HART)}


# -- a generated estate ----------------------------------------------------------------------

@pytest.fixture
def generated(tmp_path: Path) -> Estate:
    root = tmp_path / "desired-state"
    generate_estate(root, 240, 24, "ou=ispctl,dc=example,dc=net")
    estate = Estate(root, tmp_path / "cache")
    estate.prime()
    return estate


def _domains(estate: Estate) -> dict[str, list[str]]:
    """Each tenant folder (relative to tenants/) -> its domain files (relative), in order."""
    found: dict[str, list[str]] = {}
    for path in sorted((estate.root / "tenants").rglob("*.yaml")):
        if path.name != "tenant.yaml":
            rel = path.relative_to(estate.root / "tenants")
            found.setdefault(str(rel.parent), []).append(str(rel))
    return found


def _first(estate: Estate, rel: str) -> str:
    data = _yaml.load(estate.path(rel).read_text(encoding="utf-8"))
    return f"{next(iter(data['mailboxes']))}@{data['domain']}"


def test_generated_estate_changes(generated: Estate) -> None:
    """Many single-file changes in turn over a generated estate, each compared with a full run;
    a change with a problem is undone (the snapshot stays warm through all of them)."""
    folders = _domains(generated)
    clients = [f for f, files in folders.items() if "/" in f and len(files) >= 2]
    a, sibling = folders[clients[0]][:2]
    b = folders[clients[1]][0]
    a_box, b_box, sibling_box = _first(generated, a), _first(generated, b), _first(generated, sibling)
    a_local = a_box.split("@")[0]
    benign: list[Callable[[Estate], list[Path]]] = [
        lambda e: [e.edit(a, lambda d: d["mailboxes"][a_local].__setitem__("name", "Renamed"))],
        lambda e: [e.edit(a, lambda d: d["mailboxes"].__setitem__("zz.new", box()))],
        lambda e: [e.edit(a, lambda d: d["mailboxes"]["zz.new"].__setitem__("forward", {"to": [b_box]}))],
        lambda e: [e.edit(b, lambda d: d["mailboxes"].__setitem__("zz.b", box(aliases=["zz.b2"])))],
        lambda e: [e.edit(a, lambda d: d["mailboxes"].__setitem__("zz.renamed", {
            **d["mailboxes"].pop("zz.new"), "previous": ["zz.new"]}))],
        lambda e: [e.write(f"{clients[0]}/alias-{a.split('/')[-1]}", {
            "domain": "alias-" + a.split("/")[-1].removesuffix(".yaml"), "type": "alias",
            "alias_of": a.split("/")[-1].removesuffix(".yaml")})],
        lambda e: [e.edit(f"{clients[1]}/tenant.yaml", lambda d: d.__setitem__("name", "Renamed client"))],
        lambda e: [e.delete(folders[clients[2]][0])],
    ]
    for change in benign:
        found = fast(generated, change(generated))
        assert found.partial is not None and len(found.partial.outlined) > len(found.partial.loaded)
    broken: list[Callable[[Estate], list[Path]]] = [
        lambda e: [e.edit(b, lambda d: d["mailboxes"].pop(b_box.split("@")[0]))],  # a's forward target
        lambda e: [e.edit(a, lambda d: d["mailboxes"]["zz.renamed"].__setitem__("aliases", [sibling_box]))],
        lambda e: [e.edit(a, lambda d: d["mailboxes"]["zz.renamed"].__setitem__("previous", [sibling_box]))],
        lambda e: [e.edit(sibling, lambda d: d["mailboxes"].__setitem__("zz.renamed", box()))] and [
            e.edit(sibling, lambda d: d["mailboxes"].__setitem__("x", box(aliases=[f"zz.renamed@{a_domain(a)}"])))],
        lambda e: [e.edit(f"{clients[0]}/tenant.yaml", lambda d: d["limits"].__setitem__("max_domains", 1))],
        lambda e: [e.edit(b, lambda d: d["mailboxes"].update({f"more{i}": box() for i in range(30)}))],
    ]
    for change in broken:
        saved = {p: p.read_bytes() for p in (generated.root / "tenants").rglob("*.yaml")}
        falls_back(generated, change(generated))
        for p in set((generated.root / "tenants").rglob("*.yaml")) - saved.keys():
            p.unlink()
        for p, raw in saved.items():
            p.write_bytes(raw)
        fast(generated, [])  # undone: the snapshot still describes it


def a_domain(rel: str) -> str:
    return rel.split("/")[-1].removesuffix(".yaml")
