"""A mail store host's own run (``ISPCTL_HOST``) over outlines, on a real slapd: which maildirs it
keeps (``MailStoreProvider.reconciles``) asks the directory's placement first, so a
``--changed-since`` plan over the snapshot stays narrowed, byte for byte the plan the full way
gives; a maildir the directory has no host for yet needs its compiled host, which an outline does
not have: that still raises ``Incomplete`` and the plan is made again the full way, never guessed.

A web host's run (``WebProvider.reconciles``, ``HostRun.keeps``) asks the directory first the same
way, and is checked alike.

The example estate in a cluster of two mail store and two web hosts, committed; the central run
(``ldap,dovecot,web``) has written every mailbox's mailHost and every site's host to slapd. Each
mail store host's run plans with ``ISPCTL_PROVIDERS=mailstore``.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest
import typer
from ldap_helpers import HASH, edit_yaml, estate_repo

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli import commands
from ispctl.reconciler.cli.handler import run_command
from ispctl.reconciler.cli.planning import Planned
from ispctl.reconciler.cli.runs import PlanOptions
from ispctl.reconciler.engine import output, saved
from ispctl.reconciler.engine.resources import Incomplete, is_outline
from ispctl.reconciler.engine.session import in_scope
from ispctl.reconciler.estate import snapshot
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.incremental import load_narrowed
from ispctl.reconciler.estate.placement import default_host
from tests.incremental_helpers import spied_plans
from tests.wiring import SCHEMA, WIRING, open_session

NORTHWIND = "tenants/northwind/northwind.example.yaml"
SOUTHBAY = "tenants/southbay/southbay.example.yaml"
HOSTS = ("mx1.example.net", "mx2.example.net")
CLUSTER = textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 100}
        mx2.example.net: {roles: [mail_store, imap], capacity: 100}
        w1.example.net: {roles: [web], capacity: 100}
        w2.example.net: {roles: [web], capacity: 100}
    """)


@dataclass
class Estate:
    repo: git.Repo
    root: Path
    base: Path  # the folder of each host's mail root
    caches: Path  # each host's snapshot folder is in here: outside the estate's repository
    env: dict[str, str]  # the directory's connection

    def host_env(self, host: str, cache: str | None = None) -> dict[str, str]:
        """A host's own mail store run; ``cache``: its snapshot folder (``off``: none)."""
        root = self.base / f"vmail-{host}"
        root.mkdir(exist_ok=True)
        return {**self.env, "ISPCTL_PROVIDERS": "mailstore", "ISPCTL_HOST": host, "ISPCTL_MAIL_ROOT": str(root),
                "ISPCTL_CACHE_DIR": cache if cache is not None else str(self.caches / host)}

    def commit(self, path: str, change: Callable[[Any], None]) -> None:
        edit_yaml(self.root / path, change)
        self.repo.git.add(A=True)
        self.repo.index.commit(f"change {path}")

    def changed(self) -> list[Path]:
        """What ``--changed-since HEAD~1`` hands the narrowed run."""
        return [self.root.parent / name for name in self.repo.git.diff("--name-only", "HEAD~1", "HEAD").split()]


