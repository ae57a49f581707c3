"""Compiling a valid catalog into resources: addresses, effective values, display names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import HASH, SITE, EstateBuilder, mailbox

from ispctl.providers.mailstore.paths import home_directory
from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import resources_of

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
GiB = 1024**3


def compiled(builder: EstateBuilder) -> dict[str, Resource]:
    return {r.address: r for r in builder.resources().values()}


def test_example_estate_compiles_to_stable_addresses() -> None:
    resources = resources_of(EXAMPLE)
    kinds: dict[str, int] = {}
    for kind, _ in resources:
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"tenant": 5, "domain": 6, "mailbox": 25, "alias": 10, "maildir": 25, "dns_zone": 5, "dns": 69,
                     "site": 11, "sieve": 1}  # dns and site: +autoconfig and mta-sts of 3 mail+web domains
    assert list(resources) == sorted(resources, key=lambda identity: f"{identity[0]}.{identity[1]}")
    anna = resources[("mailbox", "anna@xn--bckerei-mller-bfb28a.example")]
    assert anna.parent == "domain.xn--bckerei-mller-bfb28a.example"
    assert anna.attrs["quota"] == 4 * GiB
    assert anna.source == Location("desired-state/tenants/northwind/bakery/bäckerei-müller.example.yaml", 8, 3)
    assert "password" in anna.sensitive


def test_idn_domain_has_an_ascii_key_and_a_unicode_display_name(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "Bücher.Example", {"mailboxes": {"Info": mailbox()}, "aliases": {"team": "info"}})
    builder.domain("acme", "buecher.example", {"type": "alias", "alias_of": "bücher.example"})
    resources = compiled(builder)
    domain = resources["domain.xn--bcher-kva.example"]
    assert domain.attrs["display_name"] == "bücher.example"
    assert resources["mailbox.info@xn--bcher-kva.example"].parent == "domain.xn--bcher-kva.example"
    assert resources["alias.team@xn--bcher-kva.example"].attrs["targets"] == ("info@xn--bcher-kva.example",)
    alias_domain = resources["domain.buecher.example"]
    assert alias_domain.attrs["alias_of"] == "xn--bcher-kva.example"
    assert alias_domain.depends_on == ("domain.xn--bcher-kva.example",)


def status_estate(tmp_path: Path, reseller: str, client: str, domain: str, box: str) -> dict[str, Resource]:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", status=reseller)
    builder.tenant("acme/shop", status=client)
    builder.domain("acme/shop", "shop.example", {
        "status": domain,
        "mailboxes": {"anna": mailbox(status=box)},
        "aliases": {"team": "anna"},
    })
    return compiled(builder)


@pytest.mark.parametrize(
    ("reseller", "client", "domain", "box", "expected"),
    [
        ("active", "active", "active", "active", ("active", "active", "active", "active")),
        ("active", "suspended", "active", "active", ("active", "suspended", "suspended", "suspended")),
        ("suspended", "active", "active", "active", ("suspended", "suspended", "suspended", "suspended")),
        ("active", "active", "suspended", "active", ("active", "active", "suspended", "suspended")),
        ("active", "active", "active", "suspended", ("active", "active", "active", "suspended")),
    ],
)
def test_effective_status_is_compiled_in(
    tmp_path: Path, reseller: str, client: str, domain: str, box: str, expected: tuple[str, ...]
) -> None:
    resources = status_estate(tmp_path, reseller, client, domain, box)
    statuses = tuple(
        resources[a].attrs["status"]
        for a in ("tenant.acme", "tenant.shop", "domain.shop.example", "mailbox.anna@shop.example")
    )
    assert statuses == expected
    # An alias follows its domain and tenants but not the mailbox it points at.
    assert resources["alias.team@shop.example"].attrs["status"] == expected[2]


def test_site_default_status_applies_to_everything_unset(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "defaults": {"status": "suspended"}})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    # Every resource with a status (a maildir has none: it is a directory on disk).
    assert {r.attrs["status"] for r in compiled(builder).values() if r.kind != "maildir"} == {"suspended"}


@pytest.mark.parametrize(
    ("site_default", "domain_default", "own", "expected"),
    [
        (None, None, None, 1 * GiB),
        ("3 GiB", None, None, 3 * GiB),
        ("3 GiB", "2 GiB", None, 2 * GiB),
        ("3 GiB", "2 GiB", "500 MB", 500_000_000),
        ("3 GiB", "2 GiB", 0, 0),
    ],
)
def test_quota_comes_from_mailbox_then_domain_then_site(
    tmp_path: Path, site_default: str | None, domain_default: str | None, own: Any, expected: int
) -> None:
    site: dict[str, Any] = {**SITE, "defaults": {"mailbox_quota": site_default}} if site_default else SITE
    builder = EstateBuilder(tmp_path, site=site)
    builder.tenant("acme")
    box = mailbox() if own is None else mailbox(quota=own)
    mail = {"default_quota": domain_default} if domain_default else {}
    builder.domain("acme", "acme.example", {"mail": mail, "mailboxes": {"anna": box}})
    assert compiled(builder)["mailbox.anna@acme.example"].attrs["quota"] == expected


def test_mailbox_values(tmp_path: Path) -> None:
    # uid 800 with an FTP login: pure-ftpd must be told to serve uids that low (ftp.min_uid).
    builder = EstateBuilder(tmp_path, site={**SITE, "mail": {"root": "/srv/mail/", "uid": 800, "gid": 801},
                                            "ftp": {"min_uid": 800}})
    builder.tenant("acme", contact="OPS@Acme.Example")
    builder.domain("acme", "acme.example", {
        "services": ["mail", "ftp"],
        "mailboxes": {
            "Anna.Lee": mailbox(name="Anna Lee", aliases=["al", "lee@acme.example"],
                                services={"pop3": False, "ftp": True},
                                forward={"to": ["x@external.example"], "keep_copy": True}),
            "bob": mailbox(forward={"to": ["x@external.example"]}),
        },
    })
    resources = compiled(builder)
    anna = resources["mailbox.anna.lee@acme.example"].attrs
    assert anna["display_name"] == "Anna Lee"
    assert anna["password"] == HASH
    assert anna["aliases"] == ("al@acme.example", "lee@acme.example")
    assert anna["services"] == ("ftp", "imap", "smtp")
    # keep_copy: the mailbox lists itself among its forwards (the Postfix/iRedMail convention)
    assert anna["forward"] == ("anna.lee@acme.example", "x@external.example")
    assert anna["home"] == "/srv/mail/acme.example/anna.lee"
    assert (anna["uid_number"], anna["gid_number"]) == (800, 801)
    bob = resources["mailbox.bob@acme.example"].attrs
    assert bob["forward"] == ("x@external.example",)
    assert bob["display_name"] == "bob"
    assert resources["tenant.acme"].attrs["contact"] == "ops@acme.example"


def test_tenant_values_and_parents(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme Hosting", "limits": {"max_domains": 5, "mail_quota_pool": "1 TiB"}})
    builder.tenant("acme/shop")
    builder.domain("acme/shop", "shop.example", {"type": "nodns", "services": ["mail"], "description": "The shop"})
    resources = compiled(builder)
    acme = resources["tenant.acme"]
    assert acme.parent is None
    assert acme.attrs["kind"] == "reseller"
    assert acme.attrs["display_name"] == "Acme Hosting"
    assert (acme.attrs["max_domains"], acme.attrs["max_mailboxes"], acme.attrs["quota_pool"]) == (5, None, 1024**4)
    shop = resources["tenant.shop"]
    assert (shop.parent, shop.attrs["kind"]) == ("tenant.acme", "client")
    domain = resources["domain.shop.example"]
    assert domain.parent == "tenant.shop"
    assert (domain.attrs["type"], domain.attrs["services"], domain.attrs["description"]) == (
        "nodns", ("mail",), "The shop"
    )
    assert domain.source == Location("desired-state/tenants/acme/shop/shop.example.yaml", 1, 1)


def test_catch_all_is_compiled_as_a_full_address(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mail": {"catch_all": "Anna"}, "mailboxes": {"anna": mailbox()}})
    assert compiled(builder)["domain.acme.example"].attrs["catch_all"] == "anna@acme.example"


@pytest.mark.parametrize(
    ("root", "domain", "local", "home"),
    [("/var/vmail", "a.example", "x", "/var/vmail/a.example/x"), ("/", "a.example", "x.y", "/a.example/x.y")],
)
def test_home_directory(root: str, domain: str, local: str, home: str) -> None:
    assert home_directory(root, domain, local) == home


def test_every_mailbox_has_a_maildir_that_follows_its_renames(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "mail": {"root": "/srv/mail", "uid": 42, "gid": 43}})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"k.mueller": mailbox(previous=["karl"])}})
    resources = compiled(builder)
    home = resources["maildir.k.mueller@acme.example"]
    assert home.attrs == {"gid": 43, "path": "/srv/mail/acme.example/k.mueller", "uid": 42}
    assert home.attrs["path"] == resources["mailbox.k.mueller@acme.example"].attrs["home"]
    # Created after, archived before, renamed after its directory entry.
    assert (home.parent, home.depends_on) == (None, ("mailbox.k.mueller@acme.example",))
    assert home.previous == resources["mailbox.k.mueller@acme.example"].previous == ("karl@acme.example",)


def test_a_mailbox_and_its_maildir_share_one_source_location() -> None:
    """The mail store's maildir names the mailbox's own line with the very same ``Location``
    (one object per mailbox, not two), and it is the line the mailbox is written at."""
    resources = resources_of(EXAMPLE)
    boxes = [r for (kind, _), r in resources.items() if kind == "mailbox"]
    assert boxes
    for box in boxes:
        maildir = resources[("maildir", box.key)]
        assert box.source is not None and maildir.source is box.source
        assert box.source.file.endswith(".yaml") and box.source.line > 1


# --- values made when first read (compile._Deferred) ---------------------------------------

def _made(resource: Resource) -> bool:
    """Whether a compiled resource's values have been made (its attribute slot is filled)."""
    from ispctl.reconciler.estate import compile as compile_module

    try:
        compile_module._ATTRS_SLOT.__get__(resource, Resource)
    except AttributeError:
        return False
    return True


