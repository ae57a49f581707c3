"""One plan or apply run: stop requests (SIGTERM and Ctrl-C become a reason to stop at a change
boundary while changes are written, and so does a lost lock), and plans narrowed by --tenant,
--changed-since or a saved plan's anchors on real slapd, named and mail store: exactly the
full plan filtered, read from a part of the services."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from ldap_helpers import BASE, edit_yaml, estate_repo, ldap_ok

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli.runs import EXIT_CODES, PlanOptions, PlanRun, make_plan, stop_on_signals
from ispctl.reconciler.engine import saved
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.saved import value_digests
from ispctl.reconciler.engine.session import Progress
from ispctl.reconciler.estate.desired import EstateSession
from ispctl.reconciler.views.text import plan_json
from tests.wiring import open_session


class Lock:
    def __init__(self) -> None:
        self.why: str | None = None

    @property
    def id(self) -> str:
        return "L1"

    def lost(self) -> str | None:
        return self.why


@pytest.mark.parametrize(("signum", "reason"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")])
def test_a_signal_during_the_writes_is_a_reason_to_stop_not_an_exit(signum: int, reason: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signum)
    with stop_on_signals(None) as stop:
        assert stop() is None
        os.kill(os.getpid(), signum)  # handled in this thread before kill returns to Python code
        os.kill(os.getpid(), signum)  # a second one changes nothing and is not announced again
        assert stop() == reason
    assert signal.getsignal(signum) == before  # restored once the writes are over
    assert capsys.readouterr().err.count("stopping after the change in progress (never inside one)") == 1
    assert EXIT_CODES[reason] in (130, 143)


def test_a_lost_lock_is_a_reason_to_stop() -> None:
    lock = Lock()
    with stop_on_signals(lock) as stop:
        assert stop() is None
        lock.why = "it was removed (force-unlock?)"
        assert stop() == "the estate lock was lost (it was removed (force-unlock?))"
        lock.why = None
        assert stop() is not None  # once a reason, always that reason


# -- a narrowed plan on the real services ---------------------------------------------------------

class FullPlans(EstateSession):
    """Plans the way every plan was made before narrowing: everything read, then filtered."""

    def plan(self, prune: bool = True, *, progress: Progress | None = None,
             anchors: frozenset[str] | None = None) -> Plan:
        return super().plan(prune, progress=progress)


def both_runs(root: Path, env: dict[str, str], options: PlanOptions) -> tuple[PlanRun, PlanRun, int, int]:
    with open_session(root, env) as session:
        narrowed = make_plan(session, root, options)
        read = len(session.live)
    with open_session(root, env) as session:
        session.__class__ = FullPlans
        full = make_plan(session, root, options)
        everything = len(session.live)
    return narrowed, full, read, everything


def same_run(narrowed: PlanRun, full: PlanRun, what: str) -> None:
    """The same plan, gates and saved-plan bindings (the value digests under one key)."""
    def comparable(run: PlanRun) -> dict[str, Any]:
        data = run.plan.to_dict()
        del data["checksum"]  # it covers the random key of the value digests
        data["meta"] = {k: v for k, v in data["meta"].items() if k != "values"}
        return data

    assert comparable(narrowed) == comparable(full), what
    assert value_digests(narrowed.plan, b"k") == value_digests(full.plan, b"k"), what
    assert narrowed.warnings == full.warnings, what


@pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")
def test_plans_narrowed_by_tenant_and_changed_files_on_real_services_are_the_full_plans_filtered(
        tmp_path: Path, slapd: SlapdInstance, named: NamedInstance, mail_root: Path) -> None:
    repo, root = estate_repo(tmp_path)
    env = {**slapd.env(), **named.env(), "ISPCTL_PROVIDERS": "ldap,dns,mailstore", "ISPCTL_MAIL_ROOT": str(mail_root)}
    with open_session(root, env) as session:
        assert session.apply(session.plan()).ok
    # Git: a domain moves to another tenant, a mailbox is renamed, a domain leaves, a record changes.
    tenants = root / "tenants"
    (tenants / "northwind/lawfirm/hartcole.example.yaml").rename(tenants / "northwind/hartcole.example.yaml")
    (tenants / "southbay/school/riverside-school.example.yaml").unlink()
    edit_yaml(tenants / "northwind/northwind.example.yaml", lambda data: data["dns"]["records"]["vpn"].update(
        {"A": "198.51.100.8"}))
    edit_yaml(tenants / "northwind/bakery/bäckerei-müller.example.yaml",
              lambda data: data["mailboxes"].insert(0, "karl.mueller", {**data["mailboxes"].pop("karl"),
                                                                       "previous": ["karl"]}))
    repo.git.add(A=True)
    repo.index.commit("a pull request")
    # By hand: a managed attribute, a record set made outside ispctl, a missing mailbox entry.
    ldap_ok(slapd.ldapmodify(f"dn: uid=noc@southbay.example,associatedDomain=southbay.example,o=southbay,{BASE}\n"
                             "changetype: modify\nreplace: cn\ncn: Someone Else\n"))
    assert named.nsupdate("update add hand.northwind.example. 300 A 192.0.2.66\n").returncode == 0
    scopes = [PlanOptions(changed_since="HEAD~1"), PlanOptions(tenants=("bakery",)), PlanOptions(tenants=("lawfirm",)),
              PlanOptions(tenants=("southbay",)), PlanOptions(tenants=("school", "bakery")),
              PlanOptions(tenants=("northwind",), excludes=("dns.*",))]
    for options in scopes:
        narrowed, full, read, everything = both_runs(root, env, options)
        same_run(narrowed, full, str(options))
        if options.tenants != ("northwind",):
            assert read < everything, (str(options), read, everything)
    # The changed files' plan holds every kind of change above, so the comparison meant something.
    narrowed, _full, _read, _all = both_runs(root, env, PlanOptions(changed_since="HEAD~1"))
    actions = {(c.address, c.action) for c in narrowed.plan.changes}
    assert {("domain.hartcole.example", "update"), ("domain.riverside-school.example", "delete"),
            ("dns.northwind.example/vpn/A", "update"), ("dns.northwind.example/hand/A", "delete"),
            ("mailbox.karl.mueller@xn--bckerei-mller-bfb28a.example", "update"),
            ("maildir.karl.mueller@xn--bckerei-mller-bfb28a.example", "update")} <= actions
    assert not any("southbay.example" in address for address, _ in actions)  # out of scope: left alone


def test_a_saved_narrowed_plan_is_re_planned_in_its_anchors_and_still_goes_stale(
        tmp_path: Path, slapd: SlapdInstance, named: NamedInstance) -> None:
    repo, root = estate_repo(tmp_path)
    env = {**slapd.env(), **named.env(), "ISPCTL_PROVIDERS": "ldap,dns"}
    with open_session(root, env) as session:
        assert session.apply(session.plan()).ok
    edit_yaml(root / "tenants/northwind/northwind.example.yaml",
              lambda data: data["dns"]["records"]["vpn"].update({"A": "198.51.100.8"}))
    repo.git.add(A=True)
    repo.index.commit("a pull request")
    with open_session(root, env) as session:
        made = make_plan(session, root, PlanOptions(changed_since="HEAD~1"))
    stored = json.loads(plan_json(made.plan))
    options = PlanOptions.from_saved(stored["meta"])
    assert options.anchors is not None and "domain.northwind.example" in options.anchors
    with open_session(root, env) as session:
        again = make_plan(session, root, options)
        assert not saved.staleness(stored, again.plan, again.revision, again.live)
        assert len(session.live) < len(session.desired)  # the re-plan read only the anchors' part
    # A record set the plan changes, changed by hand since: stale.
    assert named.nsupdate("update delete vpn.northwind.example. A\n"
                          "update add vpn.northwind.example. 300 A 198.51.100.99\n").returncode == 0
    with open_session(root, env) as session:
        again = make_plan(session, root, options)
    reasons = saved.staleness(stored, again.plan, again.revision, again.live)
    assert any("dns.northwind.example/vpn/A was changed in the live services" in r for r in reasons), reasons


@pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")
def test_a_narrowed_plan_applies_on_real_services_and_leaves_only_the_rest(
        tmp_path: Path, slapd: SlapdInstance, named: NamedInstance, mail_root: Path) -> None:
    """What a narrowed read knows is enough to apply: parents it did not read (a domain's new
    tenant, a created mailbox's domain) are found when a write needs them."""
    repo, root = estate_repo(tmp_path)
    env = {**slapd.env(), **named.env(), "ISPCTL_PROVIDERS": "ldap,dns,mailstore", "ISPCTL_MAIL_ROOT": str(mail_root)}
    with open_session(root, env) as session:
        assert session.apply(session.plan()).ok
    tenants = root / "tenants"
    (tenants / "northwind/lawfirm/hartcole.example.yaml").rename(tenants / "northwind/hartcole.example.yaml")
    edit_yaml(tenants / "northwind/bakery/bäckerei-müller.example.yaml",
              lambda data: data["mailboxes"].insert(0, "neu", {"name": "Neu", "password": data["mailboxes"]["anna"][
                  "password"]}))
    edit_yaml(tenants / "northwind/northwind.example.yaml", lambda data: data["dns"]["records"]["vpn"].update(
        {"A": "198.51.100.8"}))
    repo.git.add(A=True)
    repo.index.commit("a pull request")
    # Outside the scope: changed by hand, left for a plan of its own.
    ldap_ok(slapd.ldapmodify(f"dn: uid=noc@southbay.example,associatedDomain=southbay.example,o=southbay,{BASE}\n"
                             "changetype: modify\nreplace: cn\ncn: Someone Else\n"))
    with open_session(root, env) as session:
        run = make_plan(session, root, PlanOptions(changed_since="HEAD~1"))
        assert {c.address for c in run.plan.changes} == {
            "domain.hartcole.example", "mailbox.neu@xn--bckerei-mller-bfb28a.example",
            "maildir.neu@xn--bckerei-mller-bfb28a.example", "dns.northwind.example/vpn/A"}
        result = session.apply(run.plan)
        assert result.ok, [(o.change.address, o.error) for o in result.failed]
    with open_session(root, env) as session:
        rest = session.plan()
    assert [c.address for c in rest.changes] == ["mailbox.noc@southbay.example"]
