"""``ispctl status``: the objects the directory places on each cluster host, in one search per
service, read from a real slapd (the FTP placement test's estate: two mail_store+ftp hosts, a
mailbox on each, both with FTP, a site's owner login on the second). A host that ``cluster:``
no longer declares but still holds objects is shown too (on stderr, as a warning)."""

from __future__ import annotations

import json
from typing import Any

from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance
from tests.ftp_helpers import FtpEstate
from tests.ldap_helpers import run_cli
from tests.test_ftp_placement import JOE, MX1, MX2, placed, pytestmark  # noqa: F401 - the fixture, the skip

Placed = tuple[FtpEstate, dict[str, PureFtpdInstance]]


def _status(estate: FtpEstate, *args: str) -> Any:
    apply = estate.slapd.account_env("apply")
    return run_cli(estate.slapd, "status", *args, "-d", str(estate.root), **estate.env, **apply)


def test_objects_per_host_from_the_directory(placed: Placed) -> None:  # noqa: F811 - the imported fixture
    estate, _servers = placed
    result = _status(estate, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = {MX1: {"mailboxes": 1, "mailbox ftp logins": 1},
                MX2: {"mailboxes": 1, "mailbox ftp logins": 1, "site ftp logins": 1}}
    assert data["objects"] == expected
    assert {h["name"]: h["objects"] for h in data["hosts"]} == expected
    text = _status(estate)
    assert f"{MX2}: mail store, imap, ftp -- 1 mailbox ftp logins, 1 mailboxes, 1 site ftp logins" in text.stdout


def test_a_host_gone_from_the_cluster_that_still_holds_objects_is_shown(placed: Placed) -> None:  # noqa: F811
    estate, _servers = placed
    dn = f"uid={JOE},associatedDomain=acme.example,o=acme,{estate.slapd.managed_base}"
    old = "mx9.example.net"
    change = "dn: {dn}\nchangetype: modify\nreplace: mailHost\nmailHost: {host}\n"
    estate.slapd.ldapmodify(change.format(dn=dn, host=old))
    try:
        data = json.loads(_status(estate, "--json").stdout)
        assert data["objects"][old] == {"mailboxes": 1, "mailbox ftp logins": 1}
        assert MX1 not in data["objects"] and old not in {h["name"] for h in data["hosts"]}
        assert f"{old} (not in cluster.hosts) -- 1 mailbox ftp logins, 1 mailboxes" in _status(estate).stderr
    finally:
        estate.slapd.ldapmodify(change.format(dn=dn, host=MX1))
