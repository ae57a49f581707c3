"""The cache of parsed files: a warm cache gives exactly what no cache gives, whatever changed.

Every comparison is of the whole outcome of ``check_desired`` (every problem, with its file,
line and column, and every compiled resource, whose ``source`` is a file:line too) between a
run through the cache and a run with it off, after edits, renames, deletions, additions and
damaged entries under a cache that already holds the estate.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate import cache as cache_module
from ispctl.reconciler.estate.cache import ParseCache, Stats, cache_folder, prune
from ispctl.reconciler.estate.desired import check_desired
from ispctl.reconciler.estate.yamlload import load_bytes
from tests.bench.generate import generate_estate
from tests.wiring import SCHEMA

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
OFF = {"ISPCTL_CACHE_DIR": "off"}


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[Stats]:
    """The statistics of every cache the runs of a test used, in order."""
    seen: list[Stats] = []
    original = ParseCache.of.__func__  # type: ignore[attr-defined]

    def of(cls: type[ParseCache], env: Any, estate: Path) -> ParseCache:
        made: ParseCache = original(cls, env, estate)
        seen.append(made.stats)
        return made

    monkeypatch.setattr(ParseCache, "of", classmethod(of))
    return seen


def _outcome(root: Path, env: dict[str, str]) -> tuple[list[Problem], dict[Any, Any]]:
    desired, problems = check_desired(root, SCHEMA, env)
    resources = desired.resources if desired is not None and not problems else {}
    return sorted(problems), resources


def _same_with_and_without(root: Path, cache: Path) -> tuple[list[Problem], dict[Any, Any]]:
    """The outcome through the cache, checked against the outcome with no cache at all."""
    warm = _outcome(root, {"ISPCTL_CACHE_DIR": str(cache)})
    assert warm == _outcome(root, OFF)
    return warm


def _example(tmp_path: Path) -> Path:
    root = tmp_path / "estate" / "desired-state"
    shutil.copytree(EXAMPLE, root)
    return root


def _generated(tmp_path: Path) -> Path:
    root = tmp_path / "estate" / "desired-state"
    root.mkdir(parents=True)
    generate_estate(root, 300, 30, "ou=isp,dc=example,dc=net")
    return root


@pytest.mark.parametrize("make", [_example, _generated], ids=["example", "generated"])
def test_cold_and_warm_runs_give_what_a_run_without_the_cache_gives(tmp_path: Path, make: Any,
                                                                    runs: list[Stats]) -> None:
    root, cache = make(tmp_path), tmp_path / "cache"
    files = len(list(root.rglob("*.yaml")))
    cold = _same_with_and_without(root, cache)
    warm = _same_with_and_without(root, cache)
    assert cold == warm and cold[1], "the estate compiles to resources"
    assert (runs[0].misses, runs[0].written, runs[0].hits) == (files, files, 0)
    assert (runs[2].hits, runs[2].misses) == (files, 0)


def test_edits_renames_deletions_and_additions_under_a_warm_cache(tmp_path: Path, runs: list[Stats]) -> None:
    root, cache = _generated(tmp_path), tmp_path / "cache"
    before = _same_with_and_without(root, cache)
    domains = sorted(p for p in root.rglob("*.yaml") if p.name not in ("tenant.yaml", "ispctl.yaml"))
    total = len(list(root.rglob("*.yaml")))

    # An edit: a mailbox's display name (same length, so only the content tells).
    edited = domains[0]
    text = edited.read_text()
    name_line = next(line for line in text.splitlines() if line.strip().startswith("name: "))
    edited.write_text(text.replace(name_line, name_line[:-1] + ("x" if name_line[-1] != "x" else "y"), 1))
    after_edit = _same_with_and_without(root, cache)
    assert after_edit != before
    assert (runs[-2].misses, runs[-2].hits) == (1, total - 1)

    # A rename: the same content under another name; its resources' sources name the new file.
    renamed = edited.with_name("renamed-" + edited.name)
    edited.rename(renamed)
    after_rename = _same_with_and_without(root, cache)
    assert runs[-2].misses == 0
    sources = {str(r.source) for r in after_rename[1].values() if getattr(r, "source", None) is not None}
    assert any(renamed.name in s for s in sources) and not any(f"/{edited.name}:" in s for s in sources)

    # A deletion: the domain's mailboxes are gone, whatever the cache still holds.
    domains[1].unlink()
    after_delete = _same_with_and_without(root, cache)
    assert len(after_delete[1]) < len(after_rename[1])

    # An addition: a new file that reuses a known content would clash (same domain): reported.
    (domains[2].parent / "copy.yaml").write_bytes(domains[2].read_bytes())
    problems, _ = _same_with_and_without(root, cache)
    clash = [str(p) for p in problems if "already declared" in p.message]
    assert len(clash) == 1 and "copy.yaml" in clash[0] and domains[2].name in clash[0]
    assert runs[-2].misses == 0  # the copy's content was parsed before


def test_a_file_with_errors_gives_the_same_problems_warm_and_after_a_rename(tmp_path: Path,
                                                                             runs: list[Stats]) -> None:
    root, cache = _example(tmp_path), tmp_path / "cache"
    domain = next(p for p in sorted(root.rglob("*.yaml")) if p.name not in ("tenant.yaml", "ispctl.yaml"))
    broken = domain.with_name("broken.yaml")
    broken.write_text("domain: broken.example\nmailboxes:\n  anna: {name: Anna, quota: lots}\n  bob: [\n")
    wrong = domain.with_name("wrong.yaml")
    wrong.write_text("domain: wrong.example\nmailboxes:\n  anna:\n    name: Anna\n    quota: lots\n    colour: red\n")
    cold = _same_with_and_without(root, cache)
    warm = _same_with_and_without(root, cache)
    assert cold == warm and runs[2].misses == 0
    files = {p.location.file.rsplit("/", 1)[-1] for p in cold[0]}
    assert {"broken.yaml", "wrong.yaml"} <= files
    broken.rename(broken.with_name("still-broken.yaml"))
    wrong.rename(wrong.with_name("still-wrong.yaml"))
    renamed = _same_with_and_without(root, cache)
    assert runs[-2].misses == 0
    assert [(p.location.line, p.location.column, p.path, p.message) for p in renamed[0]] == [
        (p.location.line, p.location.column, p.path, p.message) for p in cold[0]]
    files = {p.location.file.rsplit("/", 1)[-1] for p in renamed[0]}
    assert {"still-broken.yaml", "still-wrong.yaml"} <= files and not {"broken.yaml", "wrong.yaml"} & files


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "parsed").rglob("*") if p.is_file())


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty", "foreign", "folder"])
def test_a_damaged_or_foreign_entry_is_ignored_and_written_anew(tmp_path: Path, damage: str,
                                                                runs: list[Stats]) -> None:
    root, cache = _example(tmp_path), tmp_path / "cache"
    cold = _same_with_and_without(root, cache)
    entries = _entries(cache)
    victim, other = entries[0], entries[1]
    blob = victim.read_bytes()
    if damage == "truncated":
        victim.write_bytes(blob[: len(blob) // 2])
    elif damage == "flipped":
        victim.write_bytes(blob[:-5] + bytes([blob[-5] ^ 0x01]) + blob[-4:])
    elif damage == "garbage":
        victim.write_bytes(os.urandom(len(blob)))
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "foreign":  # a whole, valid entry, but written for another file
        victim.write_bytes(other.read_bytes())
    else:  # something that cannot be read as a file at all
        victim.unlink()
        victim.mkdir()
    assert _same_with_and_without(root, cache) == cold
    assert runs[-2].misses == 1 and runs[-2].ignored == (0 if damage == "folder" else 1)
    if damage != "folder":
        assert victim.read_bytes() == blob  # rewritten
        assert _same_with_and_without(root, cache) == cold
        assert runs[-2].misses == 0


def test_a_change_of_the_parsing_code_is_a_different_key(tmp_path: Path, runs: list[Stats],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = _example(tmp_path), tmp_path / "cache"
    cold = _same_with_and_without(root, cache)
    monkeypatch.setattr(cache_module, "code_key", lambda: b"another version of the parser")
    assert _same_with_and_without(root, cache) == cold
    assert runs[-2].hits == 0


def test_off_writes_nothing_and_the_cache_is_private(tmp_path: Path, runs: list[Stats]) -> None:
    root, cache = _example(tmp_path), tmp_path / "cache"
    _outcome(root, OFF)
    assert runs[-1] == Stats()
    _outcome(root, {"ISPCTL_CACHE_DIR": str(cache)})
    for path in [cache / "parsed", *(cache / "parsed").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_where_the_cache_lives() -> None:
    home = Path.home()
    assert cache_folder({}) == home / ".cache" / "ispctl" / "parsed"
    assert cache_folder({"XDG_CACHE_HOME": "/x"}) == Path("/x/ispctl/parsed")
    assert cache_folder({"ISPCTL_CACHE_DIR": "/y", "XDG_CACHE_HOME": "/x"}) == Path("/y/parsed")
    for off in ("off", "OFF", "0", "none"):
        assert cache_folder({"ISPCTL_CACHE_DIR": off}) is None


def test_never_inside_the_estate_repository(tmp_path: Path, runs: list[Stats]) -> None:
    root = _example(tmp_path)
    (root.parent / ".git").mkdir()  # the repository holding desired-state/
    inside = root.parent / ".cache"
    cold = _outcome(root, OFF)
    assert _outcome(root, {"XDG_CACHE_HOME": str(inside)}) == cold
    assert runs[-1] == Stats() and not inside.exists()


def test_pruning_keeps_the_entries_used_last(tmp_path: Path) -> None:
    folder = tmp_path / "parsed"
    folder.mkdir()
    for index in range(10):
        entry = folder / f"entry{index}"
        entry.write_bytes(b"x" * 100)
        os.utime(entry, (1000 + index, 1000 + index))
    prune(folder, 1000)  # 1000 bytes held: within the bound, nothing goes
    assert len(list(folder.iterdir())) == 10
    prune(folder, 800)  # down to 3/4 of the bound: the four used longest ago go
    assert sorted(p.name for p in folder.iterdir()) == [f"entry{i}" for i in range(4, 10)]


def test_the_key_names_the_parsing_code_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any edit of the parsing modules (a fix, a new rule) is another key: no entry written by
    other code is ever read."""
    from ispctl.reconciler.estate import yamlevents, yamlload

    cache_module.code_key.cache_clear()
    before = cache_module.code_key()
    for module in (yamlload, yamlevents):
        edited = tmp_path / f"{module.__name__}.py"
        edited.write_bytes(Path(module.__file__ or "").read_bytes() + b"\n# one more rule\n")
        with monkeypatch.context() as patch:
            patch.setattr(module, "__file__", str(edited))
            cache_module.code_key.cache_clear()
            assert cache_module.code_key() != before
    cache_module.code_key.cache_clear()
    assert cache_module.code_key() == before


