"""An estate of several repositories: local checkouts and git URLs at a pinned commit,
validated together, each file named with its source; a reseller's repository on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git
import pytest
from estate_builder import HASH, SITE, dump
from ldap_helpers import run_cli

from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.settings import load_site
from tests.wiring import FILES, problems_of, validate_estate


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ISPCTL_SOURCE_CACHE", str(cache))
    return cache


def write(root: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else dump(content), encoding="utf-8")


def commit_all(top: Path, message: str = "estate") -> str:
    repo = git.Repo(top) if (top / ".git").exists() else git.Repo.init(top, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.invalid")
    repo.git.add(A=True)
    return repo.index.commit(message).hexsha


def reseller_repo(top: Path, name: str, domain: str, boxes: tuple[str, ...] = ("anna",)) -> str:
    """A reseller's repository (``desired-state/tenants/<name>/...``), committed; its commit."""
    write(top, {f"desired-state/tenants/{name}/tenant.yaml": {"name": name.title()},
                f"desired-state/tenants/{name}/{domain}.yaml":
                    {"domain": domain, "mailboxes": {box: {"password": HASH} for box in boxes}}})
    return commit_all(top)


def isp_estate(tmp_path: Path, sources: dict[str, Any]) -> Path:
    root = tmp_path / "isp" / "desired-state"
    write(root, {"ispctl.yaml": {**SITE, "sources": sources},
                 "tenants/acme/tenant.yaml": {"name": "Acme"},
                 "tenants/acme/acme.example.yaml": {"domain": "acme.example",
                                                    "mailboxes": {"noc": {"password": HASH}}}})
    return root


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_a_local_checkout_joins_the_estate(tmp_path: Path) -> None:
    reseller_repo(tmp_path / "northwind", "northwind", "northwind.example", ("anna", "ben"))
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind"}})
    catalog = validate_estate(root)
    assert sorted(catalog.tenants) == ["acme", "northwind"]
    assert sorted(catalog.mailboxes) == ["anna@northwind.example", "ben@northwind.example", "noc@acme.example"]
    assert catalog.estate.sources == {"northwind": None}
    assert catalog.estate.confined is None


def test_a_source_file_is_named_with_the_source_and_line(tmp_path: Path) -> None:
    top = tmp_path / "northwind"
    reseller_repo(top, "northwind", "northwind.example")
    write(top, {"desired-state/tenants/northwind/northwind.example.yaml":
                "domain: northwind.example\nmailboxes:\n  anna:\n    password: '" + HASH + "'\n    quta: 1 GiB\n"})
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind"}})
    problem = only(problems_of(root))
    assert str(problem.location) == "northwind:desired-state/tenants/northwind/northwind.example.yaml:5:5"
    assert problem.path == "mailboxes.anna.quta"


def test_cross_file_rules_span_the_repositories(tmp_path: Path) -> None:
    """An address both repositories declare is one problem naming both files."""
    reseller_repo(tmp_path / "northwind", "northwind", "acme.example", ("noc",))
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind"}})
    text = "\n".join(map(str, problems_of(root)))
    assert "northwind:desired-state/tenants/northwind/acme.example.yaml" in text
    assert "desired-state/tenants/acme/acme.example.yaml" in text


def test_a_source_declares_only_its_own_resellers(tmp_path: Path) -> None:
    top = tmp_path / "northwind"
    reseller_repo(top, "northwind", "northwind.example")
    write(top, {"desired-state/tenants/southbay/tenant.yaml": {"name": "Southbay"}})
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind"}})
    problem = only(problems_of(root))
    assert str(problem.location) == "northwind:desired-state/tenants/southbay"
    assert "source northwind may only declare the resellers northwind" in problem.message


def test_a_tenant_name_is_unique_across_repositories(tmp_path: Path) -> None:
    reseller_repo(tmp_path / "northwind", "acme", "other.example")
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind", "resellers": ["acme"]}})
    problem = only(problems_of(root))
    assert str(problem.location) == "northwind:desired-state/tenants/acme"
    assert "already used by desired-state/tenants/acme" in problem.message


