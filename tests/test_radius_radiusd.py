"""A real FreeRADIUS 3.2 (Debian's, from a copy of its stock raddb plus what ``ispctl render
freeradius`` writes) answering from a real slapd that ``ispctl apply`` filled.

Every answer here is the real radtest/radclient's against the real freeradius: PAP with the
profile's and the account's reply attributes, MS-CHAP with an NT hash, CHAP refused without a
cleartext credential, wrong password, disabled and suspended accounts refused, and a change to
one profile entry reaching every account that names it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.providers.radius.directory import SCHEMAS
from ispctl.providers.radius.render import MODULE_FILE, SITE_FILE, SITE_NAME, render_module
from ispctl.providers.radius.sandbox.radiusd import HOST, STOCK_RADDB, RadiusdInstance, status_server
from ispctl.reconciler.contract import hash_password
from tests.ldap_helpers import BASE, apply_ok, assert_converged, edit_yaml, find_one

PASSWORD = "s3cret-Dial"
HASHED = hash_password(PASSWORD, rounds=1000)


def nt_hash(password: str) -> str:
    """The NT hash from FreeRADIUS's own smbencrypt (OpenSSL 3 has no MD4 for Python's hashlib)."""
    out = subprocess.run(["smbencrypt", password], capture_output=True, text=True, check=True).stdout
    return out.split()[-1]


def write_estate(root: Path) -> Path:
    (root / "tenants" / "acme").mkdir(parents=True)
    (root / "ispctl.yaml").write_text(f"""directory:
  base_dn: {BASE}
radius:
  profiles:
    dsl:
      session_timeout: 1d
      idle_timeout: 30m
      framed_pool: dsl-pool
      simultaneous_use: 1
""", encoding="utf-8")
    (root / "tenants" / "acme" / "tenant.yaml").write_text("""name: Acme
radius:
  profiles:
    vpn:
      session_timeout: 8h
      reply: ['Reply-Message := "Acme VPN"']
""", encoding="utf-8")
    (root / "tenants" / "acme" / "acme.example.yaml").write_text(f"""domain: acme.example
services: [mail, dialup]
mailboxes:
  anna:
    password: "{HASHED}"
    services: {{dialup: true}}
    radius:
      profile: vpn
      auth: [pap, mschap]
      nt_hash: {nt_hash(PASSWORD)}
      framed_ip: 10.9.0.2
  bert:
    password: "{HASHED}"
    services: {{dialup: true}}
    radius: {{profile: dsl}}
  carl:
    password: "{HASHED}"
radius:
  accounts:
    dsl-0042:
      profile: dsl
      password: "{HASHED}"
      framed_ip: 10.1.0.42
      routes: ["192.0.2.0/28 10.1.0.42 1"]
      reply: ['Service-Type := Framed-User']
    dsl-0043:
      profile: dsl
      password: "{HASHED}"
    chap-only:
      auth: [chap]
      cleartext: {PASSWORD}
    vpn-7:
      auth: [mschap]
      live_credentials: [nt_hash]   # set in the directory by its user, not kept in git
