"""Sites as resources: the example estate, defaults, effective status, uids, overrides, and
password hashes kept out of plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from estate_builder import SITE, EstateBuilder

from ispctl.providers.web.compile import php_size
from ispctl.providers.web.users import derived_uid
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.views.text import plan_json, plan_text
from tests.wiring import resources_of

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"
NW = "desired-state/tenants/northwind/northwind.example.yaml"
BCRYPT = "$2y$05$mFh/aD1AROXOA.F6Amq7IOyANx/JLSe2o9lIE5ETNXKG6x1L4a8Bu"
APR1 = "$apr1$6CSJVAWc$RD9Rb36gGMhfB5FKpYYqI1"
LOW, HIGH = 100_000_000, 199_999_999  # the default uid range (the example keeps it)


@pytest.fixture(scope="module")
def example() -> dict[str, Resource]:
    return {r.key: r for r in resources_of(EXAMPLE).values() if r.kind == "site"}


def sites(tmp_path: Path, domain: dict[str, Any], web: dict[str, Any] | None = None, *,
          env: dict[str, str] | None = None, tenant: dict[str, Any] | None = None) -> dict[str, Resource]:
    builder = EstateBuilder(tmp_path, site={**SITE, **({"web": web} if web is not None else {})})
    builder.tenant("acme", tenant)
    builder.domain("acme", "acme.example", {"services": ["web"], **domain})
    builder.catalog()
    return {r.key: r for r in resources_of(builder.root, env).values() if r.kind == "site"}


def test_the_example_estate_has_its_sites(example: dict[str, Resource]) -> None:
    declared = ["northwind.example", "old.northwind.example", "shop.northwind.example", "southbay.example",
                "xn--bckerei-mller-bfb28a.example"]
    # Each domain with mail and web also gets its derived autoconfig and MTA-STS sites (mailconfig).
    mail_web = ["northwind.example", "southbay.example", "xn--bckerei-mller-bfb28a.example"]
    derived = [f"{label}.{d}" for d in mail_web for label in ("autoconfig", "mta-sts")]
    assert sorted(example) == sorted(declared + derived)


def test_a_site_with_everything(example: dict[str, Resource]) -> None:
    site = example["northwind.example"]
    uid = derived_uid("northwind", LOW, HIGH)
    assert (site.parent, site.source, site.sensitive) == (
        "domain.northwind.example", Location(NW, 59, 5), frozenset({"htpasswd"}))
    attrs = dict(site.attrs)
    # the domain's own site also serves the mail autoconfig file (test_web_mailconfig checks it)
    generated = attrs.pop("generated")
    assert [entry.split("\n")[0] for entry in generated] == ["/.well-known/autoconfig/mail/config-v1.1.xml"]
    assert attrs == {
        "aliases": ("www.northwind.example",),
        "docroot": "/srv/www/northwind/northwind.example/htdocs", "home": "/srv/www/northwind",
        "user": "web-northwind", "uid": uid, "gid": uid,
        "redirects": ("302 /support https://status.northwind.example/",),
        "https": "auto", "cert_file": None, "key_file": None, "hsts": 180 * 86400,
        "php": True, "php_max_children": 8, "php_memory_limit": "256M", "php_upload_max_filesize": "32M",
        "php_max_execution_time": 30,
        "protected": ("/intranet noc", "/intranet staff"),
        "htpasswd": (f"noc:{BCRYPT}", f"staff:{APR1}"),
        "status": "active", "quota": None,
    }


def test_named_sites_of_one_tenant_share_its_user(example: dict[str, Resource]) -> None:
    shop, old = example["shop.northwind.example"], example["old.northwind.example"]
    assert (shop.attrs["docroot"], shop.attrs["https"], shop.attrs["cert_file"], shop.attrs["key_file"]) == (
        "/srv/www/northwind/shop/current/public", "custom", "/etc/ssl/northwind/shop.northwind.example.pem",
        "/etc/ssl/private/shop.northwind.example.key")
    assert old.attrs["redirects"] == ("301 * https://northwind.example/",) and old.attrs["php"] is False
    assert shop.attrs["uid"] == old.attrs["uid"] == example["northwind.example"].attrs["uid"]
    assert example["southbay.example"].attrs["uid"] == derived_uid("southbay", LOW, HIGH)


def test_a_domain_without_sites_gets_its_apex_answering_www(example: dict[str, Resource]) -> None:
    site = example["southbay.example"]
    assert site.source == Location("desired-state/tenants/southbay/southbay.example.yaml", 2, 1)
    assert (site.attrs["aliases"], site.attrs["docroot"], site.attrs["https"], site.attrs["php"]) == (
        ("www.southbay.example",), "/srv/www/southbay/southbay.example/htdocs", "auto", False)


def test_idn_sites_and_aliases_are_ascii(example: dict[str, Resource]) -> None:
    bakery = example["xn--bckerei-mller-bfb28a.example"]
    assert bakery.attrs["aliases"] == ("baeckerei-mueller.example", "www.baeckerei-mueller.example",
                                       "www.xn--bckerei-mller-bfb28a.example")


@pytest.mark.parametrize(("where", "expected"), [
    ("site", "suspended"), ("domain", "suspended"), ("tenant", "suspended"), ("nowhere", "active"),
])
def test_a_suspended_site_domain_or_tenant_suspends_the_site(tmp_path: Path, where: str, expected: str) -> None:
    domain: dict[str, Any] = {"web": {"sites": {"www": {"status": "suspended"} if where == "site" else {}}}}
    if where == "domain":
        domain["status"] = "suspended"
    tenant = {"name": "Acme", "status": "suspended"} if where == "tenant" else None
    assert sites(tmp_path, domain, tenant=tenant)["www.acme.example"].attrs["status"] == expected


def test_a_reseller_suspended_suspends_its_clients_sites(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme", "status": "suspended"})
    builder.tenant("acme/client")
    builder.domain("acme/client", "client.example", {"services": ["web"]})
    found = {r.key: r for r in builder.resources().values() if r.kind == "site"}
    assert found["client.example"].attrs["status"] == "suspended"
    assert found["client.example"].attrs["home"] == "/srv/www/client"  # the client's own home


def test_pool_limits_come_from_the_site_or_the_settings(tmp_path: Path) -> None:
    found = sites(tmp_path, {"web": {"sites": {
        "a": {"php": "on"},
        "b": {"php": {"max_children": 3, "memory_limit": "1 GiB", "upload_max_filesize": "100 MB",
                      "max_execution_time": "2m"}},
        "c": {"php": "off"},
    }}}, {"php_max_children": 7, "php_memory_limit": "64 MiB"})
    pools = {k: tuple(r.attrs[f"php_{n}"] for n in ("max_children", "memory_limit", "upload_max_filesize",
                                                     "max_execution_time")) for k, r in found.items()}
    assert pools == {
        "a.acme.example": (7, "64M", "32M", 30),
        "b.acme.example": (3, "1G", "100000000", 120),
        "c.acme.example": (None, None, None, None),
    }


@pytest.mark.parametrize(("size", "text"), [
    (128 * 1024**2, "128M"), (2 * 1024**3, "2G"), (1536 * 1024, "1536K"), (1000, "1000"), (0, "0"),
])
def test_php_sizes(size: int, text: str) -> None:
    assert php_size(size) == text


def test_the_web_root_override_moves_homes_and_docroots(tmp_path: Path) -> None:
    found = sites(tmp_path, {"web": {"sites": {"www": {"docroot": "shared/public"}}}},
                  env={"ISPCTL_WEB_ROOT": "/tmp/sandbox/www", "ISPCTL_WEB_UID_MIN": "20000",
                       "ISPCTL_WEB_UID_MAX": "29999"})
    site = found["www.acme.example"]
    assert (site.attrs["home"], site.attrs["docroot"], site.attrs["uid"]) == (
        "/tmp/sandbox/www/acme", "/tmp/sandbox/www/acme/shared/public", derived_uid("acme", 20000, 29999))


def test_a_pinned_uid_is_the_sites(tmp_path: Path) -> None:
    found = sites(tmp_path, {}, tenant={"name": "Acme", "web": {"uid": 150_000_000}})
    assert (found["acme.example"].attrs["uid"], found["acme.example"].attrs["gid"]) == (150_000_000, 150_000_000)


def test_a_domain_without_the_web_service_has_no_site(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"services": ["mail"]})
    assert not any(r.kind == "site" for r in builder.resources().values())


def test_password_hashes_never_reach_a_plan(example: dict[str, Resource]) -> None:
    desired = {r.identity: r for r in example.values()}
    plan = compute_plan(desired, {})
    live_hash = Resource("site", "northwind.example", {**example["northwind.example"].attrs, "htpasswd": ("noc:x",)},
                         parent="domain.northwind.example", sensitive=frozenset({"htpasswd"}))
    changed = compute_plan(desired, {live_hash.identity: live_hash}, prune=False)
    for shown in (plan_json(plan), plan_text(plan).plain, plan_json(changed), plan_text(changed).plain,
                  json.dumps(plan.to_dict())):
        assert BCRYPT not in shown and APR1 not in shown and "noc:" not in shown
    assert "htpasswd" in plan_text(changed).plain  # the change is shown, not its value
