"""Postfix routes mail from the directory: the rendered LDAP tables, queried by Postfix itself.

Every answer comes from ``postmap -q KEY ldap:FILE`` (Postfix's own LDAP client, no running
Postfix needed) against a real slapd holding the example estate, applied with the CLI and
rendered with ``ispctl render postfix`` for a read-only service account. ``postmap -q KEY
T1 T2 ...`` returns the first table's answer, which is how the ordered virtual_alias_maps
list is checked as a whole for ``user@domain`` keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap_helpers import apply_ok, copy_example, edit_yaml, ldap_ok, run_cli

from ispctl.providers.ldap.sandbox.accounts import account_dn
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.providers.postfix.render import ALIAS_TABLES, DISABLED_BOUNCE, DISABLED_REPLY, MAIN_CF, TABLES

BAKERY = "xn--bckerei-mller-bfb28a.example"  # bäckerei-müller.example, as stored (IDNA)
ALIAS_DOMAIN = "baeckerei-mueller.example"   # type alias, alias_of the bakery
SCHOOL = "riverside-school.example"          # its tenant is suspended below
# The test slapd's Postfix account: the access rules let it read routing data, never a hash.
SERVICE_DN = account_dn("postfix", "dc=example,dc=net")
# Characters that would break a naive config writer or be expanded by main.cf ($name).
SERVICE_PASSWORD = "ro $mail_owner #1 %s {x} \\ \"q\""
FORWARD_TARGET = "desk@helpdesk-partner.example"


def settle(*paths: Path) -> None:
    """Date files back: Postfix waits ~2 s before reading a file modified within the last
    second or two (so it never reads one mid-write); tests need not pay that every time."""
    past = time.time() - 60
    for path in paths:
        os.utime(path, (past, past))


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.fail(f"{name} not found: install postfix and postfix-ldap (.ci/setup does)")
    return found


@dataclass(frozen=True)
class Tables:
    folder: Path
    config_dir: Path  # an empty main.cf: postmap must not depend on the machine's Postfix

    def refs(self, *names: str) -> list[str]:
        return [f"ldap:{self.folder / name}.cf" for name in names]

    def query(self, key: str, *names: str) -> str | None:
        """The first answer of the named tables for ``key``; None when none has one."""
        proc = subprocess.run([binary("postmap"), "-c", str(self.config_dir), "-q", key, *self.refs(*names)],
                              capture_output=True, text=True, timeout=30, check=False)
        # postmap also exits 1 on a failed query: "not found" must be silent, or a broken
        # connection would pass every negative test.
        assert proc.stderr == "", proc.stderr
        if proc.returncode == 1:
            assert proc.stdout == ""
            return None
        assert proc.returncode == 0
        return proc.stdout.rstrip("\n")

    def values(self, key: str, *names: str) -> set[str] | None:
        found = self.query(key, *names)
        return None if found is None else set(found.split(","))

    def aliases(self, key: str) -> set[str] | None:
        """virtual_alias_maps in main.cf.ispctl's order, for a ``user@domain`` (or ``@domain``) key."""
        return self.values(key, *(t.name for t in ALIAS_TABLES))


