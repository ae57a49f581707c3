"""The file models: what one file alone can get wrong, reported at its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import HASH, SITE, EstateBuilder, mailbox, problem_at, simple_estate
from pydantic import ValidationError

from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.estate.model import AliasSpec, Mailbox
from tests.wiring import FILES

PLAINTEXT = "Summer2024!correct-horse"
DOMAIN_REL = "tenants/acme/acme.example.yaml"


def test_plaintext_password_is_an_error_that_never_echoes_the_value(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": {"name": "Anna", "password": PLAINTEXT}}})
    failure = builder.failure()
    [problem] = failure.problems
    assert problem.location == Location(builder.display(DOMAIN_REL), builder.line_of(DOMAIN_REL, "password:"), 5)
    assert problem.path == "mailboxes.anna.password"
    assert "is not a password hash" in problem.message
    assert "ispctl hash-password" in problem.message
    assert PLAINTEXT not in str(failure)
    assert PLAINTEXT not in repr(failure.problems)
    assert all(PLAINTEXT not in p.message for p in failure.problems)


@pytest.mark.parametrize(
    "secret",
    ["{pw}Hunter2secret", "{SSHA} but really plaintext", "12345678", "*starry-secret"],
    ids=["brace-prefix", "scheme-lookalike", "digits", "star"],
)
def test_no_part_of_a_plaintext_password_is_echoed(tmp_path: Path, secret: str) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": {"password": secret}}})
    failure = builder.failure()
    text = str(failure)
    assert problem_at(failure.problems, "mailboxes.anna.password")
    # The prefix is what a scheme-guessing message would have repeated.
    fragments = {secret, secret[:5], secret[5:]} - {"{SSHA"}
    assert len(fragments) >= 2
    for fragment in fragments:
        assert fragment not in text


def test_ssha_hash_is_rejected_with_advice(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": {"password": "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}}})
    problem = builder.only_problem()
    assert problem.path == "mailboxes.anna.password"
    assert problem.message.startswith("{SSHA} hashes are not accepted by every consumer")
    assert "{CRYPT}$6$" in problem.message and "ispctl hash-password" in problem.message


def test_md5_crypt_is_rejected(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain(
        "acme", "acme.example", {"mailboxes": {"anna": {"password": "{CRYPT}$1$abcdefgh$2nbS5u3VqvJVg1p9YCcM8/"}}}
    )
    assert builder.only_problem().message.startswith("unsupported {CRYPT} hash: use SHA-512 ($6$) or bcrypt ($2y$)")


@pytest.mark.parametrize(
    ("written", "size"),
    [("2 GiB", 2147483648), ("500 MB", 500_000_000), ("1.5 GiB", 1610612736), (1048576, 1048576), ("0", 0)],
)
def test_quota_units(tmp_path: Path, written: Any, size: int) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quota=written)}})
    assert builder.catalog().mailboxes["anna@acme.example"].quota == size


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("5G", "ambiguous size unit 'G'; write GB (decimal) or GiB (binary)"),
        ("-1 GiB", "a size cannot be negative"),
        (-5, "a size cannot be negative"),
        ("lots", "'lots' is not a size"),
        ("3 parsecs", "unknown size unit 'parsecs'"),
        (True, "not true/false"),
    ],
)
def test_bad_quota_is_reported_at_its_line(tmp_path: Path, written: Any, words: str) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quota=written)}})
    problem = builder.only_problem()
    assert problem.location == Location(builder.display(DOMAIN_REL), builder.line_of(DOMAIN_REL, "quota:"), 5)
    assert problem.path == "mailboxes.anna.quota"
    assert words in problem.message


def test_bad_ip_in_primaries_points_at_the_item(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {"type": "slave", "primaries": ["192.0.2.53", "ns1.acme.example"]})
    problem = builder.only_problem()
    assert problem.path == "primaries[1]"
    assert problem.location.line == builder.line_of(DOMAIN_REL, "- ns1.acme.example")
    assert problem.message == "'ns1.acme.example' is not an IP address"


def test_ipv6_primaries_are_fine(tmp_path: Path) -> None:
    builder = simple_estate(tmp_path, type="slave", primaries=["2001:db8::53", "192.0.2.53"])
    assert builder.catalog().domains["acme.example"].primaries == ("2001:db8::53", "192.0.2.53")


@pytest.mark.parametrize(
    ("field", "value", "path", "words"),
    [
        ("type", "master", "type", "must be 'primary', 'slave', 'nodns' or 'alias'"),
        ("services", ["mail", "gopher"], "services[1]", "must be 'mail', 'web', 'ftp', 'dialup' or 'dns'"),
        ("status", "disabled", "status", "must be 'active' or 'suspended'"),
        ("mail", {"default_quota": "2 Gb", "catchall": "x"}, "mail.catchall", "did you mean 'catch_all'?"),
    ],
)
def test_domain_field_errors(tmp_path: Path, field: str, value: Any, path: str, words: str) -> None:
    builder = simple_estate(tmp_path)
    builder.domain("acme", "acme.example", {field: value})
    problem = problem_at(builder.problems(), path)
    assert problem.location.file == builder.display(DOMAIN_REL)
    assert words in problem.message


@pytest.mark.parametrize(
    ("site", "path", "words"),
    [
        ({"directory": {}}, "directory.base_dn", "required field is missing"),
        ({**SITE, "mail": {"root": "var/vmail"}}, "mail.root", "must be an absolute path without '..'"),
        ({**SITE, "mail": {"root": "/var/../etc"}}, "mail.root", "must be an absolute path without '..'"),
        ({**SITE, "mail": {"uid": 0}}, "mail.uid", "greater than or equal to 1"),
        ({**SITE, "mail": {"archive": "archive"}}, "mail.archive", "must be an absolute path without '..'"),
        ({**SITE, "mail": {"archive": "/var/vmail/old"}}, "mail",
         "outside mail.root or a directory there whose name starts with '.'"),
        ({**SITE, "mail": {"archive_retention_days": -1}}, "mail.archive_retention_days", "greater than or equal to 0"),
        ({"directory": {"base_dn": "dc=x", "page_size": 5}}, "directory.page_size", "greater than or equal to 10"),
        ({**SITE, "defaults": {"mailbox_quota": "1 G"}}, "defaults.mailbox_quota", "ambiguous size unit"),
        ({**SITE, "defaults": {"mailbox_services": {"imap": True, "web": True}}}, "defaults.mailbox_services.web",
         "unknown field 'web'"),
    ],
)
def test_site_file_errors(tmp_path: Path, site: dict[str, Any], path: str, words: str) -> None:
    builder = EstateBuilder(tmp_path, site=site)
    problem = builder.only_problem()
    assert problem.location.file == "desired-state/ispctl.yaml"
    assert problem.path == path
    assert words in problem.message


def test_tenant_limits_cannot_be_negative(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme", "limits": {"max_domains": -1, "mail_quota_pool": "-2 GiB"}})
    problems = builder.problems()
    assert problem_at(problems, "limits.max_domains").location == Location(
        "desired-state/tenants/acme/tenant.yaml", 3, 3
    )
    assert "greater than or equal to 0" in problem_at(problems, "limits.max_domains").message
    assert problem_at(problems, "limits.mail_quota_pool").message == "a size cannot be negative"


def test_mail_root_is_normalised() -> None:
    site = FILES.site.model_validate({**SITE, "mail": {"root": "/srv/mail/"}})
    assert site.mail.root == "/srv/mail"


def test_alias_short_forms() -> None:
    domain = FILES.domain.model_validate({
        "domain": "a.example",
        "aliases": {"one": "x", "many": ["x", "y"], "full": {"to": ["x"], "status": "suspended"}},
    })
    assert domain.aliases == {
        "one": AliasSpec(to=["x"]),
        "many": AliasSpec(to=["x", "y"]),
        "full": AliasSpec(to=["x"], status="suspended"),
    }


def test_models_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        Mailbox.model_validate({"password": HASH, "colour": "blue"})
    box = Mailbox.model_validate({"password": HASH})
    with pytest.raises(ValidationError):
        box.quota = 5  # type: ignore[misc]
    assert (box.quota, box.status, box.aliases, box.forward) == (None, None, (), None)


def test_defaults_apply_when_a_section_is_left_out() -> None:
    site = FILES.site.model_validate(SITE)
    assert site.defaults.mailbox_quota == 1024**3
    assert site.defaults.domain_services == ("mail", "dns")
    assert (site.mail.root, site.mail.uid, site.mail.gid) == ("/var/vmail", 5000, 5000)


def test_the_mail_archive_defaults_below_the_root_and_follows_it() -> None:
    site = FILES.site.model_validate(SITE)
    assert (site.mail.archive_dir, site.mail.archive_retention_days) == ("/var/vmail/.ispctl-archive", 90)
    moved = FILES.site.model_validate({**SITE, "mail": {"root": "/srv/mail"}})
    assert moved.mail.archive_dir == "/srv/mail/.ispctl-archive"
    for archive in ("/srv/mail-archive", "/var/vmail/.old-mail/"):
        chosen = FILES.site.model_validate({**SITE, "mail": {"archive": archive}})
        assert chosen.mail.archive_dir == archive.rstrip("/")


# (U+2028 and U+0085 as raw characters are refused for the whole file before this, see test_yamlload.)
@pytest.mark.parametrize("text", ["a\nb", "a\u001b[31mb", "a\tb", "a\u200bb", "a\u00adb"])
def test_display_names_and_descriptions_are_plain_text(tmp_path: Path, text: str) -> None:
    """A double-quoted YAML escape can write any character; free text stays on one line."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": text})
    builder.domain("acme", "acme.example", {"description": text, "mailboxes": {"anna": mailbox(name=text)},
                                            "aliases": {"info": {"to": ["anna"], "description": text}}})
    paths = sorted(p.path for p in builder.problems())
    assert paths == ["aliases.info.description", "description", "mailboxes.anna.name", "name"]
    assert all("control or invisible character" in p.message for p in builder.problems())


def test_models_with_the_same_written_fields_share_one_set_of_them_and_copies_do_not() -> None:
    """The set of fields a file wrote is shared between models (memory at 100k mailboxes): it
    must still say what each one wrote, and a copy with changes must not change the others."""
    from tests.wiring import FILES

    domain = FILES.domain.model_validate({"domain": "a.example", "mailboxes": {
        "anna": {"name": "Anna", "quota": "1 GiB"}, "ben": {"name": "Ben", "quota": "2 GiB"}, "carl": {"name": "C"}}})
    anna, ben, carl = (domain.mailboxes[n] for n in ("anna", "ben", "carl"))
    assert anna.model_fields_set is ben.model_fields_set
    assert anna.model_fields_set == {"name", "quota"} and carl.model_fields_set == {"name"}
    changed = anna.model_copy(update={"status": "suspended"})
    assert changed.model_fields_set == {"name", "quota", "status"}
    assert anna.model_fields_set == ben.model_fields_set == {"name", "quota"}