def _plain(resource: Resource) -> Resource:
    return Resource(resource.kind, resource.key, dict(resource.attrs), resource.parent, resource.depends_on,
                    resource.sensitive, resource.source, resource.recorded_fingerprint, resource.previous,
                    resource.interrupted, resource.create_only)


def test_a_resource_whose_values_are_made_later_equals_one_made_at_once() -> None:
    resources = resources_of(EXAMPLE)
    mailbox_resource = resources[("mailbox", "anna@xn--bckerei-mller-bfb28a.example")]
    assert not _made(mailbox_resource)  # compiling alone makes no values
    for resource in resources.values():
        plain = _plain(resource)
        assert resource == plain and plain == resource  # both ways: == falls back to identity otherwise
        assert resource.fingerprint() == plain.fingerprint()
    changed = Resource(mailbox_resource.kind, mailbox_resource.key, {**mailbox_resource.attrs, "quota": 1},
                       mailbox_resource.parent, source=mailbox_resource.source, sensitive=mailbox_resource.sensitive,
                       create_only=mailbox_resource.create_only)
    assert changed != mailbox_resource and mailbox_resource != changed


def test_a_made_later_resource_can_be_copied_with_changes() -> None:
    from dataclasses import replace

    resource = resources_of(EXAMPLE)[("domain", "northwind.example")]
    moved = replace(resource, parent="tenant.southbay")
    assert moved.parent == "tenant.southbay" and moved.attrs == resource.attrs
    assert replace(resources_of(EXAMPLE)[("domain", "northwind.example")], source=None).attrs == resource.attrs


