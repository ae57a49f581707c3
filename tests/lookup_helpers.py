"""A small estate for the helpdesk read commands' tests (``tests/test_lookup_*.py``): a reseller
with a client, an alias domain, a catch-all, a list, a forward, an extra and a former address."""

from __future__ import annotations

from pathlib import Path

from tests.ldap_helpers import HASH, write_estate

FILES = {
    "acme/tenant.yaml": "name: Acme\ncontact: boss@acme.example\nlimits:\n  max_mailboxes: 5\n"
                        "  mail_quota_pool: 10 GiB\n",
    "acme/acme.example.yaml": f"""domain: acme.example
mail:
  catch_all: info
mailboxes:
  anna:
    name: Anna Smith
    password: "{HASH}"
    quota: 1 GiB
    aliases: [a.smith]
    previous: [annie]
  boss:
    quota: 2 GiB
    forward:
      to: [boss@home.example]
      keep_copy: true
aliases:
  info: [anna]
  team: [anna, boss]
""",
    "acme/acme.test.yaml": "domain: acme.test\ntype: alias\nalias_of: acme.example\n",
    "acme/shop/tenant.yaml": "name: Shop\n",
    "acme/shop/shop.example.yaml": "domain: shop.example\nmailboxes:\n  sales:\n    quota: 512 MiB\n",
}


def small_estate(tmp_path: Path) -> Path:
    """The estate in ``tmp_path/est`` (its files are named ``est/tenants/...`` in locations)."""
    return write_estate(tmp_path / "est", FILES)
