"""``ispctl domain rename OLD NEW``: the new file holds the domain with every mailbox renamed
from its old address, the old file an alias domain of the new one (or deleted with
--drop-old); what cannot move without loss is refused by name, files untouched; against a real
slapd the next plan destroys nothing, apply converges, and Postfix's own ``postmap -q`` over the
rendered maps delivers mail for an old address to the renamed mailbox."""

from __future__ import annotations

import imaplib
import json
import os
from pathlib import Path

import pytest
from ldap_helpers import apply_ok, assert_converged, estate_repo, ldap_ok, plan_data, run_cli, write_estate
from provision_helpers import edit, example, snapshot
from test_postfix import Tables, settle

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance
from ispctl.providers.ldap.sandbox.accounts import account_dn
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from tests.test_mailstore_safety import append, dovecot, imap, password_hash  # noqa: F401 - fixtures
from tests.test_mailstore_safety import env as mail_env
from tests.wiring import load_desired

LAW = "tenants/northwind/lawfirm"
BOXES = ["j.hart", "r.cole", "m.chen", "d.osei", "s.novak", "reception", "it"]


def test_the_domain_moves_to_the_new_file_and_the_old_one_becomes_its_alias(tmp_path: Path) -> None:
    root = example(tmp_path)
    old_text = (root / LAW / "hartcole.example.yaml").read_text(encoding="utf-8")
    result, diff = edit(root, "domain", "rename", "hartcole.example", "hartcole-law.example", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == [
        {"path": f"{root.name}/{LAW}/hartcole-law.example.yaml", "change": "created"},
        {"path": f"{root.name}/{LAW}/hartcole.example.yaml", "change": "changed"}]
    assert sorted(diff) == [f"{LAW}/hartcole-law.example.yaml", f"{LAW}/hartcole.example.yaml"]
    alias = (root / LAW / "hartcole.example.yaml").read_text(encoding="utf-8")
    assert alias == ("# yaml-language-server: $schema=../../../../schemas/domain.schema.json\n"
                     "domain: hartcole.example\ntype: alias\nalias_of: hartcole-law.example\n"
                     "services: [mail, dns]\n")
    new = (root / LAW / "hartcole-law.example.yaml").read_text(encoding="utf-8").splitlines()
    # every line of the old file is kept but the name, with one previous: per mailbox
    added = [line for line in new if line not in old_text.splitlines()]
    assert added == ["domain: hartcole-law.example", *(f"    previous: [{b}@hartcole.example]" for b in BOXES),
                     "  office: [reception, partners@hartcole-law.example]"]
    # a retry (a billing system's): done already, nothing to change
    result, diff = edit(root, "domain", "rename", "hartcole.example", "hartcole-law.example")
    assert result.exit_code == 0 and diff == {} and "Nothing to change" in result.stdout, result.output


def test_drop_old_deletes_the_old_domain(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "domain", "rename", "riverside-school.example", "riverside.example", "--drop-old")
    assert result.exit_code == 0, result.output
    assert not (root / "tenants/southbay/school/riverside-school.example.yaml").exists()
    text = (root / "tenants/southbay/school/riverside.example.yaml").read_text(encoding="utf-8")
    assert "domain: riverside.example" in text and "previous: [office@riverside-school.example]" in text


def test_a_mailbox_renamed_before_keeps_its_earlier_address_in_the_old_domain(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert edit(root, "mailbox", "rename", "it@hartcole.example", "itdesk@hartcole.example")[0].exit_code == 0
    result, _ = edit(root, "domain", "rename", "hartcole.example", "hartcole-law.example")
    assert result.exit_code == 0, result.output
    text = (root / LAW / "hartcole-law.example.yaml").read_text(encoding="utf-8")
    assert "previous: [it@hartcole.example, itdesk@hartcole.example]" in text


def test_what_cannot_move_without_loss_is_refused_by_name(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "domain", "rename", "southbay.example", "southshore.example")
    assert result.exit_code == 1 and diff == {}, result.output
    for service in ("web", "ftp", "dialup"):
        assert f"southbay.example uses the {service} service" in result.stderr
    for args, words in [(("northwind.example", "hartcole.example"), "exists already"),
                        (("baeckerei-mueller.example", "x.example"), "alias domain holds no mail"),
                        (("nowhere.example", "x.example"), "nowhere.example")]:
        result, diff = edit(root, "domain", "rename", *args)
        assert result.exit_code == 1 and diff == {} and words in result.stderr, result.output
    assert snapshot(root) == original


def _postfix_tables(slapd: SlapdInstance, root: Path, work: Path) -> Tables:
    """The rendered Postfix maps, read as Postfix's own service account."""
    dn, password = account_dn("postfix", "dc=example,dc=net"), "postfix-test-pw"
    ldap_ok(slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {ssha(password)}\n"))
    secret = work / "postfix.pw"
    secret.write_text(password + "\n", encoding="utf-8")
    out, config_dir = work / "tables", work / "postfix-etc"
    result = run_cli(slapd, "render", "postfix", "--out", str(out), "-d", str(root), "--bind-dn", dn,
                     "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf", *out.iterdir())
    return Tables(out, config_dir)


def test_the_plan_destroys_nothing_and_old_addresses_keep_arriving(slapd: SlapdInstance, tmp_path: Path) -> None:
    repo, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    result = run_cli(None, "domain", "rename", "hartcole.example", "hartcole-law.example", "--commit", "-d",
                     str(root))
    assert result.exit_code == 0, result.output
    assert "domain.rename hartcole.example -> hartcole-law.example" in str(repo.head.commit.message)
    data = plan_data(slapd, root)
    listed = [(c["action"], c["kind"], c["key"]) for c in data["changes"]]
    # only the lists are deleted and added under the new name (an alias holds no data); every
    # mailbox is renamed (its entry and maildir move)
    lists = ["associates", "office", "partners"]
    assert sorted(k for a, kind, k in listed if a == "delete") == [f"{n}@hartcole.example" for n in lists], listed
    assert {kind for a, kind, _ in listed if a == "delete"} == {"alias"}
    assert data["summary"]["destroy"] == len(lists)
    assert {k for a, kind, k in listed if a == "create" and kind == "alias"} >= {f"{n}@hartcole-law.example"
                                                                                for n in lists}
    renamed = {c["key"]: c.get("renamed_from") for c in data["changes"] if c["kind"] == "mailbox"}
    assert renamed == {f"{b}@hartcole-law.example": f"mailbox.{b}@hartcole.example" for b in BOXES}
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    tables = _postfix_tables(slapd, root, tmp_path)
    assert tables.query("hartcole-law.example", "virtual_mailbox_domains") == "hartcole-law.example"
    assert tables.query("hartcole.example", "virtual_alias_domains") == "hartcole.example"
    assert tables.aliases("j.hart@hartcole.example") == {"@hartcole-law.example"}
    assert tables.query("j.hart@hartcole-law.example", "virtual_mailbox_maps") == "j.hart@hartcole-law.example"
    assert tables.query("j.hart@hartcole.example", "virtual_mailbox_maps") is None
    assert tables.aliases("office@hartcole-law.example") == {"reception@hartcole-law.example",
                                                              "partners@hartcole-law.example"}


# -- with the mail store and a real Dovecot ---------------------------------------------------------

MESSAGE = (b"From: sender@elsewhere.example\r\nTo: karl@oldbrand.example\r\nSubject: before the rebrand\r\n"
           b"Message-ID: <rebrand-1@elsewhere.example>\r\n\r\nStill here after the rename.\r\n")


def _mail_apply(slapd: SlapdInstance, root: Path, mail_root: Path, expect: str) -> str:
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(root), **mail_env(mail_root))
    assert result.exit_code == 0 and expect in result.stdout, result.output
    again = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(root), **mail_env(mail_root))
    assert again.exit_code == 0 and "No changes." in again.stdout, again.output
    return result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")
def test_the_mail_moves_and_logs_in_under_the_new_address_with_the_old_password(
    slapd: SlapdInstance, mail_root: Path, password_hash: str, tmp_path: Path, dovecot: DovecotInstance,  # noqa: F811
) -> None:
    boxes = "".join(f"  {b}:\n    password: \"{password_hash}\"\n" for b in ("anna", "karl"))
    root = write_estate(tmp_path / "estate", {
        "acme/tenant.yaml": "name: Acme\n",
        "acme/oldbrand.example.yaml": f"domain: oldbrand.example\nmailboxes:\n{boxes}aliases:\n  team: [anna, karl]\n"})
    _mail_apply(slapd, root, mail_root, "Apply complete!")
    append(dovecot, "karl@oldbrand.example", MESSAGE)
    result = run_cli(None, "domain", "rename", "oldbrand.example", "newbrand.example", "-d", str(root))
    assert result.exit_code == 0, result.output
    out = _mail_apply(slapd, root, mail_root, "Apply complete!")
    for box in ("anna", "karl"):
        assert f"maildir.{box}@oldbrand.example has moved to maildir.{box}@newbrand.example" in out, out
    # the one thing destroyed is the list (it holds no data; re-created under the new name)
    assert [line.strip().split(" will")[0] for line in out.splitlines() if "will be destroyed" in line] == [
        "# alias.team@oldbrand.example"], out
    # added: the new domain and the list; changed: the old domain (now an alias domain), each
    # mailbox's entry and maildir (moved)
    assert "Plan: 2 to add, 5 to change, 1 to destroy." in out, out
    conn = imap(dovecot, "karl@newbrand.example")  # the old password, the new address
    try:
        typ, data = conn.select("INBOX")
        assert typ == "OK" and data == [b"1"]
        typ, fetched = conn.fetch("1", "(BODY.PEEK[])")
        body = fetched[0][1]
        assert typ == "OK" and isinstance(body, bytes)
        assert body.replace(b"\r\n", b"\n") == MESSAGE.replace(b"\r\n", b"\n")
    finally:
        conn.logout()
    assert not (mail_root / "oldbrand.example" / "karl").exists()
    with pytest.raises(imaplib.IMAP4.error):
        imap(dovecot, "karl@oldbrand.example")  # the old address is an alias domain's: no login


def test_drop_old_against_slapd_destroys_the_old_domain_only_after_its_mailboxes_moved(
        slapd: SlapdInstance, tmp_path: Path) -> None:
    _, root = estate_repo(tmp_path)
    apply_ok(slapd, root)
    result = run_cli(None, "domain", "rename", "hartcole.example", "hartcole-law.example", "--drop-old", "-d",
                     str(root))
    assert result.exit_code == 0, result.output
    data = plan_data(slapd, root)
    deleted = sorted((c["kind"], c["key"]) for c in data["changes"] if c["action"] == "delete")
    assert deleted == [("alias", f"{n}@hartcole.example") for n in ("associates", "office", "partners")] + [
        ("domain", "hartcole.example")]
    renamed = {c["key"] for c in data["changes"] if c.get("renamed_from")}
    assert renamed == {f"{b}@hartcole-law.example" for b in BOXES}
    apply_ok(slapd, root)
    assert_converged(slapd, root)


def test_a_batch_renames_then_uses_the_new_name_all_or_nothing(tmp_path: Path) -> None:
    root = example(tmp_path)
    ops = [{"op": "domain.rename", "domain": "riverside-school.example", "new": "riverside.example"},
           {"op": "mailbox.add", "address": "newstaff@riverside.example", "name": "Head"}]
    original = snapshot(root)
    # the old name kept as an alias domain is a domain of the tenant: its limit counts it
    result, diff = edit(root, "batch", "-", input="".join(json.dumps(op) + "\n" for op in ops))
    assert result.exit_code == 1 and diff == {} and snapshot(root) == original, result.output
    assert "school/tenant.yaml:7:3: limits.max_domains: tenant school has 2 domains, over its limit of 1" in (
        result.stderr)
    ops.insert(0, {"op": "tenant.set", "tenant": "school", "set": {"limits.max_domains": 2}})
    result, diff = edit(root, "batch", "-", input="".join(json.dumps(op) + "\n" for op in ops))
    assert result.exit_code == 0, result.output
    assert sorted(diff) == ["tenants/southbay/school/riverside-school.example.yaml",
                            "tenants/southbay/school/riverside.example.yaml", "tenants/southbay/school/tenant.yaml"]
    assert "  newstaff:" in (root / "tenants/southbay/school/riverside.example.yaml").read_text(encoding="utf-8")
    # a forward elsewhere to an old address: the alias domain keeps it working; with
    # --drop-old the estate would no longer host that domain, so the forward names the new one
    ops = [{"op": "forward.set", "address": "noc@northwind.example", "to": ["j.hart@hartcole.example"]},
           {"op": "domain.rename", "domain": "hartcole.example", "new": "hartcole-law.example", "drop_old": True}]
    result, diff = edit(root, "batch", "-", input="".join(json.dumps(op) + "\n" for op in ops))
    assert result.exit_code == 0, result.output
    assert diff["tenants/northwind/northwind.example.yaml"] == [
        "+    forward:", "+      to: [j.hart@hartcole-law.example]"], diff["tenants/northwind/northwind.example.yaml"]
    assert not (root / LAW / "hartcole.example.yaml").exists()


def test_vacation_filters_forwards_extra_addresses_and_records_move_too(slapd: SlapdInstance, tmp_path: Path) -> None:
    """northwind.example without its web sites: mailboxes with a vacation and filters (Sieve),
    a forward, extra addresses, lists and DNS records -- renamed, only the lists re-made."""
    repo, root = estate_repo(tmp_path)
    path = root / "tenants/northwind/northwind.example.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("\nweb:\n") + 1].replace("services: [mail, web, dns]", "services: [mail, dns]"),
                    encoding="utf-8")
    repo.git.add(A=True)
    repo.index.commit("northwind.example without web")
    apply_ok(slapd, root)
    result = run_cli(None, "domain", "rename", "northwind.example", "northwind.net.example", "--commit", "-d",
                     str(root))
    assert result.exit_code == 0, result.output
    full = plan_data(slapd, root)
    listed = sorted((c["action"], c["kind"], c["key"]) for c in full["changes"])
    assert {(kind, key) for action, kind, key in listed if action == "delete"} == {
        ("alias", "postmaster@northwind.example"), ("alias", "sales@northwind.example")}, listed
    renamed = {c["kind"] for c in full["changes"] if c.get("renamed_from")}
    assert "mailbox" in renamed, listed
    for narrowed in (["--tenant", "northwind"], ["--changed-since", "HEAD~1"]):
        found = run_cli(slapd, "plan", "--json", *narrowed, "-d", str(root))
        assert found.exit_code == 0, found.output
        assert sorted((c["action"], c["kind"], c["key"]) for c in json.loads(found.stdout)["changes"]) == listed
    apply_ok(slapd, root)
    assert_converged(slapd, root)