def test_bytes_from_elsewhere_share_the_entries_of_files(tmp_path: Path) -> None:
    """A blob read from git history (``--changed-since``) with the bytes of a file on disk is
    the same entry, and gives what parsing it gives, under its own name."""
    root = _example(tmp_path)
    parsed = ParseCache(tmp_path / "cache" / "parsed")
    path = next(p for p in sorted(root.rglob("*.yaml")) if p.name not in ("tenant.yaml", "ispctl.yaml"))
    doc, problems = parsed.load(path, "now.yaml")
    old, old_problems = parsed.parse(path.read_bytes(), "HEAD~1:old.yaml")
    assert (parsed.stats.misses, parsed.stats.hits) == (1, 1)
    fresh, fresh_problems = load_bytes(path.read_bytes(), "HEAD~1:old.yaml")
    assert old is not None and fresh is not None and doc is not None
    assert (old.file, old.data, old.positions, old.value_positions, old_problems) == (
        fresh.file, fresh.data, fresh.positions, fresh.value_positions, fresh_problems)
    assert doc.data == old.data and doc.file == "now.yaml" and problems == []


def test_a_cache_that_cannot_be_made_only_costs_speed(tmp_path: Path, runs: list[Stats]) -> None:
    root = _example(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    cold = _outcome(root, OFF)
    assert _outcome(root, {"ISPCTL_CACHE_DIR": str(blocker)}) == cold
    assert runs[-1].written == 0 and runs[-1].misses == 1  # the first file; the rest are parsed without
