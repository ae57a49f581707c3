"""Least privilege in the directory: each account does what it must and nothing else (real slapd).

The test slapd carries the accounts and ``access_rules`` (sandbox/accounts.py); the reseller
rules are applied at run time from ``ispctl render access``'s LDIF with the real ldapmodify,
as an operator would. Everything is checked with the real ldap-utils, ispctl and Dovecot.
"""

from __future__ import annotations

import base64
import imaplib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.dovecot.sandbox.component import DovecotComponent
from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ftp.render import FILTER
from ispctl.providers.ldap.access import Accounts, access_ldif, access_rules
from ispctl.providers.ldap.sandbox.component import LdapComponent
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.providers.radius.render import PROFILE_FILTER, USER_FILTER
from ispctl.reconciler.contract import ConfigError
from tests.ftp_helpers import ANN, BOB, FROZEN_SITE, JOE, SITE, ZED, FtpEstate, ftp_estate
from tests.ldap_helpers import BASE, copy_example, edit_yaml, run_cli
from tests.test_radius_radiusd import write_estate as radius_estate

PASSWORD = "access-Test-pa55"
NORTHWIND = "tenants/northwind/northwind.example.yaml"
NOC = "noc@northwind.example"
SUPPORT = "support@northwind.example"
BILLING = "billing@northwind.example"


