"""The directory's pipelined writes (providers/ldap/writer.py) against a real slapd: many
changes in flight, each with its own outcome; a failure that fails only its change and skips
only what depends on it; slapd restarted or gone with changes in flight; a subtree moved while
changes below it are in flight."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ldap as libldap
import pytest
from ldap_helpers import BASE, EXAMPLE, EXAMPLE_COUNT, find_one, ldap_ok, search

from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.ldap.writer import _modlist, add_op, moves_subtree, rebase, result_text
from ispctl.reconciler.engine.apply import ApplyResult, apply_plan, execution_order, prerequisites
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.inflight import Submission
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.harness.daemons import port_accepts
from tests.wiring import REGISTRY, load_desired

Index = dict[tuple[str, str], Resource]


@contextmanager
def provider(slapd: SlapdInstance, **kwargs: int | float) -> Iterator[LdapProvider]:
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    # As the command line builds it: with the services' directory parts (RADIUS's, FTP's).
    built = REGISTRY.get("ldap")
    assert built is not None and built.provider is not None and issubclass(built.provider, LdapProvider)
    instance = built.provider(LdapSettings.from_env(env), BASE, **{"pause": 0.05, **kwargs})  # type: ignore[arg-type]
    try:
        yield instance
    finally:
        instance.close()


def example() -> Index:
    _catalog, desired = load_desired(EXAMPLE)
    return {ident: r for ident, r in desired.items() if r.kind in mapping.KINDS}


def apply(ldap: LdapProvider, desired: Index) -> tuple[Plan, ApplyResult]:
    plan = compute_plan(desired, ldap.read())
    return plan, apply_plan(plan, lambda kind: ldap)


def dependents(plan: Plan, failed: set[str]) -> set[str]:
    """Everything that needs one of ``failed``, directly or through another change."""
    needs = prerequisites(plan)
    out: set[str] = set()
    grew = True
    while grew:
        grew = False
        for address, deps in needs.items():
            if address not in out and deps & (failed | out):
                out.add(address)
                grew = True
    return out


def test_many_creates_are_in_flight_at_once_and_each_reports_its_own_outcome(slapd: SlapdInstance) -> None:
    desired = example()
    with provider(slapd, window=16) as ldap:
        plan, result = apply(ldap, desired)
        assert result.ok, result.failed
        # Reported in execution order, whichever answer came first.
        assert [o.change.address for o in result.outcomes] == [c.address for c in execution_order(plan)]
        assert len(result.outcomes) == EXAMPLE_COUNT and dict(ldap.writer.sent) == {"add": EXAMPLE_COUNT}
        assert ldap.writer.most > 4  # siblings went out together, not one at a time
    assert len(search(slapd, "(objectClass=ispctlManaged)", "1.1")) == EXAMPLE_COUNT
    with provider(slapd) as ldap:
        assert compute_plan(desired, ldap.read()).empty


def test_a_failure_fails_only_that_change_and_skips_only_its_dependents(slapd: SlapdInstance) -> None:
    desired = example()
    # A domain whose add the server refuses (not an integer where the schema wants one) ...
    bad_domain = desired[("domain", "hartcole.example")]
    desired[bad_domain.identity] = dataclasses.replace(bad_domain, attrs={**bad_domain.attrs, "default_quota": "lots"})
    # ... and a mailbox whose DN is already taken by an entry that is not ispctl's.
    taken = desired[("mailbox", "noc@northwind.example")]
    without = {i: r for i, r in desired.items() if i != taken.identity and taken.address not in r.depends_on}
    with provider(slapd) as ldap:
        assert apply(ldap, {i: r for i, r in without.items() if r.kind in ("tenant", "domain")
                            and r.identity != bad_domain.identity})[1].ok
    domain_dn, _ = find_one(slapd, "(associatedDomain=northwind.example)", "1.1")
    ldap_ok(slapd.ldapadd(f"dn: uid={taken.key},{domain_dn}\nobjectClass: account\nuid: {taken.key}\n"))
    with provider(slapd, window=8) as ldap:
        plan, result = apply(ldap, desired)
    status = {o.change.address: (o.status, o.error or "") for o in result.outcomes}
    assert status[bad_domain.address][0] == "failed"
    assert "invalidAttributeSyntax" in status[bad_domain.address][1]
    lawfirm = f"o=lawfirm,o=northwind,{BASE}"
    assert status[bad_domain.address][1].startswith(f"add associatedDomain=hartcole.example,{lawfirm}: ")
    assert status[taken.address] == ("failed", f"add uid={taken.key},{domain_dn}: entryAlreadyExists")
    skipped = dependents(plan, {bad_domain.address, taken.address})
    assert skipped and all(status[a][0] == "skipped" for a in skipped)
    assert {a for a, (s, _) in status.items() if s == "ok"} == (
        {c.address for c in plan.changes} - skipped - {bad_domain.address, taken.address})
    # The entry that was there is untouched, and what did apply is as planned.
    _dn, entry = find_one(slapd, f"(uid={taken.key})", "objectClass")
    assert "ispctlManaged" not in entry["objectclass"]
    with provider(slapd) as ldap:
        again = compute_plan(desired, ldap.read())
    assert {c.address for c in again.changes} == skipped | {bad_domain.address, taken.address}


WARM_UP = add_op(f"o=warmup,{BASE}", {"objectClass": ["organization"], "o": ["warmup"]}, "")


def tenants(count: int) -> list[Resource]:
    return [Resource("tenant", f"t{i:02d}", {"kind": "reseller", "status": "active"}) for i in range(count)]


def submit_all(ldap: LdapProvider, resources: list[Resource]) -> None:
    for ticket, resource in enumerate(resources, 1):
        ldap.submit(Submission(ticket, "create", None, resource))


def wait_stopped(pid: int) -> None:
    """Until every thread of ``pid`` is stopped by a signal (state T in /proc); no timing is asserted."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text(encoding="ascii")
            except OSError:
                continue  # a thread that ended meanwhile
            states.append(stat[stat.rindex(")") + 2])
        if states and all(state in "tT" for state in states):
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not stop")


