"""Placement of mailboxes on the cluster's mail_store hosts: policy, overrides, default, stickiness, mistakes."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from estate_builder import EstateBuilder, mailbox

from ispctl.providers.mailstore import MailStoreProvider, build
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.engine.session import in_scope
from ispctl.reconciler.estate.placement import STICKY, default_host, place_mailboxes

BASE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n"
CLUSTER = BASE + textwrap.dedent("""\
    cluster:
      hosts:
        mx1.example.net: {roles: [mail_store, imap], capacity: 100}
        mx2.example.net: {roles: [mail_store, imap], capacity: 300}
        ns2.example.net: {roles: [dns_secondary]}
    """)


def _estate(tmp_path: Path, site: str = CLUSTER, tenant: dict[str, Any] | None = None,
            domain: dict[str, Any] | None = None, boxes: dict[str, Any] | None = None) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site=site)
    builder.tenant("acme", **(tenant or {}))
    builder.tenant("acme/bakery")
    builder.domain("acme", "acme.example", {"mailboxes": boxes or {"anna": mailbox()}, **(domain or {})})
    builder.domain("acme/bakery", "bakery.example", {"mailboxes": {"bob": mailbox(), "cy": mailbox()}})
    return builder


def test_mailbox_over_domain_over_tenant_and_a_client_follows_its_reseller(tmp_path: Path) -> None:
    builder = _estate(tmp_path, tenant={"placement": {"mail_store": "mx1.example.net"}},
                      domain={"placement": {"mail_store": "mx2.example.net"}},
                      boxes={"anna": mailbox(), "ben": mailbox(placement={"mail_store": "mx1.example.net"})})
    placed = place_mailboxes(builder.catalog())
    assert {a: (p.host, p.by) for a, p in placed.hosts.items()} == {
        "anna@acme.example": ("mx2.example.net", "domain"),
        "ben@acme.example": ("mx1.example.net", "mailbox"),
        "bob@bakery.example": ("mx1.example.net", "tenant acme"),
        "cy@bakery.example": ("mx1.example.net", "tenant acme"),
    }
    assert placed.on("mx1.example.net") == {"ben@acme.example", "bob@bakery.example", "cy@bakery.example"}


def test_default_is_deterministic_weighted_and_sticky_when_other_mailboxes_come_and_go() -> None:
    weights = {"mx1": 100, "mx2": 300}
    names = [f"user{i}@example.net" for i in range(4000)]
    first = {n: default_host(n, weights) for n in names}
    counts = Counter(first.values())
    # Weighted by capacity: about a quarter on mx1 (binomial, 4000 draws: far inside these bounds).
    assert 800 < counts["mx1"] < 1200 and counts["mx1"] + counts["mx2"] == 4000
    # A mailbox's host depends on its name and the hosts only: no re-shuffle as the estate changes.
    assert {n: default_host(n, weights) for n in reversed(names[:1000])} == {n: first[n] for n in names[:1000]}
    # A new host takes a share of the defaults; every mailbox that moves moves to it, none between old hosts.
    grown = {n: default_host(n, {**weights, "mx3": 200}) for n in names}
    moved = {n for n in names if grown[n] != first[n]}
    assert moved and {grown[n] for n in moved} == {"mx3"}
    # Capacity 0 takes no default placement (draining).
    assert {default_host(n, {"mx1": 0, "mx2": 5}) for n in names[:50]} == {"mx2"}
    assert default_host("a@b.example", {"mx1": 0}) is None


def test_every_mailbox_gets_a_mail_store_host_for_the_directory_and_its_maildir(tmp_path: Path) -> None:
    builder = _estate(tmp_path)
    resources = builder.resources()
    hosts = {key: r.attrs["host"] for (kind, key), r in resources.items() if kind == "mailhost"}
    assert set(hosts) == {"anna@acme.example", "bob@bakery.example", "cy@bakery.example"}
    assert all(resources[("mailhost", key)].depends_on == (f"mailbox.{key}",) for key in hosts)
    assert set(hosts.values()) <= {"mx1.example.net", "mx2.example.net"}
    maildirs = {key: r.attrs.get("host") for (kind, key), r in resources.items() if kind == "maildir"}
    assert maildirs == hosts


def test_no_cluster_no_host_anywhere(tmp_path: Path) -> None:
    builder = _estate(tmp_path, site=BASE)
    resources = builder.resources()
    assert not [key for (kind, key) in resources if kind == "mailhost"]
    assert all("host" not in r.attrs for (kind, _), r in resources.items() if kind == "maildir")


def test_mistakes_are_reported_at_their_lines(tmp_path: Path) -> None:
    builder = _estate(tmp_path, site=CLUSTER.replace("capacity: 100", "capacity: 1"),
                      tenant={"placement": {"mail_store": "mx9.example.net"}},
                      domain={"placement": {"mail_store": "ns2.example.net"}},
                      boxes={"anna": mailbox(placement={"mail_store": "mx1.example.net"}),
                             "ben": mailbox(placement={"mail_store": "mx1.example.net"})})
    text = "\n".join(str(p) for p in builder.problems())
    tenant_line = builder.line_of("tenants/acme/tenant.yaml", "mx9")
    domain_line = builder.line_of("tenants/acme/acme.example.yaml", "ns2")
    assert f"tenants/acme/tenant.yaml:{tenant_line}" in text and "'mx9.example.net' is not a host" in text
    assert f"acme.example.yaml:{domain_line}" in text and "does not have the mail_store role" in text
    capacity_line = builder.line_of("ispctl.yaml", "capacity: 1}")
    assert f"ispctl.yaml:{capacity_line}" in text and "more than its capacity 1" in text


def test_a_placement_without_any_mail_store_host_is_an_error(tmp_path: Path) -> None:
    builder = _estate(tmp_path, site=BASE, domain={"placement": {"mail_store": "mx1.example.net"}})
    problem = builder.only_problem()
    assert "no host with the mail_store role" in str(problem)
    assert problem.location.line == builder.line_of("tenants/acme/acme.example.yaml", "mx1")


def test_this_host_must_be_a_declared_host(tmp_path: Path) -> None:
    builder = _estate(tmp_path, site=CLUSTER + "  this_host: mx7.example.net\n")
    assert "'mx7.example.net' is not one of cluster.hosts" in str(builder.only_problem())


def test_the_mail_store_runs_only_on_a_mail_store_host_and_keeps_its_own_homes(tmp_path: Path) -> None:
    builder = _estate(tmp_path, boxes={"anna": mailbox(placement={"mail_store": "mx1.example.net"}),
                                       "ben": mailbox(placement={"mail_store": "mx2.example.net"})})
    site = builder.catalog().estate.site
    with pytest.raises(ConfigError, match="ISPCTL_HOST"):
        build(site, {})
    assert build(site.model_copy(update={"cluster": site.cluster.model_copy(  # type: ignore[attr-defined]
        update={"this_host": "mx1.example.net"})}), {}, placed=lambda _site, _env: {}).host == "mx1.example.net"
    # mx1's own run keeps the maildirs the directory places on it (a default host is the
    # directory's once written), and for a mailbox the directory has no host for yet, the
    # compiled one; the maildir's host is never compared (every home there is on mx1).
    resources = builder.resources()
    maildirs = {r.key: r for (kind, _), r in resources.items() if kind == "maildir"}
    assert all(r.create_only >= {"host"} for r in maildirs.values())
    directory = {"ben@acme.example": "mx2.example.net", "bob@bakery.example": "mx1.example.net",
                 "cy@bakery.example": "mx2.example.net"}
    run = MailStoreProvider("/srv/vmail", "/srv/archive", "mx1.example.net", lambda: directory)
    kept = {key for (_kind, key) in in_scope(resources, [run])}
    assert kept == {"anna@acme.example", "bob@bakery.example"}
    assert set(in_scope(resources, [MailStoreProvider("/srv/vmail", "/srv/archive")])) == {
        ("maildir", key) for key in maildirs}


def test_a_default_host_is_sticky_a_pinned_one_compared(tmp_path: Path) -> None:
    builder = _estate(tmp_path, boxes={"anna": mailbox(placement={"mail_store": "mx1.example.net"}),
                                       "ben": mailbox()})
    hosts = {r.key: r for (kind, _), r in builder.resources().items() if kind == "mailhost"}
    assert hosts["anna@acme.example"].create_only == frozenset()
    assert hosts["ben@acme.example"].create_only == STICKY