@dataclass
class Directory:
    slapd: SlapdInstance
    estate: Path

    def creds(self, role: str) -> dict[str, str]:
        """ispctl's ISPCTL_LDAP_* for one of the accounts."""
        env = self.slapd.account_env(role)
        return {"ISPCTL_LDAP_BIND_DN": env["ISPCTL_LDAP_BIND_DN"], "ISPCTL_LDAP_PASSWORD": env["ISPCTL_LDAP_PASSWORD"]}

    def dn_of(self, address: str) -> str:
        found = [line[4:] for line in self.slapd.ldapsearch(BASE, f"(mail={address})", "1.1").splitlines()
                 if line.startswith("dn: ")]
        assert len(found) == 1, found
        return found[0]

    def tool(self, tool: str, dn: str | None, password: str | None, *args: str,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """A real ldap-utils call bound as ``dn`` (anonymous when None)."""
        bind = ["-D", dn, "-w", password] if dn is not None and password is not None else []
        bind += ["-o", "ldif-wrap=no"] if tool == "ldapsearch" else []
        return subprocess.run([tool, "-x", "-H", self.slapd.url, *bind, *args], input=input,
                              capture_output=True, text=True, check=False, timeout=30)

    def search_as(self, role: str, *args: str) -> subprocess.CompletedProcess[str]:
        creds = self.creds(role)
        return self.tool("ldapsearch", creds["ISPCTL_LDAP_BIND_DN"], creds["ISPCTL_LDAP_PASSWORD"], "-LLL", *args)


def dns_in(ldif: str) -> list[str]:
    found = [line[4:] for line in ldif.splitlines() if line.startswith("dn: ")]
    found += [base64.b64decode(line[5:]).decode() for line in ldif.splitlines() if line.startswith("dn:: ")]
    return [dn.lower() for dn in found]


def flags_only(estate: Path, tmp_path: Path) -> Path:
    """A copy of ``estate``'s ispctl.yaml declaring no accounts: ``render access`` then writes the
    flags' accounts' rules only, which these tests add ahead of the slapd's own."""
    site = tmp_path / "flags-only"
    site.mkdir()
    (site / "ispctl.yaml").write_text((estate / "ispctl.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    edit_yaml(site / "ispctl.yaml", lambda data: data["directory"].pop("accounts", None))
    return site


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    base = tmp_path_factory.mktemp("access")
    slapd = SlapdInstance(base / "slapd")
    slapd.start()
    try:
        estate = copy_example(base)
        hashed = run_cli(None, "hash-password", input=PASSWORD + "\n").stdout.strip()

        def set_passwords(data: Any) -> None:
            for box in (data.get("mailboxes") or {}).values():
                box["password"] = hashed

        for path in sorted((estate / "tenants").rglob("*.yaml")):
            if path.name != "tenant.yaml":
                edit_yaml(path, set_passwords)
        prepared = Directory(slapd, estate)
        # The apply account (not the rootDN) builds the whole example estate.
        applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **prepared.creds("apply"))
        assert applied.exit_code == 0 and "Apply complete!" in applied.stdout, applied.output
        yield prepared
    finally:
        slapd.stop()


# -- the rules themselves ----------------------------------------------------------------------

def test_rules_put_narrow_subtrees_first_and_close_the_managed_subtree() -> None:
    rules = access_rules(BASE, Accounts("cn=a,dc=x", "cn=p,dc=x", "cn=d,dc=x", "cn=m,dc=x",
                                        {"acme": "cn=acme,dc=x"}))
    assert rules[0] == f'to dn.subtree="o=acme,{BASE}" by dn.exact="cn=acme,dc=x" read by * break'
    assert rules[1].startswith(f'to dn.base="{BASE}" attrs=entry,objectClass by dn.exact="cn=acme,dc=x" read')
    hashes, rest = rules[2], rules[3]
    assert hashes.startswith(f'to dn.subtree="{BASE}" attrs=userPassword by dn.exact="cn=a,dc=x" write')
    assert '"cn=d,dc=x" read' in hashes and '"cn=p,dc=x" read' in hashes and "cn=m,dc=x" not in hashes
    assert hashes.endswith("by self =w by anonymous auth by * none")
    assert '"cn=m,dc=x" read' in rest and rest.endswith("by * none") and len(rules) == 4


def test_plan_accounts_can_be_kept_from_hashes() -> None:
    rules = access_rules(BASE, Accounts("cn=a,dc=x", "cn=p,dc=x", resellers={"acme": "cn=acme,dc=x"},
                                        plan_reads_passwords=False))
    assert rules[0] == f'to dn.subtree="o=acme,{BASE}" attrs=userPassword by dn.exact="cn=acme,dc=x" none by * break'
    hashes = next(r for r in rules if r.startswith(f'to dn.subtree="{BASE}" attrs=userPassword'))
    assert "cn=p,dc=x" not in hashes


def test_freeradius_rules_come_before_the_subtrees_and_keep_its_secrets_from_the_mail_servers() -> None:
    rules = access_rules(BASE, Accounts("cn=a,dc=x", "cn=p,dc=x", "cn=d,dc=x", "cn=m,dc=x",
                                        {"acme": "cn=acme,dc=x"}, plan_reads_passwords=False,
                                        freeradius="cn=r,dc=x"))
    assert rules[0].startswith(f'to dn.subtree="o=acme,{BASE}" attrs=userPassword,ispctlRadiusNTHash,'
                               'ispctlRadiusCleartext by dn.exact="cn=acme,dc=x" none')
    lookups = next(r for r in rules if "filter=(objectClass=radiusprofile)" in r)
    assert lookups.endswith('by dn.exact="cn=r,dc=x" read by * break') and "attrs=entry,objectClass,uid," in lookups
    secrets = next(r for r in rules if r.startswith(f'to dn.subtree="{BASE}" attrs=ispctlRadiusNTHash'))
    assert secrets == (f'to dn.subtree="{BASE}" attrs=ispctlRadiusNTHash,ispctlRadiusCleartext '
                       'by dn.exact="cn=a,dc=x" write by * none')  # plan kept from hashes: from these too
    assert rules.index(lookups) < rules.index(secrets) < len(rules) - 2
    assert not any("Radius" in r for r in access_rules(BASE, Accounts("cn=a,dc=x", "cn=p,dc=x")))


def test_pureftpds_rules_come_before_the_subtree_rules_and_name_only_ftp_attributes() -> None:
    rules = access_rules(BASE, Accounts("cn=a,dc=x", "cn=p,dc=x", pureftpd="cn=f,dc=x"))
    assert rules[0] == f'to dn.base="{BASE}" attrs=entry by dn.exact="cn=f,dc=x" search by * break'
    assert rules[1].startswith(f'to dn.subtree="{BASE}" filter=(objectClass=ispctlFtpUser) attrs=entry,objectClass,')
    assert rules[1].endswith('by dn.exact="cn=f,dc=x" read by * break') and "userPassword" not in rules[1]
    assert all("cn=f,dc=x" not in rule for rule in rules[2:])  # nothing else, hashes least of all


@pytest.mark.parametrize("accounts", [
    Accounts('cn=a"b,dc=x', "cn=p,dc=x"),
    Accounts("cn=a,dc=x", "not a dn"),
    Accounts("cn=a,dc=x", "cn=p,dc=x", resellers={"a,b": "cn=r,dc=x"}),
    Accounts("cn=a,dc=x", " "),
])
def test_dns_a_rule_cannot_carry_are_refused(accounts: Accounts) -> None:
    with pytest.raises(ConfigError):
        access_rules(BASE, accounts)


def test_render_access_writes_ldif_for_the_estates_base(tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    # Flags alone (an estate declaring no accounts; the declared ones: test_ldap_access_accounts.py).
    estate = flags_only(estate, tmp_path)
    out = tmp_path / "access.ldif"
    result = run_cli(None, "render", "access", "--out", str(out), "-d", str(estate), "--apply-dn", "cn=a,dc=x",
                     "--plan-dn", "cn=p,dc=x", "--reseller", "northwind=cn=nw,dc=x")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == access_ldif(
        BASE, Accounts("cn=a,dc=x", "cn=p,dc=x", resellers={"northwind": "cn=nw,dc=x"}))
    bad = run_cli(None, "render", "access", "--out", str(out), "-d", str(estate), "--apply-dn", "cn=a,dc=x",
                  "--plan-dn", "cn=p,dc=x", "--reseller", "northwind")
    assert bad.exit_code == 1 and "NAME=ACCOUNT_DN" in bad.stderr and "Traceback" not in bad.output


# -- the accounts against a real slapd ---------------------------------------------------------

def test_plan_account_plans_and_cannot_apply(directory: Directory) -> None:
    planned = run_cli(directory.slapd, "plan", "--detailed-exitcode", "-d", str(directory.estate),
                      **directory.creds("plan"))
    assert planned.exit_code == 0 and "No changes." in planned.stdout, planned.output
    estate = directory.estate.parent / "renamed"
    shutil.copytree(directory.estate, estate)
    edit_yaml(estate / NORTHWIND, lambda d: d["mailboxes"]["noc"].__setitem__("name", "NOC Renamed"))
    planned = run_cli(directory.slapd, "plan", "--json", "-d", str(estate), **directory.creds("plan"))
    assert planned.exit_code == 0 and len(json.loads(planned.stdout)["changes"]) == 1, planned.output
    applied = run_cli(directory.slapd, "apply", "--auto-approve", "-d", str(estate), **directory.creds("plan"))
    assert applied.exit_code == 1 and "Traceback" not in applied.output, applied.output
    assert "insufficient" in applied.output.lower(), applied.output
    assert "'ispctl apply' needs the apply account in ISPCTL_LDAP_BIND_DN" in applied.output
    entry = directory.slapd.ldapsearch(directory.dn_of(NOC), "(objectClass=*)", "displayName", scope="base")
    assert "displayName: Network Operations" in entry
    assert directory.slapd.ldapsearch(f"cn=ispctl-lock,{BASE}", scope="base") == ""


def test_plan_account_cannot_write_anything(directory: Directory) -> None:
    creds = directory.creds("plan")
    change = f"dn: {directory.dn_of(NOC)}\nchangetype: modify\nreplace: description\ndescription: x\n"
    done = directory.tool("ldapmodify", creds["ISPCTL_LDAP_BIND_DN"], creds["ISPCTL_LDAP_PASSWORD"], input=change)
    assert done.returncode == 50, done.stderr  # insufficientAccess
    add = f"dn: o=intruder,{BASE}\nobjectClass: organization\no: intruder\n"
    done = directory.tool("ldapadd", creds["ISPCTL_LDAP_BIND_DN"], creds["ISPCTL_LDAP_PASSWORD"], input=add)
    assert done.returncode == 50, done.stderr


def test_postfix_account_reads_routing_but_never_a_hash(directory: Directory) -> None:
    found = directory.search_as("postfix", "-b", BASE, f"(mail={NOC})", "mail", "ispctlMailAlias", "userPassword")
    assert found.returncode == 0, found.stderr
    assert f"mail: {NOC}" in found.stdout and "ispctlMailAlias: hostmaster" in found.stdout
    assert "userPassword" not in found.stdout
    every = directory.search_as("postfix", "-b", BASE, "(userPassword=*)", "userPassword")
    assert every.returncode == 0 and dns_in(every.stdout) == [], every.stdout
    # Dovecot's account does read the hashes (its passdb verifies them).
    hashes = directory.search_as("dovecot", "-b", BASE, f"(mail={NOC})", "userPassword")
    assert "userPassword:: " in hashes.stdout or "userPassword: {CRYPT}" in hashes.stdout, hashes.stdout


def test_dovecot_authenticates_users_through_its_own_account(directory: Directory) -> None:
    mail_root = Path(tempfile.mkdtemp(prefix="ispctl-test-vmail-"))
    uid, gid = default_mail_owner()
    env = {**directory.slapd.env(), **directory.creds("dovecot")}
    dovecot = DovecotInstance(directory.estate.parent / "dovecot", env, mail_root=mail_root, mail_uid=uid,
                              mail_gid=gid)
    try:
        dovecot.start()
        assert f"dn = \"{directory.creds('dovecot')['ISPCTL_LDAP_BIND_DN']}\"" in (
            dovecot.ldap_conf.read_text(encoding="utf-8"))
        conn = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
        try:
            assert conn.login(NOC, PASSWORD)[0] == "OK"
        finally:
            conn.logout()
    finally:
        dovecot.stop()
        shutil.rmtree(mail_root, ignore_errors=True)


def test_user_changes_its_own_password_and_no_one_elses(directory: Directory) -> None:
    support, billing = directory.dn_of(SUPPORT), directory.dn_of(BILLING)
    changed = directory.tool("ldappasswd", support, PASSWORD, "-s", "support-New-pa55")
    assert changed.returncode == 0, changed.stderr
    assert directory.tool("ldapwhoami", support, "support-New-pa55").returncode == 0
    assert directory.tool("ldapwhoami", support, PASSWORD).returncode == 49  # invalidCredentials
    other = directory.tool("ldappasswd", support, "support-New-pa55", "-s", "stolen", billing)
    assert other.returncode != 0 and "Insufficient access (50)" in other.stdout, other.stdout
    assert directory.tool("ldapwhoami", billing, PASSWORD).returncode == 0
    # A user reads nothing, not even its own entry or hash.
    own = directory.tool("ldapsearch", support, "support-New-pa55", "-LLL", "-b", BASE, "(objectClass=*)")
    assert dns_in(own.stdout) == [], own.stdout


def test_anonymous_sees_nothing_but_users_can_bind(directory: Directory) -> None:
    anonymous = directory.tool("ldapsearch", None, None, "-LLL", "-b", BASE, "(objectClass=*)")
    assert anonymous.returncode in (0, 32) and dns_in(anonymous.stdout) == [], anonymous.stdout
    assert directory.tool("ldapwhoami", directory.dn_of(NOC), PASSWORD).returncode == 0
    denied = directory.tool("ldapmodify", None, None,
                            input=f"dn: {directory.dn_of(NOC)}\nchangetype: modify\nreplace: description\n"
                                  "description: x\n")
    assert denied.returncode in (8, 50), denied.stderr  # strongerAuthRequired / insufficientAccess


def test_reseller_account_sees_only_its_subtree(directory: Directory, tmp_path: Path) -> None:
    slapd = directory.slapd
    accounts = {name: f"cn={name}-plan,ou=services,{slapd.suffix}" for name in ("northwind", "southbay")}
    passwords = {name: f"{name}-Plan-pa55" for name in accounts}
    added = slapd.ldapadd("\n".join(
        f"dn: {dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: {name}-plan\n"
        f"userPassword: {ssha(passwords[name])}\n" for name, dn in accounts.items()))
    assert added.returncode == 0, added.stderr
    out = tmp_path / "access.ldif"
    plan_dn = slapd.account_env("plan")["ISPCTL_PLAN_LDAP_BIND_DN"]
    apply_dn = slapd.account_env("plan")["ISPCTL_LDAP_BIND_DN"]
    rendered = run_cli(None, "render", "access", "--out", str(out), "-d", str(flags_only(directory.estate, tmp_path)),
                       "--apply-dn", apply_dn, "--plan-dn", plan_dn,
                       *[arg for name, dn in accounts.items() for arg in ("--reseller", f"{name}={dn}")])
    assert rendered.exit_code == 0, rendered.output
    loaded = slapd.external("ldapmodify", "-f", str(out))
    assert loaded.returncode == 0, loaded.stderr

    seen = directory.tool("ldapsearch", accounts["northwind"], passwords["northwind"], "-LLL", "-b", BASE,
                          "(objectClass=*)", "1.1")
    names = dns_in(seen.stdout)
    assert names and all(n == BASE or n.endswith(f"o=northwind,{BASE}") for n in names), names
    assert any("northwind.example" in n for n in names) and not any("southbay" in n for n in names)
    # Through ispctl: northwind is all there and converged; southbay's entries are not even seen,
    # so its whole tenant would be "created" (a reseller plans its own estate, not the ISP's).
    planned = run_cli(slapd, "plan", "--json", "-d", str(directory.estate), ISPCTL_LDAP_BIND_DN=accounts["northwind"],
                      ISPCTL_LDAP_PASSWORD=passwords["northwind"])
    assert planned.exit_code == 0, planned.output
    changes = json.loads(planned.stdout)["changes"]
    assert changes and {c["action"] for c in changes} == {"create"}
    assert not any("northwind" in json.dumps(c) and "southbay" not in json.dumps(c) for c in changes), changes
    other = directory.tool("ldapsearch", accounts["southbay"], passwords["southbay"], "-LLL", "-b",
                           f"o=northwind,{BASE}", "(objectClass=*)", "1.1")
    assert dns_in(other.stdout) == [], other.stdout


def test_sandbox_exports_the_apply_account_and_the_read_only_ones(directory: Directory, tmp_path: Path) -> None:
    slapd = directory.slapd
    env = LdapComponent().env(slapd.to_state())
    assert env["ISPCTL_LDAP_BIND_DN"] == f"cn=ispctl-apply,ou=services,{slapd.suffix}" != slapd.bind_dn
    assert env["ISPCTL_PLAN_LDAP_BIND_DN"] == f"cn=ispctl-plan,ou=services,{slapd.suffix}"
    assert slapd.password not in env.values()
    for prefix in ("ISPCTL_LDAP", "ISPCTL_PLAN_LDAP", "ISPCTL_DOVECOT_LDAP", "ISPCTL_POSTFIX_LDAP"):
        whoami = directory.tool("ldapwhoami", env[f"{prefix}_BIND_DN"], env[f"{prefix}_PASSWORD"])
        assert whoami.stdout.strip() == f"dn:{env[f'{prefix}_BIND_DN']}", whoami.stderr
    # The sandbox's Dovecot is configured with its own account, not with ispctl's.
    # (A previous run's mail root, so nothing is made under /var/tmp.)
    dovecot = DovecotComponent().instance(tmp_path / "dovecot", {"mail_root": str(tmp_path / "vmail")}, env)
    assert dovecot.ldap_env["ISPCTL_LDAP_BIND_DN"] == env["ISPCTL_DOVECOT_LDAP_BIND_DN"]
    assert env["ISPCTL_LDAP_PASSWORD"] not in dovecot.ldap_env.values()


def test_plan_account_without_hashes_plans_passwords_owned_by_users(slapd: SlapdInstance, tmp_path: Path) -> None:
    # Passwords belong to their users after creation, so a plan never compares them: a plan
    # account kept from every hash (--no-plan-passwords) still plans the estate as converged.
    estate = copy_example(tmp_path)
    apply_env = slapd.account_env("apply")
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate),
                      ISPCTL_LDAP_BIND_DN=apply_env["ISPCTL_LDAP_BIND_DN"],
                      ISPCTL_LDAP_PASSWORD=apply_env["ISPCTL_LDAP_PASSWORD"])
    assert applied.exit_code == 0, applied.output
    plan_dn = f"cn=nohash-plan,ou=services,{slapd.suffix}"
    added = slapd.ldapadd(f"dn: {plan_dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
                          f"cn: nohash-plan\nuserPassword: {ssha('nohash-Plan-pa55')}\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "access.ldif"
    rendered = run_cli(None, "render", "access", "--out", str(out), "-d", str(flags_only(estate, tmp_path)),
                       "--no-plan-passwords",
                       "--apply-dn", apply_env["ISPCTL_LDAP_BIND_DN"], "--plan-dn", plan_dn)
    assert rendered.exit_code == 0, rendered.output
    loaded = slapd.external("ldapmodify", "-f", str(out))
    assert loaded.returncode == 0, loaded.stderr
    hashes = subprocess.run(["ldapsearch", "-x", "-H", slapd.url, "-D", plan_dn, "-w", "nohash-Plan-pa55", "-LLL",
                             "-b", BASE, "(objectClass=ispctlMailUser)", "mail", "userPassword"],
                            capture_output=True, text=True, check=False, timeout=30)
    assert hashes.returncode == 0 and "mail: noc@northwind.example" in hashes.stdout, hashes.stderr
    assert "userPassword" not in hashes.stdout
    planned = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate), ISPCTL_LDAP_BIND_DN=plan_dn,
                      ISPCTL_LDAP_PASSWORD="nohash-Plan-pa55")
    assert planned.exit_code == 0 and "No changes." in planned.stdout, planned.output


