"""``lookup.tree``: where each compiled object sits (its domain and tenant), over the example."""

from __future__ import annotations

from ispctl.reconciler.lookup.tree import Tree
from tests.ldap_helpers import EXAMPLE
from tests.wiring import resources_of


def test_every_object_reaches_its_domain_and_tenant() -> None:
    compiled = resources_of(EXAMPLE)
    tree = Tree(compiled)
    idn = "xn--bckerei-mller-bfb28a.example"
    found = {kind: (tree.domain(r), tree.tenant(r)) for (kind, key), r in compiled.items()
             if key in (f"anna@{idn}", idn, f"{idn}/@/MX")}
    assert found == {"mailbox": (idn, "bakery"), "maildir": (idn, "bakery"), "domain": (idn, "bakery"),
                     "dns_zone": (idn, "bakery"), "dns": (idn, "bakery"), "site": (idn, "bakery")}
    tenant = compiled[("tenant", "bakery")]
    assert tree.chain(tenant) == ["tenant.bakery", "tenant.northwind"] and tree.domain(tenant) is None