def test_a_narrowed_plan_makes_the_values_of_only_what_it_compares() -> None:
    from dataclasses import replace

    from memory_provider import MemoryProvider

    from ispctl.reconciler.engine.session import Session, in_scope

    live = [replace(r, source=None, previous=(), recorded_fingerprint=r.fingerprint())
            for r in resources_of(EXAMPLE).values() if r.kind in MemoryProvider.SUPPORTS]
    desired = resources_of(EXAMPLE)  # compiled anew: no value made yet
    provider = MemoryProvider(live)
    session = Session(in_scope(desired, [provider]), [provider], compiled=desired)
    plan = session.plan(anchors=frozenset({"domain.southbay.example"}))
    assert plan.empty
    own = [r for r in desired.values() if r.kind in {"tenant", "domain", "mailbox", "alias"}]  # the services' are made
    made = {r.address for r in own if _made(r)}
    assert "mailbox.noc@southbay.example" in made  # compared
    assert "mailbox.anna@xn--bckerei-mller-bfb28a.example" not in made  # another tenant's: never looked at
    assert len(made) < len(own) / 3
    # A full plan makes them all, and finds the same nothing to do.
    assert Session(in_scope(desired, [provider]), [provider], compiled=desired).plan().empty
    assert all(_made(r) for r in in_scope(desired, [provider]).values())
