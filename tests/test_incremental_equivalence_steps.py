"""Acceptance of narrowed plans (estate.incremental), continued: several changes one after
the other under one snapshot (each narrowed run updating it, each step compared with a full run
as in ``test_incremental_equivalence``), a DKIM key store named by the environment, plans since
an older commit than the snapshot's, and a change that keeps a file's stat (size, time, inode,
device: only its change time tells) followed by another file's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ispctl.providers.dns.dkim import ENV_DIR, start_rotation
from ispctl.providers.web.users import derived_uid
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.incremental import Fallback
from tests.incremental_changes import (
    BAKERY,
    HART,
    NET,
    NW,
    SB,
    SCHOOL,
    SITE,
    Case,
    both,
    committed,
    drop,
    example,
    falls,
    fast,
    field,
    live,
    mailbox,
    same_stat,
    warm,
)
from tests.incremental_helpers import Warm, box, git, plan_both_ways

__all__ = ["example", "live", "warm"]  # the fixtures of incremental_changes, used here by name


# -- several changes under one snapshot, each narrowed run updating it --------------------------

STEPS: dict[str, list[Case]] = {
    # a forward to another spelling of an address of another file: its file still cannot drop it
    "forward-in-capitals-then-its-target-dropped": [
        fast(field(HART, "r.cole", "forward", {"to": ["Billing@NorthWind.example"]})),
        fast(field(HART, "j.hart", "name", "Jane")),
        falls(drop(NW, "billing"))],
    # through the unicode spelling of a domain, then its ASCII alias domain
    "unicode-spelling-then-target-dropped": [
        fast(field(HART, "m.chen", "forward", {"to": ["karl@bäckerei-müller.example"]})),
        fast(drop(BAKERY, "karl")),  # the catch-all takes it
        falls(lambda e: e.edit(BAKERY, lambda d: d["mail"].pop("catch_all")))],
    "alias-domain-address-then-target-dropped": [
        fast(field(NW, "noc", "forward", {"to": ["lehrling@baeckerei-mueller.example"]})),
        fast(lambda e: e.edit(BAKERY, lambda d: d["mail"].pop("catch_all"))),
        falls(drop(BAKERY, "lehrling"))],
    # a domain that arrives and leaves again, its addresses used in between
    "new-domain-used-then-removed": [
        fast(lambda e: e.write("southbay/southbay.net.yaml", {
            "domain": "southbay.net", "services": ["mail"], "placement": {"mail_store": "mx1.example.net"},
            "mailboxes": {"desk": box()}})),
        fast(field(SB, "noc", "forward", {"to": ["desk@southbay.net"]})),
        falls(drop("southbay/southbay.net.yaml", "desk")),
        fast(lambda e: e.remove("southbay/southbay.net.yaml"))],  # its addresses are foreign then
    # a former address in another file's domain, free, then taken there
    "previous-across-domains-then-taken": [
        fast(mailbox(HART, "x.moved", previous=["old@hartcole.net"])),
        fast(mailbox(NET, "new")),
        falls(mailbox(NET, "old"))],
    # a pinned web uid that only clashes once its tenant has a site, in a file of its own
    "web-uid-pinned-then-a-first-site": [
        fast(lambda e: e.edit("northwind/lawfirm/tenant.yaml", lambda d: d.__setitem__(
            "web", {"uid": derived_uid("northwind", 100_000_000, 199_999_999)}))),
        falls(lambda e: e.edit(NET, lambda d: d.__setitem__("services", ["mail", "dns", "web"])))],
    # a capacity filled by one file's change, then the other file's
    "capacity-filled-step-by-step": [
        fast(lambda e: e.edit(SITE, lambda d: None)),  # rewritten the same: nothing changed
        fast(drop(SB, "ftp-test")),
        fast(mailbox(SCHOOL, "x.new")),
        falls(mailbox(SB, "x.new"))],
}


@pytest.mark.parametrize("name", STEPS)
def test_changes_one_after_the_other(example: Warm, name: str) -> None:
    for number, step in enumerate(STEPS[name], 1):
        before = example.files()
        step.change(example)
        found = example.compare()
        assert isinstance(found, Desired) == step.fast, (number, found if isinstance(found, Fallback) else "fast")
        if isinstance(found, Desired):
            assert example.last is not None
            example.warm = example.last.resources  # what the snapshot now says
            continue
        assert example.last is None and isinstance(found, Fallback) and step.reason in found.reason, found
        for path in example.files().keys() - before.keys():
            path.unlink()
        for path, raw in before.items():
            path.write_bytes(raw)


def test_a_key_store_from_the_environment(example: Warm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ISPCTL_DKIM_DIR points the DNS and OpenDKIM hooks at another key store (one a key was
    rotated in) for a run whose files did not change."""
    store = tmp_path / "keys"
    shutil.copytree(example.kept[1], store)
    start_rotation(store, "southbay.example", 1024)
    monkeypatch.setenv(ENV_DIR, str(store))
    found = example.compare()
    assert isinstance(found, Fallback) and "of another context" in found.reason, found


# -- a plan since an older commit than the snapshot's -------------------------------------------

# (committed, then a full run's snapshot; then changed on disk): both are since the reference.
OLDER: dict[str, tuple[Callable[[Warm], object], Callable[[Warm], object]]] = {
    "a-mailbox-then-a-name": (mailbox(HART, "x.new"), field(NW, "noc", "name", "NOC")),
    "a-file-moved-then-forwarded-to": (
        lambda e: e.move(SCHOOL, "southbay/school/riverside.yaml"),
        field(NW, "noc", "forward", {"to": ["head@riverside-school.example"]})),
    "a-domain-added-then-removed": (
        lambda e: e.write("southbay/southbay.net.yaml", {"domain": "southbay.net", "services": ["dns"]}),
        lambda e: e.remove("southbay/southbay.net.yaml")),
    "a-forward-then-its-target-renamed": (
        field(NW, "noc", "forward", {"to": ["it@hartcole.example"]}),
        both(lambda e: e.edit(HART, lambda d: d["mailboxes"].__setitem__("helpdesk", {
            **d["mailboxes"].pop("it"), "previous": ["it"]})),
             field(NW, "noc", "forward", {"to": ["helpdesk@hartcole.example"]}))),
}


@pytest.mark.parametrize("name", OLDER)
def test_a_plan_since_an_older_commit_than_the_snapshots(example: Warm, live: dict[str, str], name: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    committed_change, change = OLDER[name]
    committed_change(example)
    git(example.repo, "add", "-A")
    git(example.repo, "commit", "-qm", name)
    example.prime()
    change(example)
    assert plan_both_ways(example, live, capsys).fast


def test_a_change_that_keeps_the_files_stat_then_a_plan(example: Warm, live: dict[str, str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The school's staff list gets noc@northwind.example in place of two of its own (an edit
    that keeps the file's size, time, inode and device), committed. Then Northwind drops noc:
    the narrowed run reads the school's file again (its change time is another), finds it
    naming noc@northwind.example and the problem with it, as the full way does (exit 1)."""
    base = example.base
    try:
        committed(same_stat(SCHOOL, b"head, p.adams, k.lund", b"noc@northwind.example"))(example)
        example.base = git(example.repo, "rev-parse", "HEAD").strip()  # --changed-since the edit's commit
        example.edit(NW, lambda d: (d["mailboxes"].pop("noc"), d["aliases"].__setitem__("postmaster", "support")))
        assert plan_both_ways(example, live, capsys).code == 1
    finally:
        example.base = base
