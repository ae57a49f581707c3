"""Rules across files: each has a failing input whose problem names file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import EstateBuilder, mailbox, problem_at, simple_estate
from typer.testing import CliRunner

from ispctl.reconciler.cli.app import app
from ispctl.reconciler.engine.errors import Location, Problem
from tests.wiring import validate_estate

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
ACME = "tenants/acme/acme.example.yaml"


def acme(tmp_path: Path, **domain: Any) -> EstateBuilder:
    """simple_estate whose domain file is replaced by ``domain`` (plus ``domain:``)."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", domain)
    return builder


def at(builder: EstateBuilder, rel: str, needle: str, col: int, nth: int = 1) -> Location:
    return Location(builder.display(rel), builder.line_of(rel, needle, nth), col)


def test_the_example_estate_is_valid() -> None:
    catalog = validate_estate(EXAMPLE)
    assert (len(catalog.tenants), len(catalog.domains), len(catalog.mailboxes), len(catalog.aliases)) == (5, 6, 25, 10)
    assert catalog.domains["xn--bckerei-mller-bfb28a.example"].display == "bäckerei-müller.example"
    assert catalog.domains["baeckerei-mueller.example"].alias_of == "xn--bckerei-mller-bfb28a.example"


def test_every_problem_in_every_file_is_reported_together_and_sorted(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={"directory": {"base_dn": "dc=x"}, "mail": {"uid": 0}})
    builder.tenant("zeta", {"name": "Zeta", "limits": {"max_domain": 1}})
    builder.domain("zeta", "zeta.example", {"mailboxes": {"bob": mailbox(quota="5G")}})
    builder.tenant("alpha")
    builder.domain("alpha", "alpha.example", {"mailboxes": {"ann": {"password": "plaintext!"}, "Bad/Name": mailbox()}})
    failure = builder.failure()
    found = [(p.location.file, p.location.line, p.path) for p in failure.problems]
    assert found == [
        ("desired-state/ispctl.yaml", 4, "mail.uid"),
        ("desired-state/tenants/alpha/alpha.example.yaml", 4, "mailboxes.ann.password"),
        ("desired-state/tenants/alpha/alpha.example.yaml", 5, "mailboxes['Bad/Name']"),
        ("desired-state/tenants/zeta/tenant.yaml", 3, "limits.max_domain"),
        ("desired-state/tenants/zeta/zeta.example.yaml", 5, "mailboxes.bob.quota"),
    ]
    assert str(failure).splitlines() == [str(p) for p in failure.problems]


def test_cross_file_problems_are_reported_together(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox()}, aliases={"team": ["anna", "nobody"]})
    builder.tenant("beta")
    builder.domain("beta", "beta.example", {"mailboxes": {"bob": mailbox(aliases=["anna@acme.example"])}})
    problems = builder.problems()
    assert [(p.location.file, p.path) for p in problems] == [
        (builder.display(ACME), "aliases.team.to[1]"),
        ("desired-state/tenants/beta/beta.example.yaml", "mailboxes.bob.aliases[0]"),
    ]


# -- domains ---------------------------------------------------------------------------

