"""Narrowing a plan: targets, excludes, tenants and changed files, always still applicable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.scope import Scope, apply_scope
from ispctl.reconciler.estate.scopes import changed_scope, tenant_scope
from tests.wiring import load_desired

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"


def full_plan():  # type: ignore[no-untyped-def]
    catalog, desired = load_desired(EXAMPLE, {})
    return catalog, desired, compute_plan(desired, {})


def addresses(plan) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.address for c in plan.changes}


def test_no_scope_keeps_the_plan() -> None:
    _catalog, desired, plan = full_plan()
    assert apply_scope(plan, Scope(), desired, {}) is plan


def test_a_target_brings_the_creates_it_needs() -> None:
    _catalog, desired, plan = full_plan()
    kept = addresses(apply_scope(plan, Scope(targets=("mailbox.noc@northwind.example",)), desired, {}))
    assert kept == {"mailbox.noc@northwind.example", "domain.northwind.example", "tenant.northwind"}


def test_target_globs_and_excludes_take_their_dependents_along() -> None:
    _catalog, desired, plan = full_plan()
    kept = addresses(
        apply_scope(plan, Scope(targets=("*@northwind.example",), excludes=("mailbox.noc@*",)), desired, {})
    )
    assert "mailbox.noc@northwind.example" not in kept
    assert "mailbox.support@northwind.example" in kept and "alias.sales@northwind.example" in kept
    # Excluding a domain's creation drops everything that needs that domain.
    gone = addresses(apply_scope(plan, Scope(excludes=("domain.northwind.example",)), desired, {}))
    assert not any(a.endswith("@northwind.example") for a in gone)
    assert "tenant.northwind" in gone and "domain.southbay.example" in gone


def test_a_tenant_scope_keeps_its_subtree_and_its_parents_creation() -> None:
    catalog, desired, plan = full_plan()
    kept = addresses(apply_scope(plan, tenant_scope(["bakery"], catalog), desired, {}))
    assert "tenant.bakery" in kept and "tenant.northwind" in kept
    assert "mailbox.anna@xn--bckerei-mller-bfb28a.example" in kept
    assert "domain.baeckerei-mueller.example" in kept
    assert not any(a.endswith("northwind.example") or "southbay" in a for a in kept)
    with pytest.raises(IspctlError, match="no such tenant"):
        tenant_scope(["nobody"], catalog)


def test_changed_files_map_to_their_domain_or_tenant(tmp_path: Path) -> None:
    root = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, root)
    catalog, _desired = load_desired(root, {})
    scope = changed_scope([
        root / "tenants/northwind/lawfirm/hartcole.example.yaml",   # a domain file
        root / "tenants/southbay/school/tenant.yaml",                # a tenant file
        root / "tenants/northwind/bakery/removed.example.yaml",      # deleted: its tenant
    ], catalog)
    assert scope.anchors == {"domain.hartcole.example", "tenant.school", "tenant.bakery"}
    assert not changed_scope([root / "ispctl.yaml"], catalog).narrowed
    assert changed_scope([tmp_path / "README.md"], catalog).anchors == frozenset()


def test_a_changed_domain_file_brings_its_dns_changes(tmp_path: Path) -> None:
    root = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, root)
    catalog, desired = load_desired(root, {})
    plan = compute_plan(desired, {})
    kept = addresses(
        apply_scope(plan, changed_scope([root / "tenants/northwind/northwind.example.yaml"], catalog), desired, {})
    )
    assert "dns_zone.northwind.example" in kept and "dns.northwind.example/www/A" in kept
    assert not any(a.startswith("dns.southbay.example/") for a in kept)
    # And a tenant scope reaches the DNS of its domains.
    school = addresses(apply_scope(plan, tenant_scope(["northwind"], catalog), desired, {}))
    assert "dns.xn--bckerei-mller-bfb28a.example/@/MX" in school


def test_a_removed_domain_file_anchors_the_domain_it_declared(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.resources import Resource, ancestors

    root = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, root)
    gone = root / "tenants/southbay/southbay.example.yaml"
    gone.unlink()
    catalog, _desired = load_desired(root, {})
    scope = changed_scope([gone], catalog, lambda path: "southbay.example" if path == gone else None)
    assert scope.anchors == {"domain.southbay.example", "tenant.southbay"}
    # A live zone read from the DNS server names its domain even when nothing else knows it.
    zone = Resource("dns_zone", "southbay.example", {}, depends_on=("domain.southbay.example",))
    assert ancestors(zone, {}) == ["dns_zone.southbay.example", "domain.southbay.example"]
