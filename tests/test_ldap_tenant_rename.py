"""A tenant rename against a real slapd: one planned rename (one modrdn of the tenant's
subtree), nothing destroyed, the next plan empty, mailboxes binding under their new DN, and
an apply killed between any two of its LDAP steps completed by the next apply."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ldap_helpers import (
    ENV_NAMES,
    apply_ok,
    assert_converged,
    cli_env,
    copy_example,
    edit_yaml,
    plan_data,
    search,
    whoami,
)

from ispctl.providers.ldap import tenant_rename
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.contract import Resource
from tests.wiring import REGISTRY

OLD, NEW = "southbay", "southshore"
FTP_TEST = "ftp-test@southbay.example"  # the example's mailbox whose password is known (ispctl-demo)


def rename_folder(root: Path, old: str = OLD, new: str = NEW) -> None:
    """What `ispctl tenant rename` does by hand: the folder renamed, the old name in previous:."""
    (root / "tenants" / old).rename(root / "tenants" / new)
    edit_yaml(root / "tenants" / new / "tenant.yaml",
              lambda data: data.insert(len(data), "previous", [old.rsplit("/", 1)[-1]]))


def entries_below(slapd: SlapdInstance, tenant: str) -> dict[str, dict[str, list[str]]]:
    return search(slapd, "(objectClass=ispctlManaged)", "entryUUID", base=f"o={tenant},{slapd.managed_base}")


def uuids(entries: dict[str, dict[str, list[str]]], old: str = OLD, new: str = NEW) -> dict[str, str]:
    """Each entry's entryUUID by its DN with the tenant's RDN spelled the new way: the same
    entry keeps its UUID through a modrdn, a re-created one gets another."""
    return {dn.replace(f"o={old},", f"o={new},"): attrs["entryuuid"][0] for dn, attrs in entries.items()}


def drifted(slapd: SlapdInstance) -> dict[str, str]:
    """Every live entry whose stored fingerprint does not match its values, and why: a plan
    only says so for the objects it changes, and after a rename nothing else is changed."""
    built = REGISTRY.get("ldap")  # as the command line builds it: with the services' directory parts
    assert built is not None and built.provider is not None and issubclass(built.provider, LdapProvider)
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    provider = built.provider(LdapSettings.from_env(env), slapd.managed_base)
    try:
        found = {r.address: r.drifted() for r in provider.read().values()}
    finally:
        provider.close()
    assert f"tenant.{NEW}" in found or f"tenant.{OLD}" in found
    return {address: why for address, why in found.items() if why is not None}


def the_rename(data: dict[str, Any]) -> None:
    assert [(c["action"], c["kind"], c["key"], c.get("renamed_from"), c.get("moved")) for c in data["changes"]] == [
        ("update", "tenant", NEW, f"tenant.{OLD}", None)]
    assert data["summary"] == {"add": 0, "change": 1, "destroy": 0}


def test_a_renamed_tenant_is_one_planned_rename_and_its_entries_keep_their_identity(
        slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    before = uuids(entries_below(slapd, OLD))
    assert len(before) > 10  # the reseller, its client, their domains, mailboxes and aliases
    rename_folder(root)
    the_rename(plan_data(slapd, root))
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    assert drifted(slapd) == {}  # the domain and the client below it follow their parent's new name
    assert uuids(entries_below(slapd, NEW)) == before  # every entry the same one, under the new name
    assert search(slapd, f"(o={OLD})", "o") == {}
    dn = f"uid={FTP_TEST},associatedDomain=southbay.example,o={NEW},{slapd.managed_base}"
    bound = whoami(slapd, dn, "ispctl-demo", tmp_path)
    assert bound.returncode == 0 and bound.stdout.strip().lower() == f"dn:{dn}".lower(), bound.stderr


# The child: the real ``ispctl apply``, SIGKILLed right after the n-th LDAP operation landed.
_CHILD = """
import os, signal, sys
from ispctl.providers.ldap import writer
from ispctl.reconciler.cli.app import main
nth, landed = int(sys.argv[1]), []
advance = writer.Writer._advance
def killing(job):
    more = advance(job)
    landed.append(job.ops[job.at - 1].what)
    if len(landed) == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return more
