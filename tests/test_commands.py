"""plan/apply command bodies end to end against a real slapd: in-place updates, approval,
drift, foreign data, partial failure and moves.

Every outcome is checked in the directory with the real ``ldapsearch``, not through ispctl.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ldap_helpers import (
    BASE,
    HASH,
    apply_ok,
    assert_converged,
    changes_by_address,
    copy_example,
    edit_yaml,
    find_one,
    ldap_ok,
    marked_entry_ldif,
    plan_data,
    run_cli,
    run_ispctl,
    search,
    snapshot,
)

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

NW = f"associatedDomain=northwind.example,o=northwind,{BASE}"
BAKERY = "xn--bckerei-mller-bfb28a.example"
SCHOOL_BOXES = ["head", "it.support", "k.lund", "office", "p.adams", "t.mbeki"]
Edit = Callable[[Any], None]
# (filter, LDAP attribute, expected values; [] means the attribute is gone)
Check = tuple[str, str, list[str]]


def at(*path: str | int, value: Any = None, delete: bool = False, append: Any = None) -> Edit:
    """An edit of one YAML node: set it, delete it, or append to the list it holds."""
    def change(data: Any) -> None:
        node = data
        for step in path[:-1]:
            node = node[step]
        if delete:
            del node[path[-1]]
        elif append is not None:
            node[path[-1]].append(append)
        else:
            node[path[-1]] = value
    return change


NWF = "northwind/northwind.example.yaml"
LAW = "northwind/lawfirm/tenant.yaml"
SCHOOL = "southbay/school/riverside-school.example.yaml"
NOC, SUPPORT, TOM = (
    "(uid=noc@northwind.example)", "(uid=support@northwind.example)", "(uid=tom.reyes@northwind.example)"
)
LAWF = "(&(objectClass=ispctlTenant)(o=lawfirm))"

CASES: list[tuple[str, str, Edit, dict[str, list[str]], list[Check]]] = [
    ("mailbox quota", NWF, at("mailboxes", "noc", "quota", value="6 GiB"),
     {"mailbox.noc@northwind.example": ["quota"]}, [(NOC, "ispctlMailQuota", [str(6 * 2**30)])]),
    ("mailbox quota back to the default", NWF, at("mailboxes", "noc", "quota", delete=True),
     {"mailbox.noc@northwind.example": ["quota"]}, [(NOC, "ispctlMailQuota", [str(2 * 2**30)])]),
    ("mailbox status", NWF, at("mailboxes", "support", "status", value="suspended"),
     {"mailbox.support@northwind.example": ["status"]}, [(SUPPORT, "ispctlAccountStatus", ["suspended"])]),
    ("mailbox display name", NWF, at("mailboxes", "support", "name", value="Northwind Helpdesk"),
     {"mailbox.support@northwind.example": ["display_name"]},
     [(SUPPORT, a, ["Northwind Helpdesk"]) for a in ("displayName", "cn", "sn")]),
    ("mailbox services", NWF, at("mailboxes", "billing", "services", value={"pop3": False, "imap": False}),
     {"mailbox.billing@northwind.example": ["services"]},
     [("(uid=billing@northwind.example)", "ispctlEnabledService", ["smtp"])]),
    # A password is its user's once the mailbox exists: only one git keeps (credentials: git) is updated.
    ("mailbox password kept in git", NWF,
     lambda d: d["mailboxes"]["support"].update(password=HASH, credentials="git"),
     {"mailbox.support@northwind.example": ["password"]}, [(SUPPORT, "userPassword", [HASH])]),
    ("mailbox extra addresses", NWF, at("mailboxes", "noc", "aliases", append="security"),
     {"mailbox.noc@northwind.example": ["aliases"]},
     [(NOC, "ispctlMailAlias", [f"{x}@northwind.example" for x in ("abuse", "hostmaster", "security")])]),
    ("forward keep_copy", NWF, at("mailboxes", "tom.reyes", "forward", "keep_copy", value=False),
     {"mailbox.tom.reyes@northwind.example": ["forward"]},
     [(TOM, "ispctlMailForward", ["tom.reyes@personal.example"])]),
    ("forward targets", NWF, at("mailboxes", "tom.reyes", "forward", "to", append="tom@other.example"),
     {"mailbox.tom.reyes@northwind.example": ["forward"]},
     [(TOM, "ispctlMailForward", ["tom.reyes@northwind.example", "tom.reyes@personal.example", "tom@other.example"])]),
    ("alias targets", NWF, at("aliases", "sales", append="support"),
     {"alias.sales@northwind.example": ["targets"]},
     [("(mail=sales@northwind.example)", "ispctlMailTarget",
       [f"{x}@northwind.example" for x in ("ines.okafor", "support", "tom.reyes")])]),
    ("alias status", NWF, at("aliases", "postmaster", value={"to": ["noc"], "status": "suspended"}),
     {"alias.postmaster@northwind.example": ["status"]},
     [("(mail=postmaster@northwind.example)", "ispctlAccountStatus", ["suspended"])]),
    ("alias description", "northwind/lawfirm/hartcole.example.yaml",
     at("aliases", "associates", "description", value="All associates, \"juniors\" + seniors"),
     {"alias.associates@hartcole.example": ["description"]},
     [("(mail=associates@hartcole.example)", "description", ["All associates, \"juniors\" + seniors"])]),
    ("domain catch-all", "northwind/bakery/bäckerei-müller.example.yaml", at("mail", "catch_all", value="anna"),
     {f"domain.{BAKERY}": ["catch_all"]}, [(f"(associatedDomain={BAKERY})", "ispctlCatchAll", [f"anna@{BAKERY}"])]),
    ("domain description", SCHOOL, at("description", value="Primary school"),
     {"domain.riverside-school.example": ["description"]},
     [("(associatedDomain=riverside-school.example)", "description", ["Primary school"])]),
    # Northwind has web: and dns: sections, so it can only gain a service (removing one is refused).
    ("domain services", NWF, at("services", value=["mail", "web", "dns", "ftp"]),
     {"domain.northwind.example": ["services"]},
     [("(associatedDomain=northwind.example)", "ispctlEnabledService", ["dns", "ftp", "mail", "web"])]),
    ("domain type", SCHOOL, at("type", value="primary"),
     {"domain.riverside-school.example": ["type"]},
     [("(associatedDomain=riverside-school.example)", "ispctlDomainType", ["primary"])]),
    ("alias domain target", "northwind/bakery/baeckerei-mueller.example.yaml",
     at("alias_of", value="northwind.example"),
     {"domain.baeckerei-mueller.example": ["alias_of"]},
     [("(associatedDomain=baeckerei-mueller.example)", "ispctlAliasDomainTarget", ["northwind.example"])]),
    ("tenant display name", LAW, at("name", value="Hart, Cole & Partners; \"LLP\""),
     {"tenant.lawfirm": ["display_name"]}, [(LAWF, "ispctlDisplayName", ["Hart, Cole & Partners; \"LLP\""])]),
    ("tenant contact", LAW, at("contact", value="j.hart@hartcole.example"),
     {"tenant.lawfirm": ["contact"]}, [(LAWF, "ispctlContact", ["j.hart@hartcole.example"])]),
    ("tenant mailbox limit", LAW, at("limits", "max_mailboxes", value=16),
     {"tenant.lawfirm": ["max_mailboxes"]}, [(LAWF, "ispctlMaxMailboxes", ["16"])]),
    ("tenant limit removed", LAW, at("limits", "max_aliases", delete=True),
     {"tenant.lawfirm": ["max_aliases"]}, [(LAWF, "ispctlMaxAliases", [])]),
    ("tenant domain limit", LAW, at("limits", "max_domains", value=5),
     {"tenant.lawfirm": ["max_domains"]}, [(LAWF, "ispctlMaxDomains", ["5"])]),
    ("tenant quota pool", LAW, at("limits", "mail_quota_pool", value="70 GiB"),
     {"tenant.lawfirm": ["quota_pool"]}, [(LAWF, "ispctlQuotaPool", [str(70 * 2**30)])]),
    # Effective values are compiled into each entry, so these touch every entry that
    # inherits them -- still only in-place updates, never a destroy and create.
    ("domain default quota (inherited by mailboxes)", SCHOOL, at("mail", "default_quota", value="1 GiB"),
     {"domain.riverside-school.example": ["default_quota"],
      **{f"mailbox.{b}@riverside-school.example": ["quota"] for b in SCHOOL_BOXES}},
     [("(uid=head@riverside-school.example)", "ispctlMailQuota", [str(2**30)])]),
    ("tenant status (inherited below it)", "southbay/school/tenant.yaml", at("status", value="suspended"),
     {"tenant.school": ["status"], "domain.riverside-school.example": ["status"],
      **{f"mailbox.{b}@riverside-school.example": ["status"] for b in SCHOOL_BOXES},
      **{f"alias.{a}@riverside-school.example": ["status"] for a in ("helpdesk", "staff")}},
     [("(mail=staff@riverside-school.example)", "ispctlAccountStatus", ["suspended"])]),
]


@pytest.fixture
def estate(tmp_path: Path, slapd: SlapdInstance) -> Path:
    """The example estate, applied to a fresh slapd."""
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    return root


@pytest.fixture(scope="module")
def shared_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    """One slapd for the attribute matrix: each case only changes managed attributes."""
    instance = SlapdInstance(tmp_path_factory.mktemp("slapd-matrix"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def pristine(tmp_path: Path, shared_slapd: SlapdInstance) -> Path:
    """A fresh copy of the example estate, applied: this undoes whatever the last case changed."""
    root = copy_example(tmp_path)
    apply_ok(shared_slapd, root)
    return root


@pytest.mark.parametrize(("rel", "edit", "expected", "checks"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_attribute_change_is_an_in_place_update_that_converges(
    shared_slapd: SlapdInstance, pristine: Path, rel: str, edit: Edit, expected: dict[str, list[str]],
    checks: list[Check],
) -> None:
    slapd, estate = shared_slapd, pristine
    edit_yaml(estate / "tenants" / rel, edit)
    data = plan_data(slapd, estate)
    changes = changes_by_address(data)
    assert {a: [x["name"] for x in c["attributes"]] for a, c in changes.items()} == expected
    assert {c["action"] for c in changes.values()} == {"update"}
    assert not any("moved" in c or c["drift"] for c in changes.values())
    assert data["summary"] == {"add": 0, "change": len(expected), "destroy": 0}
    result = apply_ok(slapd, estate)
    assert f"0 added, {len(expected)} changed, 0 destroyed" in result.stdout
    for ldap_filter, attr, values in checks:
        _dn, entry = find_one(slapd, ldap_filter, attr)
        assert sorted(entry.get(attr.lower(), [])) == sorted(values), (ldap_filter, attr)
    assert_converged(slapd, estate)


def test_a_removal_is_a_destroy_that_needs_approval(slapd: SlapdInstance, estate: Path) -> None:
    edit_yaml(estate / "tenants" / NWF, at("mailboxes", "support", delete=True))
    assert [(c["address"], c["action"]) for c in plan_data(slapd, estate)["changes"]] == [
        ("mailbox.support@northwind.example", "delete")]
    no_prune = run_cli(slapd, "plan", "--no-prune", "--detailed-exitcode", "-d", str(estate))
    assert no_prune.exit_code == 0 and "No changes." in no_prune.stdout
    for answer, reason in (("no\n", "the answer was not 'yes'"),
                           ("", "no answer on standard input (pass --auto-approve in CI)"),
                           ("yes please\n", "the answer was not 'yes'")):
        refused = run_cli(slapd, "apply", "-d", str(estate), input=answer)
        assert refused.exit_code == 1, refused.output
        assert "1 object(s) will be DESTROYED" in refused.stdout
        assert f"Apply cancelled: {reason}. Nothing was changed." in refused.stderr
        assert search(slapd, SUPPORT, "1.1"), "a refused apply deleted the mailbox"
    # CI without --auto-approve: an empty pipe, or standard input closed altogether.
    for stdin in ("", None):
        piped = run_ispctl(slapd, "apply", "-d", str(estate), input=stdin)
        assert piped.returncode == 1, piped.stderr
        assert "Apply cancelled: no answer on standard input" in piped.stderr and "Internal error" not in piped.stderr
        assert search(slapd, SUPPORT, "1.1")
    approved = run_cli(slapd, "apply", "-d", str(estate), input="yes\n")
    assert approved.exit_code == 0, approved.output
    assert "Resources: 0 added, 0 changed, 1 destroyed." in approved.stdout
    assert search(slapd, SUPPORT, "1.1") == {}
    edit_yaml(estate / "tenants" / NWF, at("aliases", "sales", delete=True))
    auto = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate))
    assert auto.exit_code == 0 and "1 destroyed" in auto.stdout
    assert search(slapd, "(mail=sales@northwind.example)", "1.1") == {}
    assert_converged(slapd, estate)


DRIFTS = {
    "changed": (f"dn: uid=noc@northwind.example,{NW}\nchangetype: modify\nreplace: ispctlMailQuota\n"
                "ispctlMailQuota: 1\n", "mailbox.noc@northwind.example", "update", "changed outside ispctl"),
    "created": (marked_entry_ldif(f"uid=ghost@northwind.example,{NW}", "mailbox", "ghost@northwind.example"),
                "mailbox.ghost@northwind.example", "delete", "created outside ispctl"),
    "deleted": (f"dn: mail=sales@northwind.example,{NW}\nchangetype: delete\n",
                "alias.sales@northwind.example", "create", None),
    # One copy of a value written to several attributes (cn mirrors displayName).
    "copy changed": (f"dn: uid=noc@northwind.example,{NW}\nchangetype: modify\nreplace: cn\ncn: NOC desk\n",
                     "mailbox.noc@northwind.example", "update", "changed outside ispctl"),
    # mail routes the mailbox's mail: editing it by hand must not go unnoticed.
    "mail changed": (f"dn: uid=noc@northwind.example,{NW}\nchangetype: modify\nreplace: mail\n"
                     "mail: noc@elsewhere.example\n",
                     "mailbox.noc@northwind.example", "update", "changed outside ispctl"),
}


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_drift_made_by_hand_is_shown_and_fixed(slapd: SlapdInstance, estate: Path, kind: str) -> None:
    ldif, address, action, drift = DRIFTS[kind]
    ldap_ok(slapd.ldapmodify(ldif, add=kind == "created"))
    data = plan_data(slapd, estate)
    assert [(c["address"], c["action"], c["drift"]) for c in data["changes"]] == [(address, action, drift)]
    assert data["drift"] == ([address] if drift else [])
    text = run_cli(slapd, "plan", "-d", str(estate)).stdout
    if drift:
        assert "Objects have changed outside of ispctl:" in text and f"! {address}: {drift}" in text
    if kind == "changed":
        assert data["changes"][0]["attributes"] == [
            {"name": "quota", "before": 1, "after": 5 * 2**30, "sensitive": False}]
    if kind == "copy changed":
        assert data["changes"][0]["attributes"] == [{
            "name": "display_name", "before": "Network Operations (but cn: NOC desk)",
            "after": "Network Operations", "sensitive": False}]
    if kind == "mail changed":
        assert data["changes"][0]["attributes"] == [{
            "name": "address", "before": "noc@elsewhere.example", "after": "noc@northwind.example", "sensitive": False}]
    apply_ok(slapd, estate)
    assert_converged(slapd, estate)
    _dn, noc = find_one(slapd, NOC, "ispctlMailQuota", "cn", "mail")
    assert noc == {"ispctlmailquota": [str(5 * 2**30)], "cn": ["Network Operations"], "mail": ["noc@northwind.example"]}
    assert search(slapd, "(uid=ghost@northwind.example)", "1.1") == {}
    assert find_one(slapd, "(mail=sales@northwind.example)", "1.1")[0] == f"mail=sales@northwind.example,{NW}"


def test_entries_ispctl_does_not_own_survive_every_apply_byte_for_byte(slapd: SlapdInstance, tmp_path: Path) -> None:
    ldap_ok(slapd.ldapadd(
        # Outside the managed base, even though it carries the marker of a managed tenant.
        "dn: ou=legacy,dc=example,dc=net\nobjectClass: organizationalUnit\nou: legacy\n\n"
        + marked_entry_ldif("o=stray,ou=legacy,dc=example,dc=net", "tenant", "stray") + "\n"
        # Inside the managed base but without the marker: an organisation that looks like a tenant.
        + f"dn: o=unmarked,{BASE}\nobjectClass: organization\no: unmarked\ndescription: not ispctl's\n"
    ))
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    # Unmarked entries under managed ones: a note under a tenant, a foreign mail group under a domain.
    ldap_ok(slapd.ldapadd(
        f"dn: cn=notes,o=northwind,{BASE}\nobjectClass: organizationalRole\ncn: notes\n\n"
        f"dn: mail=legacy@northwind.example,{NW}\nobjectClass: ispctlMailGroup\nmail: legacy@northwind.example\n"
    ))
    watched = ["ou=people,dc=example,dc=net", "ou=legacy,dc=example,dc=net", f"o=unmarked,{BASE}",
               f"cn=notes,o=northwind,{BASE}", f"mail=legacy@northwind.example,{NW}"]
    before = {dn: snapshot(slapd, dn) for dn in watched}
    assert all(before.values())
    edit_yaml(root / "tenants" / NWF, at("mailboxes", "noc", "quota", value="7 GiB"))
    edit_yaml(root / "tenants" / NWF, at("aliases", "sales", delete=True))
    ldap_ok(slapd.ldapmodify(f"dn: uid=support@northwind.example,{NW}\nchangetype: modify\n"
                             "replace: ispctlAccountStatus\nispctlAccountStatus: suspended\n"))
    apply_ok(slapd, root)
    shutil.rmtree(root / "tenants" / "southbay" / "school")
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    assert {dn: snapshot(slapd, dn) for dn in watched} == before


def test_one_failing_change_leaves_independent_ones_applied(slapd: SlapdInstance, estate: Path) -> None:
    southbay = f"associatedDomain=southbay.example,o=southbay,{BASE}"
    # An entry ispctl does not know about blocks the domain's delete (notAllowedOnNonLeaf).
    obstacle = f"cn=hand-made,{southbay}"
    ldap_ok(slapd.ldapadd(f"dn: {obstacle}\nobjectClass: organizationalRole\ncn: hand-made\n"))
    shutil.rmtree(estate / "tenants" / "southbay")
    edit_yaml(estate / "tenants" / NWF, at("mailboxes", "noc", "quota", value="3 GiB"))
    # Removing a whole reseller deletes a third of the mailboxes: over the safety threshold.
    result = run_cli(slapd, "apply", "--auto-approve", "--force", "-d", str(estate))
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "domain.southbay.example: FAILED to delete" in out and "notAllowedOnNonLeaf" in out
    summary = out[out.index("Apply finished with errors"):]
    assert "1 failed, 1 skipped" in summary
    assert "domain.southbay.example: failed:" in summary
    assert "tenant.southbay: skipped: skipped because domain.southbay.example did not apply" in summary
    # Independent changes went through: the update, the school's subtree, the domain's children.
    _dn, noc = find_one(slapd, NOC, "ispctlMailQuota")
    assert noc["ispctlmailquota"] == [str(3 * 2**30)]
    assert search(slapd, "(o=school)", "1.1") == {}
    assert list(search(slapd, "(objectClass=*)", "1.1", base=southbay)) == [southbay, obstacle]
    assert search(slapd, "(o=southbay)", "1.1")
    ldap_ok(slapd.ldapmodify(f"dn: {obstacle}\nchangetype: delete\n"))
    rerun = apply_ok(slapd, estate)
    assert "0 added, 0 changed, 2 destroyed" in rerun.stdout
    assert_converged(slapd, estate)
    assert search(slapd, "(o=southbay)", "1.1") == {}


def uuids(slapd: SlapdInstance) -> dict[str, str]:
    found = search(slapd, "(objectClass=ispctlManaged)", "entryUUID", "uid", "mail", "associatedDomain", "o")
    return {entry["entryuuid"][0]: dn for dn, entry in found.items()}


@pytest.mark.parametrize(
    ("source", "target", "address", "new_parent"),
    [
        ("northwind/northwind.example.yaml", "southbay/northwind.example.yaml", "domain.northwind.example",
         "tenant.southbay"),
        ("northwind/lawfirm", "southbay/lawfirm", "tenant.lawfirm", "tenant.southbay"),
        ("northwind/bakery", "bakery", "tenant.bakery", None),  # a client becomes a reseller
    ],
)
def test_a_move_is_a_modify_dn_that_keeps_everything_below(
    slapd: SlapdInstance, estate: Path, source: str, target: str, address: str, new_parent: str | None
) -> None:
    before = uuids(slapd)
    (estate / "tenants" / source).rename(estate / "tenants" / target)
    data = plan_data(slapd, estate)
    (change,) = data["changes"]
    assert change["address"] == address and change["action"] == "update"
    assert change["moved"]["to"] == new_parent
    # Each leaves northwind (the bakery becomes a reseller of its own): both sides are named.
    assert data["meta"]["crossings"] == {address: ["tenant.northwind", new_parent or address]}
    comment = run_cli(slapd, "plan", "--format", "markdown", "-d", str(estate)).stdout
    assert f"> - `{address}`: from `tenant.northwind` to `{new_parent or address}`" in comment
    assert "<b>tenant.northwind</b>: 1 to change" in comment
    text = run_cli(slapd, "plan", "-d", str(estate)).stdout
    assert f"# {address} has moved from" in text and "Plan: 0 to add, 1 to change, 0 to destroy." in text
    apply_ok(slapd, estate)
    after = uuids(slapd)
    # Same entries (entryUUID), new DNs: nothing was deleted and re-created.
    assert set(after) == set(before)
    moved = {u for u in before if before[u] != after[u]}
    key = address.split(".", 1)[1]
    root_dn = next(dn for dn in after.values() if dn.split(",", 1)[0].split("=", 1)[1] == key)
    parent_dn = root_dn.split(",", 1)[1]
    assert parent_dn == (BASE if new_parent is None else f"o={new_parent.split('.', 1)[1]},{BASE}")
    assert moved and all(after[u].endswith(root_dn) for u in moved)
    assert_converged(slapd, estate)


def test_renaming_a_tenant_moves_its_domains_to_the_new_one_before_deleting_the_old(
    slapd: SlapdInstance, estate: Path
) -> None:
    before = uuids(slapd)
    (estate / "tenants/northwind/lawfirm").rename(estate / "tenants/northwind/hartcole-llp")
    changes = {c["address"]: (c["action"], c.get("moved", {}).get("to")) for c in plan_data(slapd, estate)["changes"]}
    assert changes == {"tenant.hartcole-llp": ("create", None), "tenant.lawfirm": ("delete", None),
                       "domain.hartcole.example": ("update", "tenant.hartcole-llp")}
    apply_ok(slapd, estate)
    after = uuids(slapd)
    # Only the tenant entry itself was replaced; the domain and its mailboxes moved intact.
    assert set(before) - set(after) == {next(u for u, dn in before.items() if dn.startswith("o=lawfirm,"))}
    assert len(set(after) - set(before)) == 1
    boxes = search(slapd, "(objectClass=ispctlMailUser)", "1.1",
                   base=f"associatedDomain=hartcole.example,o=hartcole-llp,o=northwind,{BASE}")
    assert len(boxes) == 7
    assert_converged(slapd, estate)


def test_renaming_a_mailbox_keeps_its_entry(slapd: SlapdInstance, estate: Path) -> None:
    """`previous:` turns a new local part into a rename (modify DN), never destroy + create."""
    def rename(data: Any) -> None:
        boxes = data["mailboxes"]
        boxes["helpdesk"] = boxes.pop("support")
        boxes["helpdesk"]["previous"] = ["support"]

    _dn, old = find_one(slapd, SUPPORT, "entryUUID")
    edit_yaml(estate / "tenants" / NWF, rename)
    data = plan_data(slapd, estate)
    (change,) = data["changes"]
    assert (change["address"], change["action"], change["renamed_from"]) == (
        "mailbox.helpdesk@northwind.example", "update", "mailbox.support@northwind.example")
    assert {a["name"] for a in change["attributes"]} == {"address", "home"}
    text = run_cli(slapd, "plan", "-d", str(estate)).stdout
    assert "# mailbox.support@northwind.example has moved to mailbox.helpdesk@northwind.example" in text
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text
    apply_ok(slapd, estate)
    assert search(slapd, SUPPORT, "1.1") == {}
    dn, new = find_one(slapd, "(uid=helpdesk@northwind.example)", "entryUUID", "mail", "homeDirectory", "uid")
    assert dn == f"uid=helpdesk@northwind.example,{NW}"
    assert new["entryuuid"] == old["entryuuid"]  # keys come back lower-cased
    assert new["uid"] == new["mail"] == ["helpdesk@northwind.example"]
    assert new["homedirectory"] == ["/var/vmail/northwind.example/helpdesk"]
    assert_converged(slapd, estate)


def test_a_reseller_cannot_rename_another_resellers_mailbox_into_its_own_domain(
        slapd: SlapdInstance, estate: Path) -> None:
    """With northwind's domain out of git (and pruning off), only the live tree knows whose
    noc@northwind.example is: the plan refuses the rename instead of moving it to southbay."""
    def take(data: Any) -> None:
        data["mailboxes"]["taken"] = {"password": HASH, "previous": ["noc@northwind.example"]}

    before = snapshot(slapd, BASE)
    (estate / "tenants" / NWF).unlink()
    edit_yaml(estate / "tenants" / "southbay" / "southbay.example.yaml", take)
    result = run_cli(slapd, "plan", "--no-prune", "-d", str(estate))
    assert result.exit_code == 1, result.output
    assert ("previous: mailbox.taken@southbay.example names mailbox.noc@northwind.example as its previous key, but "
            "that lives under tenant.northwind, not tenant.southbay") in result.output
    applied = run_cli(slapd, "apply", "--auto-approve", "--no-prune", "-d", str(estate))
    assert applied.exit_code == 1
    assert snapshot(slapd, BASE) == before
