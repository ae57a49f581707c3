"""Two resellers, each with its own repository and its own read-only account, against the
real slapd: each plans its own repository and sees only its own entries, never plans a
delete of the other's; the ISP's estate (its repository naming both) plans and applies both.

The access rules are the ones ispctl ships (``providers/ldap/access.py``); each reseller's
account reads ``o=<reseller>,<base>`` and the base entry only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import git
import pytest
from ldap_helpers import BASE, HASH, ldap_ok, run_cli
from test_sources import commit_all, write

from ispctl.providers.ldap.access import Accounts, access_rules
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha

PASSWORDS = {"northwind": "nw-reader-secret-1", "southbay": "sb-reader-secret-2"}
DOMAINS = {"northwind": "northwind.example", "southbay": "southbay.example"}


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISPCTL_SOURCE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ISPCTL_PROVIDERS", "ldap")


def account(slapd: SlapdInstance, name: str) -> str:
    return f"cn={name}-plan,{slapd.suffix}"


def reseller_files(name: str, boxes: tuple[str, ...]) -> dict[str, Any]:
    domain = DOMAINS[name]
    box = {b: {"password": HASH} for b in boxes}
    return {
        "desired-state/ispctl.yaml": {"site": {"path": "../../isp"}, "source": name},
        f"desired-state/tenants/{name}/tenant.yaml": {"name": name.title()},
        f"desired-state/tenants/{name}/{domain}.yaml": {"domain": domain, "mailboxes": box,
                                                        "aliases": {"info": [boxes[0]]}},
        f"desired-state/tenants/{name}/{name}-client/tenant.yaml": {"name": f"{name} client"},
        f"desired-state/tenants/{name}/{name}-client/shop.{domain}.yaml":
            {"domain": f"shop.{domain}", "mailboxes": {"orders": {"password": HASH}}},
    }


def set_up(tmp_path: Path) -> tuple[Path, str, dict[str, Path]]:
    """The ISP's repository (northwind from a git URL at a pinned commit, southbay from a
    local checkout) and both resellers' repositories; returns the ISP's root, northwind's bare
    URL and each reseller's desired-state folder."""
    roots = {}
    for name, boxes in (("northwind", ("anna", "ben")), ("southbay", ("dora",))):
        write(tmp_path / name, reseller_files(name, boxes))
        commit_all(tmp_path / name)
        roots[name] = tmp_path / name / "desired-state"
    bare = tmp_path / "northwind.git"
    git.Repo(tmp_path / "northwind").clone(str(bare), bare=True)
    isp = tmp_path / "isp" / "desired-state"
    pin(isp, bare.as_uri(), git.Repo(tmp_path / "northwind").head.commit.hexsha)
    commit_all(tmp_path / "isp")
    return isp, bare.as_uri(), roots


def pin(isp: Path, url: str, commit: str) -> None:
    write(isp, {"ispctl.yaml": {"directory": {"base_dn": BASE},
                                "sources": {"northwind": {"git": url, "commit": commit},
                                            "southbay": {"path": "../../southbay"}}}})


def grant_readers(slapd: SlapdInstance) -> None:
    """Each reseller's read-only account, and the shipped access rules ahead of the sandbox's."""
    records = [f"dn: {account(slapd, n)}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
               f"cn: {n}-plan\nuserPassword: {ssha(PASSWORDS[n])}\n" for n in PASSWORDS]
    ldap_ok(slapd.ldapadd("\n".join(records)))
    accounts = Accounts(apply=slapd.bind_dn, plan=f"cn=nobody,{slapd.suffix}",
                        resellers={n: account(slapd, n) for n in PASSWORDS})
    values = "".join(f"olcAccess: {{{i}}}{rule}\n" for i, rule in enumerate(access_rules(BASE, accounts)))
    ldif = f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n{values}"
    ldap_ok(slapd.external("ldapmodify", input=ldif))


def visible(slapd: SlapdInstance, name: str) -> set[str]:
    """DNs the reseller's account finds under the managed base, with the real ldapsearch."""
    result = subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", slapd.url,
                             "-D", account(slapd, name), "-w", PASSWORDS[name], "-b", BASE, "(objectClass=*)", "1.1"],
                            capture_output=True, text=True, check=True)
    return {line[4:].lower() for line in result.stdout.splitlines() if line.startswith("dn: ")}


