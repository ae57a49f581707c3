"""An estate in a git repository, warmed by a full run, on which a narrowed run
(``estate.incremental.load_narrowed``) is compared with the full run (``check_desired``) after
each change: a cache may only ever make a run faster, never change its result.

``Warm`` commits the estate (its files an hour old, so the snapshot knows them by their stat),
runs it the full way and saves the snapshot; ``checkpoint`` keeps the files and the snapshot's
bytes, ``restore`` puts both back, so each change of a list starts from the same warm state.
``compare`` hands ``load_narrowed`` what git says changed since HEAD (as ``ispctl plan
--changed-since HEAD`` does), checks the result against a full run of the same files
(``assert_equivalent``) and, when it took the fast path, the snapshot it left against the one
that full run saves. ``applied`` and ``plan_both_ways`` do the same one level up: the command
line's plan over the snapshot and the full way, against a real slapd and named.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli import commands, planning
from ispctl.reconciler.cli.handler import run_command
from ispctl.reconciler.cli.planning import Planned
from ispctl.reconciler.cli.runs import PlanOptions
from ispctl.reconciler.engine import saved
from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.engine.gitinfo import changed_files
from ispctl.reconciler.engine.resources import Resource, is_outline
from ispctl.reconciler.estate import snapshot
from ispctl.reconciler.estate.desired import Desired, check_desired
from ispctl.reconciler.estate.incremental import Fallback, load_narrowed
from ispctl.reconciler.estate.schema import EstateSchema
from tests.wiring import SCHEMA, WIRING, open_session

HASH = "{CRYPT}$6$rounds=1000$Gw7J3F83IWxu57kA$lyxcrXFYurHf5yn4x2E4csOmPLRU8Gm/6Vl9WRKe2NQrNWJg4TZz4xnVmD." \
       "YB7WknEGpLVccxxWsyJeeUjSgf/"
_yaml = YAML()
AGED_NS = time.time_ns() - 3600 * 10**9
_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.net", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.net", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def box(**fields: Any) -> dict[str, Any]:
    """A mailbox with a password hash of the right form."""
    return {"password": HASH, **fields}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout


class Files:
    """The files of the estate at ``root`` (``desired-state/``), edited as an operator would."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        """A file below ``tenants/`` (``ispctl.yaml`` for the site settings)."""
        return self.root / rel if rel == "ispctl.yaml" else self.root / "tenants" / rel

    def load(self, rel: str) -> Any:
        return _yaml.load(self.path(rel).read_text(encoding="utf-8"))

    def edit(self, rel: str, change: Callable[[Any], object]) -> None:
        data = self.load(rel)
        change(data)
        self.write(rel, data)

    def write(self, rel: str, data: Any) -> None:
        path = self.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
            return
        buffer = io.StringIO()
        _yaml.dump(data, buffer)
        path.write_text(buffer.getvalue(), encoding="utf-8")

    def remove(self, rel: str) -> None:
        self.path(rel).unlink()

    def move(self, rel: str, to: str) -> None:
        self.path(to).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.path(rel), self.path(to))


class Warm(Files):
    """The estate at ``repo/desired-state`` (already written), committed, with its own cache
    folder, primed by a full run (module docstring)."""

    def __init__(self, repo: Path, cache: Path, schema: EstateSchema = SCHEMA,
                 env: dict[str, str] | None = None, kept: tuple[Path, ...] = ()) -> None:
        super().__init__(repo / "desired-state")
        self.repo = repo
        self.kept = (self.root, *kept)  # what ``restore`` puts back: the estate, a key folder
        self.schema = schema
        self.env = {"ISPCTL_CACHE_DIR": str(cache), **(env or {})}
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "the estate")
        self.base = git(repo, "rev-parse", "HEAD").strip()
        # Files an hour old, as in a checkout: the snapshot knows them by their stat too, so
        # the files a change leaves alone are known by it (``snapshot.stat_of``), the others read.
        for path in self.root.rglob("*"):
            os.utime(path, ns=(AGED_NS, AGED_NS))
        self.prime()
        self.checkpoint()

    # -- the warm state ---------------------------------------------------------------------

    def prime(self) -> None:
        """A full run of the estate as it is, and its snapshot saved (it must be valid)."""
        desired, problems = check_desired(self.root, self.schema, self.env, facts=True)
        assert desired is not None and not problems, problems
        assert snapshot.save(self.root, self.schema, self.env, desired) is None
        self.warm = desired.resources

    @property
    def snapshot_path(self) -> Path:
        path = snapshot.snapshot_path(self.root, self.env)
        assert path is not None
        return path

    def checkpoint(self) -> None:
        self._files = self.files()
        self._snapshot = self.snapshot_path.read_bytes()
        self._warm = self.warm
        self.last: Desired | None = None  # the full run of the last ``compare``, when it found no problem

    def files(self) -> dict[Path, bytes]:
        return {p: p.read_bytes() for folder in self.kept for p in folder.rglob("*") if p.is_file()}

    def restore(self) -> None:
        """The files and the snapshot as at the last ``checkpoint``. A snapshot of another
        context (another helper's code edited while the tests run changes the code stamp)
        is primed again: the comparison holds whatever the snapshot, but benign changes are
        asserted to take the fast path."""
        for path in self.files().keys() - self._files.keys():
            path.unlink()
        for path, raw in self._files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_bytes() != raw:
                path.write_bytes(raw)
            if path.is_relative_to(self.root):
                os.utime(path, ns=(AGED_NS, AGED_NS))  # known by its stat again (when the inode is too)
        for kept in self.kept:
            for folder in sorted((p for p in kept.rglob("*") if p.is_dir()), reverse=True):
                if not any(folder.iterdir()):
                    folder.rmdir()
        if git(self.repo, "rev-parse", "HEAD").strip() != self.base:  # a change was committed
            git(self.repo, "reset", "-q", self.base)
        self.snapshot_path.write_bytes(self._snapshot)
        self.warm = self._warm
        found, _why = snapshot.load(self.root, self.schema, self.env)
        if found is None:
            self.prime()
            self.checkpoint()

    # -- the comparison ---------------------------------------------------------------------

    def changed(self) -> list[Path]:
        """What ``--changed-since HEAD`` hands the narrowed run."""
        return changed_files(self.root, "HEAD")

    def narrowed(self) -> Desired | Fallback:
        return load_narrowed(self.root, self.schema, self.env, self.changed())

    def full(self) -> tuple[Desired | None, list[Problem]]:
        return check_desired(self.root, self.schema, self.env)

    def compare(self) -> Desired | Fallback:
        """The narrowed run, checked against the full run (``assert_equivalent``)."""
        fast = self.narrowed()
        full, problems = check_desired(self.root, self.schema, self.env, facts=True)
        assert_equivalent(fast, full, problems, self.warm)
        self.last = None if problems else full
        if isinstance(fast, Desired) and full is not None:
            self.assert_snapshot_current(full)
        return fast

    def assert_snapshot_current(self, full: Desired) -> None:
        """The snapshot a narrowed run left is the one the full run ``full`` (with facts) of
        the same files saves: every file's digest, facts and outlines (a fact of a file it did
        not load, gone stale, would misjudge a later change)."""
        kept, why = snapshot.load(self.root, self.schema, self.env)
        assert kept is not None, why
        env = {**self.env, "ISPCTL_CACHE_DIR": self.env["ISPCTL_CACHE_DIR"] + "-fresh"}
        assert snapshot.save(self.root, self.schema, env, full) is None
        fresh, why = snapshot.load(self.root, self.schema, env)
        assert fresh is not None, why
        assert kept.files.keys() == fresh.files.keys()
        stale = sorted(name for name in kept.files if kept.files[name] != fresh.files[name])
        assert not stale, f"the snapshot after the narrowed run differs from a full run's for {stale}"
        assert kept.index == fresh.index, "the snapshot's index after the narrowed run is not a full run's"


def assert_equivalent(fast: Desired | Fallback, full: Desired | None, problems: list[Problem],
                      warm: Mapping[tuple[str, str], Resource] | None = None) -> None:
    """Both runs have problems (the narrowed one falls back) or neither; a narrowed result
    has exactly the full run's identities, each compiled resource equal to the full one in
    every field, each outline the full resource's parent, dependencies and previous keys.
    With ``warm``, the full run the snapshot was taken from: an outline stands for a value
    the narrowed run took as unchanged, so the full resource must still be the warm one."""
    if problems or full is None:
        assert isinstance(fast, Fallback), f"the full run finds {sorted(set(problems))[:3]}, the narrowed one nothing"
        return
    if isinstance(fast, Fallback):
        return
    expected = full.resources
    found = fast.resources
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    assert not missing and not extra, f"identities differ: missing {missing[:5]}, extra {extra[:5]}"
    for identity, resource in found.items():
        wanted = expected[identity]
        assert not is_outline(wanted)
        if is_outline(resource):
            assert (resource.kind, resource.key, resource.parent, resource.depends_on, resource.previous) == \
                (wanted.kind, wanted.key, wanted.parent, wanted.depends_on, wanted.previous), identity
            if warm is not None:
                before = warm.get(identity)
                assert before is not None, f"{identity} is outlined, but the snapshot's run did not compile it"
                assert dict(before.attrs) == dict(wanted.attrs) and before == wanted, \
                    f"{identity} is outlined, but its value is not the snapshot's run's any more"
            continue
        assert_same(resource, wanted)


def assert_same(resource: Resource, wanted: Resource) -> None:
    """A compiled resource of the narrowed run is the full run's, field by field."""
    identity = resource.identity
    assert dict(resource.attrs) == dict(wanted.attrs), identity
    assert resource.fingerprint() == wanted.fingerprint(), identity
    for name in ("parent", "depends_on", "previous", "create_only", "sensitive", "source"):
        assert getattr(resource, name) == getattr(wanted, name), (identity, name)
    assert resource == wanted, identity


