"""The ``cluster:`` section of ispctl.yaml: hosts, roles, where their replicas answer; every error at its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from estate_builder import EstateBuilder

from ispctl.reconciler.contract import CLUSTER

BASE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\n"


def test_hosts_by_role_with_their_endpoints_and_defaults(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site=BASE + textwrap.dedent("""\
        cluster:
          wait: 2m
          hosts:
            mx1.example.net: {roles: [directory_replica, mail_store, imap], directory: "ldaps://mx1.example.net:636"}
            ns2.example.net: {roles: [dns_secondary, directory_replica]}
            web1.example.net: {roles: [web]}
            ns3.example.net: {roles: [dns_secondary], dns: "[2001:db8::53]:5353"}
        """))
    cluster = builder.catalog().estate.site.section(CLUSTER)
    assert cluster.wait == 120
    assert [name for name, _ in cluster.with_role("directory_replica")] == ["mx1.example.net", "ns2.example.net"]
    assert cluster.directory_url("mx1.example.net") == "ldaps://mx1.example.net:636"
    assert cluster.directory_url("ns2.example.net") == "ldap://ns2.example.net"
    assert [name for name, _ in cluster.with_role("dns_secondary")] == ["ns2.example.net", "ns3.example.net"]
    assert cluster.dns_address("ns2.example.net") == "ns2.example.net:53"
    assert cluster.dns_address("ns3.example.net") == "[2001:db8::53]:5353"
    assert cluster.with_role("radius") == []


def test_without_the_section_there_is_no_replica_and_apply_waits_a_minute(tmp_path: Path) -> None:
    cluster = EstateBuilder(tmp_path).catalog().estate.site.section(CLUSTER)
    assert cluster.hosts == {} and cluster.wait == 60


def test_every_mistake_is_reported_at_its_line(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site=BASE + textwrap.dedent("""\
        cluster:
          wait: -5
          hosts:
            mx1.example.net: {roles: [mailstore]}
            ns2.example.net: {roles: [web], dns: "192.0.2.53:53"}
            Bad_Host: {roles: [web]}
            r1.example.net: {roles: [directory_replica], directory: "ldap://admin:secret@r1.example.net"}
            r2.example.net: {roles: [directory_replica], directory: "http://r2.example.net"}
            r3.example.net: {roles: []}
            r4.example.net: {roles: [dns_secondary], dns: "ns.example.net:99999"}
        """))
    problems = builder.problems()
    lines = {p.location.line for p in problems if p.location is not None}
    text = "\n".join(str(p) for p in problems)
    # wait, the unknown role, the endpoint of a missing role, the host name, credentials in a URL,
    # a URL that is not LDAP, no role, a port out of range: each on its own line.
    for needle in ("wait: -5", "mailstore", "192.0.2.53", "Bad_Host", "admin:secret", "http://r2", "roles: []",
                   "99999"):
        assert builder.line_of("ispctl.yaml", needle) in lines, (needle, text)
    assert "dns_secondary" in text and "no user, password or query" in text
    assert "secret" not in text  # a password written into a URL is not repeated in the error
