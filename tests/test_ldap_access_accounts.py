"""The accounts ``ispctl.yaml`` declares (``directory.accounts``): the access rules ``render access``
writes from them, the DN each ``render <service>`` writes, and refusing ispctl's own accounts.

What each account may do against a real slapd is tested in test_ldap_access.py, on test slapds
whose rules are the sandbox's accounts'; here: the example estate's declaration renders exactly
those rules, and a real slapd carries them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.ldap.access import access_ldif
from ispctl.providers.ldap.sandbox.accounts import account_dn, sandbox_accounts
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.ldap.settings import ROLES
from tests.ldap_helpers import EXAMPLE, copy_example, edit_yaml, run_cli

SUFFIX = "dc=example,dc=net"
APPLY = account_dn("apply", SUFFIX)
PLAN = account_dn("plan", SUFFIX)
# Where a machine keeps its own settings: the URL, ispctl's own account, the services' passwords.
MACHINE = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:3890", "ISPCTL_LDAP_BIND_DN": APPLY,
           "ISPCTL_LDAP_PASSWORD": "apply-secret"}
SERVICES = ("dovecot", "postfix", "pureftpd", "freeradius")
FLAGS = ("--apply-dn", APPLY, "--plan-dn", PLAN, *(arg for role in SERVICES
                                                    for arg in (f"--{role}-dn", account_dn(role, SUFFIX))))


def rendered(tmp_path: Path, *args: str, estate: Path = EXAMPLE) -> str:
    out = tmp_path / f"access-{len(list(tmp_path.iterdir()))}.ldif"
    result = run_cli(None, "render", "access", "--out", str(out), "-d", str(estate), *args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def without_accounts(tmp_path: Path) -> Path:
    estate = copy_example(tmp_path)

    def drop(data: Any) -> None:
        del data["directory"]["accounts"]

    edit_yaml(estate / "ispctl.yaml", drop)
    return estate


# -- render access ----------------------------------------------------------------------------

def test_render_access_from_the_estate_equals_the_flags_and_the_sandboxs_rules(tmp_path: Path) -> None:
    from_estate = rendered(tmp_path)
    assert from_estate == rendered(tmp_path, *FLAGS, estate=without_accounts(tmp_path))
    # The sandbox's (and test) slapds are built with these accounts' rules (sandbox/accounts.py).
    assert from_estate == access_ldif("ou=ispctl,dc=example,dc=net", sandbox_accounts(SUFFIX, ftp=True, radius=True))


def test_a_flag_overrides_its_role_only(tmp_path: Path) -> None:
    other = "cn=imap,ou=services,dc=example,dc=net"
    from_estate = rendered(tmp_path)
    overridden = rendered(tmp_path, "--dovecot-dn", other, "--reseller", f"northwind=cn=nw,ou=services,{SUFFIX}",
                          "--no-plan-passwords")
    assert account_dn("dovecot", SUFFIX) in from_estate and account_dn("dovecot", SUFFIX) not in overridden
    assert other in overridden and "o=northwind" in overridden and "o=northwind" not in from_estate
    assert account_dn("postfix", SUFFIX) in overridden
    # --no-plan-passwords: the plan account no longer reads userPassword.
    hashes = [line for line in overridden.splitlines() if "attrs=userPassword by" in line]
    assert len(hashes) == 1 and PLAN not in hashes[0], hashes


def test_plan_reads_passwords_is_declared_too(tmp_path: Path) -> None:
    estate = copy_example(tmp_path)

    def no_hashes(data: Any) -> None:
        data["directory"]["accounts"]["plan_reads_passwords"] = False

    edit_yaml(estate / "ispctl.yaml", no_hashes)
    assert rendered(tmp_path, estate=estate) == rendered(tmp_path, "--no-plan-passwords")


def test_without_apply_and_plan_declared_or_given_render_access_says_what_to_write(tmp_path: Path) -> None:
    estate = without_accounts(tmp_path)
    result = run_cli(None, "render", "access", "--out", str(tmp_path / "a.ldif"), "-d", str(estate),
                     "--plan-dn", PLAN)
    assert result.exit_code == 1 and "directory.accounts.apply" in result.stderr, result.output
    assert "directory.accounts.plan " not in result.stderr and not (tmp_path / "a.ldif").exists()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    instance = SlapdInstance(tmp_path_factory.mktemp("declared") / "slapd")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_a_real_slapd_carries_the_rules_the_estate_declares(slapd: SlapdInstance, tmp_path: Path) -> None:
    found = slapd.external("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", "olcDatabase={1}mdb,cn=config",
                           "-s", "base", "olcAccess")
    assert found.returncode == 0, found.stderr
    loaded = [value for value in re.findall(r"^olcAccess: \{\d+\}(.*)$", found.stdout, re.M)]
    declared = re.findall(r"^olcAccess: \{\d+\}(.*)$", rendered(tmp_path), re.M)
    # Ours come first; the two after them cover the rest of the suffix (slapd.py).
    assert declared and loaded[:len(declared)] == declared


# -- render <service> -------------------------------------------------------------------------

def render(tmp_path: Path, service: str, *args: str, **env: str) -> tuple[int, str, str]:
    out = tmp_path / service
    result = run_cli(None, "render", service, "--out", str(out), "-d", str(EXAMPLE), *args, **{**MACHINE, **env})
    files = "".join(p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file())
    return result.exit_code, result.output, files


@pytest.mark.parametrize("service", SERVICES)
def test_render_writes_the_estates_account_for_its_role(service: str, tmp_path: Path) -> None:
    code, output, files = render(tmp_path, service, **{f"ISPCTL_{service.upper()}_LDAP_PASSWORD": "svc-secret"})
    assert code == 0, output
    assert account_dn(service, SUFFIX) in files and "svc-secret" in files
    assert APPLY not in files and "apply-secret" not in files
    # This machine's variable still overrides the estate's DN.
    other = f"cn={service}-2,ou=services,{SUFFIX}"
    code, output, files = render(tmp_path / "again", service, **{f"ISPCTL_{service.upper()}_LDAP_BIND_DN": other,
                                                                 f"ISPCTL_{service.upper()}_LDAP_PASSWORD": "x"})
    assert code == 0 and other in files and account_dn(service, SUFFIX) not in files, output
    # The estate's DN with a password file of its own.
    secret = tmp_path / "pw"
    secret.write_text("from-file\n", encoding="utf-8")
    code, output, files = render(tmp_path / "file", service, "--password-file", str(secret))
    assert code == 0 and account_dn(service, SUFFIX) in files and "from-file" in files, output


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("spelling", ["CN=ISPCTL-Apply,OU=Services,DC=Example,DC=Net", PLAN.upper(),
                                      "cn=freeradius,ou=services,dc=example,dc=net"])
def test_render_refuses_another_roles_account_under_any_spelling(service: str, spelling: str,
                                                                 tmp_path: Path) -> None:
    if spelling.startswith("cn=freeradius") and service == "freeradius":
        spelling = account_dn("dovecot", SUFFIX)
    secret = tmp_path / "pw"
    secret.write_text("x\n", encoding="utf-8")
    # Neither this machine's ISPCTL_LDAP_BIND_DN nor ISPCTL_PLAN_LDAP_BIND_DN names them: the estate does.
    for args, env in ((("--bind-dn", spelling, "--password-file", str(secret)), {}),
                      ((), {f"ISPCTL_{service.upper()}_LDAP_BIND_DN": spelling,
                            f"ISPCTL_{service.upper()}_LDAP_PASSWORD": "x", "ISPCTL_LDAP_BIND_DN": "cn=me,dc=x"})):
        code, output, files = render(tmp_path, service, *args, **env)
        assert code == 1 and files == "", output
        role = next(r for r in ROLES if account_dn(r, SUFFIX).lower() == spelling.lower())
        assert f"directory.accounts.{role} in ispctl.yaml" in output and f"render {service}:" in output, output
        if role in ("apply", "plan"):
            assert "is ispctl's own account" in output
