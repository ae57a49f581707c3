"""Directory faults against a real slapd: a restart mid-apply, slapd gone for good, and a
mailbox rename stopped after every one of its steps (checked with Postfix's own postmap and
a real Dovecot's user lookup)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from faults.process import finish, launch, wait_paused
from ldap_helpers import BASE, ENV_NAMES, EXAMPLE_COUNT, cli_env, copy_example, edit_yaml, find_one, run_cli, search
from test_postfix import Tables, settle

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.rename import Step
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.apply import Outcome
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.views.text import apply_summary
from tests.wiring import REGISTRY, open_session


def ldap_provider(slapd: SlapdInstance, retries: int = 5) -> LdapProvider:
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    # As the command line builds it: with the services' directory parts, so the example's
    # dial-up mailbox keeps its RADIUS attributes (a bare LdapProvider neither writes nor reads them).
    built = REGISTRY.get("ldap")
    assert built is not None and built.provider is not None and issubclass(built.provider, LdapProvider)
    # Short pauses: the restart below takes well under the first one anyway.
    return built.provider(LdapSettings.from_env(env), BASE, retries=retries, pause=0.05)


def restart(slapd: SlapdInstance) -> None:
    """Stop and start the same slapd: same port, same config and data directory."""
    slapd.stop()
    slapd.start()


def plan_of(estate: Path, slapd: SlapdInstance) -> Plan:
    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        return session.plan()


def test_an_apply_carries_on_across_a_slapd_restart(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    seen: list[Outcome] = []

    def restart_after_ten(outcome: Outcome) -> None:
        seen.append(outcome)
        if len(seen) == 10:
            restart(slapd)

    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        plan = session.plan()
        assert len(plan.changes) == EXAMPLE_COUNT
        result = session.apply(plan, restart_after_ten)
    assert [o.error for o in result.failed] == []
    assert len(result.outcomes) == EXAMPLE_COUNT
    assert len(search(slapd, "(objectClass=ispctlManaged)", "1.1")) == EXAMPLE_COUNT
    assert plan_of(estate, slapd).empty


def test_an_add_that_landed_before_the_connection_dropped_is_not_already_exists(
    slapd: SlapdInstance, tmp_path: Path
) -> None:
    estate = copy_example(tmp_path)
    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        plan = session.plan()
        tenant = next(c for c in plan.changes if c.address == "tenant.northwind")
        provider = session.providers[0]
        assert tenant.after is not None
        provider.create(tenant.after)
        # The connection dies with the add's answer unseen (from the provider's side it may
        # or may not have landed): repeating it reads back the entry and finds it done.
        restart(slapd)
        provider.create(tenant.after)
        # An entry with other values under that DN is a real conflict and still says so.
        restart(slapd)
        other = dataclasses.replace(tenant.after, attrs={**tenant.after.attrs, "display_name": "Someone else"})
        with pytest.raises(ProviderError, match="entryAlreadyExists"):
            provider.create(other)
    _dn, entry = find_one(slapd, "(o=northwind)", "ispctlDisplayName")
    assert entry["ispctldisplayname"] == [tenant.after.attrs["display_name"]]


def test_a_directory_gone_for_good_is_said_once_with_what_to_run(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    seen: list[Outcome] = []

    def stop_after_ten(outcome: Outcome) -> None:
        seen.append(outcome)
        if len(seen) == 10:
            slapd.stop()

    provider = ldap_provider(slapd, retries=2)
    with open_session(estate, providers=[provider]) as session:
        plan = session.plan()
        with provider.estate_lock("apply", None, timedelta(hours=1), 0) as held:
            lock_id = getattr(held, "id", held)  # the lock's id (or its heartbeat, which carries it)
            result = session.apply(plan, stop_after_ten)
    errors = [o.error or "" for o in result.failed]
    # Changes in flight when slapd stopped may have been answered already: they count as applied
    # (and are checked below), the rest failed or were skipped.
    applied = [o.change for o in result.outcomes if o.status == "ok"]
    assert len(result.outcomes) == EXAMPLE_COUNT and len(applied) >= 10 and len(errors) == EXAMPLE_COUNT - len(applied)
    full = [e for e in errors if "lost the directory" in e]
    assert len(full) == 1, errors
    message = full[0]
    assert f"lost the directory at {slapd.url}" in message
    assert "run `ispctl apply` again" in message
    assert f"ispctl force-unlock {lock_id}" in message and f"cn=ispctl-lock,{BASE}" in message
    assert slapd.password not in message
    # Every other change says in a few words why it was not tried, pointing at that message
    # (or is skipped because what it needs was not applied).
    rest = [e for e in errors if e is not message]
    assert any(e.startswith("not tried: the directory at") for e in rest)
    assert all(e.startswith(("not tried: the directory at", "skipped because")) for e in rest), rest
    # The summary says the reason once; reasons many changes share come with a count.
    summary = apply_summary(result).plain
    assert summary.count("lost the directory") == 1, summary
    assert len(summary.splitlines()) < len(errors) // 2, summary
    assert "Connection refused" in message  # why reconnecting failed, in the system's words
    # Back again: everything reported applied is there; clear the lock as the message says,
    # and one plain re-run converges.
    slapd.start()
    again = ldap_provider(slapd)
    live = again.read()
    assert all((c.kind, c.key) in live and live[(c.kind, c.key)].recorded_fingerprint == c.after.fingerprint()
               for c in applied if c.after is not None)
    assert lock_id in again.force_unlock(lock_id)
    with open_session(estate, providers=[again]) as session:
        assert session.apply(session.plan()).ok
    assert plan_of(estate, slapd).empty


# --- a mailbox rename, stopped after each step --------------------------------------------------

OLD = "billing@northwind.example"
DOMAIN_FILE = "tenants/northwind/northwind.example.yaml"
# A rename inside the domain, and one into another domain of the same tenant (the entry moves).
TARGETS = ["accounts@northwind.example", "accounts@northwind.net"]


def rename_billing(estate: Path, new: str) -> None:
    """Rename billing@ to ``new`` in the estate, as an operator would (``previous:``)."""
    local, domain = new.split("@")
    taken: dict[str, object] = {}

    def pop(data: dict[str, dict[str, object]]) -> None:
        box = data["mailboxes"].pop("billing")
        assert isinstance(box, dict)
        taken.update(box, previous=[OLD])
        if domain == "northwind.example":
            data["mailboxes"][local] = dict(taken)

    edit_yaml(estate / DOMAIN_FILE, pop)
    if domain != "northwind.example":
        box = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in taken.items())
        (estate / "tenants/northwind" / f"{domain}.yaml").write_text(
            f"domain: {domain}\nservices: [mail]\nmailboxes:\n  {local}:\n{box}", encoding="utf-8")


def rename_plan(estate: Path, slapd: SlapdInstance, new: str) -> tuple[LdapProvider, list[Step]]:
    """The provider of a session that planned the rename, and the rename's LDAP steps."""
    provider = ldap_provider(slapd)
    with open_session(estate, providers=[provider]) as session:
        plan = session.plan()
    change = next(c for c in plan.changes if c.address == f"mailbox.{new}")
    assert change.before is not None and change.after is not None and change.renamed_from == f"mailbox.{OLD}"
    # Other changes of the plan (the new domain) are made first, as apply would.
    for other in plan.changes:
        if other is not change:
            assert other.action == "create" and other.after is not None
            provider.create(other.after)
    return provider, provider.rename_steps(change.before, change.after, tuple(a.name for a in change.attrs))