def plan_json(slapd: SlapdInstance, root: Path, name: str | None) -> dict[str, Any]:
    """The plan of ``root`` as JSON, as the reseller's account (None: the root DN)."""
    env = {} if name is None else {"ISPCTL_LDAP_BIND_DN": account(slapd, name), "ISPCTL_LDAP_PASSWORD": PASSWORDS[name]}
    result = run_cli(slapd, "plan", "--json", "-d", str(root), **env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def plan_as(slapd: SlapdInstance, root: Path, name: str | None) -> dict[str, str]:
    """address -> action of the plan of ``root``."""
    return {c["address"]: c["action"] for c in plan_json(slapd, root, name)["changes"]}


def apply(slapd: SlapdInstance, root: Path) -> None:
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(root))
    assert result.exit_code == 0, result.output


def test_each_reseller_plans_its_own_repository_and_the_isp_applies_both(slapd: SlapdInstance, tmp_path: Path) -> None:
    isp, url, roots = set_up(tmp_path)
    first = plan_as(slapd, isp, None)
    assert {"mailbox.anna@northwind.example", "mailbox.dora@southbay.example", "tenant.southbay-client",
            "mailbox.orders@shop.northwind.example"} <= set(first)
    apply(slapd, isp)
    assert plan_as(slapd, isp, None) == {}
    grant_readers(slapd)

    # Each account sees its own subtree (and the base entry), nothing of the other's.
    for name, other in (("northwind", "southbay"), ("southbay", "northwind")):
        seen = visible(slapd, name)
        assert f"o={name},{BASE}".lower() in seen and f"o={other},{BASE}".lower() not in seen
        assert not any(other in dn for dn in seen)
        assert any(f"uid=orders@shop.{DOMAINS[name]}" in dn for dn in seen)
        # Its own repository, its own account: in step with the directory.
        assert plan_as(slapd, roots[name], name) == {}

    # northwind changes its repository: one mailbox goes, one comes.
    write(tmp_path / "northwind", reseller_files("northwind", ("anna", "eve")))
    expected = {"mailbox.ben@northwind.example": "delete", "mailbox.eve@northwind.example": "create"}
    assert plan_as(slapd, roots["northwind"], "northwind") == expected
    # Even with an account that sees the whole directory, the other reseller's subtree and the
    # ISP's are not in this repository, and that is never read as "delete them".
    assert plan_as(slapd, roots["northwind"], None) == expected
    assert plan_as(slapd, roots["southbay"], None) == {}

    # The ISP takes northwind's reviewed commit by pinning it, plans and applies the whole estate.
    commit = commit_all(tmp_path / "northwind", "ben leaves, eve joins")
    git.Repo(tmp_path / "northwind").git.push(url, "main")
    assert plan_as(slapd, isp, None) == {}  # still pinned to the old commit
    pin(isp, url, commit)
    full = plan_json(slapd, isp, None)
    assert {c["address"]: c["action"] for c in full["changes"]} == expected
    # The plan says which commit of each repository it was made from.
    assert full["meta"]["sources"] == {"northwind": commit, "southbay": None}
    assert "confined" not in full["meta"]
    assert plan_json(slapd, roots["southbay"], "southbay")["meta"]["confined"] == ["southbay"]
    apply(slapd, isp)
    assert plan_as(slapd, isp, None) == {}
    assert plan_as(slapd, roots["northwind"], "northwind") == {}
    assert plan_as(slapd, roots["southbay"], "southbay") == {}
    assert slapd.ldapsearch(BASE, "(uid=dora@southbay.example)", "1.1")


def test_a_reseller_repository_never_plans_outside_its_subtree(slapd: SlapdInstance, tmp_path: Path) -> None:
    """A reseller whose repository is empty of mailboxes plans deletes of its own entries only,
    though the root account shows it everything."""
    isp, _url, roots = set_up(tmp_path)
    apply(slapd, isp)
    (roots["southbay"] / "tenants/southbay/southbay.example.yaml").unlink()
    changes = plan_as(slapd, roots["southbay"], None)
    assert changes and all(a == "delete" for a in changes.values())
    assert all("southbay" in address for address in changes), changes


def test_taking_another_resellers_domain_is_refused(slapd: SlapdInstance, tmp_path: Path) -> None:
    """northwind's repository declares southbay's client's domain: with an account that sees
    southbay's entry, the plan would move it out of southbay's subtree, and is refused."""
    isp, _url, roots = set_up(tmp_path)
    apply(slapd, isp)
    write(roots["northwind"], {"tenants/northwind/shop.southbay.example.yaml": {"domain": "shop.southbay.example"}})
    result = run_cli(slapd, "plan", "-d", str(roots["northwind"]))
    assert result.exit_code == 1, result.output
    assert "this repository plans only for northwind, but the plan needs changes outside: " in result.output
    assert "domain.shop.southbay.example" in result.output
    assert "Traceback" not in result.output
