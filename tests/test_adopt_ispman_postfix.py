"""Behavioural equivalence: Postfix delivers every address of the ISPMan fixture where it did before.

Postfix's own LDAP client (``postmap -q``) answers from two directories: the ISPMan one, through
the virtual_alias_maps table ISPMan ships (tests/data/ispman/postfix, its query as shipped; only
the connection lines are this test's), and the ispctl subtree the import was applied to, through
the tables ``ispctl render postfix`` writes, in main.cf's order. Each address is expanded as
Postfix's virtual aliasing does (recursively; an address that maps to itself is final; ``@domain``
is tried after ``user@domain`` and ``@target`` keeps the user part), and the final delivery
targets must be the same. The one intended difference: ISPMan's maps ignored ``ispmanStatus``,
so a suspended user still received mail; ispctl rejects it at RCPT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ispman_helpers import DATA, FIXTURE, ISPMAN_BASE, ISPMAN_SUFFIX, ispman_directory
from ldap_helpers import run_cli

from ispctl.providers.ldap.sandbox.accounts import account_dn, load_passwords
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.postfix.render import ALIAS_TABLES

Lookup = Callable[[str], list[str] | None]
SUSPENDED = "old@northwind.example"


def postmap(config_dir: Path, key: str, tables: list[Path]) -> list[str] | None:
    binary = shutil.which("postmap") or "/usr/sbin/postmap"
    proc = subprocess.run([binary, "-c", str(config_dir), "-q", key, *(f"ldap:{t}" for t in tables)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.stderr == "", proc.stderr  # a broken connection must not pass as "not found"
    if proc.returncode == 1:
        return None
    assert proc.returncode == 0
    return sorted(v.strip() for v in proc.stdout.strip().split(","))


def expand(address: str, lookup: Lookup, depth: int = 0) -> set[str]:
    """Where Postfix's virtual aliasing sends ``address`` (virtual(5), cleanup's recursion)."""
    assert depth < 20, f"alias loop at {address}"
    local, _, domain = address.partition("@")
    found = lookup(address)
    if found is None:
        found = lookup(f"@{domain}")
    if found is None:
        return {address}
    targets: set[str] = set()
    for value in found:
        target = local + value if value.startswith("@") else value.lower()
        targets |= {target} if target == address else expand(target, lookup, depth + 1)
    return targets


def fixture_addresses() -> list[str]:
    """Every address the fixture receives mail for, its replica domain's included, and one unknown."""
    addresses: set[str] = set()
    replicas: dict[str, str] = {}
    block: dict[str, list[str]] = {}
    for line in FIXTURE.read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            name, _, value = line.partition(": ")
            block.setdefault(name.lower(), []).append(value)
            continue
        for value in block.get("maillocaladdress", []) + block.get("mailalias", []):
            if value.startswith("@") and block.get("ispmanreplicamaster"):
                replicas[value[1:]] = block["ispmanreplicamaster"][0]
            elif not value.startswith("@"):
                addresses.add(value.lower())
        block = {}
    for replica, master in replicas.items():
        addresses |= {a.replace(f"@{master}", f"@{replica}") for a in addresses if a.endswith(f"@{master}")}
    return sorted(addresses | {"nobody@northwind.example"})


@pytest.fixture(scope="module")
def lookups(slapd_session: SlapdInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lookup, Lookup,
                                                                                                       Lookup]]:
    work = tmp_path_factory.mktemp("ispman-postfix")
    config_dir = work / "etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    ispman = ispman_directory(work / "ispman-slapd")
    try:
        # ISPMan's table as shipped, pointed at the fixture's directory (its read-only account).
        shipped = (DATA / "postfix" / "ldap-virtual-alias-maps.cf").read_text(encoding="utf-8")
        query = [line for line in shipped.splitlines() if line.startswith(("query_filter", "result_attribute",
                                                                             "version"))]
        plan_pw = load_passwords(ispman.accounts_file)["plan"]
        old_table = work / "ispman-virtual-alias-maps.cf"
        old_table.write_text("\n".join([f"server_host = {ispman.url}", f"search_base = {ISPMAN_BASE}", "bind = yes",
                                        f"bind_dn = cn=ispctl-plan,ou=services,{ISPMAN_SUFFIX}",
                                        f"bind_pw = {plan_pw}", *query]) + "\n", encoding="utf-8")
        # The migrated estate, applied to a subtree of its own in the session's slapd.
        base = "ou=ispman-postfix,dc=example,dc=net"
        added = slapd_session.ldapadd(f"dn: {base}\nobjectClass: organizationalUnit\nou: ispman-postfix\n")
        assert added.returncode == 0, added.stderr
        estate = work / "estate"
        report = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "--base-dn", base, "-d", str(estate))
        assert report.exit_code == 0, report.output
        env = {"ISPCTL_PROVIDERS": "ldap"}
        applied = run_cli(slapd_session, "apply", "--auto-approve", "-d", str(estate), **env)
        assert applied.exit_code == 0, applied.output
        secret = work / "postfix.pw"
        secret.write_text(load_passwords(slapd_session.accounts_file)["postfix"] + "\n", encoding="utf-8")
        out = work / "tables"
        rendered = run_cli(slapd_session, "render", "postfix", "--out", str(out), "-d", str(estate),
                           "--bind-dn", account_dn("postfix", "dc=example,dc=net"), "--password-file", str(secret),
                           **env)
        assert rendered.exit_code == 0, rendered.output
        past = time.time() - 60  # Postfix waits for files modified within the last seconds
        for path in (config_dir / "main.cf", old_table, *out.iterdir()):
            os.utime(path, (past, past))
        new_aliases = [out / f"{t.name}.cf" for t in ALIAS_TABLES]
        yield (lambda key: postmap(config_dir, key, [old_table]),
               lambda key: postmap(config_dir, key, new_aliases),
               lambda key: postmap(config_dir, key, [out / "smtpd_recipient_access.cf"]))
    finally:
        ispman.stop()


def test_every_address_reaches_the_same_targets(lookups: tuple[Lookup, Lookup, Lookup]) -> None:
    before, after, _reject = lookups
    addresses = fixture_addresses()
    assert len(addresses) == 20  # 19 of the fixture (3 through the replica domain) and one unknown
    differ = {a: (sorted(expand(a, before)), sorted(expand(a, after))) for a in addresses
              if expand(a, before) != expand(a, after)}
    assert differ == {}
    # The cases the import converts, spelled out.
    assert expand("tom.reyes@northwind.example", after) == {"tom.reyes@northwind.example",
                                                            "tom.reyes@personal.example"}  # forward + copy
    assert expand("desk@northwind.example", after) == {"desk@helpdesk-partner.example"}  # pure forward
    assert expand("vertrieb@northwind.example", after) == {"ines@northwind.example", "tom.reyes@northwind.example",
                                                           "tom.reyes@personal.example"}  # group alias
    assert expand("a.mueller@baeckerei-mueller.example", after) == {"anna@baeckerei.example"}  # replica + alias


def test_the_suspended_user_is_now_refused_at_rcpt(lookups: tuple[Lookup, Lookup, Lookup]) -> None:
    before, after, reject = lookups
    assert expand(SUSPENDED, before) == expand(SUSPENDED, after) == {SUSPENDED}
    assert reject(SUSPENDED) is not None  # ISPMan's maps never looked at ispmanStatus
    assert reject("noc@northwind.example") is None