def test_changes_in_flight_when_the_connection_drops_are_read_back_then_sent_again(slapd: SlapdInstance) -> None:
    created = tenants(20)
    landed = created[::2]
    with provider(slapd) as planted:  # every other add "landed": its entry is there, as ispctl writes it
        assert apply(planted, index(landed))[1].ok
    with provider(slapd) as ldap:
        ldap.read()
        ldap.writer.run([WARM_UP])  # the writer's connection is open and bound
        ldap._dn.clear()  # as when the plan was read before the planted entries existed
        pid = slapd.pid
        assert pid is not None
        # slapd takes the requests into its socket and never answers: frozen, then killed.
        os.kill(pid, signal.SIGSTOP)
        try:
            # SIGSTOP takes effect asynchronously: an add slapd still served before it stopped
            # would rightly answer "already exists" (the plan is stale on purpose here).
            wait_stopped(pid)
            submit_all(ldap, created)
            assert ldap.writer.in_flight() == 20
        finally:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (slapd.running() or port_accepts("127.0.0.1", slapd.port)) and time.monotonic() < deadline:
            time.sleep(0.02)  # gone, its port closed too
        slapd.start()
        outcomes = [ldap.collect() for _ in created]
        # Each add was read back: the ones whose entry was there are done (not "already
        # exists"), the others went out again.
        assert [(done.ticket, done.error) for done in outcomes] == [(t, None) for t in range(1, 21)]
        assert ldap.writer.sent["add"] == 1 + 20 + len(created) - len(landed)
        # An entry there with other values is still a conflict after a lost connection.
        other = dataclasses.replace(created[0], attrs={**created[0].attrs, "display_name": "Someone else"})
        ldap._dn.pop(other.address)
        ldap.submit(Submission(21, "create", None, other))
        slapd.stop()
        slapd.start()
        assert ldap.collect().error == f"add o=t00,{BASE}: entryAlreadyExists"
    with provider(slapd) as ldap:
        live = ldap.read()
    assert all(live[r.identity].recorded_fingerprint == r.fingerprint() for r in created)


def test_adds_sent_while_slapd_is_away_go_out_again_when_it_is_back(slapd: SlapdInstance) -> None:
    created = tenants(10)
    with provider(slapd, retries=8) as ldap:
        ldap.read()
        ldap.writer.run([WARM_UP])
        slapd.stop()
        later = threading.Timer(0.5, slapd.start)
        later.start()
        try:
            submit_all(ldap, created)
            assert [ldap.collect().error for _ in created] == [None] * 10
        finally:
            later.join()
    with provider(slapd) as ldap:
        live = ldap.read()
    assert all(live[r.identity].recorded_fingerprint == r.fingerprint() for r in created)


def test_a_directory_gone_for_good_with_changes_in_flight_says_it_once(slapd: SlapdInstance) -> None:
    created = tenants(6)
    with provider(slapd, retries=2) as ldap:
        ldap.read()
        ldap.writer.run([WARM_UP])
        slapd.stop()
        result = apply_plan(compute_plan(index(created), {}), lambda kind: ldap)
        errors = [o.error or "" for o in result.outcomes]
        assert [o.status for o in result.outcomes] == ["failed"] * 6
        assert errors[0].startswith(f"lost the directory at {slapd.url} during add o=t00,{BASE}")
        assert "run `ispctl apply` again" in errors[0]
        assert all(e.startswith(f"not tried: the directory at {slapd.url} is unreachable") for e in errors[1:])
        with pytest.raises(ProviderError, match="^not tried: the directory at"):
            ldap.submit(Submission(7, "create", None, Resource("tenant", "late")))
    slapd.start()


def index(resources: list[Resource]) -> Index:
    return {r.identity: r for r in resources}