# -- pure-ftpd's account (a slapd with the FTP schema: its rule names the schema's attributes) ------

@pytest.fixture(scope="module")
def ftp_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEstate]:
    with ftp_estate(tmp_path_factory.mktemp("ftp-access")) as applied:
        yield applied


def test_pureftpd_account_looks_up_ftp_logins_and_nothing_else(ftp_directory: FtpEstate) -> None:
    slapd = ftp_directory.slapd
    directory = Directory(slapd, ftp_directory.root)
    joe = directory.dn_of(JOE)
    # What pure-ftpd asks (render.FILTER with \L = the login): found, with the FTP attributes.
    found = directory.search_as("pureftpd", "-b", BASE, FILTER.replace(r"\L", JOE), "*", "userPassword")
    assert found.returncode == 0, found.stderr
    assert dns_in(found.stdout) == [joe.lower()]
    for attr in ("uidNumber: 5000", "gidNumber: 5000", "FTPStatus: enabled", "FTPQuotaMBytes: 1",
                 "FTPQuotaFiles: 5", f"ispctlFtpHome: {ftp_directory.ftp_root}/acme.example/joe"):
        assert attr in found.stdout
    # Never a password hash, nor what other services read (mail routing, display names).
    for hidden in ("userPassword", "mail:", "ispctlEnabledService", "homeDirectory", "cn:", "ispctlFingerprint"):
        assert hidden not in found.stdout
    # A mailbox without FTP, the domains and tenants are invisible to it; the sites' logins are not.
    every = directory.search_as("pureftpd", "-b", BASE, "(objectClass=*)", "1.1")
    sites = [f"uid={site},associatedDomain={site},o=acme,{BASE}" for site in (SITE, FROZEN_SITE)]
    assert sorted(dns_in(every.stdout)) == sorted(d.lower() for d in (
        joe, directory.dn_of(ANN), directory.dn_of(ZED), *sites))
    assert dns_in(directory.search_as("pureftpd", "-b", BASE, f"(uid={BOB})").stdout) == []
    assert directory.search_as("pureftpd", "-b", BASE, "(userPassword=*)", "1.1").stdout.strip() == ""


