"""An estate read from several repositories (README "An estate of several repositories").

The ISP's repository holds the site settings and names the others under ``sources:``; each
is read (a local checkout, or a git URL fetched into a cache and checked out at its pinned
commit) and its tenant folders join the estate, so every cross-file rule sees them all.
A source may only declare its own resellers. Its files are named ``<source>:<dir>/...``.

A reseller's repository turns this around: its ``ispctl.yaml`` names the ISP's repository
as ``site:`` (pinned) and says which source it is. Its own tenants are then checked against
the ISP's site settings with the rest of the estate absent, and every plan is confined to
its resellers' subtrees (``confine``): a reseller's read-only account sees only its own
subtree, and that absence must never read as "delete everything else".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ispctl.reconciler.engine.errors import IspctlError, Location, Problem
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Index, ancestors
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.estate.cache import ParseCache
from ispctl.reconciler.estate.catalog import Catalog
from ispctl.reconciler.estate.compile import TENANT
from ispctl.reconciler.estate.loader import Estate, Found, load_tree, read_site
from ispctl.reconciler.estate.model import FileModels, SiteFile
from ispctl.reconciler.estate.model_errors import check_model
from ispctl.reconciler.estate.sourcespec import SourceSite, SourceSpec
from ispctl.reconciler.estate.yamlload import Document

if TYPE_CHECKING:
    import git  # imported where used: only an estate of several repositories needs GitPython (~0.04 s to import)

SITE_SOURCE = "site"
# Never ask for a password on a terminal (CI has none); a hung fetch ends after this long.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
_FETCH_TIMEOUT = 600


class SourceError(Exception):
    """A source that cannot be read as declared; the message says what to fix."""


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ISPCTL_SOURCE_CACHE"):
        return Path(env["ISPCTL_SOURCE_CACHE"])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "ispctl" / "sources"


def checkout(spec: SourceSpec, base: Path, cache: Path) -> Path:
    """The folder of ``spec`` that holds ``tenants/`` (and ``ispctl.yaml``), at its pinned commit."""
    if spec.path is not None:
        top = Path(spec.path) if Path(spec.path).is_absolute() else base / spec.path
        if not top.is_dir():
            raise SourceError(f"path {spec.path}: no such folder (a local checkout of the repository)")
        if spec.commit is not None:
            _check_head(top, spec)
    else:
        assert spec.git is not None and spec.commit is not None  # the model requires both
        top = _tree_at(spec.git, spec.commit, cache)
    folder = top / spec.dir
    if not folder.is_dir():
        raise SourceError(f"the repository has no folder {spec.dir!r} (set dir: to the folder holding tenants/)")
    return folder


def _check_head(top: Path, spec: SourceSpec) -> None:
    import git

    try:
        repo = git.Repo(top)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SourceError(f"path {spec.path}: not a git checkout, so commit cannot be checked") from None
    head = repo.head.commit.hexsha if repo.head.is_valid() else None
    if head != spec.commit:
        raise SourceError(f"the checkout at {spec.path} is at commit {head or '(none)'}, not the pinned "
                          f"{spec.commit}: check that commit out (or change commit:)")
    if repo.is_dirty(untracked_files=True, path=spec.dir):
        raise SourceError(f"the checkout at {spec.path} has uncommitted changes under {spec.dir}: the pinned "
                          "commit is what is read, so commit or discard them")


def _has_commit(repo: git.Repo, commit: str) -> bool:
    import git

    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _tree_at(url: str, commit: str, cache: Path) -> Path:
    """A checkout of ``commit`` of ``url``: fetched into a bare repository in the cache
    (one per URL), then checked out once per commit (a commit id names its content)."""
    tree = cache / "trees" / commit
    if (cache / "trees" / f"{commit}.done").is_file() and tree.is_dir():
        return tree
    import git
    try:
        return _fetch_tree(url, commit, cache, tree)
    except (OSError, git.GitCommandError) as exc:  # the cache itself (not writable, full): say where
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SourceError(f"cannot check out {commit} into the cache {cache} ({detail}); set "
                          "$ISPCTL_SOURCE_CACHE to a writable folder") from None


def _fetch_tree(url: str, commit: str, cache: Path, tree: Path) -> Path:
    import git

    bare = cache / "repos" / hashlib.sha256(url.encode()).hexdigest()[:24]
    repo = git.Repo(bare) if (bare / "HEAD").is_file() else git.Repo.init(bare, bare=True, mkdir=True)
    if not _has_commit(repo, commit):
        try:
            repo.git.fetch("--no-tags", "--", url, "+refs/heads/*:refs/ispctl/heads/*",
                           "+refs/tags/*:refs/ispctl/tags/*", env=_GIT_ENV, kill_after_timeout=_FETCH_TIMEOUT)
        except git.GitCommandError as exc:
            lines = [line for line in str(exc.stderr or "").splitlines() if line.strip()]
            raise SourceError(f"cannot fetch {url}: {lines[-1].strip() if lines else 'git fetch failed'}") from None
        if not _has_commit(repo, commit):
            try:  # a commit no branch or tag reaches any more: servers may still hand it out
                repo.git.fetch("--no-tags", "--", url, commit, env=_GIT_ENV, kill_after_timeout=_FETCH_TIMEOUT)
            except git.GitCommandError:
                pass
        if not _has_commit(repo, commit):
            raise SourceError(f"commit {commit} is not in {url} (none of its branches or tags has it): check "
                              "commit: (the full id of a pushed commit)")
    scratch = cache / "trees" / f"{commit}.{os.getpid()}"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    repo.git.worktree("add", "--detach", "--force", str(scratch), commit)
    checked = git.Repo(scratch).head.commit.hexsha
    if checked != commit:
        raise SourceError(f"{url}: checked out {checked}, expected {commit}")
    try:
        scratch.rename(tree)
    except OSError:
        pass  # another run checked it out first: the same commit, the same files
    (cache / "trees" / f"{commit}.done").write_text(url + "\n", encoding="utf-8")
    return tree if tree.is_dir() else scratch


def load_composed(root: Path, files: FileModels, env: Mapping[str, str] | None = None, *,
                  only: frozenset[str] | None = None, digests: bool = False,
                  known: Mapping[str, bytes] | None = None) -> tuple[Estate | None, list[Problem]]:
    """The estate of ``root`` with every source it names (or, for a reseller's repository,
    with the site settings it names); the estate is None when the site settings are unusable.
    ``only``, ``digests`` and ``known`` are the loader's (``Found``): read only these domain
    files, keep the digest of every file read in ``Estate.digests``, take these files' parse
    by the digest known for them."""
    if not root.is_dir():
        return None, [Problem(Location(str(root)), "", "desired-state folder not found")]
    parsed = ParseCache.of(env, root)
    try:
        found = Found(root, files, cache=parsed, only=only, digests={} if digests else None, known=known)
        estate, problems = _load_composed(root, files, env, found)
        if estate is not None:
            estate.digests = found.digests
        return estate, problems
    finally:
        parsed.finish(partial=only is not None)


def _load_composed(root: Path, files: FileModels, env: Mapping[str, str] | None,
                   found: Found) -> tuple[Estate | None, list[Problem]]:
    parsed = found.cache
    doc, problems = read_site(root, cache=parsed)
    if is_reference(doc):
        assert doc is not None
        return _reseller_estate(root, files, doc, problems, cache_root(env), found)
    site = None
    if doc is not None:
        site, more = check_model(doc, files.site, partial=True)
        problems += more
    problems += load_tree(found)
    commits: dict[str, str | None] = {}
    if isinstance(site, SiteFile) and doc is not None:
        faulty = {p.path.split(".")[1] for p in more if p.path.startswith("sources.") and "." in p.path}
        for name, spec in site.sources.items():
            if name in faulty:
                continue  # what is left of a faulty declaration is not what was meant: never read it
            try:
                folder = checkout(spec, root, cache_root(env))
            except SourceError as exc:
                problems.append(doc.problem(("sources", name), f"source {name}: {exc}"))
                continue
            found.root, found.label, found.source = folder, f"{name}:{spec.dir}", name
            found.allowed = frozenset(spec.resellers if spec.resellers is not None else [name])
            problems += load_tree(found)
            commits[name] = spec.commit
    if not isinstance(site, SiteFile) or doc is None:
        return None, problems
    return Estate(root, site, doc, files, found.tenants, found.domain_files, sources=commits), problems


def _reseller_estate(root: Path, files: FileModels, local: Document, problems: list[Problem],
                     cache: Path, found: Found) -> tuple[Estate | None, list[Problem]]:
    ref, site, site_doc, resellers = _site_of(root, files.site, local, problems, cache)
    found.allowed, found.source = resellers, ref.source if ref is not None else None
    problems += load_tree(found)
    if ref is None or site is None or site_doc is None or resellers is None:
        return None, problems
    return Estate(root, site, site_doc, files, found.tenants, found.domain_files, confined=resellers,
                  sources={SITE_SOURCE: ref.site.commit}), problems


def _site_of(root: Path, model: type[SiteFile], local: Document, problems: list[Problem], cache: Path
             ) -> tuple[SourceSite | None, SiteFile | None, Document | None, frozenset[str] | None]:
    """A reseller's ``ispctl.yaml`` (``local``) resolved: the reference, the estate's site
    settings, their file, and the resellers this repository may declare (adds to ``problems``)."""
    ref, more = check_model(local, SourceSite)
    problems += more
    if not isinstance(ref, SourceSite):
        return None, None, None, None
    try:
        folder = checkout(ref.site, root, cache)
    except SourceError as exc:
        problems.append(local.problem(("site",), f"site: {exc}"))
        return ref, None, None, None
    site_doc, more = read_site(folder, f"{SITE_SOURCE}:{ref.site.dir}")
    problems += more
    site = None
    if site_doc is not None:
        site, more = check_model(site_doc, model, partial=True)
        problems += more
    if not isinstance(site, SiteFile):
        return ref, None, None, None
    spec = site.sources.get(ref.source)
    if spec is None:
        known = ", ".join(sorted(site.sources)) or "none"
        problems.append(local.problem(("source",), f"the site settings name no source {ref.source!r} under "
                                                   f"sources: (known: {known})"))
        return ref, site, site_doc, None
    return ref, site, site_doc, frozenset(spec.resellers if spec.resellers is not None else [ref.source])


def reseller_site(root: Path, local: Document, model: type[SiteFile],
                  env: Mapping[str, str] | None = None) -> tuple[SiteFile | None, list[Problem]]:
    """The site settings a reseller's repository names (for commands that need no tenants)."""
    problems: list[Problem] = []
    _ref, site, _doc, resellers = _site_of(root, model, local, problems, cache_root(env))
    return (site if resellers is not None else None), problems


