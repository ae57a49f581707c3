"""FTP facts: the counts its rules across files read, as totals a narrowed run adds from the files
it did not load (logins per ftp host, which files have FTP logins, placements naming no ftp host),
each shown to make that run report what the full validation reports; nothing else crosses files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.reconciler.contract import hash_password
from ispctl.reconciler.estate.desired import run_desired
from ispctl.reconciler.estate.facts import Facts
from ispctl.reconciler.estate.incremental import Fallback
from tests.ftp_helpers import PASSWORD
from tests.service_facts_helpers import Narrowing, service_facts
from tests.wiring import SCHEMA

ACME = "desired-state/tenants/acme/acme.example.yaml"
NET = "desired-state/tenants/acme/acme.net.yaml"
HASHED = hash_password(PASSWORD, rounds=1000)
LOGIN = f'ftp: {{sites: {{"@": {{password: "{HASHED}"}}}}}}\n'
F1 = {"f1.example.net": {"roles": ["ftp"], "capacity": 1}}


def _estate(tmp_path: Path, acme: str, net: str = "", hosts: dict[str, Any] | None = None) -> EstateBuilder:
    """Tenant acme with acme.example and acme.net (web and ftp, ``acme``/``net`` added to each)."""
    builder = EstateBuilder(tmp_path, site={**SITE, **({"cluster": {"hosts": hosts}} if hosts else {})})
    builder.tenant("acme")
    write(builder, acme, net)
    return builder


def write(builder: EstateBuilder, acme: str, net: str = "") -> None:
    builder.write(ACME.removeprefix("desired-state/"), f"domain: acme.example\nservices: [web, ftp]\n{acme}")
    builder.write(NET.removeprefix("desired-state/"), f"domain: acme.net\nservices: [web, ftp]\n{net}")


def facts(builder: EstateBuilder, *problems: str) -> dict[str, Facts]:
    """The FTP facts of the estate as it is now, whose full validation reports ``problems``."""
    found, reported = service_facts(builder.root, "ftp")
    assert reported == list(problems)
    return found


def narrowed(builder: EstateBuilder, loaded: str, outside: Facts) -> list[str]:
    """The problems of the pipeline run on ``loaded`` alone with ``outside``'s totals as the files
    left out (what ``estate.incremental`` runs)."""
    _desired, problems = run_desired(builder.root, SCHEMA, None, only=frozenset({loaded}), outside=outside.totals)
    return [str(p) for p in sorted(problems)]


def test_mailbox_logins_and_a_site_login_without_a_cluster_have_no_facts(tmp_path: Path) -> None:
    builder = _estate(tmp_path, LOGIN)
    builder.write(NET.removeprefix("desired-state/"), {"domain": "acme.net", "services": ["mail", "web", "ftp"],
                                                       "mailboxes": {"anna": mailbox(services={"ftp": True})}})
    assert facts(builder) == {ACME: Facts(totals={"ftp:sections": 1})}


def test_an_ftp_hosts_capacity_counts_the_logins_of_every_file(tmp_path: Path) -> None:
    builder = _estate(tmp_path, LOGIN, hosts=F1)
    before = facts(builder)
    assert before[ACME].totals == {"ftp:sections": 1, "placed:ftp:f1.example.net": 1} and NET not in before
    write(builder, LOGIN, LOGIN)
    line = builder.line_of("ispctl.yaml", "capacity: 1")
    column = (builder.root / "ispctl.yaml").read_text().splitlines()[line - 1].index("capacity") + 1
    over = (f"desired-state/ispctl.yaml:{line}:{column}: f1.example.net would store 2 ftp objects, more than its "
            "capacity 1: raise it, add a host or place objects elsewhere")
    facts(builder, over)
    # acme.net changed alone: acme.example's login is in the totals of the file left out.
    assert narrowed(builder, NET, before[ACME]) == [over]
    assert narrowed(builder, NET, Facts()) == []


def test_a_placement_naming_no_ftp_host_once_a_file_has_ftp_logins(tmp_path: Path) -> None:
    # No file has an ftp: section: the placement is checked by no one (nothing of the role is placed).
    builder = _estate(tmp_path, "", "placement: {ftp: f9.example.net}\n")
    before = facts(builder)
    assert before == {NET: Facts(totals={"ftp:refused-placements": 1})}
    write(builder, LOGIN, "placement: {ftp: f9.example.net}\n")
    refused = f"{NET}:3:13: cluster.hosts in ispctl.yaml has no host with the ftp role"
    facts(builder, refused)
    # acme.example changed alone: the placement of the file left out is counted, and reported.
    assert narrowed(builder, ACME, before[NET]) == [
        "desired-state/ispctl.yaml:1:1: cluster.hosts: 1 placement(s) {ftp: ...} in files this narrowed run did not "
        "load name no host with the ftp role here (the whole estate's run names them)"]
    assert narrowed(builder, ACME, Facts()) == []


def test_a_new_placement_naming_no_ftp_host_where_another_file_has_ftp_logins(tmp_path: Path) -> None:
    builder = _estate(tmp_path, LOGIN, hosts=F1)
    before = facts(builder)
    write(builder, LOGIN, "placement: {ftp: f9.example.net}\n")
    refused = f"{NET}:3:13: 'f9.example.net' is not a host of cluster.hosts in ispctl.yaml"
    facts(builder, refused)
    # acme.net changed alone: its placement is checked because acme.example (left out) has logins.
    assert narrowed(builder, NET, before[ACME]) == [refused]
    assert narrowed(builder, NET, Facts()) == []


# -- narrowed runs (estate.incremental) with the FTP facts alone ---------------------------------

def _primed(tmp_path: Path, acme: str, net: str = "", hosts: dict[str, Any] | None = None) -> Narrowing:
    """The estate with files no rule ties to these (one changed file must be few enough to be
    narrowed), its snapshot taken."""
    builder = _estate(tmp_path, acme, net, hosts)
    for n in range(4):
        builder.domain("acme", f"filler{n}.example", {"services": ["mail"]})
    return Narrowing(builder.root, tmp_path / "cache", "ftp")


def test_a_login_over_an_ftp_hosts_capacity_in_one_changed_file_falls_back(tmp_path: Path) -> None:
    runs = _primed(tmp_path, LOGIN, hosts=F1)
    net = runs.root / NET.removeprefix("desired-state/")
    net.write_text(net.read_text() + LOGIN)
    assert "f1.example.net would store 2 ftp objects" in runs.falls_back(net)


def test_a_first_ftp_login_beside_a_placement_naming_no_ftp_host_falls_back(tmp_path: Path) -> None:
    runs = _primed(tmp_path, "", "placement: {ftp: f9.example.net}\n")
    acme = runs.root / ACME.removeprefix("desired-state/")
    acme.write_text(acme.read_text() + LOGIN)
    found = runs.narrowed(acme)
    # The narrowed run does not word it (acme.net was not loaded), it only finds it: the full run does.
    assert isinstance(found, Fallback) and "placement(s) {ftp: ...}" in found.reason
    assert runs.full()[1] == [f"{NET}:3:13: cluster.hosts in ispctl.yaml has no host with the ftp role"]