writer.Writer._advance = staticmethod(killing)
sys.argv = ["ispctl", *sys.argv[2:]]
main()
"""
# The rename's operations for the example's South Bay: mark, the fingerprints of its domain and
# of its client, the modrdn, the final modify. Killed after each but the last.
STEPS = 5


@pytest.mark.parametrize("killed_after", range(1, STEPS))
def test_an_apply_killed_inside_the_rename_is_completed_by_the_next_one(
        slapd: SlapdInstance, tmp_path: Path, killed_after: int) -> None:
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    before = uuids(entries_below(slapd, OLD))
    rename_folder(root)
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({k: v for k, v in cli_env(slapd, ISPCTL_PROVIDERS="ldap").items() if v is not None})
    done = subprocess.run([sys.executable, "-c", _CHILD, str(killed_after), "apply", "--auto-approve", "-d", str(root)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr[-2000:])
    data = plan_data(slapd, root)
    assert not any(c["drift"] for c in data["changes"])  # ispctl's own unfinished work is never drift
    if killed_after < STEPS - 1:  # still under its old name, marked: the plan resumes the rename
        the_rename(data)
        assert data["changes"][0]["interrupted"] == (f"the rename of {OLD} to {NEW} stopped before its entry was "
                                                     "renamed")
    else:  # renamed; its values were already right (a rename changes no value): nothing left
        assert data["changes"] == []
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    assert drifted(slapd) == {}
    assert uuids(entries_below(slapd, NEW)) == before
    assert search(slapd, "(o=*)", "o", base=f"o={NEW},{slapd.managed_base}")[f"o={NEW},{slapd.managed_base}"][
        "o"] == [NEW]  # the mark is gone with the old name


def test_a_reseller_and_its_client_renamed_at_once_with_other_changes(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    apply_ok(slapd, root)
    before = uuids(entries_below(slapd, OLD))
    rename_folder(root)
    rename_folder(root, f"{NEW}/school", f"{NEW}/academy")
    edit_yaml(root / "tenants" / NEW / "tenant.yaml", lambda data: data.__setitem__("name", "South Shore Networks"))
    edit_yaml(root / "tenants" / NEW / "academy" / "tenant.yaml", lambda data: data.__setitem__("status", "suspended"))
    edit_yaml(root / "tenants" / NEW / "southbay.example.yaml",
              lambda data: data["mailboxes"].__setitem__("sales", {"name": "Sales", "quota": "1 GiB"}))
    data = plan_data(slapd, root)
    got = {(c["action"], c["kind"], c["key"], c.get("renamed_from"), c.get("moved") is not None)
           for c in data["changes"] if c["kind"] == "tenant" or c["action"] == "create"}
    assert got == {("update", "tenant", NEW, f"tenant.{OLD}", False),
                   ("update", "tenant", "academy", "tenant.school", False),
                   ("create", "mailbox", "sales@southbay.example", None, False)}
    assert data["summary"]["destroy"] == 0
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    assert drifted(slapd) == {}
    after = uuids(entries_below(slapd, NEW), old="school", new="academy")
    assert {dn: uuid for dn, uuid in after.items() if "uid=sales@" not in dn} == uuids(
        {dn.replace("o=school,", "o=academy,"): {"entryuuid": [uuid]} for dn, uuid in before.items()})
    _dn, entry = next(iter(search(slapd, "(o=academy)", "ispctlAccountStatus").items()))
    assert entry["ispctlaccountstatus"] == ["suspended"]


def live(kind: str, key: str, parent: str, **attrs: str) -> Resource:
    written = Resource(kind, key, attrs, parent)
    return Resource(kind, key, attrs, parent, recorded_fingerprint=written.fingerprint())


def test_the_steps_follow_only_children_as_ispctl_left_them() -> None:
    base = "ou=ispctl,dc=example,dc=net"
    before, after = live("tenant", "acme", None), Resource("tenant", "shop", {}, None, previous=("store", "acme"))
    fine = live("domain", "a.example", "tenant.acme", type="primary")
    # fingerprinted for "store" by an apply killed inside a rename to that name, given up since
    given_up = live("domain", "d.example", "tenant.store", type="primary")
    given_up = Resource("domain", "d.example", given_up.attrs, "tenant.acme",
                        recorded_fingerprint=given_up.recorded_fingerprint)
    done = live("domain", "b.example", "tenant.shop", type="primary")  # an interrupted apply got to it
    done = Resource("domain", "b.example", done.attrs, "tenant.acme", recorded_fingerprint=done.recorded_fingerprint)
    by_hand = Resource("domain", "c.example", {"type": "nodns"}, "tenant.acme",
                       recorded_fingerprint=live("domain", "c.example", "tenant.acme", type="primary").fingerprint())
    children = [(f"associatedDomain={r.key},o=acme,{base}", r) for r in (fine, done, by_hand, given_up)]
    steps = tenant_rename.tenant_rename_steps(before, after, (), f"o=acme,{base}", base, children)
    assert [s.what for s in steps] == [
        f"mark o=acme,{base} as being renamed to shop",
        f"fingerprint associatedDomain=a.example,o=acme,{base} for tenant shop",
        f"fingerprint associatedDomain=d.example,o=acme,{base} for tenant shop",
        f"rename o=acme,{base} to o=shop", f"modify o=shop,{base}"]
    assert steps[0].mods == {"o": ["acme", "shop"]}
    assert steps[1].mods["ispctlFingerprint"] == [live("domain", "a.example", "tenant.shop", type="primary")
                                                  .recorded_fingerprint]
    assert (steps[-2].new_rdn, steps[-2].new_superior) == ("o=shop", None)