def test_a_git_url_is_read_at_its_pinned_commit(tmp_path: Path, _cache: Path) -> None:
    top = tmp_path / "northwind"
    pinned = reseller_repo(top, "northwind", "northwind.example", ("anna",))
    reseller_repo(top, "northwind", "northwind.example", ("anna", "later"))  # a newer commit: not read
    bare = tmp_path / "northwind.git"
    git.Repo(top).clone(str(bare), bare=True)
    root = isp_estate(tmp_path, {"northwind": {"git": bare.as_uri(), "commit": pinned}})
    catalog = validate_estate(root)
    assert "anna@northwind.example" in catalog.mailboxes
    assert "later@northwind.example" not in catalog.mailboxes
    assert catalog.estate.sources == {"northwind": pinned}
    assert (_cache / "trees" / f"{pinned}.done").is_file()
    # Once checked out, the pinned commit is read from the cache (the URL is not asked again).
    bare.rename(tmp_path / "gone.git")
    assert "anna@northwind.example" in validate_estate(root).mailboxes


def test_a_commit_the_url_does_not_have_is_refused(tmp_path: Path) -> None:
    top = tmp_path / "northwind"
    reseller_repo(top, "northwind", "northwind.example")
    root = isp_estate(tmp_path, {"northwind": {"git": top.as_uri(), "commit": "0" * 40}})
    problem = only(problems_of(root))
    assert problem.location.file == "desired-state/ispctl.yaml" and problem.location.line == 4
    assert f"commit {'0' * 40} is not in {top.as_uri()}" in problem.message


@pytest.mark.parametrize(("spec", "message"), [
    ({"git": "file:///nowhere"}, "a git source needs commit"),
    ({"git": "file:///nowhere", "commit": "main"}, "full 40-character commit id"),
    ({"path": "x", "git": "file:///nowhere", "commit": "a" * 40}, "exactly one of path"),
    ({"path": "x", "dir": "../up"}, "relative folder inside the repository"),
    ({"git": "https://bot:s3cr3t-t0ken@git.example.net/nw.git", "commit": "a" * 40}, "use a deploy key"),
    ({"git": "--upload-pack=touch /tmp/x", "commit": "a" * 40}, "is not a git URL"),
])
def test_source_settings_are_checked(tmp_path: Path, spec: dict[str, str], message: str) -> None:
    root = isp_estate(tmp_path, {"northwind": spec})
    problem = only(problems_of(root))
    assert problem.location.file == "desired-state/ispctl.yaml"
    assert message in problem.message
    assert "s3cr3t" not in str(problem)


def test_an_unreachable_url_is_one_clear_problem(tmp_path: Path) -> None:
    root = isp_estate(tmp_path, {"northwind": {"git": (tmp_path / "missing.git").as_uri(), "commit": "a" * 40}})
    problem = only(problems_of(root))
    assert problem.message.startswith(f"source northwind: cannot fetch {(tmp_path / 'missing.git').as_uri()}: ")


def test_a_pinned_local_checkout_must_be_at_its_commit_and_clean(tmp_path: Path) -> None:
    top = tmp_path / "northwind"
    first = reseller_repo(top, "northwind", "northwind.example")
    second = reseller_repo(top, "northwind", "northwind.example", ("anna", "ben"))
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind", "commit": first}})
    assert f"is at commit {second}, not the pinned {first}" in only(problems_of(root)).message
    isp_estate(tmp_path, {"northwind": {"path": "../../northwind", "commit": second}})
    assert "ben@northwind.example" in validate_estate(root).mailboxes
    (top / "desired-state/tenants/northwind/new.example.yaml").write_text("domain: new.example\n", encoding="utf-8")
    assert "has uncommitted changes under desired-state" in only(problems_of(root)).message