def test_a_domain_belongs_to_exactly_one_tenant(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.tenant("beta")
    builder.domain("beta", "copy", {"domain": "ACME.example."})
    problem = builder.only_problem()
    assert problem.location == Location("desired-state/tenants/beta/copy.yaml", 1, 1)
    assert problem.path == "domain"
    assert problem.message == (
        f"domain acme.example is already declared in {builder.display(ACME)}:1:1; "
        "a domain belongs to exactly one tenant"
    )


def test_unicode_and_ascii_spelling_of_one_domain_are_the_same_domain(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "bäckerei.example")
    builder.tenant("beta")
    builder.domain("beta", "xn--bckerei-5wa.example")
    problem = builder.only_problem()
    assert problem.location.file == "desired-state/tenants/beta/xn--bckerei-5wa.example.yaml"
    assert "domain xn--bckerei-5wa.example is already declared" in problem.message


@pytest.mark.parametrize(
    ("name", "words"),
    [("localhost", "needs a dot"), ("bad_name.example", "U+005F"), ("-x.example", "not a valid domain name")],
)
def test_invalid_domain_name(tmp_path: Path, name: str, words: str) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.write("tenants/acme/d.yaml", {"domain": name})
    problem = builder.only_problem()
    assert (problem.location, problem.path) == (Location("desired-state/tenants/acme/d.yaml", 1, 1), "domain")
    assert words in problem.message


@pytest.mark.parametrize(
    ("spec", "path", "words"),
    [
        ({"type": "alias"}, "alias_of", "an alias domain needs alias_of: <target domain>"),
        ({"type": "alias", "alias_of": "nowhere.example"}, "alias_of",
         "target domain nowhere.example is not declared in the estate"),
        ({"type": "alias", "alias_of": "other.example"}, "alias_of",
         "target domain other.example is itself an alias domain"),
        ({"type": "alias", "alias_of": "ACME.example"}, "alias_of", "a domain cannot be an alias of itself"),
        ({"type": "alias", "alias_of": "real.example", "mailboxes": {"anna": mailbox()}}, "mailboxes",
         "an alias domain has no mailboxes of its own"),
        ({"type": "alias", "alias_of": "real.example", "aliases": {"x": "y@real.example"}}, "aliases",
         "an alias domain has no aliases of its own"),
        ({"type": "alias", "alias_of": "real.example", "mail": {"catch_all": "x@real.example"}}, "mail.catch_all",
         "cannot have its own catch-all"),
        ({"alias_of": "real.example"}, "alias_of",
         "alias_of is only allowed with type: alias (this domain is primary)"),
        ({"type": "slave"}, "primaries", "a slave domain needs the IP addresses of its primary servers"),
        ({"type": "nodns", "primaries": ["192.0.2.1"]}, "primaries",
         "primaries is only allowed with type: slave (this domain is nodns)"),
    ],
)
def test_domain_type_rules(tmp_path: Path, spec: dict[str, Any], path: str, words: str) -> None:
    builder = acme(tmp_path, **spec)
    builder.domain("acme", "real.example", {"mailboxes": {"y": mailbox(), "x": mailbox()}})
    builder.domain("acme", "other.example", {"type": "alias", "alias_of": "real.example"})
    problem = problem_at(builder.problems(), path)
    key, depth = path.split(".")[-1], path.count(".")
    if key in spec or key in spec.get("mail", {}):
        assert problem.location == at(builder, ACME, key + ":", 1 + 2 * depth)
    else:  # a missing field is reported at the top of the file
        assert problem.location == Location(builder.display(ACME), 1, 1)
    assert words in problem.message


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"mailboxes": {"anna": mailbox()}}, "mailboxes"),
        ({"aliases": {"info": "x@elsewhere.example"}}, "aliases"),
        ({"mail": {"catch_all": "x@elsewhere.example"}}, "mail.catch_all"),
    ],
)
def test_mail_objects_need_the_mail_service(tmp_path: Path, spec: dict[str, Any], path: str) -> None:
    builder = acme(tmp_path, services=["web", "dns"], **spec)
    problem = builder.only_problem()
    assert problem.path == path
    assert problem.location == at(builder, ACME, path.split(".")[-1] + ":", 3 if "." in path else 1)
    assert problem.message == "this domain does not enable the mail service (add 'mail' to services)"


def test_ftp_flag_needs_the_ftp_service(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(services={"ftp": True})})
    problem = builder.only_problem()
    assert (problem.path, problem.message) == (
        "mailboxes.anna.services.ftp", "the domain does not enable the ftp service"
    )
    assert problem.location == at(builder, ACME, "ftp:", 7)


# -- addresses -------------------------------------------------------------------------

def test_an_address_exists_once_mailbox_and_alias(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"info": mailbox()}, aliases={"INFO": "x@elsewhere.example"})
    problem = builder.only_problem()
    assert problem.path == "aliases.INFO"
    assert problem.location == at(builder, ACME, "INFO:", 3)
    assert problem.message == f"address info@acme.example is already used at {at(builder, ACME, 'info:', 3)}"


