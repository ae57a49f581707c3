"""Reading an estate from disk: layout rules, per-file model checks, collected problems."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from estate_builder import SITE, EstateBuilder, mailbox, simple_estate

from ispctl.reconciler.engine.errors import Location, ValidationFailed
from ispctl.reconciler.estate.cache import ParseCache
from ispctl.reconciler.estate.loader import Found, estate_files, load_tree, scans_kept
from tests.wiring import SCHEMA, load_estate, load_or_fail


def test_loads_tenants_and_domains_with_their_kind(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("acme/shop")
    builder.domain("acme/shop", "shop.example", {"mailboxes": {"bob": mailbox()}})
    builder.write("tenants/acme/README.md", "not yaml, ignored\n")
    estate, problems = load_estate(builder.root)
    assert problems == []
    assert estate is not None
    assert {n: (t.kind, t.parent) for n, t in estate.tenants.items()} == {
        "acme": ("reseller", None),
        "shop": ("client", "acme"),
    }
    assert sorted((d.tenant, d.spec.domain) for d in estate.domain_files) == [
        ("acme", "acme.example"),
        ("shop", "shop.example"),
    ]
    assert load_or_fail(builder.root).site.directory.base_dn == SITE["directory"]["base_dn"]


def test_folders_are_listed_once_while_scans_are_kept(tmp_path: Path) -> None:
    """A narrowed run goes by its first listing all along (``scans_kept``); outside it every
    call lists the folders anew."""
    builder = simple_estate(tmp_path)
    root = builder.root
    before = estate_files(root)
    with scans_kept():
        assert estate_files(root) == before
        builder.domain("acme", "later.example", {})
        with scans_kept():  # (nested: the outer listings hold)
            assert estate_files(root) == before
        estate, _ = load_estate(root)
        assert estate is not None and "later.example" not in {d.spec.domain for d in estate.domain_files}
    after = estate_files(root)
    assert set(after) - set(before) == {next(name for name in after if name.endswith("/later.example.yaml"))}


def test_yml_suffix_is_read_too(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.write("tenants/acme/acme.example.yml", {"domain": "acme.example"})
    assert list(builder.catalog().domains) == ["acme.example"]


def test_missing_root_folder(tmp_path: Path) -> None:
    estate, problems = load_estate(tmp_path / "nope")
    assert estate is None
    assert [p.message for p in problems] == ["desired-state folder not found"]


def test_missing_site_file(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, with_site=False)
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/ispctl.yaml")
    assert problem.message == "site settings file is missing"


def test_problems_of_tenant_files_are_reported_even_when_the_site_file_is_broken(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={"directory": {"base_dn": "dc=x"}, "mial": {}})
    builder.tenant("acme", {"name": "Acme", "limts": {}})
    problems = builder.problems()
    assert [(p.location.file, p.path) for p in problems] == [
        ("desired-state/ispctl.yaml", "mial"),
        ("desired-state/tenants/acme/tenant.yaml", "limts"),
    ]
    assert problems[0].message == "unknown field 'mial'; did you mean 'mail'?"
    assert problems[1].message == "unknown field 'limts'; did you mean 'limits'?"


def test_missing_tenant_file(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("ghost", "ghost.example")
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/ghost")
    assert problem.message == "missing tenant.yaml (every tenant folder declares its tenant)"


def test_domain_files_of_an_unusable_tenant_are_still_checked(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.domain("ghost", "ghost.example", {"mailboxes": {"anna": {"password": "x", "quoat": 1}}})
    rel = builder.domain_rel("ghost", "ghost.example")
    problems = builder.problems()
    assert [(p.location.file, p.path) for p in problems] == [
        ("desired-state/tenants/ghost", ""),
        (builder.display(rel), "mailboxes.anna.password"),
        (builder.display(rel), "mailboxes.anna.quoat"),
    ]


def test_invalid_tenant_folder_name(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("Bad_Name")
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/Bad_Name")
    assert "tenant name 'Bad_Name' must be 1-63 lower-case letters" in problem.message


def test_tenant_names_are_unique_across_resellers(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("beta")
    builder.tenant("acme/shop")
    builder.tenant("beta/shop")
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/beta/shop")
    assert problem.message == (
        "tenant name 'shop' is already used by desired-state/tenants/acme/shop; "
        "tenant names are unique across the estate"
    )


def test_client_folder_named_like_a_reseller(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("acme/zeta")
    builder.tenant("zeta")
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/zeta")
    assert "already used by desired-state/tenants/acme/zeta" in problem.message


def test_clients_cannot_have_sub_tenants(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("acme/shop")
    builder.tenant("acme/shop/deeper")
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/acme/shop/deeper")
    assert problem.message == "clients cannot have sub-tenants (the tree is reseller -> client)"


def test_stray_yaml_at_the_root(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.write("other.example.yaml", {"domain": "other.example"})
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/other.example.yaml")
    assert problem.message == "unexpected file: domains belong in tenants/<tenant>/"


def test_stray_yaml_directly_in_tenants(tmp_path: Path) -> None:
    # Without a rule this domain would be silently ignored.
    builder = simple_estate(tmp_path)
    builder.write("tenants/other.example.yaml", {"domain": "other.example"})
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/other.example.yaml")
    assert "belongs in its tenant's folder" in problem.message


def test_load_or_fail_raises_every_problem_sorted(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("zeta", {"name": "Z", "bogus": 1})
    builder.tenant("alpha", {"name": "A", "bogus": 1})
    try:
        load_or_fail(builder.root)
    except ValidationFailed as exc:
        assert [p.location.file for p in exc.problems] == [
            "desired-state/tenants/alpha/tenant.yaml",
            "desired-state/tenants/zeta/tenant.yaml",
        ]
    else:
        raise AssertionError("expected ValidationFailed")


@pytest.mark.parametrize("name", ["acme\n", "acme\r", "acme\t", "acme\u200b", "acme\x1b", "acme\xa0"])
def test_a_tenant_folder_with_an_invisible_character_is_refused_not_a_second_tenant(tmp_path: Path, name: str) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant(name)
    builder.domain(name, "other.example", {"mailboxes": {"bob": mailbox()}})
    estate, problems = load_estate(builder.root)
    assert estate is not None and list(estate.tenants) == ["acme"]
    assert [d.spec.domain for d in estate.domain_files] == ["acme.example"]  # nothing of the odd folder
    [problem] = [p for p in problems if "rename the folder" in p.message]
    escaped = name.encode("unicode_escape").decode("ascii")
    assert problem.location == Location(f"desired-state/tenants/{escaped}")
    assert "\n" not in str(problem) and "\r" not in str(problem)


def test_a_domain_file_with_a_line_break_in_its_name_is_refused_not_skipped(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.write("tenants/acme/shop.example.yaml\n", {"domain": "shop.example"})
    builder.write("tenants/acme/Shop.Example.YAML", {"domain": "shop2.example"})
    builder.write("tenants/acme/my notes.txt", "spaces are fine in other files\n")
    problems = builder.problems()
    assert [(p.location.file, p.message.split(";")[0]) for p in problems] == [
        ("desired-state/tenants/acme/Shop.Example.YAML", "file suffix '.YAML' is not read"),
        ("desired-state/tenants/acme/shop.example.yaml\\n",
         "this file name contains a line break, tab, control or invisible character (shown escaped)"),
    ]


def test_a_file_known_by_its_digest_is_taken_from_the_cache_unread(tmp_path: Path) -> None:
    """``Found.known`` (a narrowed run knows a file's digest by its stat): the cache's entry
    of that digest, whatever the file holds now; a digest the cache lacks reads the file."""
    builder = simple_estate(tmp_path)
    root = builder.root
    path = root / "tenants/acme/acme.example.yaml"
    name = f"{root.name}/tenants/acme/acme.example.yaml"
    before = path.read_bytes()
    cache = tmp_path / "cache"
    first = Found(root, SCHEMA.files, cache=ParseCache(cache), digests={})
    assert load_tree(first) == []
    first.cache.finish()
    assert first.digests is not None and first.digests[name] == hashlib.sha256(before).digest()
    builder.domain("acme", "acme.example", {"mailboxes": {"bob": mailbox()}})  # the file changes

    def mailboxes(known: dict[str, bytes], digest: bytes) -> list[str]:
        found = Found(root, SCHEMA.files, cache=ParseCache(cache), digests={}, known=known)
        assert load_tree(found) == []
        assert found.digests is not None and found.digests[name] == digest  # what was taken
        return sorted(found.domain_files[0].spec.mailboxes)

    now = hashlib.sha256(path.read_bytes()).digest()
    assert mailboxes({name: hashlib.sha256(before).digest()}, hashlib.sha256(before).digest()) == ["anna"]  # held
    assert mailboxes({name: b"\0" * 32}, now) == ["bob"]  # not held: read
    assert mailboxes({}, now) == ["bob"]


def test_folder_entries_with_odd_names_are_sorted_out_as_before(tmp_path: Path) -> None:
    """What each entry of a folder is taken for, by its name and type (``_Listing``): the
    names a loader meets by mistake (upper-case suffixes, dot-files, a folder named *.yaml,
    a name that is not UTF-8, a dangling link) each read, refused or skipped as they were."""
    builder = simple_estate(tmp_path)
    root = builder.root
    acme = root / "tenants/acme"
    builder.write("Stray.YML", "x: 1\n")
    for name in ("b.Yml", ".yaml", "a.", "x.yaml.bak", "README.md"):
        builder.write(f"tenants/acme/{name}", "x: 1\n")
    builder.write("tenants/acme/.hidden.yaml", {"domain": "hidden.example"})  # a dot-file's suffix is .yaml
    builder.write("tenants/acme/c.yml", {"domain": "c.example"})
    builder.write("tenants/acme/dir.yaml/tenant.yaml", {"name": "Dir"})  # a folder: a (refused) client
    (acme / "dangling.yaml").symlink_to("nowhere")  # neither file nor folder: skipped
    with open(os.fsencode(acme) + b"/bad\xff.yaml", "w", encoding="utf-8") as handle:
        handle.write("domain: bad.example\n")
    found = Found(root, SCHEMA.files)
    problems = load_tree(found)
    assert [(p.location.file, p.message.split(";")[0].split(" must")[0]) for p in problems] == [
        ("desired-state/Stray.YML", "file suffix '.YML' is not read"),
        ("desired-state/tenants/acme/b.Yml", "file suffix '.Yml' is not read"),
        ("desired-state/tenants/acme/bad\\udcff.yaml",
         "this file name contains a line break, tab, control or invisible character (shown escaped)"),
        ("desired-state/tenants/acme/dir.yaml", "tenant name 'dir.yaml'"),
    ]
    assert sorted(d.spec.domain for d in found.domain_files) == ["acme.example", "c.example", "hidden.example"]
    assert found.tenants["acme"].folder == acme and isinstance(found.tenants["acme"].folder, Path)
    assert sorted(name.rsplit("/", 1)[1] for name in estate_files(root)) == [
        ".hidden.yaml", "acme.example.yaml", "c.yml", "tenant.yaml", "tenant.yaml"]
