"""A plan's desired state from the changed files only (estate.incremental): never different
from the full run's.

Each case primes a snapshot with a full run (estate.snapshot), changes files the way a pull
request does, and compares the narrowed result with a full run of the changed estate: when
the full run finds a problem the narrowed one falls back; otherwise every resource it
compiled equals the full run's (attributes and fingerprint), every outline has the full
resource's identity, parent, dependencies and previous keys, and the identities are the
same. The benign changes must take the fast path (no fallback).

Services: the schema is the registry's, every service with its own facts hook (``with_facts``
gives one that says nothing to a service without: none is left, it was the stand-in while the
services' hooks were written). The cases are the estate's own rules across files (validate,
delivery, limits, tenant renames); each service's own are its tests' (tests/test_*_facts.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.engine.resources import Resource, is_outline
from ispctl.reconciler.estate import snapshot
from ispctl.reconciler.estate.desired import Desired, check_desired
from ispctl.reconciler.estate.incremental import Fallback, load_narrowed
from ispctl.reconciler.estate.schema import EstateSchema
from tests.wiring import SCHEMA

EXAMPLE = Path(__file__).resolve().parents[1] / "desired-state"
HASH = "{CRYPT}$6$rounds=1000$Gw7J3F83IWxu57kA$lyxcrXFYurHf5yn4x2E4csOmPLRU8Gm/6Vl9WRKe2NQrNWJg4TZz4xnVmD." \
       "YB7WknEGpLVccxxWsyJeeUjSgf/"


def with_facts(schema: EstateSchema) -> EstateSchema:
    """The schema with a facts hook that says nothing for every service that has none yet."""
    return replace(schema, extensions=tuple(
        e if e.facts is not None else replace(e, facts=lambda catalog, compiled: {}) for e in schema.extensions))


FACTS_SCHEMA = with_facts(SCHEMA)
_yaml = YAML()


class Estate:
    """A copy of an estate with its own cache folder (so its own snapshot)."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.env = {"ISPCTL_CACHE_DIR": str(cache)}

    def path(self, rel: str) -> Path:
        return self.root / "tenants" / rel

    def edit(self, rel: str, change: Callable[[Any], None]) -> Path:
        path = self.path(rel)
        data = _yaml.load(path.read_text(encoding="utf-8"))
        change(data)
        with path.open("w", encoding="utf-8") as handle:
            _yaml.dump(data, handle)
        return path

    def write(self, rel: str, data: dict[str, Any]) -> Path:
        path = self.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            _yaml.dump(data, handle)
        return path

    def delete(self, rel: str) -> Path:
        path = self.path(rel)
        path.unlink()
        return path

    def full(self) -> tuple[Desired | None, list[Problem]]:
        return check_desired(self.root, FACTS_SCHEMA, self.env, facts=True)

    def prime(self) -> None:
        desired, problems = self.full()
        assert desired is not None and not problems, problems
        assert snapshot.save(self.root, FACTS_SCHEMA, self.env, desired) is None

    def narrowed(self, changed: list[Path]) -> Desired | Fallback:
        return load_narrowed(self.root, FACTS_SCHEMA, self.env, changed)


def same_as_full(estate: Estate, changed: list[Path]) -> Desired | Fallback:
    """The narrowed result, checked against a full run of the same files (module docstring)."""
    fast = estate.narrowed(changed)
    full, problems = check_desired(estate.root, FACTS_SCHEMA, estate.env)
    if problems:
        assert isinstance(fast, Fallback), f"the full run finds {problems[0]}, the narrowed one nothing"
        return fast
    assert full is not None
    if isinstance(fast, Fallback):
        return fast
    expected = full.resources
    assert fast.resources.keys() == expected.keys()
    compiled = 0
    for identity, resource in fast.resources.items():
        wanted = expected[identity]
        if is_outline(resource):
            assert (resource.parent, resource.depends_on, resource.previous) == \
                (wanted.parent, wanted.depends_on, wanted.previous), identity
        else:
            compiled += 1
            assert_same(resource, wanted)
    assert compiled >= len(full.catalog.tenants)
    return fast


def assert_same(resource: Resource, wanted: Resource) -> None:
    assert resource == wanted, resource.identity
    assert dict(resource.attrs) == dict(wanted.attrs), resource.identity
    assert resource.fingerprint() == wanted.fingerprint(), resource.identity


def fast(estate: Estate, changed: list[Path]) -> Desired:
    found = same_as_full(estate, changed)
    assert isinstance(found, Desired), found
    return found


