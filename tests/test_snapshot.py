"""The snapshot of a valid estate (estate.snapshot): what it keeps, when it is written, and
that a damaged, foreign or out-of-context one is never used.

The schema is the registry's (``FACTS_SCHEMA`` of tests/test_incremental.py); a schema with a
service without facts gets no snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from test_incremental import EXAMPLE, FACTS_SCHEMA

from ispctl.reconciler.engine.resources import is_outline
from ispctl.reconciler.estate import snapshot, snapshot_format
from ispctl.reconciler.estate.desired import Desired, check_desired
from ispctl.reconciler.estate.schema import NamedInputs
from ispctl.reconciler.estate.snapshot import load, save, snapshot_path
from tests.wiring import SCHEMA


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    return tmp_path / "desired-state"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ISPCTL_CACHE_DIR": str(tmp_path / "cache")}


def full(root: Path, env: dict[str, str]) -> Desired:
    desired, problems = check_desired(root, FACTS_SCHEMA, env, facts=True)
    assert desired is not None and not problems
    return desired


def test_every_file_with_its_digest_facts_and_outlines(root: Path, env: dict[str, str]) -> None:
    desired = full(root, env)
    assert save(root, FACTS_SCHEMA, env, desired) is None
    kept, why = load(root, FACTS_SCHEMA, env)
    assert kept is not None, why
    hart = "desired-state/tenants/northwind/lawfirm/hartcole.example.yaml"
    assert set(kept.files) == {t.origin.doc.file for t in desired.catalog.tenants.values()} | {
        d.origin.doc.file for d in desired.catalog.domains.values()}
    assert kept.files[hart].digest == snapshot.digest_of(root / "tenants/northwind/lawfirm/hartcole.example.yaml")
    assert desired.facts is not None and kept.files[hart].facts == desired.facts[hart]
    # every resource is outlined under its file, as it was compiled
    outlined = {r.identity: r for entry in kept.files.values() for r in entry.resources()}
    assert outlined.keys() == desired.resources.keys()
    for identity, resource in outlined.items():
        compiled = desired.resources[identity]
        assert is_outline(resource)
        assert (resource.parent, resource.depends_on, resource.previous) == \
            (compiled.parent, compiled.depends_on, compiled.previous)
    path = snapshot_path(root, env)
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Path(env["ISPCTL_CACHE_DIR"]) in path.parents


def test_a_repeated_full_run_writes_nothing(root: Path, env: dict[str, str]) -> None:
    save(root, FACTS_SCHEMA, env, full(root, env))
    path = snapshot_path(root, env)
    assert path is not None
    os.utime(path, (1, 1))
    assert save(root, FACTS_SCHEMA, env, full(root, env)) is None
    assert path.stat().st_mtime == 1
    (root / "tenants/southbay/tenant.yaml").write_text("name: South Bay Networks\n", encoding="utf-8")
    assert save(root, FACTS_SCHEMA, env, full(root, env)) is None
    assert path.stat().st_mtime > 1


def test_no_snapshot_without_facts_or_digests_or_cache(root: Path, env: dict[str, str]) -> None:
    desired, _ = check_desired(root, SCHEMA, env, facts=True)
    assert desired is not None
    assert desired.facts is not None  # every service declares its facts now
    last = SCHEMA.extensions[-1]
    without = replace(SCHEMA, extensions=(*SCHEMA.extensions[:-1], replace(last, facts=None)))
    blind, _ = check_desired(root, without, env, facts=True)
    assert blind is not None and blind.facts is None
    assert save(root, without, env, blind) == f"service {last.service} declares no facts"
    plain, _ = check_desired(root, FACTS_SCHEMA, env)
    assert plain is not None and plain.facts is None
    assert save(root, FACTS_SCHEMA, env, plain) == "the run gathered no facts (facts=True)"
    assert save(root, FACTS_SCHEMA, {"ISPCTL_CACHE_DIR": "off"}, full(root, env)) == "the cache is off"
    assert load(root, FACTS_SCHEMA, env) == (None, "no snapshot of a full run yet")


def test_a_resource_without_a_source_file_leaves_no_snapshot(root: Path, env: dict[str, str]) -> None:
    desired = full(root, env)
    identity, resource = next(iter(desired.resources.items()))
    desired.resources[identity] = replace(resource, source=None)
    assert save(root, FACTS_SCHEMA, env, desired) == f"{resource.address} has no source file"
    assert snapshot_path(root, env) is not None and not snapshot_path(root, env).exists()  # type: ignore[union-attr]


@pytest.mark.parametrize("change", ["site", "override", "services", "inputs", "folder"])
def test_another_context_is_never_used(root: Path, env: dict[str, str], tmp_path: Path, change: str) -> None:
    save(root, FACTS_SCHEMA, env, full(root, env))
    schema = FACTS_SCHEMA
    if change == "site":
        with (root / "ispctl.yaml").open("a", encoding="utf-8") as handle:
            handle.write("\n# a comment is a change\n")
    elif change == "override":
        env = {**env, FACTS_SCHEMA.overrides[0].variable: "/elsewhere"}
    elif change == "services":
        schema = replace(FACTS_SCHEMA, extensions=FACTS_SCHEMA.extensions[:-1])
    elif change == "inputs":  # what a hook reads outside the files (a DKIM key made outside git)
        schema = replace(FACTS_SCHEMA, inputs=(*FACTS_SCHEMA.inputs, NamedInputs("test", lambda site, env: b"more")))
    else:
        moved = tmp_path / "moved" / "desired-state"
        shutil.copytree(root, moved)
        # another folder is another estate's snapshot: none yet
        assert load(moved, schema, env) == (None, "no snapshot of a full run yet")
        return
    kept, why = load(root, schema, env)
    assert kept is None and "another context" in why


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign", "garbage-body"])
def test_a_damaged_snapshot_is_ignored(root: Path, env: dict[str, str], damage: str) -> None:
    save(root, FACTS_SCHEMA, env, full(root, env))
    path = snapshot_path(root, env)
    assert path is not None
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":
        path.write_bytes(raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:])
    elif damage == "foreign":
        path.write_bytes(b"not a snapshot" + raw[14:])
    else:
        body = b"\x00garbage"
        head = snapshot_format._HEAD.unpack_from(raw)
        path.write_bytes(snapshot_format._HEAD.pack(head[0], head[1], head[2], hashlib.sha256(body).digest()) + body)
    kept, why = load(root, FACTS_SCHEMA, env)
    assert kept is None and why
    # and a full run writes a good one again
    assert save(root, FACTS_SCHEMA, env, full(root, env)) is None
    assert load(root, FACTS_SCHEMA, env)[0] is not None


def test_full_runs_keep_digests_of_every_file_read(root: Path, env: dict[str, str]) -> None:
    desired = full(root, env)
    digests = desired.catalog.estate.digests
    assert digests is not None
    files = sorted(p for p in (root / "tenants").rglob("*.yaml"))
    assert len(digests) == len(files)
    assert all(digests[f"desired-state/{p.relative_to(root)}"] == snapshot.digest_of(p) for p in files)


def test_resources_of_the_site_settings_are_kept_apart(root: Path, env: dict[str, str]) -> None:
    """A narrowed run compiles them again from the site settings (the snapshot's context) and
    compares their identities with these."""
    desired = full(root, env)
    identity, resource = next(iter(desired.resources.items()))
    assert resource.source is not None
    desired.resources[identity] = replace(resource, source=replace(resource.source, file="desired-state/ispctl.yaml"))
    assert save(root, FACTS_SCHEMA, env, desired) is None
    kept, _ = load(root, FACTS_SCHEMA, env)
    assert kept is not None
    assert [o[:2] for o in kept.files[snapshot_format.SITE].outlines] == [identity]
    assert identity not in {o[:2] for name, entry in kept.files.items() if name for o in entry.outlines}


def test_inputs_changed_during_the_run_leave_no_snapshot(root: Path, env: dict[str, str]) -> None:
    """The inputs are taken before the hooks read them and again by ``save``: a key store
    changed in between may or may not be in the run's result, so no snapshot describes it."""
    store = [b"before"]
    schema = replace(FACTS_SCHEMA, inputs=(NamedInputs("test", lambda site, env: store[0]),))
    desired, problems = check_desired(root, schema, env, facts=True)
    assert desired is not None and not problems
    store[0] = b"after"
    assert save(root, schema, env, desired) == "the inputs changed during the run"
    path = snapshot_path(root, env)
    assert path is not None and not path.exists()
    store[0] = b"before"
    assert save(root, schema, env, desired) is None
    assert load(root, schema, env)[0] is not None
    store[0] = b"after"
    assert load(root, schema, env) == (None, "the snapshot is of another context (code, site settings, environment "
                                             "or services changed)")


def test_an_edit_that_puts_the_files_time_back_is_read(root: Path, env: dict[str, str]) -> None:
    """A file is known by its stat once settled; an edit in place of the same length with its
    size, modification time, inode and device put back still has another change time."""
    path = root / "tenants/northwind/lawfirm/hartcole.example.yaml"
    os.utime(path, ns=(10**18, 10**18))  # settled
    save(root, FACTS_SCHEMA, env, full(root, env))
    kept, why = load(root, FACTS_SCHEMA, env)
    assert kept is not None, why
    entry = kept.files["desired-state/tenants/northwind/lawfirm/hartcole.example.yaml"]
    assert entry.stat is not None and snapshot.known_digest(path, entry) == (entry.digest, entry.stat)
    raw = path.read_bytes()
    assert b"Jane Hart" in raw
    with path.open("r+b") as handle:
        handle.write(raw.replace(b"Jane Hart", b"Jane Hurt", 1))
    os.utime(path, ns=(10**18, 10**18))
    now = snapshot.stat_of(path)
    assert now is not None and now[:4] == entry.stat[:4]  # only the change time tells
    assert snapshot.known_digest(path, entry) == (snapshot.digest_of(path), now)
    assert snapshot.digest_of(path) != entry.digest
