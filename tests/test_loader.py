"""Reading an estate from disk: layout rules, per-file model checks, collected problems."""

from __future__ import annotations

from pathlib import Path

from estate_builder import SITE, EstateBuilder, mailbox, problem_at, simple_estate

from ispctl.reconciler.engine.errors import Location, ValidationFailed
from tests.wiring import load_estate, load_or_fail


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


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    rel = builder.domain_rel("acme", "acme.example")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quoat="1 GiB")}})
    problem = builder.only_problem()
    assert problem.location == Location(builder.display(rel), builder.line_of(rel, "quoat:"), 5)
    assert problem.path == "mailboxes.anna.quoat"
    assert problem.message == "unknown field 'quoat'; did you mean 'quota'?"


def test_unknown_key_without_a_close_match_lists_the_allowed_ones(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme", "limits": {"zzz": 1}})
    problem = builder.only_problem()
    assert problem.path == "limits.zzz"
    assert problem.location == Location("desired-state/tenants/acme/tenant.yaml", 3, 3)
    assert problem.message == (
        "unknown field 'zzz'; allowed here: mail_quota_pool, max_aliases, max_domains, max_mailboxes"
    )


def test_did_you_mean_when_an_entry_is_named_like_a_field(tmp_path: Path) -> None:
    # A mailbox called "aliases" and an alias called "status" must not confuse the hint.
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {
        "mailboxes": {"aliases": mailbox(quoat=1)},
        "aliases": {"status": {"to": ["aliases"], "descripton": "x"}},
    })
    problems = builder.problems()
    assert problem_at(problems, "mailboxes.aliases.quoat").message == "unknown field 'quoat'; did you mean 'quota'?"
    assert problem_at(problems, "aliases.status.descripton").message == (
        "unknown field 'descripton'; did you mean 'description'?"
    )


def test_missing_required_field(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"contact": "ops@acme.example"})
    problem = builder.only_problem()
    assert (problem.location, problem.path, problem.message) == (
        Location("desired-state/tenants/acme/tenant.yaml", 1, 1), "name", "required field is missing",
    )


def test_empty_file_and_non_mapping_file(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.write("tenants/acme/empty.example.yaml", "# nothing yet\n")
    builder.write("tenants/acme/list.example.yaml", ["domain", "list.example"])
    builder.write("tenants/acme/word.example.yaml", "hunter2\n")
    problems = builder.problems()
    assert [(p.location.file, p.message) for p in problems] == [
        ("desired-state/tenants/acme/empty.example.yaml", "the file is empty; expected a mapping of settings"),
        ("desired-state/tenants/acme/list.example.yaml", "expected a mapping of settings (key: value), found a list"),
        ("desired-state/tenants/acme/word.example.yaml",
         "expected a mapping of settings (key: value), found a single value"),
    ]


def test_shape_errors_are_worded_for_operators(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {
        "status": "paused",
        "mailboxes": {"anna": mailbox(services={"imap": "sometimes"}, aliases="x")},
        "aliases": {"sales": 5, "empty": []},
    })
    problems = builder.problems()
    assert problem_at(problems, "status").message == "must be 'active' or 'suspended'"
    assert problem_at(problems, "mailboxes.anna.services.imap").message == "expected true or false"
    assert problem_at(problems, "mailboxes.anna.aliases").message == "expected a list here"
    assert problem_at(problems, "aliases.sales").message == "expected a mapping of settings (key: value) here"
    assert problem_at(problems, "aliases.empty.to").message == "needs at least one entry"


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