def test_a_subtree_moves_once_what_is_in_flight_below_it_has_landed(slapd: SlapdInstance) -> None:
    desired = example()
    with provider(slapd) as ldap:
        assert apply(ldap, desired)[1].ok
    # The client tenant moves to the other reseller while the mailboxes two levels below it,
    # and others, change in the same run (their changes do not wait for the move: the
    # provider orders them) and a new domain is created in the moved tenant.
    lawfirm = desired[("tenant", "lawfirm")]
    desired[lawfirm.identity] = dataclasses.replace(lawfirm, parent="tenant.southbay")
    for ident, resource in list(desired.items()):
        if resource.kind == "mailbox":
            desired[ident] = dataclasses.replace(resource, attrs={**resource.attrs, "quota": 7 * 2**30})
    new = Resource("domain", "newfirm.example", {"type": "primary", "status": "active"}, parent="tenant.lawfirm")
    desired[new.identity] = new
    with provider(slapd, window=32) as ldap:
        plan, result = apply(ldap, desired)
        assert result.ok, result.failed
        assert ldap.writer.sent["modrdn"] == 1
    moved = f"o=lawfirm,o=southbay,{BASE}"
    new_dn, _ = find_one(slapd, "(associatedDomain=newfirm.example)", "1.1")
    assert new_dn == f"associatedDomain=newfirm.example,{moved}"
    boxes = search(slapd, "(objectClass=ispctlMailUser)", "ispctlMailQuota")
    assert boxes and all(e["ispctlmailquota"] == [str(7 * 2**30)] for e in boxes.values())
    assert any(dn.endswith("," + moved) for dn in boxes)
    with provider(slapd) as ldap:
        assert compute_plan(desired, ldap.read()).empty


def test_rebase_follows_a_move_whatever_the_case_and_escaping() -> None:
    cache = {
        "tenant.c": "o=c,o=R,ou=ispctl,dc=example,dc=net",
        "domain.a,b": "associatedDomain=a\\,b,o=C,o=r,ou=ispctl,dc=example,dc=net",
        "mailbox.x": "uid=x,associatedDomain=a\\2Cb,o=c,o=r,ou=ispctl,dc=example,dc=net",
        "tenant.cc": "o=cc,o=r,ou=ispctl,dc=example,dc=net",
        "tenant.r": "o=r,ou=ispctl,dc=example,dc=net",
    }
    rebase(cache, "o=c,o=r,ou=ispctl,dc=example,dc=net", "o=c,o=s,ou=ispctl,dc=example,dc=net")
    assert cache == {
        "tenant.c": "o=c,o=s,ou=ispctl,dc=example,dc=net",
        # RDNs below the moved entry are written again, escaped as ispctl escapes (attribute
        # names fold to lower case: they match case-insensitively).
        "domain.a,b": "associateddomain=a\\,b,o=c,o=s,ou=ispctl,dc=example,dc=net",
        "mailbox.x": "uid=x,associateddomain=a\\,b,o=c,o=s,ou=ispctl,dc=example,dc=net",
        "tenant.cc": "o=cc,o=r,ou=ispctl,dc=example,dc=net",
        "tenant.r": "o=r,ou=ispctl,dc=example,dc=net",
    }


def test_only_moves_of_entries_that_can_have_children_are_exclusive() -> None:
    tenant, domain = Resource("tenant", "c", parent="tenant.r"), Resource("domain", "a.example", parent="tenant.c")
    box = Resource("mailbox", "m@a.example", parent="domain.a.example")
    assert moves_subtree(Submission(1, "update", tenant, dataclasses.replace(tenant, parent="tenant.s")))
    assert moves_subtree(Submission(1, "update", domain, dataclasses.replace(domain, key="b.example")))
    assert not moves_subtree(Submission(1, "update", domain, dataclasses.replace(domain, attrs={"status": "x"})))
    assert not moves_subtree(Submission(1, "update", box, dataclasses.replace(box, key="n@a.example")))
    assert not moves_subtree(Submission(1, "create", None, tenant))


def test_errors_are_named_as_the_protocol_names_them() -> None:
    exists = libldap.ALREADY_EXISTS({"result": 68, "desc": "Already exists", "info": ""})
    assert result_text(exists) == "entryAlreadyExists"
    assert (result_text(libldap.OBJECT_CLASS_VIOLATION({"result": 65, "desc": "x", "info": "missing 'sn'"}))
            == "objectClassViolation: missing 'sn'")
    assert result_text(libldap.LDAPError({"desc": "Something new"})) == "Something new"


def test_an_adds_values_go_out_as_utf8_bytes_whatever_they_were_given_as() -> None:
    # Text takes the one-pass path; bytes or a number anywhere sends every value through _values.
    assert _modlist({"cn": ["Zoë"], "objectClass": ["a", "b"]}) == [("cn", ["Zoë".encode()]),
                                                                          ("objectClass", [b"a", b"b"])]
    assert _modlist({"cn": ["Zoë"], "jpegPhoto": [b"\xff\x00"], "n": [7]}) == [
        ("cn", ["Zoë".encode()]), ("jpegPhoto", [b"\xff\x00"]), ("n", [b"7"])]
