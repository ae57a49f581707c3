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


@pytest.mark.parametrize("where", [".", "desired-state"])
def test_changed_files_map_to_their_domain_under_a_relative_root(tmp_path: Path, where: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # ``--dir .``: the files are named without a folder; git gives absolute paths.
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path / "desired-state" if where == "." else tmp_path)
    catalog, _desired = load_desired(Path(where), {})
    changed = (tmp_path / "desired-state/tenants/northwind/lawfirm/hartcole.example.yaml").resolve()
    assert changed_scope([changed], catalog).anchors == {"domain.hartcole.example"}


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



def test_former_domains_read_what_removed_or_renamed_files_declared_at_the_reference(tmp_path: Path) -> None:
    import git

    from ispctl.reconciler.estate.scopes import former_domains

    root = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, root)
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.git.commit("-q", "-m", "estate", env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    gone = root / "tenants/southbay/southbay.example.yaml"
    moved = root / "tenants/northwind/lawfirm/hartcole.example.yaml"
    gone.unlink()
    moved.rename(root / "tenants/northwind/hartcole.example.yaml")
    (root / "tenants/northwind/broken.yaml").write_text("domain: [\n")
    former = former_domains(root, "HEAD")
    assert former(gone) == "southbay.example" and former(moved) == "hartcole.example"
    assert former(root / "tenants/southbay/tenant.yaml") is None  # a tenant file declares no domain
    assert former(root / "tenants/northwind/broken.yaml") is None  # not there at the reference
    assert former_domains(root, "no-such-ref")(gone) is None


# -- renames bind what follows them ---------------------------------------------------------------

def two_states(tmp_path: Path, before: dict[str, str], after: dict[str, str]):  # type: ignore[no-untyped-def]
    """The plan from ``before`` (as if applied: its resources are the live side) to ``after``."""
    from tests.ldap_helpers import write_estate

    _c, live = load_desired(write_estate(tmp_path / "before", before), {})
    catalog, desired = load_desired(write_estate(tmp_path / "after", after), {})
    return catalog, desired, live, compute_plan(desired, live, archives={"maildir": "archived"})


def box_file(domain: str, *boxes: str) -> str:
    from tests.ldap_helpers import HASH

    body = f"domain: {domain}\nmailboxes:\n"
    for box in boxes:
        local, _, previous = box.partition("<")
        body += f"  {local}:\n    password: \"{HASH}\"\n" + (f"    previous: [{previous}]\n" if previous else "")
    return body


ACME = {"acme/tenant.yaml": "name: Acme\n", "beta/tenant.yaml": "name: Beta\n",
        "beta/example.org.yaml": box_file("example.org", "eve")}
RENAMED = {**ACME, "acme/example.net.yaml": box_file("example.net", "anna", "k.mueller<karl"),
           "beta/example.org.yaml": box_file("example.org", "eve", "new")}
BEFORE = {**ACME, "acme/example.net.yaml": box_file("example.net", "anna", "karl")}


def scoped(plan, desired, live, **scope) -> set[str]:  # type: ignore[no-untyped-def]
    return addresses(apply_scope(plan, Scope(**scope), desired, live))


def test_a_targeted_mailbox_rename_brings_its_maildir_and_an_exclude_holds_both(tmp_path: Path) -> None:
    _catalog, desired, live, plan = two_states(tmp_path, BEFORE, RENAMED)
    pair = {"mailbox.k.mueller@example.net", "maildir.k.mueller@example.net"}
    assert pair < addresses(plan)
    # Before, only the directory entry was renamed: the mailbox failed to open.
    assert scoped(plan, desired, live, targets=("mailbox.k.mueller@example.net",)) == pair
    assert scoped(plan, desired, live, targets=("maildir.k.mueller@*",)) == pair
    # Holding back the maildir's move holds back the entry's rename; the rest still goes.
    rest = scoped(plan, desired, live, excludes=("maildir.k.mueller@example.net",))
    assert not rest & pair and "mailbox.new@example.org" in rest
    assert not scoped(plan, desired, live, targets=("mailbox.k.mueller@*",), excludes=("maildir.*",))


def test_a_rename_into_another_domain_brings_its_maildir_under_every_scope(tmp_path: Path) -> None:
    after = {**ACME, "acme/example.net.yaml": box_file("example.net", "anna"),
             "acme/example.com.yaml": box_file("example.com", "karl<karl@example.net")}
    catalog, desired, live, plan = two_states(tmp_path, BEFORE, after)
    pair = {"mailbox.karl@example.com", "maildir.karl@example.com"}
    assert scoped(plan, desired, live, targets=("mailbox.karl@example.com",)) >= pair
    acme = addresses(apply_scope(plan, tenant_scope(["acme"], catalog), desired, live))
    assert acme >= pair
    domain_file = catalog.domains["example.com"].origin.doc.file
    changed = changed_scope([catalog.estate.root.parent / domain_file], catalog)
    assert addresses(apply_scope(plan, changed, desired, live)) >= pair


def test_a_targeted_delete_archives_the_maildir_first(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.apply import execution_order

    after = {**ACME, "acme/example.net.yaml": box_file("example.net", "anna")}
    _catalog, desired, live, plan = two_states(tmp_path, BEFORE, after)
    kept = apply_scope(plan, Scope(targets=("mailbox.karl@example.net",)), desired, live)
    assert [c.address for c in execution_order(kept)] == ["maildir.karl@example.net", "mailbox.karl@example.net"]
    assert next(c for c in kept.changes if c.kind == "maildir").archive
    # Holding the archive back holds the entry's delete back (never an entry gone with its mail left).
    assert not scoped(plan, desired, live, excludes=("maildir.karl@*",))


def test_a_domain_moved_to_another_tenant_moves_alone(tmp_path: Path) -> None:
    after = {**ACME, "beta/example.net.yaml": BEFORE["acme/example.net.yaml"]}
    _catalog, desired, live, plan = two_states(tmp_path, BEFORE, after)
    # The directory moves the domain's subtree in one operation: its mailboxes, maildirs
    # and zone keep their addresses, so nothing else changes and nothing needs to come along.
    assert addresses(plan) == {"domain.example.net"} and plan.changes[0].is_move
    assert scoped(plan, desired, live, targets=("domain.example.net",)) == {"domain.example.net"}


def test_a_renamed_tenant_takes_its_domains_along_or_waits(tmp_path: Path) -> None:
    after = {"acme2/tenant.yaml": "name: Acme\n", "beta/tenant.yaml": "name: Beta\n",
             "beta/example.org.yaml": ACME["beta/example.org.yaml"],
             "acme2/example.net.yaml": BEFORE["acme/example.net.yaml"]}
    _catalog, desired, live, plan = two_states(tmp_path, BEFORE, after)
    assert addresses(plan) == {"tenant.acme", "tenant.acme2", "domain.example.net"}
    # The old tenant goes only once its domain has moved to the new one, which must exist.
    assert scoped(plan, desired, live, targets=("tenant.acme",)) == addresses(plan)
    assert scoped(plan, desired, live, targets=("domain.example.net",)) == {"tenant.acme2", "domain.example.net"}
    assert scoped(plan, desired, live, targets=("tenant.acme2",)) == {"tenant.acme2"}
    assert scoped(plan, desired, live, excludes=("tenant.acme2",)) == set()


def test_followers_bind_only_what_follows_a_rename(tmp_path: Path) -> None:
    from ispctl.reconciler.engine.scope import followers

    _catalog, _desired, _live, plan = two_states(tmp_path, BEFORE, RENAMED)
    bound = {a: b for a, b in followers(plan).items() if b}
    assert bound == {"mailbox.k.mueller@example.net": {"maildir.k.mueller@example.net"},
                     "maildir.k.mueller@example.net": {"mailbox.k.mueller@example.net"}}


def test_a_target_on_an_entry_renamed_by_a_stopped_apply_still_brings_its_maildir(tmp_path: Path) -> None:
    _catalog, desired, before, _plan = two_states(tmp_path, BEFORE, RENAMED)
    # The apply stopped after the directory entry was renamed: only the maildir's move is left.
    live = {k: r for k, r in before.items() if k != ("mailbox", "karl@example.net")}
    live[("mailbox", "k.mueller@example.net")] = desired[("mailbox", "k.mueller@example.net")]
    plan = compute_plan(desired, live)
    assert "mailbox.k.mueller@example.net" not in addresses(plan)
    kept = scoped(plan, desired, live, targets=("mailbox.k.mueller@example.net",))
    assert kept == {"maildir.k.mueller@example.net"}


def test_a_scoped_plan_keeps_the_archive_words_of_its_own_changes_only(tmp_path: Path) -> None:
    after = {**ACME, "acme/example.net.yaml": box_file("example.net", "anna")}
    _catalog, desired, live, plan = two_states(tmp_path, BEFORE, after)
    assert plan.meta["archives"] == {"maildir": "archived"}
    kept = apply_scope(plan, Scope(targets=("mailbox.karl@example.net",)), desired, live)
    assert kept.meta["archives"] == {"maildir": "archived"}
    # A plan that read only its scope never saw the archive left out: neither says it.
    assert "archives" not in apply_scope(plan, Scope(targets=("tenant.*",)), desired, live).meta