""", encoding="utf-8")
    return root


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[SlapdInstance]:
    instance = SlapdInstance(tmp_path / "slapd", schemas=tuple(str(p) for p in SCHEMAS))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def estate(tmp_path: Path, directory: SlapdInstance) -> Path:
    root = write_estate(tmp_path / "estate")
    apply_ok(directory, root)
    return root


@pytest.fixture
def radius(tmp_path: Path, directory: SlapdInstance, estate: Path) -> Iterator[RadiusdInstance]:
    # FreeRADIUS binds as its own read-only account (providers/ldap/access.py), never ispctl's.
    env = directory.account_env("freeradius")
    instance = RadiusdInstance(tmp_path / "radius", env)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def answer(result: subprocess.CompletedProcess[str]) -> tuple[str, dict[str, list[str]]]:
    """The answer's code (Access-Accept, Access-Reject) and its attributes, from radtest's output."""
    found = re.search(r"Received (Access-\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    reply = result.stdout[found.end():]
    attrs: dict[str, list[str]] = {}
    for name, value in re.findall(r"^\s+([A-Za-z0-9-]+) = (.*)$", reply, re.M):
        attrs.setdefault(name, []).append(value.strip('"'))
    return found[1], attrs


def test_pap_accept_carries_the_profiles_and_the_accounts_reply_attributes(radius: RadiusdInstance) -> None:
    code, attrs = answer(radius.radtest("dsl-0042@acme.example", PASSWORD))
    assert code == "Access-Accept"
    assert attrs["Session-Timeout"] == ["86400"] and attrs["Idle-Timeout"] == ["1800"]  # profile dsl
    assert attrs["Framed-Pool"] == ["dsl-pool"]
    assert attrs["Framed-IP-Address"] == ["10.1.0.42"] and attrs["Framed-Route"] == ["192.0.2.0/28 10.1.0.42 1"]
    assert attrs["Service-Type"] == ["Framed-User"]
    code, attrs = answer(radius.radtest("anna@acme.example", PASSWORD))  # a mailbox's account, tenant profile
    assert code == "Access-Accept"
    assert attrs["Session-Timeout"] == ["28800"] and attrs["Reply-Message"] == ["Acme VPN"]
    assert attrs["Framed-IP-Address"] == ["10.9.0.2"]


def test_wrong_password_unknown_login_and_a_mailbox_without_dialup_are_rejected(radius: RadiusdInstance) -> None:
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD + "x"))[0] == "Access-Reject"
    assert answer(radius.radtest("nobody@acme.example", PASSWORD))[0] == "Access-Reject"
    assert answer(radius.radtest("carl@acme.example", PASSWORD))[0] == "Access-Reject"  # a mailbox, no dial-up


def test_mschap_with_the_nt_hash_chap_with_the_cleartext_and_only_declared_methods(radius: RadiusdInstance) -> None:
    assert answer(radius.radtest("anna@acme.example", PASSWORD, "mschap"))[0] == "Access-Accept"
    assert answer(radius.radtest("anna@acme.example", PASSWORD + "x", "mschap"))[0] == "Access-Reject"
    assert answer(radius.radtest("chap-only@acme.example", PASSWORD, "chap"))[0] == "Access-Accept"
    # Only the declared methods: its cleartext would answer PAP and MS-CHAP too, but it says chap.
    assert answer(radius.radtest("chap-only@acme.example", PASSWORD))[0] == "Access-Reject"
    assert answer(radius.radtest("chap-only@acme.example", PASSWORD, "mschap"))[0] == "Access-Reject"
    # What validation refuses to let through: a {CRYPT} hash cannot answer CHAP or MS-CHAP.
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD, "chap"))[0] == "Access-Reject"
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD, "mschap"))[0] == "Access-Reject"


def test_disabled_and_suspended_accounts_are_rejected(radius: RadiusdInstance, directory: SlapdInstance,
                                                      estate: Path) -> None:
    domain_file = estate / "tenants" / "acme" / "acme.example.yaml"

    def disable(data: dict) -> None:  # type: ignore[type-arg]
        data["radius"]["accounts"]["dsl-0042"]["enabled"] = False
        data["mailboxes"]["anna"]["services"]["dialup"] = False
        data["mailboxes"]["bert"]["status"] = "suspended"

    edit_yaml(domain_file, disable)
    apply_ok(directory, estate)
    for login in ("dsl-0042@acme.example", "anna@acme.example", "bert@acme.example"):
        assert answer(radius.radtest(login, PASSWORD))[0] == "Access-Reject", login
    assert answer(radius.radtest("dsl-0043@acme.example", PASSWORD))[0] == "Access-Accept"
    _dn, entry = find_one(directory, "(uid=dsl-0042@acme.example)", "dialupAccess")
    assert entry["dialupaccess"] == ["FALSE"]  # never ISPMan's 'disabled', which FreeRADIUS reads as allowed
    # ISPMan's 'disabled', which FreeRADIUS reads as allowed: a hand edit ispctl sees as drift and corrects.
    dn, _entry = find_one(directory, "(uid=dsl-0042@acme.example)", "dialupAccess")
    edited = directory.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: dialupAccess\ndialupAccess: disabled\n")
    assert edited.returncode == 0, edited.stderr
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD))[0] == "Access-Accept"  # the ISPMan bug
    apply_ok(directory, estate)
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD))[0] == "Access-Reject"
    # A suspended tenant suspends every account below it, standalone ones included.
    edit_yaml(estate / "tenants" / "acme" / "tenant.yaml", lambda data: data.__setitem__("status", "suspended"))
    apply_ok(directory, estate)
    assert answer(radius.radtest("dsl-0043@acme.example", PASSWORD))[0] == "Access-Reject"
    assert_converged(directory, estate)


def test_a_profile_change_on_one_entry_reaches_every_account_using_it(radius: RadiusdInstance,
                                                                      directory: SlapdInstance,
                                                                      estate: Path) -> None:
    edit_yaml(estate / "ispctl.yaml",
              lambda data: data["radius"]["profiles"]["dsl"].__setitem__("session_timeout", "2h"))
    result = apply_ok(directory, estate)
    assert "radius_profile.dsl" in result.stdout and "access_account" not in result.stdout
    for login in ("dsl-0042@acme.example", "dsl-0043@acme.example", "bert@acme.example"):
        code, attrs = answer(radius.radtest(login, PASSWORD))
        assert code == "Access-Accept" and attrs["Session-Timeout"] == ["7200"], login


def test_status_server_answers_only_with_the_right_secret(radius: RadiusdInstance) -> None:
    assert status_server(HOST, radius.auth_port, radius.secret, timeout=2)
    assert not status_server(HOST, radius.auth_port, radius.secret + "x", timeout=0.5)


def test_stopped_by_pid_from_its_state_and_restarted_on_the_same_ports(tmp_path: Path, directory: SlapdInstance,
                                                                       estate: Path) -> None:
    first = RadiusdInstance(tmp_path / "radius", directory.account_env("freeradius"))
    first.start(detach=True)
    again = RadiusdInstance.from_state(first.to_state())  # as a later `ispctl sandbox` call sees it
    try:
        assert again.running() and again.pid == first.pid
        again.stop()
        assert not first.running()
        again.start()
        assert (again.auth_port, again.secret) == (first.auth_port, first.secret)
        assert answer(again.radtest("dsl-0043@acme.example", PASSWORD))[0] == "Access-Accept"
    finally:
        again.stop()
        first.stop()


def test_a_hostile_directory_password_is_bound_with_verbatim(tmp_path: Path, directory: SlapdInstance,
                                                             estate: Path) -> None:
    env = directory.account_env("freeradius")
    hostile = "it's a \\ b\\\\n ${confdir} %{User-Name} # \"not\" a comment"
    changed = directory.ldapmodify(f"dn: {env['ISPCTL_LDAP_BIND_DN']}\nchangetype: modify\nreplace: userPassword\n"
                                   f"userPassword: {ssha(hostile)}\n")
    assert changed.returncode == 0, changed.stderr
    instance = RadiusdInstance(tmp_path / "radius", {**env, "ISPCTL_LDAP_PASSWORD": hostile})
    instance.start()
    try:
        assert answer(instance.radtest("dsl-0043@acme.example", PASSWORD))[0] == "Access-Accept"
    finally:
        instance.stop()


def test_a_credential_set_on_the_live_side_works_and_is_never_removed(radius: RadiusdInstance,
                                                                       directory: SlapdInstance,
                                                                       estate: Path) -> None:
    assert answer(radius.radtest("vpn-7@acme.example", PASSWORD, "mschap"))[0] == "Access-Reject"  # none yet
    dn, _entry = find_one(directory, "(uid=vpn-7@acme.example)", "dialupAccess")
    changed = directory.ldapmodify(f"dn: {dn}\nchangetype: modify\nadd: ispctlRadiusNTHash\n"
                                   f"ispctlRadiusNTHash: {nt_hash(PASSWORD)}\n")
    assert changed.returncode == 0, changed.stderr
    assert answer(radius.radtest("vpn-7@acme.example", PASSWORD, "mschap"))[0] == "Access-Accept"
    assert_converged(directory, estate)  # the plan leaves it alone


def test_the_instance_is_debians_stock_raddb_plus_what_render_tells_operators(radius: RadiusdInstance) -> None:
    def tree(root: Path) -> dict[str, str]:
        found = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + str(path.readlink())
            elif path.is_file():
                found[rel] = path.read_text(encoding="utf-8", errors="replace")
        return found

    stock, ours = tree(STOCK_RADDB), tree(radius.raddb)
    changed = {rel for rel in stock.keys() | ours.keys() if stock.get(rel) != ours.get(rel)}
    # What `ispctl render freeradius` writes and says to link/remove ...
    operator = {MODULE_FILE, SITE_FILE, "mods-enabled/ldap", f"sites-enabled/{SITE_NAME}", "sites-enabled/default"}
    # ... and what makes this one a throwaway (paths, no user switch, its client, inner-tunnel's port).
    throwaway = {"radiusd.conf", "clients.conf", "sites-available/inner-tunnel", "mods-available/radutmp"}
    assert changed == operator | throwaway
    assert "sites-enabled/default" not in ours and ours["mods-enabled/ldap"] == "-> ../mods-available/ldap"
    assert ours[MODULE_FILE] == render_module(LdapSettings.from_env(radius.ldap_env), radius.base_dn)


def test_simultaneous_use_counts_the_sessions_accounting_reported(radius: RadiusdInstance) -> None:
    login = "dsl-0043@acme.example"
    assert answer(radius.radtest(login, PASSWORD))[0] == "Access-Accept"
    start = {"User-Name": login, "Acct-Status-Type": "Start", "Acct-Session-Id": "s1", "NAS-IP-Address": HOST,
             "NAS-Port": "7", "Framed-IP-Address": "10.1.0.43"}
    started = radius.radclient(start, "acct")
    assert "Accounting-Response" in started.stdout, started.stdout + started.stderr
    assert answer(radius.radtest(login, PASSWORD))[0] == "Access-Reject"  # profile dsl: simultaneous_use 1
    assert answer(radius.radtest("dsl-0042@acme.example", PASSWORD))[0] == "Access-Accept"  # its own count
    stopped = radius.radclient({**start, "Acct-Status-Type": "Stop"}, "acct")
    assert "Accounting-Response" in stopped.stdout, stopped.stdout + stopped.stderr
    assert answer(radius.radtest(login, PASSWORD))[0] == "Access-Accept"