def test_an_address_exists_once_across_files_and_extra_addresses(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(aliases=["sales@shop.example"])})
    builder.domain("acme", "shop.example", {"aliases": {"sales": "anna@acme.example"}})
    problem = builder.only_problem()
    shop = "tenants/acme/shop.example.yaml"
    # Mailboxes and aliases claim their addresses before extra addresses do.
    assert (problem.location, problem.path) == (
        at(builder, ACME, "- sales@shop.example", 7), "mailboxes.anna.aliases[0]"
    )
    assert problem.message == f"address sales@shop.example is already used at {at(builder, shop, 'sales:', 3)}"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("x@beta.example", "x@beta.example: domain beta.example belongs to tenant beta, not acme"),
        ("x@outside.example", "x@outside.example: extra addresses must be in a domain of this estate"),
        ("x@alias.example", "x@alias.example: domain alias.example cannot hold addresses"),
        ("anna", "anna@acme.example is this mailbox's own address"),
        ("a..b", "with single dots between them"),
    ],
)
def test_extra_address_rules(tmp_path: Path, extra: str, words: str) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(aliases=["ok", extra])})
    builder.domain("acme", "alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.tenant("beta")
    builder.domain("beta", "beta.example")
    problem = builder.only_problem()
    assert problem.path == "mailboxes.anna.aliases[1]"
    assert problem.location == at(builder, ACME, "- " + extra, 7)
    assert words in problem.message


def test_invalid_local_part_and_contact(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"a/b": mailbox()})
    builder.tenant("beta", contact="not-an-address")
    problems = builder.problems()
    assert problem_at(problems, "mailboxes['a/b']").location == at(builder, ACME, "a/b:", 3)
    assert "no '/'" in problem_at(problems, "mailboxes['a/b']").message
    contact = problem_at(problems, "contact")
    assert contact.location == Location("desired-state/tenants/beta/tenant.yaml", 2, 1)
    assert "'not-an-address' is not an e-mail address" in contact.message


# -- forwarding, alias and catch-all targets --------------------------------------------

@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("ghost", "forwarding target ghost@acme.example does not exist in the estate"),
        ("ghost@shop.example", "forwarding target ghost@shop.example does not exist in the estate"),
        ("anna", "a mailbox cannot forward to itself; use keep_copy: true to keep a copy"),
        ("me@acme.example", "a mailbox cannot forward to itself"),
    ],
)
def test_forward_rules(tmp_path: Path, target: str, words: str) -> None:
    builder = acme(
        tmp_path, mailboxes={"anna": mailbox(aliases=["me"], forward={"to": ["bob", target]}), "bob": mailbox()}
    )
    builder.domain("acme", "shop.example")
    problem = builder.only_problem()
    assert problem.path == "mailboxes.anna.forward.to[1]"
    assert problem.location == at(builder, ACME, "- " + target, 9)
    assert words in problem.message


def test_forward_targets_that_are_fine(tmp_path: Path) -> None:
    targets = ["friend@external.example", "anyone@catchall.example", "bob@alias.example", "BOB"]
    builder = acme(tmp_path, mailboxes={"anna": mailbox(forward={"to": targets, "keep_copy": True}), "bob": mailbox()})
    builder.domain("acme", "alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme", "catchall.example", {"mail": {"catch_all": "bob@acme.example"}})
    forward = builder.catalog().mailboxes["anna@acme.example"].forward
    assert forward == ("anyone@catchall.example", "bob@acme.example", "bob@alias.example", "friend@external.example")


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("nobody", "alias target nobody@acme.example does not exist in the estate"),
        ("team", "an alias cannot point at itself"),
        ("x@@y", "'x@@y' is not an e-mail address"),
    ],
)
def test_alias_target_rules(tmp_path: Path, target: str, words: str) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox()}, aliases={"team": {"to": ["anna", target]}})
    problem = builder.only_problem()
    assert (problem.path, problem.location) == ("aliases.team.to[1]", at(builder, ACME, "- " + target, 7))
    assert words in problem.message


@pytest.mark.parametrize(
    ("catch_all", "words"),
    [
        ("nobody", "catch-all target nobody@acme.example must be a mailbox or alias of this domain"),
        ("ghost@shop.example", "catch-all target ghost@shop.example does not exist in the estate"),
    ],
)
def test_catch_all_target_must_exist(tmp_path: Path, catch_all: str, words: str) -> None:
    builder = acme(tmp_path, mail={"catch_all": catch_all}, mailboxes={"anna": mailbox()})
    builder.domain("acme", "shop.example", {"mailboxes": {"bob": mailbox()}})
    problem = builder.only_problem()
    assert (problem.path, problem.location) == ("mail.catch_all", at(builder, ACME, "catch_all:", 3))
    assert words in problem.message


def test_catch_all_to_another_domain(tmp_path: Path) -> None:
    builder = acme(tmp_path, mail={"catch_all": "bob@shop.example"})
    builder.domain("acme", "shop.example", {"mailboxes": {"bob": mailbox()}})
    assert builder.catalog().domains["acme.example"].catch_all == "bob@shop.example"


