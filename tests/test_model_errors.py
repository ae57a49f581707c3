"""Problems of a document against its model (model_errors): worded for operators, located at the
key or the value at fault, never repeating a value that may be a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from estate_builder import EstateBuilder, mailbox, problem_at, simple_estate
from pydantic import AfterValidator, BaseModel

from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.estate.model_errors import check_model
from ispctl.reconciler.estate.yamlload import load_text


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
    assert problem_at(problems, "mailboxes.anna.services.imap").message.startswith("must be true/false, yes/no")
    assert problem_at(problems, "mailboxes.anna.aliases").message == "expected a list here"
    assert problem_at(problems, "aliases.sales").message == "expected a mapping of settings (key: value) here"
    assert problem_at(problems, "aliases.empty.to").message == "needs at least one entry"


def test_unknown_field_points_at_the_key_and_a_bad_value_at_the_value(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", "name: Acme\nlimits:\n  max_domains:\n    lots\n  zzz:\n    1\n")
    problems = builder.problems()
    file = "desired-state/tenants/acme/tenant.yaml"
    assert problem_at(problems, "limits.max_domains").location == Location(file, 4, 5)
    assert problem_at(problems, "limits.zzz").location == Location(file, 5, 3)


@pytest.mark.parametrize(("value", "found"), [
    ("007", "a number"), ("1e3", "a number"), ("0x1f", "a number"), ("true", "true or false"), ("~", "nothing (null)"),
])
def test_a_bare_number_where_text_is_expected_is_refused_not_converted(tmp_path: Path, value: str, found: str) -> None:
    builder = simple_estate(tmp_path)
    builder.write("tenants/acme/acme.example.yaml", f"""
        domain: acme.example
        mailboxes:
          anna:
            password: "{mailbox()['password']}"
            aliases: [{value}]
        aliases:
          {value}: [anna]
        """)
    problem = builder.only_problem()
    assert problem.path == "mailboxes.anna.aliases[0]"
    assert problem.location.line == 5
    assert problem.message == (f"expected text here, found {found}: YAML reads unquoted 007, 1e3, true or null that "
                               "way; quote the value")
    # ... while the alias named by the same text as a key is that text, exactly as written.
    builder.write("tenants/acme/acme.example.yaml", f"""
        domain: acme.example
        mailboxes:
          anna:
            password: "{mailbox()['password']}"
        aliases:
          {value}: [anna]
        """)
    assert list(builder.catalog().aliases) == [f"{value}@acme.example"]


def _echo(value: str) -> str:
    raise ValueError(f"{value!r} is not accepted; the words were {value.split()}")


class _Secrets(BaseModel):
    api_key: Annotated[str, AfterValidator(_echo)] = ""
    tsig_secret: Annotated[str, AfterValidator(_echo)] = ""
    password: Annotated[str, AfterValidator(_echo)] = ""
    note: Annotated[str, AfterValidator(_echo)] = ""


def test_messages_about_secret_fields_never_repeat_the_value() -> None:
    doc, _ = load_text("api_key: hunter2-secret\ntsig_secret: 'c2VjcmV0 more'\npassword: Sup3rS3cret\n"
                       "note: plain words\n", "s.yaml")
    assert doc is not None
    _, problems = check_model(doc, _Secrets)
    text = "\n".join(map(str, problems))
    for secret in ("hunter2", "c2VjcmV0", "Sup3rS3cret"):
        assert secret not in text
    assert [p.message for p in problems][:3] == ["is not valid here (the value is not shown: it may be a secret)"] * 3
    assert "plain words" in problems[3].message  # other fields keep their helpful message