@pytest.fixture
def tables(slapd: SlapdInstance, tmp_path: Path) -> Iterator[Tables]:
    out = tmp_path / "tables"
    estate = copy_example(tmp_path / "render")
    # Postfix binds as its own read-only account (render refuses ispctl's), as in production.
    account = {k: v for k, v in slapd.account_env("postfix").items() if k.startswith("ISPCTL_POSTFIX_LDAP_")}
    result = run_cli(slapd, "render", "postfix", "--out", str(out), "-d", str(estate), **account)
    assert result.exit_code == 0, result.output
    config_dir = tmp_path / "postfix-etc"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("", encoding="utf-8")
    settle(config_dir / "main.cf", *out.iterdir())
    yield Tables(out, config_dir)


@pytest.fixture
def dovecot(slapd: SlapdInstance, tmp_path: Path) -> Iterator[DovecotInstance]:
    """A real Dovecot reading the test's slapd (its userdb lookup is what LMTP delivery asks)."""
    mail_root = Path(tempfile.mkdtemp(prefix="ispctl-test-vmail-"))
    uid, gid = default_mail_owner()
    instance = DovecotInstance(tmp_path / "dc", slapd.env(), mail_root=mail_root, mail_uid=uid, mail_gid=gid)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(mail_root, ignore_errors=True)


def delivered_to(tables: Tables, dovecot: DovecotInstance, address: str) -> set[str]:
    """The homes mail for ``address`` ends in: Postfix's virtual aliases (recursively; an address
    in its own answer is kept), then virtual_mailbox_maps, then Dovecot's user lookup."""
    final: set[str] = set()
    todo, seen = [address], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        targets = tables.aliases(current)
        if targets is None:
            final.add(current)
            continue
        for target in targets:
            if target == current:
                final.add(current)
            else:
                todo.append(target)
    homes: set[str] = set()
    for recipient in final:
        if tables.query(recipient, "virtual_mailbox_maps") is None:
            continue  # Postfix: User unknown in virtual mailbox table
        found = dovecot.doveadm("user", "-f", "home", recipient)
        if found.returncode == 0:
            homes.add(found.stdout.strip())
        else:
            assert "doesn't exist" in found.stderr + found.stdout, found.stderr  # not a broken lookup
    return homes


def home_of(slapd: SlapdInstance, uuid: str) -> set[str]:
    _dn, entry = find_one(slapd, f"(entryUUID={uuid})", "homeDirectory")
    return set(entry["homedirectory"])