def reseller_on_its_own(tmp_path: Path, source: str = "northwind") -> Path:
    """northwind's repository naming the ISP's checkout as its site settings."""
    top = tmp_path / "northwind"
    reseller_repo(top, "northwind", "northwind.example")
    write(top, {"desired-state/ispctl.yaml": {"site": {"path": "../../isp"}, "source": source}})
    isp_estate(tmp_path, {"northwind": {"git": "file:///not-read-here", "commit": "b" * 40},
                          "southbay": {"path": "../../southbay"}})
    return top / "desired-state"


def test_a_resellers_repository_validates_on_its_own_against_the_site_settings(tmp_path: Path) -> None:
    root = reseller_on_its_own(tmp_path)
    catalog = validate_estate(root)
    # Only its own tenants: the ISP's and the other sources' are absent (never fetched).
    assert sorted(catalog.tenants) == ["northwind"]
    assert catalog.estate.confined == frozenset({"northwind"})
    assert str(catalog.estate.site_doc.file) == "site:desired-state/ispctl.yaml"
    # Commands that need only the site settings (render) follow the reference too.
    assert load_site(root, FILES.site).section(DIRECTORY).base_dn == SITE["directory"]["base_dn"]


def test_a_resellers_repository_may_declare_only_its_resellers(tmp_path: Path) -> None:
    root = reseller_on_its_own(tmp_path)
    write(root, {"tenants/southbay/tenant.yaml": {"name": "Southbay"}})
    problem = only(problems_of(root))
    assert str(problem.location) == "desired-state/tenants/southbay"


def test_a_resellers_repository_must_be_a_named_source(tmp_path: Path) -> None:
    root = reseller_on_its_own(tmp_path, source="northwinds")
    problem = only(problems_of(root))
    assert str(problem.location).startswith("desired-state/ispctl.yaml:3:")
    assert "no source 'northwinds' under sources: (known: northwind, southbay)" in problem.message


def test_validate_names_the_source_through_the_real_cli(tmp_path: Path) -> None:
    top = tmp_path / "northwind"
    reseller_repo(top, "northwind", "northwind.example")
    write(top, {"desired-state/tenants/northwind/tenant.yaml": "name: Northwind\nlimits:\n  max_domain: 1\n"})
    root = isp_estate(tmp_path, {"northwind": {"path": "../../northwind"}})
    result = run_cli(None, "validate", "-d", str(root))
    assert result.exit_code == 1
    assert ("northwind:desired-state/tenants/northwind/tenant.yaml:3:3: limits.max_domain: unknown field "
            "'max_domain'; did you mean 'max_domains'?") in result.output
    assert "Traceback" not in result.output


def test_a_cache_that_cannot_be_written_is_one_clear_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "northwind"
    commit = reseller_repo(top, "northwind", "northwind.example")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be\n", encoding="utf-8")
    monkeypatch.setenv("ISPCTL_SOURCE_CACHE", str(blocker))
    root = isp_estate(tmp_path, {"northwind": {"git": top.as_uri(), "commit": commit}})
    problem = only(problems_of(root))
    assert f"cannot check out {commit} into the cache {blocker}" in problem.message


def test_a_resellers_repository_reads_the_site_settings_from_a_git_url_at_a_commit(tmp_path: Path) -> None:
    root = reseller_on_its_own(tmp_path)
    pinned = commit_all(tmp_path / "isp")
    write(root, {"ispctl.yaml": {"site": {"git": (tmp_path / "isp").as_uri(), "commit": pinned},
                                 "source": "northwind"}})
    catalog = validate_estate(root)
    assert catalog.estate.sources == {"site": pinned} and catalog.estate.confined == frozenset({"northwind"})
    write(root, {"ispctl.yaml": {"site": {"git": (tmp_path / "isp").as_uri(), "commit": "c" * 40},
                                 "source": "northwind"}})
    problem = only(problems_of(root))
    assert problem.location.file == "desired-state/ispctl.yaml" and problem.path == "site"
    assert f"site: commit {'c' * 40} is not in" in problem.message