def test_pureftpd_account_cannot_write(ftp_directory: FtpEstate) -> None:
    directory = Directory(ftp_directory.slapd, ftp_directory.root)
    creds = directory.creds("pureftpd")
    changed = directory.tool("ldapmodify", creds["ISPCTL_LDAP_BIND_DN"], creds["ISPCTL_LDAP_PASSWORD"],
                             input=f"dn: {directory.dn_of(ANN)}\nchangetype: modify\nreplace: FTPStatus\n"
                                   "FTPStatus: enabled\n")
    assert changed.returncode == 50, changed.stderr  # insufficientAccessRights
    assert "FTPStatus: disabled" in ftp_directory.slapd.ldapsearch(BASE, f"(uid={ANN})", "FTPStatus")


# -- FreeRADIUS's account (a slapd with the RADIUS schemas: its rules name their attributes) --------

@pytest.fixture(scope="module")
def radius_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    base = tmp_path_factory.mktemp("radius-access")
    slapd = SlapdInstance(base / "slapd")
    assert slapd.has_radius_schema  # the registered services' schemas (tests/conftest.py)
    slapd.start()
    try:
        prepared = Directory(slapd, radius_estate(base / "estate"))
        applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(prepared.estate), **prepared.creds("apply"))
        assert applied.exit_code == 0 and "Apply complete!" in applied.stdout, applied.output
        yield prepared
    finally:
        slapd.stop()