@pytest.mark.parametrize("new", TARGETS)
def test_every_step_of_a_mailbox_rename_delivers_for_both_addresses(
    slapd: SlapdInstance, tables: Tables, dovecot: DovecotInstance, tmp_path: Path, new: str
) -> None:
    estate = copy_example(tmp_path)
    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        assert session.apply(session.plan()).ok
    _dn, entry = find_one(slapd, f"(uid={OLD})", "entryUUID")
    uuid = entry["entryuuid"][0]
    rename_billing(estate, new)
    provider, steps = rename_plan(estate, slapd, new)
    assert len(steps) == (4 if new.endswith("@northwind.example") else 5)
    assert delivered_to(tables, dovecot, OLD) == home_of(slapd, uuid)
    assert delivered_to(tables, dovecot, new) == set()
    try:
        for number, step in enumerate(steps, start=1):
            provider._run_step(step)
            # A kill here leaves exactly this state: both addresses still reach the mailbox
            # (after the last step the old one is gone, as the estate says).
            home = home_of(slapd, uuid)
            assert delivered_to(tables, dovecot, new) == home, f"after step {number}: {step.what}"
            if number < len(steps):
                assert delivered_to(tables, dovecot, OLD) == home, f"after step {number}: {step.what}"
    finally:
        provider.close()
    assert delivered_to(tables, dovecot, OLD) == set()
    assert plan_of(estate, slapd).empty


# Every stop inside the rename: after each step but the last (4 steps, or 5 with a move).
STOPS = [(new, after) for new, count in zip(TARGETS, (4, 5), strict=True) for after in range(1, count)]


@pytest.mark.parametrize(("new", "stopped_after"), STOPS)
def test_a_rename_stopped_after_any_step_is_resumed_not_called_drift(
    slapd: SlapdInstance, tmp_path: Path, stopped_after: int, new: str
) -> None:
    estate = copy_example(tmp_path)
    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        assert session.apply(session.plan()).ok
    rename_billing(estate, new)
    provider, steps = rename_plan(estate, slapd, new)
    assert stopped_after < len(steps)
    for step in steps[:stopped_after]:  # as if killed after this step
        provider._run_step(step)
    provider.close()
    with open_session(estate, providers=[ldap_provider(slapd)]) as session:
        plan = session.plan()
        resumed = [c for c in plan.changes if c.address == f"mailbox.{new}"]
        assert len(resumed) == 1 and len(plan.changes) == 1, [c.address for c in plan.changes]
        # Never "changed outside ispctl": ispctl's own unfinished work is not a person's edit.
        assert resumed[0].before is not None and resumed[0].before.drifted() is None
        assert plan.drifted == ()
        two_uids = steps[stopped_after - 1].new_rdn is None or "move" in steps[stopped_after - 1].what
        if two_uids:  # a second uid value: the plan names the unfinished rename
            assert resumed[0].interrupted == f"the rename of {OLD} to {new} stopped after giving it the new address"
        assert session.apply(plan).ok
    assert plan_of(estate, slapd).empty
    _dn, entry = find_one(slapd, f"(uid={new})", "uid", "mail", "ispctlMailAlias")
    assert entry["uid"] == [new] and entry["mail"] == [new] and OLD not in entry.get("ispctlmailalias", [])


# --- the same through the real ``ispctl apply`` process -------------------------------------------

def cli_process_env(slapd: SlapdInstance) -> dict[str, str]:
    process_env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    process_env.update({k: v for k, v in cli_env(slapd, ISPCTL_PROVIDERS="ldap").items() if v is not None})
    return process_env


def paused_apply(slapd: SlapdInstance, estate: Path) -> subprocess.Popen[bytes]:
    """The real ``ispctl apply``, paused just before its 10th change (the lock held, 9 written)."""
    proc = launch("pause", "change:#10", ["apply", "--auto-approve", "-d", str(estate)], cli_process_env(slapd))
    wait_paused(proc, "change:#10")
    return proc


def test_the_real_apply_carries_on_across_a_slapd_restart(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    proc = paused_apply(slapd, estate)
    restart(slapd)
    proc.send_signal(signal.SIGUSR1)
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert "Apply complete!" in out and "FAILED" not in out and "Error" not in err
    result = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate), ISPCTL_PROVIDERS="ldap")
    assert result.exit_code == 0 and "No changes." in result.stdout, result.output


def test_the_real_apply_with_slapd_gone_for_good_says_once_what_to_run(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    proc = paused_apply(slapd, estate)
    slapd.stop()
    proc.send_signal(signal.SIGUSR1)
    code, out, err = finish(proc)
    assert code == 1
    both = out + err
    assert both.count("lost the directory at") == 2, both  # its own line, and the summary's
    assert "run `ispctl apply` again" in both and "ispctl force-unlock " in both
    assert "Traceback" not in both and "Internal error" not in both and slapd.password not in both
    # slapd back: the lock of the apply that gave up is taken over on this host (its process is
    # gone), and one plain re-run converges.
    slapd.start()
    again = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), ISPCTL_PROVIDERS="ldap")
    assert again.exit_code == 0 and "Apply complete!" in again.stdout, again.output
    assert len(search(slapd, "(objectClass=ispctlManaged)", "1.1")) == EXAMPLE_COUNT
