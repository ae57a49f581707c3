"""Lifecycle settings: credentials owned by their users, ignore_changes per kind and per mailbox."""

from __future__ import annotations

from pathlib import Path

from ispctl.reconciler.estate.compile import ATTRIBUTES, MAILBOX
from tests.ldap_helpers import HASH, write_estate
from tests.wiring import SCHEMA, problems_of, resources_of

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"


def estate(tmp_path: Path, boxes: str, site: str = "") -> Path:
    root = write_estate(tmp_path / "estate", {"acme/tenant.yaml": "name: Acme\n",
                                              "acme/example.net.yaml": f"domain: example.net\nmailboxes:\n{boxes}"})
    if site:
        with (root / "ispctl.yaml").open("a", encoding="utf-8") as handle:
            handle.write(site)
    return root


def create_only(root: Path) -> dict[str, set[str]]:
    return {r.address: set(r.create_only) for r in resources_of(root).values() if r.kind == MAILBOX}


def test_passwords_are_their_users_by_default_and_git_managed_on_request(tmp_path: Path) -> None:
    root = estate(tmp_path, f'  karl:\n    password: "{HASH}"\n'
                            f'  robot:\n    password: "{HASH}"\n    credentials: git\n'
                            '  fresh: {}\n'
                            '  quiet:\n    ignore_changes: [quota, display_name]\n')
    assert create_only(root) == {"mailbox.karl@example.net": {"password"}, "mailbox.robot@example.net": set(),
                                 "mailbox.fresh@example.net": {"password"},
                                 "mailbox.quiet@example.net": {"password", "quota", "display_name"}}
    fresh = next(r for r in resources_of(root).values() if r.address == "mailbox.fresh@example.net")
    assert fresh.attrs["password"] is None and "password" in fresh.sensitive


def test_site_lifecycle_sets_the_default_and_ignores_per_kind(tmp_path: Path) -> None:
    root = estate(tmp_path, f'  karl:\n    password: "{HASH}"\n  own:\n    password: "{HASH}"\n    credentials: user\n',
                  "lifecycle:\n  credentials: git\n  ignore_changes:\n"
                  "    mailbox: [quota, home]\n    tenant: [contact]\n")
    assert create_only(root) == {"mailbox.karl@example.net": {"quota", "home"},
                                 "mailbox.own@example.net": {"password", "quota", "home"}}
    tenant = next(r for r in resources_of(root).values() if r.address == "tenant.acme")
    assert tenant.create_only == {"contact"}


def test_unknown_names_and_a_git_password_without_a_hash_are_errors_at_their_lines(tmp_path: Path) -> None:
    root = estate(tmp_path, '  karl:\n    ignore_changes: [quota, qouta]\n'
                            '  robot:\n    credentials: git\n',
                  "lifecycle:\n  ignore_changes:\n    mailbox: [pasword]\n    mailboxes: [quota]\n")
    found = [(p.location.file.split("/")[-1], p.location.line, p.message) for p in problems_of(root)]
    assert len(found) == 4, found
    by_line = {(f, line): message for f, line, message in found}
    assert by_line[("example.net.yaml", 4)].startswith("a mailbox has no attribute 'qouta'; its attributes are ")
    assert "credentials: git keeps the password hash written in git" in by_line[("example.net.yaml", 6)]
    assert by_line[("ispctl.yaml", 5)].startswith("a mailbox has no attribute 'pasword'")
    assert by_line[("ispctl.yaml", 6)].startswith("unknown kind 'mailboxes'")


def test_attributes_named_for_validation_are_the_ones_compiled() -> None:
    # ATTRIBUTES must follow the compile functions, and the services' directory parts what
    # their compile hooks add (the example's dial-up mailbox has radius_*), or a valid name
    # would be refused. The mail store's home and ids are known from the objects that have them.
    for resource in resources_of(EXAMPLE).values():
        if resource.kind in ATTRIBUTES:
            assert ATTRIBUTES[resource.kind] <= set(resource.attrs), resource.address
            added = set(resource.attrs) - ATTRIBUTES[resource.kind] - SCHEMA.attributes.get(resource.kind, set())
            assert added <= {"home", "uid_number", "gid_number"}, (resource.address, added)


def test_a_services_attribute_is_nameable_kind_wide_before_any_object_has_it(tmp_path: Path) -> None:
    # No mailbox here has FTP or dial-up; the site's list still names their attributes.
    root = estate(tmp_path, f'  karl:\n    password: "{HASH}"\n',
                  "lifecycle:\n  ignore_changes:\n    mailbox: [ftp_quota_mb, radius_reply, qouta]\n")
    (problem,) = problems_of(root)
    assert problem.message.startswith("a mailbox has no attribute 'qouta'")
    assert "ftp_quota_mb" in problem.message and "radius_reply" in problem.message
    assert {"ftp_quota_mb", "radius_reply"} <= SCHEMA.attributes["mailbox"]


def test_tenants_domains_and_aliases_take_ignore_changes_per_object(tmp_path: Path) -> None:
    root = write_estate(tmp_path / "estate", {
        "acme/tenant.yaml": "name: Acme\nignore_changes: [contact]\n",
        "acme/example.net.yaml": ("domain: example.net\nignore_changes: [description]\n"
                                  "mailboxes:\n  karl: {}\naliases:\n  info:\n    to: [karl]\n"
                                  "    ignore_changes: [targets]\n"),
    })
    owned = {r.address: set(r.create_only) for r in resources_of(root).values() if r.kind != "mailbox"}
    assert owned["tenant.acme"] == {"contact"} and owned["domain.example.net"] == {"description"}
    assert owned["alias.info@example.net"] == {"targets"}
    (root / "tenants/acme/tenant.yaml").write_text("name: Acme\nignore_changes: [contacts]\n")
    (problem,) = problems_of(root)
    assert (problem.location.file.endswith("tenant.yaml"), problem.location.line) == (True, 2)
    assert problem.message.startswith("a tenant has no attribute 'contacts'")
