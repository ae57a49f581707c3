"""Tenant limits and quota pools (a client's usage counts against its reseller)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from estate_builder import EstateBuilder, mailbox

from ispctl.reconciler.engine.errors import Location

ACME = "tenants/acme/acme.example.yaml"


def at(builder: EstateBuilder, rel: str, needle: str, col: int) -> Location:
    return Location(builder.display(rel), builder.line_of(rel, needle), col)

# -- limits and quota pools ----------------------------------------------------------------

def limited(tmp_path: Path, reseller: dict[str, Any], client: dict[str, Any]) -> EstateBuilder:
    """Reseller acme (1 domain, 2 boxes of 1 GiB, 1 alias, 1 extra) and client shop (1 domain, 1 box of 3 GiB)."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme", "limits": reseller})
    builder.domain("acme", "acme.example", {
        "mailboxes": {"anna": mailbox(quota="1 GiB", aliases=["a"]), "bob": mailbox(quota="1 GiB")},
        "aliases": {"team": ["anna", "bob"]},
    })
    builder.tenant("acme/shop", {"name": "Shop", "limits": client})
    builder.domain("acme/shop", "shop.example", {"mailboxes": {"carl": mailbox(quota="3 GiB")}})
    return builder


@pytest.mark.parametrize(
    ("reseller", "client", "where", "message"),
    [
        ({"max_domains": 1}, {}, "acme", "tenant acme has 2 domains (its clients included), over its limit of 1"),
        ({"max_mailboxes": 2}, {}, "acme", "tenant acme has 3 mailboxes (its clients included), over its limit of 2"),
        ({"max_aliases": 1}, {}, "acme",
         "tenant acme has 2 aliases and extra addresses (its clients included), over its limit of 1"),
        ({"mail_quota_pool": "4 GiB"}, {}, "acme",
         "mailbox quotas of tenant acme (its clients included) add up to 5 GiB, over its pool of 4 GiB"),
        ({}, {"max_mailboxes": 0}, "acme/shop", "tenant shop has 1 mailboxes, over its limit of 0"),
        ({}, {"mail_quota_pool": "2 GiB"}, "acme/shop",
         "mailbox quotas of tenant shop add up to 3 GiB, over its pool of 2 GiB"),
    ],
)
def test_limits(tmp_path: Path, reseller: dict[str, Any], client: dict[str, Any], where: str, message: str) -> None:
    builder = limited(tmp_path, reseller, client)
    problem = builder.only_problem()
    key = next(iter(reseller or client))
    rel = f"tenants/{where}/tenant.yaml"
    assert (problem.location, problem.path) == (at(builder, rel, key + ":", 3), f"limits.{key}")
    assert problem.message == message


def test_limits_that_hold(tmp_path: Path) -> None:
    builder = limited(tmp_path, {"max_domains": 2, "max_mailboxes": 3, "max_aliases": 2, "mail_quota_pool": "5 GiB"},
                      {"max_domains": 1, "mail_quota_pool": "3 GiB"})
    assert len(builder.catalog().mailboxes) == 3


def test_unlimited_mailbox_cannot_draw_from_a_pool(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme", {"name": "Acme", "limits": {"mail_quota_pool": "10 GiB"}})
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox(quota=0)}})
    problem = builder.only_problem()
    assert (problem.location, problem.path) == (at(builder, ACME, "quota:", 5), "mailboxes.anna.quota")
    assert problem.message == "an unlimited mailbox (quota 0) cannot draw from tenant acme's quota pool"