def test_missing_targets_are_not_reported_when_files_failed_to_load(tmp_path: Path) -> None:
    # The target may be declared in the broken file: reporting it would be noise.
    builder = acme(tmp_path, aliases={"team": "bob@shop.example"})
    builder.write("tenants/acme/shop.example.yaml", "domain: shop.example\nmailboxes: [\n")
    problems = builder.problems()
    assert [p.location.file for p in problems] == ["desired-state/tenants/acme/shop.example.yaml"]


# -- the command line ------------------------------------------------------------------------

def test_cli_reports_every_problem_without_a_traceback(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(forward={"to": ["ghost"]})}, aliases={"x": "nobody"})
    builder.tenant("beta", {"name": "Beta", "limits": {"max_domains": 0}})
    builder.domain("beta", "beta.example")
    expected: list[Problem] = builder.problems()
    assert len(expected) == 3
    result = CliRunner().invoke(app, ["--no-color", "validate", "--dir", str(builder.root)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for problem in expected:
        assert str(problem) in result.output
    assert "3 error(s) in the desired state; nothing was changed." in result.output


def test_cli_validates_the_example_estate() -> None:
    result = CliRunner().invoke(app, ["--no-color", "validate", "--dir", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert ("alias: 10, dns: 69, dns_zone: 5, domain: 6, mailbox: 25, maildir: 25, sieve: 1, site: 11, tenant: 5"
            in result.output)


def test_previous_addresses_of_a_renamed_mailbox(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={
        "anna": mailbox(previous=["ann", "Old.Anna@Legacy.example"]),
        "bob": mailbox(previous=["anna"]),
        "carl": mailbox(previous=["ann"]),
    })
    failure = builder.failure()
    rel = ACME
    assert [(p.location.line, p.path) for p in failure.problems] == [
        (builder.line_of(rel, "- anna"), "mailboxes.bob.previous[0]"),
        (builder.line_of(rel, "- ann", 3), "mailboxes.carl.previous[0]"),
    ]
    assert "anna@acme.example is in use at" in failure.problems[0].message
    assert "already named as the previous address" in failure.problems[1].message


def test_a_rename_cannot_take_another_tenants_mailbox(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(previous=["boss@beta.example", "old@client.example"])})
    builder.tenant("beta")
    builder.domain("beta", "beta.example", {"mailboxes": {"bob": mailbox()}})
    builder.tenant("acme/client")  # even the reseller's own client is another tenant
    builder.domain("acme/client", "client.example", {"mailboxes": {"carl": mailbox()}})
    failure = builder.failure()
    assert [(p.location.line, p.path) for p in failure.problems] == [
        (builder.line_of(ACME, "- boss@beta.example"), "mailboxes.anna.previous[0]"),
        (builder.line_of(ACME, "- old@client.example"), "mailboxes.anna.previous[1]"),
    ]
    assert failure.problems[0].message == (
        "boss@beta.example is in domain beta.example of tenant beta, not acme: a mailbox can only be renamed "
        "from an address of its own tenant (a rename moves the mailbox and its mail)")


def test_an_alias_domain_cannot_point_into_another_tenant(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox()})
    builder.domain("acme", "mirror.example", {"type": "alias", "alias_of": "beta.example"})
    builder.tenant("beta")
    builder.domain("beta", "beta.example", {"mailboxes": {"bob": mailbox()}})
    builder.tenant("acme/client")  # inside one reseller's tree, one owner decides both sides
    builder.domain("acme/client", "client.example", {"type": "alias", "alias_of": "acme.example"})
    problem = builder.only_problem()
    assert (problem.path, problem.message) == (
        "alias_of", "target domain beta.example belongs to tenant beta of reseller beta; an alias domain must point "
                    "at a domain of its own reseller's tree")


def test_a_mailbox_address_longer_than_rfc_5321_allows(tmp_path: Path) -> None:
    domain = ".".join(["d" * 60] * 3) + ".example"
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", domain, {"mailboxes": {"a" * 64: mailbox()}})
    problem = builder.only_problem()
    assert problem.path == "mailboxes." + "a" * 64
    assert "longer than 254 bytes (RFC 5321)" in problem.message


def test_previous_addresses_compile_into_the_resource(tmp_path: Path) -> None:
    builder = acme(tmp_path, mailboxes={"anna": mailbox(previous=["ann", "Old.Anna@Legacy.example"])})
    resource = builder.resources()[("mailbox", "anna@acme.example")]
    assert resource.previous == ("ann@acme.example", "old.anna@legacy.example")