# -- the plan: ispctl plan --changed-since, over the snapshot and the full way -------------------

@contextmanager
def applied(warm: Warm, temp: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The warm estate applied to a real slapd and named (a plan's live side), stopped on the
    way out; their environment (LDAP and DNS providers)."""
    slapd = SlapdInstance(temp.mktemp("slapd"))
    named = NamedInstance(temp.mktemp("named"))
    slapd.start()
    try:
        named.start()
        try:
            env = {**slapd.env(), **named.env(), "ISPCTL_PROVIDERS": "ldap,dns"}
            with open_session(warm.root, {**os.environ, **env}) as session:
                assert session.apply(session.plan()).ok
            yield env
        finally:
            named.stop()
    finally:
        slapd.stop()


@dataclass(frozen=True)
class Printed:
    code: int
    out: str
    err: str
    fast: bool
    reason: str | None  # why the full way (None: the fast path, no --changed-since, or no plan: a problem)


def spied_plans(patch: pytest.MonkeyPatch) -> list[Planned[Any]]:
    """The commands' ``plan_estate`` watched while ``patch`` holds: the list returned gets what
    each plan of the estate gives, in order (whether it took the fast path, and why not)."""
    seen: list[Planned[Any]] = []

    def spy(*args: Any, **kwargs: Any) -> Planned[Any]:
        found: Planned[Any] = planning.plan_estate(*args, **kwargs)
        seen.append(found)
        return found

    patch.setattr(commands, "plan_estate", spy)
    return seen


def plan(warm: Warm, cache: str, capsys: pytest.CaptureFixture[str], patch: pytest.MonkeyPatch) -> Printed:
    """``ispctl plan --changed-since <the warm commit> --json --detailed-exitcode`` with the
    cache folder ``cache`` (``off``: no snapshot, the full way)."""
    patch.setenv("ISPCTL_CACHE_DIR", cache)
    seen = spied_plans(patch)
    capsys.readouterr()
    with pytest.raises(typer.Exit) as ended:
        run_command(lambda: commands.plan_cmd(WIRING, warm.root, "json", None, True,
                                              PlanOptions(changed_since=warm.base)))
    got = capsys.readouterr()
    return Printed(ended.value.exit_code, got.out, got.err, bool(seen and seen[0].fast),
                   seen[0].fallback if seen else None)


def plan_both_ways(warm: Warm, live: Mapping[str, str], capsys: pytest.CaptureFixture[str]) -> Printed:
    """The estate as it is now planned over the snapshot and the full way (no cache): the same
    exit code, JSON and stderr, byte for byte. Returns the plan over the snapshot."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in live.items():
            patch.setenv(variable, value)
        patch.setattr(saved.secrets, "token_bytes", lambda size: b"k" * size)  # the digests' key, fixed
        fast = plan(warm, warm.env["ISPCTL_CACHE_DIR"], capsys, patch)
        full = plan(warm, "off", capsys, patch)
    assert fast.code == full.code, (f"over the snapshot: exit {fast.code} {fast.err[-300:]!r}; "
                                    f"the full way: exit {full.code} {full.err[-300:]!r}")
    assert (fast.out, fast.err) == (full.out, full.err)
    assert not full.fast
    return fast


# -- the example estate, with every service's cross-file state -------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "desired-state"
SELECTOR = "s1"


def rich_example(repo: Path) -> Path:
    """``desired-state/`` (the README's example) copied to ``repo``, with what it leaves out
    for the rules across files: a cluster (mail stores, web and FTP hosts, each a pinned host
    filled to its capacity by two files), DKIM keys, a second domain of the law firm holding an
    extra address of the first and most of its quota pool, forwards, aliases and a catch-all
    into other files, a pinned web uid, RADIUS accounts and a site's FTP login. Returns the key
    folder (``dns.dkim.key_dir``)."""
    from ispctl.providers.dns.dkim import create_key

    root = repo / "desired-state"
    shutil.copytree(EXAMPLE, root)
    keys = repo.with_name(repo.name + "-dkim")  # outside the repository, as on a mail host
    for domain in ("northwind.example", "southbay.example", "xn--bckerei-mller-bfb28a.example", "hartcole.net"):
        create_key(keys, domain, SELECTOR, 1024)
    estate = Files(root)
    estate.edit("ispctl.yaml", lambda d: (
        d["dns"].__setitem__("dkim", {"selector": SELECTOR, "key_dir": str(keys), "bits": 1024}),
        d.__setitem__("cluster", {"hosts": {
            "mx1.example.net": {"roles": ["mail_store", "imap", "ftp"], "capacity": 100},
            "mx2.example.net": {"roles": ["mail_store", "imap", "ftp"], "capacity": 9},  # southbay's 3, the school's 6
            "web1.example.net": {"roles": ["web", "ftp"], "capacity": 8},  # northwind's, the bakery's
            "web2.example.net": {"roles": ["web", "ftp"], "capacity": 50}}})))
    estate.edit("northwind/tenant.yaml", lambda d: d.__setitem__(
        "placement", {"web": "web1.example.net", "mail_store": "mx1.example.net"}))
    estate.edit("northwind/bakery/tenant.yaml", lambda d: d.__setitem__("web", {"uid": 123456789}))
    estate.edit("southbay/tenant.yaml", lambda d: d.__setitem__("placement", {
        "mail_store": "mx2.example.net", "web": "web2.example.net", "ftp": "web2.example.net"}))
    estate.edit("southbay/southbay.example.yaml", lambda d: (
        d.__setitem__("radius", {"accounts": {"dsl-1": {"password": HASH}}}),
        d.__setitem__("ftp", {"sites": {"@": {"password": HASH}}}),
        d.__setitem__("mail", {"catch_all": "office@riverside-school.example"})))
    estate.edit("southbay/school/riverside-school.example.yaml",
                lambda d: d["aliases"].__setitem__("netops", ["it.support", "noc@southbay.example"]))
    estate.edit("northwind/lawfirm/hartcole.example.yaml", lambda d: (
        d["mailboxes"]["j.hart"].__setitem__("aliases", ["jane@hartcole.net"]),
        d["mailboxes"]["r.cole"].__setitem__("forward", {"to": ["billing@northwind.example"]})))
    estate.write("northwind/lawfirm/hartcole.net.yaml", {
        "domain": "hartcole.net", "services": ["mail", "dns"], "mailboxes": {"desk": box(quota="40 GiB")}})
    return keys