def is_reference(doc: Document | None) -> bool:
    """Whether an ``ispctl.yaml`` is a reseller's reference to the estate's site settings."""
    return doc is not None and isinstance(doc.data, dict) and SITE_SOURCE in doc.data


def confine(plan: Plan, catalog: Catalog, desired: Index, live: Index) -> Plan:
    """A reseller's own run keeps only changes within its resellers' subtrees.

    The live view of a read-only account limited by the directory's access rules holds only
    its own subtree, and the repository only its own tenants; a change anywhere else could
    only come from a wider account or a wrong set-up, so it is dropped, and a change the
    kept ones need outside the subtree refuses the plan rather than going ahead.
    """
    resellers = catalog.estate.confined
    if resellers is None:
        return plan
    anchors = frozenset(f"{TENANT}.{name}" for name in resellers)
    kept = apply_scope(plan, Scope(anchors=anchors, everything=False), desired, live)
    index = {r.address: r for r in live.values()}
    index.update({r.address: r for r in desired.values()})
    # Both ends of a change must be inside: a move from another reseller's subtree takes
    # something away from it even though it lands here.
    outside = sorted(c.address for c in kept.changes
                     if any(r is not None and not anchors & set(ancestors(r, index)) for r in (c.resource, c.before)))
    if outside:
        raise IspctlError(f"this repository plans only for {', '.join(sorted(resellers))}, but the plan needs "
                          f"changes outside: {', '.join(outside[:5])}; plan them from the ISP's full estate")
    return kept