def falls_back(estate: Estate, changed: list[Path]) -> Fallback:
    found = same_as_full(estate, changed)
    assert isinstance(found, Fallback)
    return found


@pytest.fixture
def example(tmp_path: Path) -> Estate:
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    estate = Estate(tmp_path / "desired-state", tmp_path / "cache")
    estate.prime()
    return estate


HART = "northwind/lawfirm/hartcole.example.yaml"
NORTHWIND = "northwind/northwind.example.yaml"
BAKERY = "northwind/bakery/bäckerei-müller.example.yaml"
BAKERY_ASCII = "northwind/bakery/baeckerei-mueller.example.yaml"
SOUTHBAY = "southbay/southbay.example.yaml"
SCHOOL = "southbay/school/riverside-school.example.yaml"


def box(**fields: Any) -> dict[str, Any]:
    return {"password": HASH, **fields}


# -- the example estate ----------------------------------------------------------------------

def test_nothing_changed_outlines_every_domain_file(example: Estate) -> None:
    found = fast(example, [])
    assert found.partial is not None and not found.partial.loaded and not found.partial.changed
    assert len(found.partial.outlined) == 6


def test_a_display_name_loads_its_file_only(example: Estate) -> None:
    path = example.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__("name", "Jane Hart-Cole"))
    found = fast(example, [path])
    assert found.partial is not None and found.partial.loaded == {example_name(HART)}
    assert found.resources[("mailbox", "j.hart@hartcole.example")].attrs["display_name"] == "Jane Hart-Cole"


def example_name(rel: str) -> str:
    return f"desired-state/tenants/{rel}"


def test_a_change_git_does_not_name_is_found_by_its_digest(example: Estate) -> None:
    example.edit(HART, lambda d: d["mailboxes"].__setitem__("new.one", box(name="New One")))
    found = fast(example, [])
    assert found.partial is not None and found.partial.changed == {example_name(HART)}


@pytest.mark.parametrize("where", [".", "desired-state"])
def test_a_file_git_names_is_changed_under_a_relative_root(tmp_path: Path, where: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # ``plan --dir .`` after a full plan of the same commit: the snapshot already has the new
    # bytes, so only git's name of the file (an absolute path) says it is the change to plan.
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path / "desired-state" if where == "." else tmp_path)
    estate = Estate(Path(where), tmp_path / "cache")
    path = estate.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__("name", "Jane Hart-Cole"))
    estate.prime()
    found = fast(estate, [path.resolve()])
    name = str(Path(estate.root.name) / "tenants" / HART)
    assert found.partial is not None and found.partial.changed == {name} and found.partial.loaded == {name}


@pytest.mark.parametrize("change", [
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"].__setitem__("x.new", box()))], id="add-mailbox"),
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"].pop("it"))], id="delete-mailbox"),
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"].__setitem__("helpdesk", {
        **d["mailboxes"].pop("it"), "previous": ["it"]}))], id="rename-with-previous"),
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "forward", {"to": ["noc@northwind.example"]}))], id="forward-into-another-file"),
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "forward", {"to": ["anna@baeckerei-mueller.example"]}))], id="forward-through-an-alias-domain"),
    pytest.param(lambda e: [e.delete(HART)], id="delete-domain-file"),
    pytest.param(lambda e: [e.edit("northwind/lawfirm/tenant.yaml", lambda d: d.__setitem__("name", "Hart & Co"))],
                 id="tenant-file"),
    pytest.param(lambda e: [e.edit("northwind/tenant.yaml", lambda d: d.__setitem__("status", "suspended"))],
                 id="reseller-suspended"),
    pytest.param(lambda e: [e.write("southbay/clinic/tenant.yaml", {"name": "Clinic"}),
                            e.write("southbay/clinic/clinic.example.yaml", {
                                "domain": "clinic.example", "services": ["mail"],
                                "mailboxes": {"desk": box(forward={"to": ["abuse@southbay.example"]})}})],
                 id="new-tenant-and-domain"),
])
def test_benign_changes_take_the_fast_path(example: Estate, change: Callable[[Estate], list[Path]]) -> None:
    fast(example, change(example))


def test_a_forward_loads_the_files_it_reaches(example: Estate) -> None:
    path = example.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "forward", {"to": ["anna@baeckerei-mueller.example"]}))
    found = fast(example, [path])
    assert found.partial is not None
    assert {example_name(HART), example_name(BAKERY), example_name(BAKERY_ASCII)} <= found.partial.loaded
    assert example_name(SOUTHBAY) in found.partial.outlined