@pytest.fixture(scope="module")
def slapd_pf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    instance = SlapdInstance(tmp_path_factory.mktemp("postfix-slapd"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def tables(slapd_pf: SlapdInstance, tmp_path_factory: pytest.TempPathFactory) -> Tables:
    work = tmp_path_factory.mktemp("postfix")
    estate = copy_example(work)
    # A suspended client: its domain, mailboxes and lists are all effectively suspended.
    edit_yaml(estate / "tenants/southbay/school/tenant.yaml", lambda d: d.__setitem__("status", "suspended"))
    # A forward without keeping a copy (tom.reyes in the example keeps one).
    edit_yaml(estate / "tenants/northwind/northwind.example.yaml",
              lambda d: d["mailboxes"]["support"].__setitem__("forward", {"to": [FORWARD_TARGET]}))
    apply_ok(slapd_pf, estate)
    ldap_ok(slapd_pf.ldapadd(
        # Inside the managed base but without ispctl's marker: not ispctl's, never routed.
        f"dn: cn=ghost,{slapd_pf.managed_base}\nobjectClass: inetOrgPerson\ncn: ghost\nsn: ghost\n"
        "mail: ghost@northwind.example\n"))
    ldap_ok(slapd_pf.ldapmodify(f"dn: {SERVICE_DN}\nchangetype: modify\nreplace: userPassword\n"
                                f"userPassword: {ssha(SERVICE_PASSWORD)}\n"))
    secret = work / "postfix-ro.pw"
    secret.write_text(SERVICE_PASSWORD + "\n", encoding="utf-8")
    out = work / "tables"
    result = run_cli(slapd_pf, "render", "postfix", "--out", str(out), "-d", str(estate),
                     "--bind-dn", SERVICE_DN, "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    config_dir = work / "postfix-etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf", *out.iterdir())
    return Tables(out, config_dir)


def test_tables_bind_as_the_service_account_only(tables: Tables, slapd_pf: SlapdInstance) -> None:
    text = "".join((tables.folder / t.file_name).read_text(encoding="utf-8") for t in TABLES)
    assert f"bind_dn = {SERVICE_DN}\n" in text and slapd_pf.password not in text
    # Every lookup below goes through this account and its awkward password.
    assert tables.query("noc@northwind.example", "virtual_mailbox_maps") == "noc@northwind.example"


@pytest.mark.parametrize(("domain", "mailbox_domain", "alias_domain"), [
    ("northwind.example", True, False),
    (BAKERY, True, False),
    ("hartcole.example", True, False),      # type slave
    ("southbay.example", True, False),
    (SCHOOL, False, False),                  # nodns, but its tenant is suspended
    (ALIAS_DOMAIN, False, True),
    ("example.net", False, False),
])
def test_domain_classes(tables: Tables, domain: str, mailbox_domain: bool, alias_domain: bool) -> None:
    assert tables.query(domain, "virtual_mailbox_domains") == (domain if mailbox_domain else None)
    assert tables.query(domain, "virtual_alias_domains") == (domain if alias_domain else None)


def test_alias_domain_rewrites_to_the_same_user_in_the_target(tables: Tables) -> None:
    # The table answers "@<target>"; Postfix's virtual(5) result rewriting turns a result
    # of the form @otherdomain into the *same user* in otherdomain, so x@baeckerei-mueller
    # becomes x@xn--bckerei-...; that address is then looked up again (recursion).
    assert tables.query(f"anna@{ALIAS_DOMAIN}", "virtual_alias_5_alias_domains") == f"@{BAKERY}"
    assert tables.aliases(f"anna@{ALIAS_DOMAIN}") == {f"@{BAKERY}"}
    assert tables.aliases(f"@{ALIAS_DOMAIN}") == {f"@{BAKERY}"}
    # A mailbox domain is not an alias domain, even with the same local part.
    assert tables.query(f"anna@{BAKERY}", "virtual_alias_5_alias_domains") is None


@pytest.mark.parametrize(("address", "receives"), [
    ("noc@northwind.example", True),
    (f"anna@{BAKERY}", True),
    (f"lehrling@{BAKERY}", False),           # suspended mailbox
    (f"office@{SCHOOL}", False),             # active itself, but its tenant is suspended
    ("ghost@northwind.example", False),      # no ispctl marker
    ("hostmaster@northwind.example", False), # an extra address is not a mailbox
    ("sales@northwind.example", False),      # nor is a list
])
def test_virtual_mailbox_maps(tables: Tables, address: str, receives: bool) -> None:
    assert tables.query(address, "virtual_mailbox_maps") == (address if receives else None)


def test_forward_without_copy_goes_to_the_target_only(tables: Tables) -> None:
    assert tables.aliases("support@northwind.example") == {FORWARD_TARGET}


def test_forward_with_copy_keeps_the_mailbox(tables: Tables) -> None:
    assert tables.aliases("tom.reyes@northwind.example") == {"tom.reyes@northwind.example",
                                                              "tom.reyes@personal.example"}


def test_plain_mailbox_maps_to_itself(tables: Tables) -> None:
    assert tables.aliases("noc@northwind.example") == {"noc@northwind.example"}


def test_extra_address_goes_to_the_owning_mailbox(tables: Tables) -> None:
    assert tables.aliases("hostmaster@northwind.example") == {"noc@northwind.example"}
    assert tables.aliases("ines@northwind.example") == {"ines.okafor@northwind.example"}


def test_distribution_lists_reach_every_target(tables: Tables) -> None:
    assert tables.aliases("sales@northwind.example") == {"ines.okafor@northwind.example",
                                                          "tom.reyes@northwind.example"}
    # A list naming another list: one level per lookup; Postfix recurses into partners@.
    assert tables.aliases("office@hartcole.example") == {"reception@hartcole.example",
                                                         "partners@hartcole.example"}
    assert tables.aliases("partners@hartcole.example") == {"j.hart@hartcole.example",
                                                           "r.cole@hartcole.example"}


def test_catch_all_takes_unknown_addresses_only(tables: Tables) -> None:
    assert tables.aliases(f"@{BAKERY}") == {f"orders@{BAKERY}"}
    assert tables.aliases(f"nobody@{BAKERY}") == {f"orders@{BAKERY}"}
    assert tables.aliases(f"anna@{BAKERY}") == {f"anna@{BAKERY}"}
    assert tables.aliases(f"info@{BAKERY}") == {f"anna@{BAKERY}", f"karl@{BAKERY}"}
    # An existing but suspended mailbox stays itself: its mail must not leak to orders@.
    assert tables.aliases(f"lehrling@{BAKERY}") == {f"lehrling@{BAKERY}"}


def test_unknown_addresses_are_not_found(tables: Tables) -> None:
    for key in ("nobody@northwind.example", "@northwind.example", "nobody@elsewhere.example", "noc"):
        assert tables.aliases(key) is None, key
        for table in TABLES:
            assert tables.query(key, table.name) is None, (key, table.name)


def test_suspended_addresses_are_rejected_at_rcpt(tables: Tables) -> None:
    # Step 2 maps them to themselves, which makes smtpd accept them: this table says no.
    for address in (f"lehrling@{BAKERY}", f"office@{SCHOOL}", f"staff@{SCHOOL}"):
        assert tables.query(address, "smtpd_recipient_access") == DISABLED_REPLY, address
    for address in (f"anna@{BAKERY}", "hostmaster@northwind.example", "sales@northwind.example",
                    f"nobody@{BAKERY}"):
        assert tables.query(address, "smtpd_recipient_access") is None, address


def test_mail_reaching_a_suspended_address_indirectly_bounces(tables: Tables) -> None:
    # staff@ (suspended with its tenant) is not expanded to its members, and maps to itself.
    assert tables.query(f"staff@{SCHOOL}", "virtual_alias_4_lists") is None
    assert tables.aliases(f"staff@{SCHOOL}") == {f"staff@{SCHOOL}"}
    for address in (f"lehrling@{BAKERY}", f"head@{SCHOOL}", f"staff@{SCHOOL}"):
        assert tables.query(address, "transport_maps") == DISABLED_BOUNCE, address
    for address in (f"anna@{BAKERY}", "sales@northwind.example", BAKERY):
        assert tables.query(address, "transport_maps") is None, address


@pytest.mark.parametrize(("sender", "login"), [
    ("noc@northwind.example", "noc@northwind.example"),
    ("hostmaster@northwind.example", "noc@northwind.example"),   # extra address
    ("abuse@northwind.example", "noc@northwind.example"),
    ("dialup-test@southbay.example", None),                      # smtp service off
    (f"lehrling@{BAKERY}", None),                                # suspended
    (f"office@{SCHOOL}", None),                                  # suspended tenant
    ("sales@northwind.example", None),                           # a list has no login
])
def test_sender_login_maps(tables: Tables, sender: str, login: str | None) -> None:
    assert tables.query(sender, "smtpd_sender_login_maps") == login


@pytest.mark.parametrize("key", [
    "*", "*@northwind.example", "noc@northwind.exampl*", "*)(mail=*", "x)(|(mail=*",
    "\\2a@northwind.example", "(noc@northwind.example)", "noc@*", "*@*", "x@northwind.example)(mail=*",
])
def test_special_characters_cannot_widen_a_filter(tables: Tables, key: str) -> None:
    # Unescaped, "*@northwind.example" would be a substring filter matching every mailbox
    # of the domain, and "*" a presence filter matching every entry.
    for table in TABLES:
        assert tables.query(key, table.name) is None, (key, table.name)


def test_main_cf_snippet_is_valid_and_every_table_may_use_proxymap(tables: Tables, tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text((tables.folder / MAIN_CF).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "master.cf").write_text("", encoding="utf-8")  # postconf warns without one
    settle(tmp_path / "main.cf", tmp_path / "master.cf")
    proc = subprocess.run([binary("postconf"), "-c", str(tmp_path), "-n"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # proxymap(8) refuses a proxy: table that is not in proxy_read_maps.
    proc = subprocess.run([binary("postconf"), "-c", str(tmp_path), "-x", "-h", "proxy_read_maps"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    allowed = set(proc.stdout.split())
    for table in TABLES:
        assert f"proxy:ldap:{tables.folder.absolute() / table.file_name}" in allowed, table.name