def test_freeradius_account_looks_up_access_accounts_and_profiles_only(radius_directory: Directory) -> None:
    directory = radius_directory
    # What FreeRADIUS's ldap module asks: the user by its filter, then the profile by DN.
    found = directory.search_as("freeradius", "-b", BASE, USER_FILTER.replace("%{%{Stripped-User-Name}:-%{User-Name}}",
                                                                             "anna@acme.example"), "*")
    assert found.returncode == 0, found.stderr
    for attr in ("dialupAccess: TRUE", "radiusFramedIPAddress: 10.9.0.2", "ispctlRadiusAuthMethod: mschap",
                 "ispctlRadiusNTHash: ", "userPassword"):
        assert attr in found.stdout, attr
    for hidden in ("mail:", "ispctlMailQuota", "ispctlEnabledService", "homeDirectory", "cn:", "ispctlFingerprint"):
        assert hidden not in found.stdout
    profile = directory.search_as("freeradius", "-s", "base", "-b", f"cn=dsl,{BASE}", PROFILE_FILTER, "*")
    assert "radiusSessionTimeout: 86400" in profile.stdout, profile.stderr
    # Only entries FreeRADIUS reads: access accounts, dial-up mailboxes, profiles.
    every = directory.search_as("freeradius", "-b", BASE, "(objectClass=*)", "1.1")
    assert sorted(dn.split(",")[0] for dn in dns_in(every.stdout)) == sorted([
        "uid=anna@acme.example", "uid=bert@acme.example", "uid=dsl-0042@acme.example", "uid=dsl-0043@acme.example",
        "uid=chap-only@acme.example", "uid=vpn-7@acme.example", "cn=dsl", "cn=acme/vpn"])
    assert "userPassword" not in directory.search_as("freeradius", "-b", BASE, "(uid=carl@acme.example)",
                                                     "userPassword").stdout


