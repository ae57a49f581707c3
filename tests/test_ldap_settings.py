"""The ``directory:`` section: the managed base and the accounts declared by role (DNs only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ispctl.providers.ldap.settings import DirectoryAccounts, DirectorySettings
from tests.ldap_helpers import BASE, EXAMPLE, write_estate
from tests.wiring import load_estate, problems_of

SERVICES = "ou=services,dc=example,dc=net"


def site_with_accounts(root: Path, accounts: str) -> Path:
    """An estate whose ispctl.yaml declares ``accounts`` (lines 3 onwards, indented by 4)."""
    write_estate(root, {})
    text = f"directory:\n  base_dn: {BASE}\n  accounts:\n{accounts}"
    (root / "ispctl.yaml").write_text(text, encoding="utf-8")
    return root


def test_the_examples_accounts_are_read_by_role() -> None:
    estate, problems = load_estate(EXAMPLE)
    assert problems == [] and estate is not None
    accounts = estate.site.directory.accounts
    assert isinstance(accounts, DirectoryAccounts)
    assert (accounts.apply, accounts.plan) == (f"cn=ispctl-apply,{SERVICES}", f"cn=ispctl-plan,{SERVICES}")
    assert [accounts.dovecot, accounts.postfix, accounts.pureftpd, accounts.freeradius] == [
        f"cn={role},{SERVICES}" for role in ("dovecot", "postfix", "pureftpd", "freeradius")]
    assert accounts.resellers == {} and accounts.plan_reads_passwords is True


def test_accounts_are_optional_and_a_reseller_has_its_own() -> None:
    assert DirectorySettings(base_dn=BASE).accounts == DirectoryAccounts()
    settings = DirectorySettings.model_validate({"base_dn": BASE, "accounts": {
        "apply": f"cn=a,{SERVICES}", "plan": f"cn=p,{SERVICES}", "resellers": {"northwind": f"cn=nw,{SERVICES}"},
        "plan_reads_passwords": False}})
    assert settings.accounts.declared() == [(("apply",), f"cn=a,{SERVICES}"), (("plan",), f"cn=p,{SERVICES}"),
                                            (("resellers", "northwind"), f"cn=nw,{SERVICES}")]


def test_malformed_dns_are_refused_at_their_line(tmp_path: Path) -> None:
    root = site_with_accounts(tmp_path / "estate", (
        "    apply: not a dn\n"
        "    plan: 'cn=\"quoted\",dc=example,dc=net'\n"
        "    dovecot: ''\n"
        "    postfix: cn=postfix\\,x,dc=example,dc=net\n"
        "    resellers:\n"
        "      northwind: dc=x,,dc=y\n"
        "    owner: cn=x,dc=y\n"))
    assert [str(p) for p in problems_of(root)] == [
        "estate/ispctl.yaml:4:5: directory.accounts.apply: is not a distinguished name such as ou=ispctl,"
        "dc=example,dc=net (attribute type not present)",
        "estate/ispctl.yaml:5:5: directory.accounts.plan: contains a quote or backslash, which an access rule cannot "
        "carry: use a DN without them",
        "estate/ispctl.yaml:6:5: directory.accounts.dovecot: is empty: write the account's DN, or leave the role out",
        "estate/ispctl.yaml:7:5: directory.accounts.postfix: contains a quote or backslash, which an access rule "
        "cannot carry: use a DN without them",
        "estate/ispctl.yaml:9:7: directory.accounts.resellers.northwind: is not a distinguished name such as ou=ispctl,"
        "dc=example,dc=net (special character , must be escaped)",
        "estate/ispctl.yaml:10:5: directory.accounts.owner: unknown field 'owner'; allowed here: apply, dovecot, "
        "freeradius, plan, plan_reads_passwords, postfix, pureftpd, resellers",
    ]


def test_accounts_inside_the_base_or_shared_between_roles_are_refused_at_their_line(tmp_path: Path) -> None:
    root = site_with_accounts(tmp_path / "estate", (
        f"    apply: cn=ispctl-apply,{SERVICES}\n"
        f"    plan: cn=plan,{BASE}\n"
        f"    dovecot: CN=ISPCTL-Apply,OU=Services,dc=Example,dc=net\n"  # apply's, spelt differently
        f"    postfix: cn=mail,{SERVICES}\n"
        f"    pureftpd: cn=mail,{SERVICES}\n"
        "    resellers:\n"
        f"      northwind: {BASE}\n"))
    assert [str(p) for p in problems_of(root)] == [
        f"estate/ispctl.yaml:5:5: directory.accounts.plan: plan's account must be outside the managed subtree {BASE} "
        "(ispctl would treat it as one of its entries)",
        "estate/ispctl.yaml:6:5: directory.accounts.dovecot: dovecot's account is also apply's: each role needs an "
        "account of its own (apply's may write: never give it to a service)",
        "estate/ispctl.yaml:8:5: directory.accounts.pureftpd: pureftpd's account is also postfix's: each role needs an "
        "account of its own",
        f"estate/ispctl.yaml:10:7: directory.accounts.resellers.northwind: reseller northwind's account must be "
        f"outside the managed subtree {BASE} (ispctl would treat it as one of its entries)",
    ]


@pytest.mark.parametrize("value", ["yes please", 2])
def test_plan_reads_passwords_is_a_flag(value: object) -> None:
    with pytest.raises(ValidationError):
        DirectorySettings.model_validate({"base_dn": BASE, "accounts": {"plan_reads_passwords": value}})
