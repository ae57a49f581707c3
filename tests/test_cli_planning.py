"""``ispctl plan --changed-since`` over the snapshot of the last full plan, on real slapd and named:
byte for byte the plan (JSON, stderr, exit code) the same command gives without a snapshot, the
fast path taken when it can be, and the full way taken, saying why, when it cannot.

Each command runs in this process through the command line's own error handler, with the
saved-plan digests' random key fixed (``saved.value_digests``), so two runs compare byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import git
import pytest
import typer
from ldap_helpers import edit_yaml, estate_repo

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli import commands
from ispctl.reconciler.cli.handler import run_command
from ispctl.reconciler.cli.planning import Planned
from ispctl.reconciler.cli.runs import PlanOptions
from ispctl.reconciler.engine import output, saved
from ispctl.reconciler.engine.outlined import Outlined
from ispctl.reconciler.engine.resources import Incomplete, Resource, is_outline, outline
from ispctl.reconciler.estate import incremental, snapshot
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.snapshot import snapshot_path
from tests.incremental_helpers import spied_plans
from tests.wiring import WIRING, open_session

NORTHWIND = "tenants/northwind/northwind.example.yaml"
HARTCOLE = "tenants/northwind/lawfirm/hartcole.example.yaml"


@dataclass
class Ran:
    code: int
    out: str
    err: str
    planned: Planned[Any] | None
    labels: list[str]


@pytest.fixture
def estate(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, slapd: SlapdInstance, named: NamedInstance,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[git.Repo, Path, Path]]:
    """The example estate, committed and applied to slapd and named, with one alias across files
    (hartcole's ``nw`` to billing@northwind.example), and a cache folder outside the repository."""
    repo, root = estate_repo(tmp_path)
    edit_yaml(root / HARTCOLE, lambda data: data["aliases"].update({"nw": ["billing@northwind.example"]}))
    repo.git.add(A=True)
    repo.index.commit("an alias across files")
    env = {**slapd.env(), **named.env(), "ISPCTL_PROVIDERS": "ldap,dns"}
    with open_session(root, env) as session:
        assert session.apply(session.plan()).ok
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(saved.secrets, "token_bytes", lambda size: b"k" * size)  # the digests' key, fixed
    yield repo, root, tmp_path_factory.mktemp("cache")


def plan(root: Path, cache: Path | str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         changed_since: str | None = "HEAD~1", out: Path | None = None) -> Ran:
    """``ispctl plan [--changed-since REF] --json --detailed-exitcode [--out OUT]`` with ISPCTL_CACHE_DIR=cache."""
    monkeypatch.setenv("ISPCTL_CACHE_DIR", str(cache))
    labels: list[str] = []

    @contextmanager
    def progress() -> Iterator[Callable[[str], None]]:
        yield labels.append

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(output, "progress", progress)
        seen = spied_plans(patch)
        options = PlanOptions(changed_since=changed_since)
        with pytest.raises(typer.Exit) as ended:
            run_command(lambda: commands.plan_cmd(WIRING, root, "json", str(out) if out else None, True, options))
    got = capsys.readouterr()
    return Ran(ended.value.exit_code, got.out, got.err, seen[0] if seen else None, labels)


def commit(repo: git.Repo, root: Path, path: str, change: Callable[[Any], None]) -> None:
    edit_yaml(root / path, change)
    repo.git.add(A=True)
    repo.index.commit(f"change {path}")


def same_output(fast: Ran, full: Ran) -> None:
    """The same exit code, stdout and stderr (a saved plan's path aside)."""
    assert (fast.code, fast.out) == (full.code, full.out)
    assert fast.err.replace("fast.json", "full.json") == full.err


def test_a_changed_files_plan_over_the_snapshot_is_the_full_ones_byte_for_byte(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo, root, cache = estate
    first = plan(root, cache, monkeypatch, capsys, changed_since=None)
    assert first.code == 0 and first.planned is not None and not first.planned.fast
    path = snapshot_path(root, {"ISPCTL_CACHE_DIR": str(cache)})
    assert path is not None and path.is_file()  # the full plan left its snapshot
    made = path.stat().st_mtime_ns
    assert plan(root, cache, monkeypatch, capsys, changed_since=None).code == 0
    assert path.stat().st_mtime_ns == made  # current: not written again

    def changes(data: Any) -> None:
        data["dns"]["records"]["vpn"].update({"A": "198.51.100.8"})
        data["mailboxes"]["billing"]["name"] = "Billing Desk"
    commit(repo, root, NORTHWIND, changes)
    saved_fast, saved_full = cache / "fast.json", cache / "full.json"
    fast = plan(root, cache, monkeypatch, capsys, out=saved_fast)
    full = plan(root, "off", monkeypatch, capsys, out=saved_full)
    assert fast.planned is not None and fast.planned.fast and fast.planned.fallback is None, fast.labels
    assert saved_fast.read_bytes() == saved_full.read_bytes() == fast.out.encode()  # the saved plans too
    partial = fast.planned.desired.partial
    assert partial is not None and partial.outlined  # only part of the estate was loaded
    assert full.planned is not None and not full.planned.fast and full.planned.fallback is not None
    assert any(full.planned.fallback in label for label in full.labels)  # said as progress
    same_output(fast, full)
    assert fast.code == 2 and '"dns.northwind.example/vpn/A"' in fast.out
    assert '"mailbox.billing@northwind.example"' in fast.out


def _move(root: Path, src: str, dst: str) -> None:
    (root / dst).parent.mkdir(parents=True, exist_ok=True)
    (root / src).rename(root / dst)


def _rename_mailbox(data: Any) -> None:
    data["mailboxes"].insert(0, "helpdesk", {**data["mailboxes"].pop("support"), "previous": ["support"]})


# A pull request each (files changed on disk, then committed): (what it does, whether the fast path answers it).
PULL_REQUESTS: dict[str, tuple[Callable[[Path], None], bool]] = {
    "a mailbox renamed in its domain": (lambda root: edit_yaml(root / NORTHWIND, _rename_mailbox), True),
    "a tenant's limits": (lambda root: edit_yaml(root / "tenants/northwind/lawfirm/tenant.yaml",
                                                 lambda data: data["limits"].update({"max_mailboxes": 16})), True),
    "a tenant's name": (lambda root: edit_yaml(root / "tenants/southbay/tenant.yaml",
                                               lambda data: data.update({"name": "South Bay"})), True),
    "a domain file deleted": (lambda root: (root / "tenants/southbay/school/riverside-school.example.yaml").unlink(),
                              True),
    "a domain moved to another tenant": (lambda root: _move(root, HARTCOLE, "tenants/northwind/hartcole.example.yaml"),
                                         True),
}


@pytest.mark.parametrize("name", sorted(PULL_REQUESTS))
def test_pull_requests_over_the_snapshot_plan_as_the_full_way(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str) -> None:
    repo, root, cache = estate
    assert plan(root, cache, monkeypatch, capsys, changed_since=None).code == 0
    change, answered = PULL_REQUESTS[name]
    change(root)
    repo.git.add(A=True)
    repo.index.commit(name)
    fast = plan(root, cache, monkeypatch, capsys)
    full = plan(root, "off", monkeypatch, capsys)
    assert fast.planned is not None and fast.planned.fast == answered, (fast.planned and fast.planned.fallback)
    same_output(fast, full)
    assert fast.code == 2  # every one of them plans something


def test_a_problem_in_a_file_that_did_not_change_falls_back_and_is_worded_the_same(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """billing@northwind.example leaves: hartcole's alias (another file, unchanged) now forwards
    to an address that does not exist. The fast path finds a problem and steps aside; the full
    way words it, exit 1, exactly as without a snapshot."""
    repo, root, cache = estate
    assert plan(root, cache, monkeypatch, capsys, changed_since=None).code == 0
    commit(repo, root, NORTHWIND, lambda data: data["mailboxes"].pop("billing"))
    fast = plan(root, cache, monkeypatch, capsys)
    full = plan(root, "off", monkeypatch, capsys)
    assert fast.code == 1 and "billing@northwind.example" in fast.err, fast.err
    same_output(fast, full)
    # The fast path stepped aside before the full run (which raised: no plan to return).
    assert any("problem" in label for label in fast.labels), fast.labels


def test_a_changed_site_file_plans_the_full_way(estate: tuple[git.Repo, Path, Path],
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    repo, root, cache = estate
    assert plan(root, cache, monkeypatch, capsys, changed_since=None).code == 0
    (root / "ispctl.yaml").write_text((root / "ispctl.yaml").read_text(encoding="utf-8") + "# reviewed\n",
                                      encoding="utf-8")
    repo.git.add(A=True)
    repo.index.commit("the site file")
    fast = plan(root, cache, monkeypatch, capsys)
    full = plan(root, "off", monkeypatch, capsys)
    assert fast.planned is not None and not fast.planned.fast and fast.planned.fallback, fast.labels
    same_output(fast, full)


def test_a_plan_that_needs_an_outlined_object_is_made_again_the_full_way_and_shown_once(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The changed mailbox stands in as an outline (as if its file had not been loaded): the plan
    needs its values, raises Incomplete, and the command plans again over the whole estate, in
    the same session, printing the plan once."""
    repo, root, cache = estate
    assert plan(root, cache, monkeypatch, capsys, changed_since=None).code == 0
    commit(repo, root, NORTHWIND, lambda data: data["mailboxes"]["billing"].update({"name": "Billing Desk"}))
    real = incremental.load_narrowed

    def hiding(*args: Any, **kwargs: Any) -> Desired | incremental.Fallback:
        found = real(*args, **kwargs)
        assert isinstance(found, Desired), found
        resources = found.resources
        assert isinstance(resources, Outlined)
        box = resources[("mailbox", "billing@northwind.example")]
        compiled = cast(dict[tuple[str, str], Resource], resources.compiled)  # (a dict: the compile's)
        compiled[box.identity] = outline(box.kind, box.key, box.parent, box.depends_on, box.previous)
        return found

    monkeypatch.setattr(incremental, "load_narrowed", hiding)
    fast = plan(root, cache, monkeypatch, capsys)
    monkeypatch.setattr(incremental, "load_narrowed", real)
    full = plan(root, "off", monkeypatch, capsys)
    assert fast.planned is not None and not fast.planned.fast
    assert fast.planned.fallback is not None and "mailbox.billing@northwind.example" in fast.planned.fallback
    assert not any(is_outline(r) for r in fast.planned.desired.resources.values())
    same_output(fast, full)
    assert fast.out.count('"changes": [') == 1 and '"mailbox.billing@northwind.example"' in fast.out
    # Incomplete as the session starts (a host's run keeps only what is placed on it, a value):
    # the session over the whole estate is a new one.
    real_use = WIRING.use
    calls: list[bool] = []

    def use(session: Any, desired: Desired) -> None:
        calls.append(desired.partial is not None)
        if desired.partial is not None:
            raise Incomplete("maildir.billing@northwind.example is only outlined")
        real_use(session, desired)

    monkeypatch.setattr(WIRING, "use", use)
    again = plan(root, cache, monkeypatch, capsys)
    assert calls == [True, False] and again.planned is not None and not again.planned.fast
    assert again.planned.fallback is not None and "maildir.billing" in again.planned.fallback
    same_output(again, full)


def test_the_full_way_without_changed_since_never_tries_the_snapshot(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _repo, root, cache = estate
    ran = plan(root, cache, monkeypatch, capsys, changed_since=None)
    assert ran.planned is not None and ran.planned.fallback is None and not ran.planned.fast
    assert ran.labels[0].startswith("validating ") and ran.code == 0


def test_a_snapshot_that_cannot_be_saved_never_fails_the_plan(
        estate: tuple[git.Repo, Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _repo, root, cache = estate
    expected = plan(root, "off", monkeypatch, capsys, changed_since=None)

    def broken(*_args: Any) -> str | None:
        raise OSError("the disk is full")

    monkeypatch.setattr(snapshot, "save", broken)
    ran = plan(root, cache, monkeypatch, capsys, changed_since=None)
    assert (ran.code, ran.out) == (expected.code, expected.out) == (0, expected.out)
    assert "the snapshot for --changed-since plans was not saved (OSError: the disk is full)" in ran.err
