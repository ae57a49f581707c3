"""A tenant's ``previous:`` names: compiled into the tenant's previous keys; an earlier name
taken by a tenant of the estate, the tenant's own, claimed twice or not a tenant name is
refused at its line, all at once; the plan matches a live tenant under an earlier name."""

from __future__ import annotations

from pathlib import Path

from estate_builder import EstateBuilder

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import Location
from ispctl.reconciler.engine.resources import Resource


def estate(tmp_path: Path, **previous: list[str]) -> EstateBuilder:
    """Reseller acme with client shop, reseller other; ``previous`` per tenant folder name."""
    builder = EstateBuilder(tmp_path)
    for folder, name in (("acme", "Acme"), ("acme/shop", "Shop"), ("other", "Other")):
        fields = {"name": name}
        key = folder.rsplit("/", 1)[-1]
        if key in previous:
            builder.tenant(folder, {**fields, "previous": previous[key]})
        else:
            builder.tenant(folder, fields)
    builder.domain("acme/shop", "shop.example")
    return builder


def test_previous_names_are_the_tenants_previous_keys(tmp_path: Path) -> None:
    resources = estate(tmp_path, shop=["store", "boutique"]).resources()
    assert resources[("tenant", "shop")].previous == ("store", "boutique")
    assert resources[("tenant", "acme")].previous == ()


def test_every_wrong_previous_name_is_reported_at_its_line(tmp_path: Path) -> None:
    builder = estate(tmp_path, acme=["other", "acme", "gone"], shop=["gone"])
    rel = "tenants/acme/tenant.yaml"
    got = {(p.location, p.path, p.message) for p in builder.problems()}
    other = builder.display("tenants/other/tenant.yaml")
    assert got == {
        (Location(builder.display(rel), builder.line_of(rel, "- other"), 3), "previous[0]",
         f"other is a tenant of the estate ({other}:1:1); a tenant can only be renamed from a name no tenant has"),
        (Location(builder.display(rel), builder.line_of(rel, "- acme"), 3), "previous[1]",
         "acme is this tenant's own name; list only the names it had before"),
        (Location(builder.display("tenants/acme/shop/tenant.yaml"),
                  builder.line_of("tenants/acme/shop/tenant.yaml", "- gone"), 3), "previous[0]",
         f"gone is already named as the previous name of tenant acme at {builder.display(rel)}:"
         f"{builder.line_of(rel, '- gone')}:3"),
    }


def test_a_previous_name_must_be_a_tenant_name(tmp_path: Path) -> None:
    problem = estate(tmp_path, shop=["Not A Name"]).only_problem()
    assert problem.path == "previous[0]" and "lower-case letters, digits and inner hyphens" in problem.message


def test_the_plan_renames_the_live_tenant_and_what_is_below_it_goes_along(tmp_path: Path) -> None:
    desired = estate(tmp_path, shop=["store"]).resources()
    live = {}
    for ident, want in desired.items():
        # The live side as an apply left it before the rename: shop was store, its domain below it.
        key = "store" if ident == ("tenant", "shop") else want.key
        parent = "tenant.store" if want.parent == "tenant.shop" else want.parent
        written = Resource(want.kind, key, want.attrs, parent)
        live[(want.kind, key)] = Resource(want.kind, key, want.attrs, parent,
                                          recorded_fingerprint=written.fingerprint())
    plan = compute_plan(desired, live)
    assert [(c.action, c.address, c.renamed_from) for c in plan.changes] == [
        ("update", "tenant.shop", "tenant.store")]
    (change,) = plan.changes
    assert change.drift is None and not change.is_move and change.attrs == ()