@pytest.fixture
def estate(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, slapd: SlapdInstance,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    repo, root = estate_repo(tmp_path)
    site = root / "ispctl.yaml"
    site.write_text(site.read_text(encoding="utf-8") + "\n" + CLUSTER, encoding="utf-8")
    repo.git.add(A=True)
    repo.index.commit("a cluster of two mail store hosts")
    env = dict(slapd.env())
    central = {**env, "ISPCTL_PROVIDERS": "ldap,dovecot,web", "ISPCTL_MOVE_JOURNAL": str(tmp_path / "moves")}
    with open_session(root, central) as session:
        assert session.apply(session.plan()).ok
    monkeypatch.setattr(saved.secrets, "token_bytes", lambda size: b"k" * size)  # the digests' key, fixed
    yield Estate(repo, root, tmp_path, tmp_path_factory.mktemp("caches"), env)


@dataclass
class Ran:
    code: int
    out: str
    err: str
    planned: Planned[Any]


def plan(env: dict[str, str], root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         changed_since: str | None = "HEAD~1") -> Ran:
    """``ispctl plan [--changed-since REF] --json --detailed-exitcode`` in ``env``."""

    @contextmanager
    def progress() -> Iterator[Callable[[str], None]]:
        yield lambda _label: None

    capsys.readouterr()
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(output, "progress", progress)
        seen = spied_plans(patch)
        with pytest.raises(typer.Exit) as ended:
            run_command(lambda: commands.plan_cmd(WIRING, root, "json", None, True,
                                                  PlanOptions(changed_since=changed_since)))
    got = capsys.readouterr()
    assert seen, got.err
    return Ran(ended.value.exit_code, got.out, got.err, seen[0])


def kept(desired: Desired, env: dict[str, str]) -> set[str]:
    """The maildirs a host's run keeps of ``desired`` (its own provider, reading slapd's placement)."""
    provider = WIRING.provider("mailstore", desired.catalog.estate.site, env)
    return {key for (_kind, key) in in_scope(desired.resources, [provider])}


def _rename_billing(data: Any) -> None:
    data["mailboxes"]["billing"]["name"] = "Billing Desk"


def test_a_host_run_over_outlines_keeps_what_the_full_run_keeps(
        estate: Estate, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new mailbox in one file, a changed one in another: each host's narrowed plan stays on the
    fast path, with the plan, stderr and exit code of the full way."""
    new = "newcomer@southbay.example"
    for host in HOSTS:
        assert plan(estate.host_env(host), estate.root, monkeypatch, capsys, changed_since=None).code == 2
    estate.commit(SOUTHBAY, lambda data: data["mailboxes"].update({"newcomer": {"password": HASH}}))
    estate.commit(NORTHWIND, _rename_billing)
    plans = {}
    for host in HOSTS:
        fast = plan(estate.host_env(host), estate.root, monkeypatch, capsys, changed_since="HEAD~2")
        full = plan(estate.host_env(host, "off"), estate.root, monkeypatch, capsys, changed_since="HEAD~2")
        assert fast.planned.fast and fast.planned.fallback is None, fast.planned.fallback
        partial = fast.planned.desired.partial
        assert partial is not None and partial.outlined  # maildirs of files not loaded were only outlined
        assert not full.planned.fast
        assert (fast.code, fast.out, fast.err) == (full.code, full.out, full.err)
        plans[host] = fast.out
    # The new mailbox (not in the directory yet: its compiled host, loaded) is made on one host only.
    on = default_host(new, dict.fromkeys(HOSTS, 100))
    assert all((f'"maildir.{new}"' in text) == (host == on) for host, text in plans.items()), plans

    # The same question asked directly: every maildir's host, outlined or compiled, as in full.
    env = estate.host_env(HOSTS[0])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    narrowed = load_narrowed(estate.root, SCHEMA, os.environ, [estate.root / SOUTHBAY])
    assert isinstance(narrowed, Desired), narrowed
    outlined = {key for (kind, key), r in narrowed.resources.items() if kind == "maildir" and is_outline(r)}
    assert outlined, "the test means something only with outlined maildirs"
    full_desired = WIRING.desired(estate.root, env=os.environ)
    on_host = kept(full_desired, dict(os.environ))
    assert on_host & outlined and outlined - on_host  # outlined maildirs kept here and elsewhere
    assert kept(narrowed, dict(os.environ)) == on_host


def test_an_outlined_maildir_the_directory_has_no_host_for_is_planned_the_full_way(
        estate: Estate, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """northwind's new mailbox is not in the directory yet (no central run since): where it goes is
    its compiled host. A later change elsewhere outlines it; reading its host raises Incomplete
    and the plan is made the full way, the same as without a snapshot."""
    new = "newcomer@northwind.example"
    estate.commit(NORTHWIND, lambda data: data["mailboxes"].update({"newcomer": {"password": HASH}}))
    on = default_host(new, dict.fromkeys(HOSTS, 100))
    env = estate.host_env(on)
    assert plan(env, estate.root, monkeypatch, capsys, changed_since=None).code == 2
    estate.commit(SOUTHBAY, lambda data: data["mailboxes"]["noc"].update({"name": "Front Desk"}))
    fast = plan(env, estate.root, monkeypatch, capsys)
    full = plan(estate.host_env(on, "off"), estate.root, monkeypatch, capsys)
    assert not fast.planned.fast and fast.planned.fallback is not None
    assert f"maildir.{new} is only outlined" in fast.planned.fallback, fast.planned.fallback
    assert (fast.code, fast.out, fast.err) == (full.code, full.out, full.err)

    # Asked directly: the outline's host is needed, so the question raises instead of answering.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    narrowed = load_narrowed(estate.root, SCHEMA, os.environ, estate.changed())
    assert isinstance(narrowed, Desired), narrowed
    assert is_outline(narrowed.resources[("maildir", new)])
    with pytest.raises(Incomplete, match=f"maildir.{new}"):
        kept(narrowed, dict(os.environ))


def test_a_web_host_run_over_outlines_keeps_what_the_full_run_keeps(estate: Estate,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The sites a web host's run keeps, over outlines as over the whole estate; a site the
    directory has no host for yet, only outlined, raises Incomplete."""
    blog = "blog.northwind.example"
    estate.commit(NORTHWIND, lambda data: data["web"]["sites"].update({"blog": {}}))
    web = {**estate.env, "ISPCTL_PROVIDERS": "web", "ISPCTL_CACHE_DIR": str(estate.caches / "web")}
    for name, value in web.items():
        monkeypatch.setenv(name, value)
    kept_by: dict[str, set[str]] = {}
    for host in ("w1.example.net", "w2.example.net"):
        monkeypatch.setenv("ISPCTL_HOST", host)
        full = WIRING.desired(estate.root, env=os.environ, facts=True)
        assert snapshot.save(estate.root, SCHEMA, os.environ, full) is None
        narrowed = load_narrowed(estate.root, SCHEMA, os.environ, [estate.root / SOUTHBAY])
        assert isinstance(narrowed, Desired), narrowed
        sites = {key for (kind, key), r in narrowed.resources.items() if kind == "site" and is_outline(r)}
        assert {blog, "northwind.example"} <= sites  # northwind's file was not loaded
        provider = WIRING.provider("web", full.catalog.estate.site, os.environ)
        kept_by[host] = {key for (_kind, key) in in_scope(full.resources, [provider])}
        # Every site but blog is in the directory: the narrowed run asks nothing more of them.
        known = {ident: r for ident, r in narrowed.resources.items() if ident != ("site", blog)}
        assert {key for (_kind, key) in in_scope(known, [provider])} == kept_by[host] - {blog}
        with pytest.raises(Incomplete, match=f"site.{blog}"):
            in_scope(narrowed.resources, [provider])
    # Each site is kept by exactly one web host's run (the test means something on both).
    every = {key for (kind, key) in full.resources if kind == "site"}
    assert kept_by["w1.example.net"] | kept_by["w2.example.net"] == every
    assert not kept_by["w1.example.net"] & kept_by["w2.example.net"] and all(kept_by.values())
