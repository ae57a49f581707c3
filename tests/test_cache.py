"""The cache of parsed files: a warm cache gives exactly what no cache gives, whatever changed.

Every comparison is of the whole outcome of ``check_desired`` (every problem, with its file,
line and column, and every compiled resource, whose ``source`` is a file:line too) between a
run through the cache and a run with it off, after edits, renames, deletions, additions and
damaged packs and entries under a cache that already holds the estate, with two estates
sharing the cache and with writers racing. A run writes at most one file, its estate's pack.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate import cache as cache_module
from ispctl.reconciler.estate.cache import ParseCache, Stats, cache_folder, prune
from ispctl.reconciler.estate.desired import check_desired
from ispctl.reconciler.estate.loader import display_of
from ispctl.reconciler.estate.sources import load_composed
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
    assert (runs[0].misses, runs[0].written, runs[0].hits, runs[0].packs) == (files, files, 0, 1)
    pack = _pack(cache)  # one file for the whole estate
    before = pack.stat()
    warm = _same_with_and_without(root, cache)
    assert cold == warm and cold[1], "the estate compiles to resources"
    assert (runs[2].hits, runs[2].misses, runs[2].packs) == (files, 0, 0)
    assert _verified(pack) == files
    after = pack.stat()  # a warm run that used every entry does not write the pack again
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


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
    assert (runs[-2].packs, runs[-2].written, runs[-2].dropped) == (1, 1, 1)  # the old content left out

    # A rename: the same content under another name; its resources' sources name the new file.
    renamed = edited.with_name("renamed-" + edited.name)
    edited.rename(renamed)
    after_rename = _same_with_and_without(root, cache)
    assert (runs[-2].misses, runs[-2].packs) == (0, 0)
    sources = {str(r.source) for r in after_rename[1].values() if getattr(r, "source", None) is not None}
    assert any(renamed.name in s for s in sources) and not any(f"/{edited.name}:" in s for s in sources)

    # A deletion: the domain's mailboxes are gone, whatever the cache still holds.
    domains[1].unlink()
    after_delete = _same_with_and_without(root, cache)
    assert len(after_delete[1]) < len(after_rename[1])
    assert (runs[-2].misses, runs[-2].packs) == (0, 0)  # one unused entry is not worth a write

    # An addition: a new file that reuses a known content would clash (same domain): reported.
    (domains[2].parent / "copy.yaml").write_bytes(domains[2].read_bytes())
    problems, _ = _same_with_and_without(root, cache)
    clash = [str(p) for p in problems if "already declared" in p.message]
    assert len(clash) == 1 and "copy.yaml" in clash[0] and domains[2].name in clash[0]
    assert runs[-2].misses == 0  # the copy's content was parsed before
    assert _verified(_pack(cache)) == total

    # Deletions of more than a quarter of the files: the pack is written without their entries.
    gone = domains[3:3 + total // 3]
    for path in gone:
        path.unlink()
    _same_with_and_without(root, cache)
    assert (runs[-2].misses, runs[-2].packs, runs[-2].dropped) == (0, 1, len(gone) + 1)  # and domains[1]
    assert _verified(_pack(cache)) == total - len(gone) - 1  # (the copy holds no entry of its own)


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


def _pack(cache: Path) -> Path:
    """The one pack of the cache (one estate was run)."""
    packs = sorted((cache / "parsed").iterdir())
    assert len(packs) == 1 and packs[0].name.endswith(".pack"), packs
    return packs[0]


def _rows(blob: bytes) -> list[tuple[bytes, bytes, int, int]]:
    """A pack's index: each entry's key, digest, offset and length."""
    _magic, _key, count, _digest = cache_module._HEAD.unpack_from(blob)
    start = cache_module._HEAD.size
    return list(cache_module._ROW.iter_unpack(blob[start:start + count * cache_module._ROW.size]))


def _with_rows(blob: bytes, rows: list[tuple[bytes, bytes, int, int]]) -> bytes:
    """``blob`` with another index, its digest right: a pack whose header and index are whole."""
    magic, key, count, _digest = cache_module._HEAD.unpack_from(blob)
    index = b"".join(cache_module._ROW.pack(*row) for row in rows)
    head = cache_module._HEAD.pack(magic, key, count, hashlib.sha256(key + index).digest())
    return head + index + blob[len(head) + len(index):]


def _verified(pack: Path) -> int:
    """How many entries ``pack`` holds; fails unless its header, index and every entry are whole."""
    blob = pack.read_bytes()
    magic, key, count, digest = cache_module._HEAD.unpack_from(blob)
    start = cache_module._HEAD.size
    assert magic == cache_module._MAGIC
    assert hashlib.sha256(key + blob[start:start + count * cache_module._ROW.size]).digest() == digest
    for entry, check, offset, length in _rows(blob):
        assert hashlib.sha256(entry + blob[offset:offset + length]).digest() == check
        assert cache_module._decode(blob[offset:offset + length]) is not None
    return count


DAMAGES = ["truncated", "flipped", "index", "garbage", "empty", "foreign-pack", "foreign-entries", "folder"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_or_foreign_pack_or_entry_is_ignored_and_written_anew(tmp_path: Path, damage: str,
                                                                        runs: list[Stats]) -> None:
    root, cache = _example(tmp_path), tmp_path / "cache"
    files = len(list(root.rglob("*.yaml")))
    cold = _same_with_and_without(root, cache)
    pack = _pack(cache)
    blob = pack.read_bytes()
    rows = _rows(blob)
    ignored, misses = 1, files  # the whole pack is unusable: every file parsed again
    if damage == "truncated":  # the index is whole, the bodies past the cut are not
        cut = rows[len(rows) // 2][2] + 1
        pack.write_bytes(blob[:cut])
        ignored = misses = sum(offset + length > cut for _, _, offset, length in rows)
    elif damage == "flipped":  # one byte of the last body
        pack.write_bytes(blob[:-5] + bytes([blob[-5] ^ 0x01]) + blob[-4:])
        ignored = misses = 1
    elif damage == "index":  # one byte of an offset, the index's digest no longer matches
        at = cache_module._HEAD.size + 64
        pack.write_bytes(blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1:])
    elif damage == "garbage":
        pack.write_bytes(os.urandom(len(blob)))
    elif damage == "empty":
        pack.write_bytes(b"")
    elif damage == "foreign-pack":  # a whole, valid pack, but another estate's (same files)
        other = tmp_path / "other" / "desired-state"
        shutil.copytree(root, other)
        other_cache = tmp_path / "other-cache"
        _outcome(other, {"ISPCTL_CACHE_DIR": str(other_cache)})
        pack.write_bytes(_pack(other_cache).read_bytes())
    elif damage == "foreign-entries":  # two entries' keys swapped: each body under the other's key
        (k0, *rest0), (k1, *rest1) = rows[0], rows[1]
        pack.write_bytes(_with_rows(blob, [(k1, *rest0), (k0, *rest1), *rows[2:]]))  # type: ignore[list-item]
        ignored = misses = 2
    else:  # something that cannot be read as a file at all, nor replaced by one
        pack.unlink()
        pack.mkdir()
        ignored = 0
    assert _same_with_and_without(root, cache) == cold
    assert (runs[-2].ignored, runs[-2].misses, runs[-2].hits) == (ignored, misses, files - misses)
    if damage == "folder":
        assert runs[-2].packs == 0 and sorted(p.name for p in (cache / "parsed").iterdir()) == [pack.name]
        return
    assert (runs[-2].packs, runs[-2].written) == (1, misses)  # written anew, with what was whole
    assert _verified(pack) == files
    assert _same_with_and_without(root, cache) == cold
    assert (runs[-2].misses, runs[-2].ignored, runs[-2].packs) == (0, 0, 0)


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
    (root / "ispctl.yaml").write_bytes((root / "ispctl.yaml").read_bytes() + b"# edited\n")
    _outcome(root, {"ISPCTL_CACHE_DIR": str(cache)})  # written again: the new pack is private too
    assert runs[-1].packs == 1
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


def test_pruning_keeps_the_packs_used_last_and_removes_the_old_and_the_left_over(tmp_path: Path) -> None:
    folder = tmp_path / "parsed"
    folder.mkdir()
    now = 2_000_000_000.0
    for index in range(10):
        pack = folder / f"p{index}.pack"
        pack.write_bytes(b"x" * 100)
        os.utime(pack, (now - 1000 + index, now - 1000 + index))
    left = {".p1.pack.77.0.tmp": now - 7200, "ab" * 32: now - 7200, ".p2.pack.78.0.tmp": now - 60}
    for name, when in left.items():
        (folder / name).write_bytes(b"y" * 100)
        os.utime(folder / name, (when, when))
    prune(folder, 1000, now=now)  # 1000 bytes of packs: within the bound; a writer's fresh file stays
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"p{i}.pack" for i in range(10)] + [".p2.pack.78.0.tmp"])
    prune(folder, 800, keep=folder / "p0.pack", now=now)  # down to 3/4: the oldest go, never the one kept
    assert sorted(p.name for p in folder.glob("*.pack")) == ["p0.pack"] + [f"p{i}.pack" for i in range(5, 10)]
    os.utime(folder / "p5.pack", (now - cache_module.MAX_AGE - 1,) * 2)
    prune(folder, 10_000, now=now)  # a pack no run used for MAX_AGE goes, whatever the size
    assert not (folder / "p5.pack").exists() and (folder / "p6.pack").exists()


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
    parsed.finish()  # one pack, with the entry once
    assert [_verified(p) for p in (tmp_path / "cache" / "parsed").iterdir()] == [1]
    again = ParseCache(tmp_path / "cache" / "parsed")
    assert again.parse(path.read_bytes(), "HEAD~2:older.yaml")[0] is not None and again.stats.hits == 1
    again.finish()


def test_a_cache_that_cannot_be_made_only_costs_speed(tmp_path: Path, runs: list[Stats]) -> None:
    root = _example(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    cold = _outcome(root, OFF)
    assert _outcome(root, {"ISPCTL_CACHE_DIR": str(blocker)}) == cold
    assert (runs[-1].written, runs[-1].packs, runs[-1].misses) == (0, 0, len(list(root.rglob("*.yaml"))))
    assert blocker.read_text() == "not a folder\n"


def test_two_estates_share_the_cache_folder_each_with_its_own_pack(tmp_path: Path, runs: list[Stats]) -> None:
    first = _example(tmp_path)
    second = tmp_path / "second" / "desired-state"
    shutil.copytree(first, second)
    domain = next(p for p in sorted(second.rglob("*.yaml")) if p.name not in ("tenant.yaml", "ispctl.yaml"))
    domain.write_text(domain.read_text() + "# the second estate's own edit\n")
    cache = tmp_path / "cache"
    files = len(list(first.rglob("*.yaml")))
    outcomes = [_same_with_and_without(root, cache) for root in (first, second)]
    assert [run.packs for run in runs[::2]] == [1, 1] and len(list((cache / "parsed").iterdir())) == 2
    for _ in range(2):  # taking turns, neither makes the other parse or write again
        assert [_same_with_and_without(root, cache) for root in (first, second)] == outcomes
        assert [(run.hits, run.misses, run.packs) for run in runs[-4::2]] == [(files, 0, 0)] * 2
    assert sorted(_verified(p) for p in (cache / "parsed").iterdir()) == [files, files]


def test_a_writer_that_replaced_the_pack_during_a_run(tmp_path: Path) -> None:
    """The pack changes under a run (another run wrote it): the run reads the pack it opened
    to the end, then writes its own whole (the last writer wins), and the next run trusts it."""
    root, folder = _generated(tmp_path), tmp_path / "cache" / "parsed"
    paths = sorted(root.rglob("*.yaml"))
    warmed = ParseCache(folder, root=root)
    for path in paths:
        warmed.load(path, path.name)
    warmed.finish()
    early = ParseCache(folder, root=root)
    first = [early.load(path, path.name) for path in paths[:10]]
    late = ParseCache(folder, root=root)
    paths[20].write_text(paths[20].read_text() + "# changed while the first run was going\n")
    for path in paths[:30]:  # a run that used only some files, and an edit: much of the pack goes
        late.load(path, path.name)
    late.finish()
    assert (late.stats.packs, late.stats.written, late.stats.dropped) == (1, 1, len(paths) - 29)
    rest = [early.load(path, path.name) for path in paths[10:]]
    assert early.stats.ignored == 0 and early.stats.misses == 1  # the edited file, read from the pack it opened
    assert first + rest == [load_bytes(path.read_bytes(), path.name) for path in paths]
    early.finish()
    assert early.stats.packs == 1 and _verified(_pack(folder.parent)) == len(paths)
    check = ParseCache(folder, root=root)
    assert [check.load(path, path.name) for path in paths] == first + rest
    assert (check.stats.misses, check.stats.ignored) == (0, 0)
    check.finish()


def _racing_writer(folder: Path, root: Path, seed: int) -> None:
    """Runs that each parse shared contents and some of their own, so that each writes the pack."""
    chosen = random.Random(seed)
    for turn in range(12):
        cache = ParseCache(folder, root=root)
        for number in chosen.sample(range(40), 25):
            assert cache.parse(f"domain: d{number}.example\n".encode(), "shared.yaml")[0] is not None
        cache.parse(f"domain: own{seed}-{turn}.example\n".encode(), "own.yaml")
        cache.finish()
        assert cache.stats.packs == 1 and cache.stats.ignored == 0


def test_writers_racing_on_one_pack_never_leave_a_torn_one(tmp_path: Path) -> None:
    folder, root = tmp_path / "cache" / "parsed", tmp_path / "estate"
    fork = multiprocessing.get_context("fork")
    writers = [fork.Process(target=_racing_writer, args=(folder, root, seed)) for seed in range(3)]
    for writer in writers:
        writer.start()
    seen = 0
    while any(writer.is_alive() for writer in writers) or not seen:
        for pack in folder.glob("*.pack") if folder.is_dir() else []:
            try:
                seen += _verified(pack) > 0  # whatever moment it is read at, a pack is whole
            except FileNotFoundError:
                pass
        time.sleep(0.001)
    for writer in writers:
        writer.join()
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    assert [p.suffix for p in folder.iterdir()] == [".pack"]  # no temporary file left behind
    last = ParseCache(folder, root=root)
    for number in range(40):
        assert last.parse(f"domain: d{number}.example\n".encode(), "shared.yaml") == load_bytes(
            f"domain: d{number}.example\n".encode(), "shared.yaml")
    assert last.stats.ignored == 0 and last.stats.hits > 0
    last.finish()


def test_a_run_of_part_of_the_estate_leaves_the_pack_as_it_is(tmp_path: Path, runs: list[Stats]) -> None:
    """A ``--changed-since`` plan reads the tenant files and the changed ones (``only``). The
    entries it did not use are of files still there: left out, the next full run would parse the
    whole estate again. Its own new entry is not written either (that would rewrite the whole
    pack): the next full run parses that one file, and keeps it."""
    root, cache = _generated(tmp_path), tmp_path / "cache"
    env = {"ISPCTL_CACHE_DIR": str(cache)}
    _same_with_and_without(root, cache)
    total = len(list(root.rglob("*.yaml")))
    before = _pack(cache).read_bytes()
    assert _verified(_pack(cache)) == total
    edited = sorted(p for p in root.rglob("*.yaml") if p.name not in ("tenant.yaml", "ispctl.yaml"))[0]
    edited.write_text(edited.read_text() + "# edited\n")
    estate, problems = load_composed(root, SCHEMA.files, env, only=frozenset({display_of(edited, root)}))
    assert estate is not None and not problems
    assert runs[-1].misses == 1 and runs[-1].hits > 0 and runs[-1].packs == 0
    assert _pack(cache).read_bytes() == before
    _same_with_and_without(root, cache)
    assert (runs[-2].misses, runs[-2].hits, runs[-2].packs) == (1, total - 1, 1)
    assert _verified(_pack(cache)) == total


def test_an_entry_is_held_by_the_digest_of_its_bytes_alone(tmp_path: Path) -> None:
    """``held``: what parsing gives, under the name asked, for bytes known only by their
    sha256 (a narrowed run knows a file's by its stat); nothing for bytes never parsed."""
    root = _example(tmp_path)
    path = next(p for p in sorted(root.rglob("*.yaml")) if p.name not in ("tenant.yaml", "ispctl.yaml"))
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).digest()
    parsed = ParseCache(tmp_path / "cache" / "parsed")
    assert parsed.held(digest, "x.yaml") is None
    parsed.load(path, "now.yaml")
    parsed.finish()
    again = ParseCache(tmp_path / "cache" / "parsed")
    held = again.held(digest, "then.yaml")
    fresh, fresh_problems = load_bytes(raw, "then.yaml")
    assert held is not None and fresh is not None and held[0] is not None
    assert (held[0].file, held[0].data, held[0].positions, held[0].value_positions, held[1]) == (
        fresh.file, fresh.data, fresh.positions, fresh.value_positions, fresh_problems)
    assert again.held(hashlib.sha256(raw + b"\n").digest(), "other.yaml") is None
    assert ParseCache(None).held(digest, "x.yaml") is None  # no cache: the caller reads the file
    again.finish()