@pytest.mark.parametrize("change", [
    # an address another file already claims (a domain declared twice)
    pytest.param(lambda e: [e.write("southbay/school/hartcole.example.yaml", {"domain": "hartcole.example"})],
                 id="domain-declared-twice"),
    # a forward into another file's domain where nothing takes it
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "forward", {"to": ["nobody@northwind.example"]}))], id="forward-to-nothing"),
    # a forward that closes a loop through another file
    pytest.param(lambda e: [e.edit(NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__(
        "forward", {"to": ["j.hart@hartcole.example"]})),
        e.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__("forward", {"to": ["noc@northwind.example"]}))],
        id="loop-across-files"),
    # an extra address in another tenant's domain
    pytest.param(lambda e: [e.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "aliases", ["jane@northwind.example"]))], id="extra-address-of-another-tenant"),
    # renamed from an address another file uses
    pytest.param(lambda e: [e.edit(SCHOOL, lambda d: d["mailboxes"][next(iter(d["mailboxes"]))].__setitem__(
        "previous", ["noc@northwind.example"]))], id="previous-in-use-elsewhere"),
    # an alias domain whose target is of another reseller
    pytest.param(lambda e: [e.edit(BAKERY_ASCII, lambda d: d.__setitem__("alias_of", "southbay.example"))],
                 id="alias-domain-across-resellers"),
    # a catch-all that relays out through another file
    pytest.param(lambda e: [e.edit(NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__(
        "forward", {"to": ["someone@outside.example"]})),
        e.edit(SOUTHBAY, lambda d: d.setdefault("mail", {}).__setitem__("catch_all", "noc@northwind.example"))],
        id="catch-all-relays-through-another-file"),
    # the reseller's limit, exceeded by a client's file while its own file is not loaded
    pytest.param(lambda e: [e.edit("northwind/tenant.yaml", lambda d: d["limits"].__setitem__("max_mailboxes", 16))
                            ] and [e.edit("northwind/bakery/bäckerei-müller.example.yaml",
                                          lambda d: d["mailboxes"].__setitem__("geselle", box()))],
                 id="reseller-limit"),
])
def test_a_change_with_a_problem_falls_back(example: Estate, change: Callable[[Estate], list[Path]]) -> None:
    falls_back(example, change(example))


def test_a_limit_is_counted_over_the_files_not_loaded(example: Estate) -> None:
    """The reseller's mailboxes are 16 of 16 (its own file, the bakery's and the law firm's):
    one more in the bakery's file is over, with the other two files only outlined."""
    example.edit("northwind/tenant.yaml", lambda d: d["limits"].__setitem__("max_mailboxes", 16))
    example.prime()
    path = example.edit(BAKERY, lambda d: d["mailboxes"].__setitem__("geselle", box()))
    fallback = falls_back(example, [path])
    assert "over its limit of 16" in fallback.reason


def test_deleting_an_address_another_file_forwards_to_falls_back(example: Estate) -> None:
    example.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__("forward", {"to": ["billing@northwind.example"]}))
    example.prime()
    falls_back(example, [example.edit(NORTHWIND, lambda d: d["mailboxes"].pop("billing"))])


def test_what_a_file_declared_before_its_change_loads_who_uses_it(example: Estate) -> None:
    """An extra address of the law firm's in its other domain, forwarded to from Northwind's
    file: dropping it leaves the forward with nothing to take it, which only the law firm's
    facts from before the change tell (neither file names the other's domain now)."""
    example.write("northwind/lawfirm/hartcole.net.yaml", {"domain": "hartcole.net", "mailboxes": {"desk": box()}})
    example.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__("aliases", ["jane@hartcole.net"]))
    example.edit(NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__("forward", {"to": ["jane@hartcole.net"]}))
    example.prime()
    falls_back(example, [example.edit(HART, lambda d: d["mailboxes"]["j.hart"].pop("aliases"))])


def test_deleting_what_an_alias_domain_address_lands_on_falls_back(example: Estate) -> None:
    example.edit(HART, lambda d: d["mailboxes"]["j.hart"].__setitem__(
        "forward", {"to": ["karl@baeckerei-mueller.example"]}))
    example.prime()
    # karl@ goes to the catch-all then: still delivered, so no problem...
    fast(example, [example.edit(BAKERY, lambda d: d["mailboxes"].pop("karl"))])
    # ...until the catch-all goes too
    falls_back(example, [example.edit(BAKERY, lambda d: d["mail"].pop("catch_all"))])