def test_freeradius_account_cannot_write(radius_directory: Directory) -> None:
    creds = radius_directory.creds("freeradius")
    changed = radius_directory.tool("ldapmodify", creds["ISPCTL_LDAP_BIND_DN"], creds["ISPCTL_LDAP_PASSWORD"],
                                    input=f"dn: cn=dsl,{BASE}\nchangetype: modify\nreplace: radiusSessionTimeout\n"
                                          "radiusSessionTimeout: 1\n")
    assert changed.returncode == 50, changed.stderr  # insufficientAccessRights


def test_radius_secrets_are_freeradius_and_ispctls_only(radius_directory: Directory) -> None:
    query = ("-b", BASE, "(objectClass=radiusprofile)", "ispctlRadiusNTHash", "ispctlRadiusCleartext")
    for role in ("freeradius", "plan"):
        shown = radius_directory.search_as(role, *query).stdout
        assert "ispctlRadiusNTHash: " in shown and "ispctlRadiusCleartext: " in shown, role
    for role in ("dovecot", "postfix", "pureftpd"):
        shown = radius_directory.search_as(role, *query)
        assert shown.returncode == 0, shown.stderr
        assert "ispctlRadius" not in shown.stdout, role
    # Dovecot still reads a dial-up mailbox's hash: it is the mailbox's password.
    assert "userPassword" in radius_directory.search_as("dovecot", "-b", BASE, "(uid=anna@acme.example)",
                                                        "userPassword").stdout