def test_every_service_sees_a_rename_of_each_mailbox_and_the_old_zone_kept(tmp_path: Path) -> None:
    """Compiled with every service: each mailbox's resources (entry, maildir, Sieve script) name
    their old address as previous (a planned rename); the old zone keeps its records and MX."""
    root = example(tmp_path)
    path = root / "tenants/northwind/northwind.example.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("\nweb:\n") + 1].replace("services: [mail, web, dns]", "services: [mail, dns]"),
                    encoding="utf-8")
    _, before = load_desired(root)
    assert edit(root, "domain", "rename", "northwind.example", "northwind.net.example")[0].exit_code == 0
    _, after = load_desired(root)
    moved = {ident: r for ident, r in after.items() if ident[1].endswith("@northwind.net.example")
             and ident[0] != "alias"}
    assert {kind for kind, _ in moved} == {"mailbox", "maildir", "sieve"}
    for (kind, key), resource in moved.items():
        assert resource.previous == (key.replace("@northwind.net.example", "@northwind.example"),), (kind, key)
        assert (kind, resource.previous[0]) in before and (kind, resource.previous[0]) not in after
    old_zone = {key for kind, key in before if kind == "dns" and key.startswith("northwind.example/")}
    assert "northwind.example/@/MX" in old_zone
    assert old_zone == {key for kind, key in after if kind == "dns" and key.startswith("northwind.example/")}
    assert {k.replace("northwind.example/", "northwind.net.example/") for k in old_zone} == {
        key for kind, key in after if kind == "dns" and key.startswith("northwind.net.example/")}


def test_alias_domains_of_the_old_name_point_at_the_new_one(tmp_path: Path) -> None:
    root = example(tmp_path)
    other = root / "tenants/southbay/rs.example.yaml"
    other.write_text("# the short name\ndomain: rs.example\ntype: alias\nalias_of: riverside-school.example\n",
                     encoding="utf-8")
    result, diff = edit(root, "domain", "rename", "riverside-school.example", "riverside.example", "--drop-old")
    assert result.exit_code == 0, result.output
    assert diff["tenants/southbay/rs.example.yaml"] == ["-alias_of: riverside-school.example",
                                                       "+alias_of: riverside.example"]
