"""``ispctl report usage`` (``lookup.usage``): per tenant, counts and quota beside the limits, and
with --live the mail used in a real mail store (the directory read from a real slapd)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.lookup.usage import usage_rows
from tests.ftp_helpers import JOE, SITE, ftp_estate
from tests.ldap_helpers import EXAMPLE, run_cli
from tests.lookup_helpers import small_estate
from tests.wiring import REGISTRY, WIRING

COUNTED = [kind for s in REGISTRY if s.usage is not None for kind in s.usage.counts]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")


def report(estate: Path, *args: str, slapd: SlapdInstance | None = None, **env: str) -> str:
    done = run_cli(slapd, "report", "usage", "-d", str(estate), *args, **env)
    assert done.exit_code == 0, done.output
    return str(done.stdout)


def test_counts_and_quota_beside_the_limits_a_reseller_with_its_clients(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    assert report(estate).splitlines() == [
        "TENANT  KIND      DOMAINS  MAILBOXES  ALIASES  QUOTA           SITES  ACCESS_ACCOUNTS  FTP_LOGINS",
        "acme    reseller  3/-      3/5        3/-      3.5 GiB/10 GiB  0      0                0",
        "shop    client    1/-      1/-        0/-      512 MiB/-       0      0                0",
    ]
    assert report(estate, "--format", "csv", "--tenant", "shop").splitlines() == [
        "tenant,kind,parent,status,domains,max_domains,mailboxes,max_mailboxes,aliases,max_aliases,quota,quota_pool,"
        "sites,access_accounts,ftp_logins",
        "shop,client,acme,active,1,,1,,0,,536870912,,0,0,0",
    ]
    data = json.loads(report(estate, "--json"))
    assert data["live"] is False
    assert data["tenants"][0] == {
        "tenant": "acme", "kind": "reseller", "parent": None, "status": "active", "domains": 3, "max_domains": None,
        "mailboxes": 3, "max_mailboxes": 5, "aliases": 3, "max_aliases": None,  # info, team and a.smith
        "quota": 3758096384, "quota_pool": 10737418240, "sites": 0, "access_accounts": 0, "ftp_logins": 0}


def test_the_figures_are_what_the_limits_count() -> None:
    """Each reseller's figures are over its clients too, as validation's limits count them: the
    example is valid, and each figure is at most its limit."""
    desired = WIRING.desired(EXAMPLE)
    rows = {r["tenant"]: r for r in usage_rows(desired.resources, desired.catalog, COUNTED, None)}
    catalog = desired.catalog
    for name, row in rows.items():
        below = [t for t in catalog.tenants if any(c.name == name for c in catalog.tenant_chain(t))]
        assert row["domains"] == sum(1 for d in catalog.domains.values() if d.tenant in below)
        boxes = [b for b in catalog.mailboxes.values() if catalog.domains[b.domain].tenant in below]
        assert row["mailboxes"] == len(boxes) and row["quota"] == sum(b.quota for b in boxes)
        for figure, limit in (("domains", "max_domains"), ("mailboxes", "max_mailboxes"), ("aliases", "max_aliases"),
                              ("quota", "quota_pool")):
            assert row[limit] is None or row[figure] <= row[limit]
    sites = {name: sum(1 for (kind, _), r in desired.resources.items() if kind == "site"
                       and catalog.domains[r.parent.split(".", 1)[1]].tenant == name) for name in rows}
    assert rows["bakery"]["sites"] == sites["bakery"] > 0
    assert rows["northwind"]["sites"] == sites["northwind"] + sites["bakery"] + sites["lawfirm"]


@needs_root
def test_mail_used_per_tenant_from_the_real_mail_store(slapd: SlapdInstance, tmp_path: Path, mail_root: Path) -> None:
    estate = small_estate(tmp_path)
    env = {"ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(mail_root)}
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    (mail_root / "acme.example" / "anna" / "Maildir" / "new" / "a").write_bytes(b"a" * 1000)
    (mail_root / "acme.example" / "boss" / "Maildir" / "cur" / "b:2,S").write_bytes(b"b" * 3000)
    (mail_root / "shop.example" / "sales" / "Maildir" / "new" / "c").write_bytes(b"c" * 5000)
    data = json.loads(report(estate, "--live", "--json", slapd=slapd, **env))
    assert data["live"] is True
    assert [(r["tenant"], r["mail_used"], r["ftp_used"]) for r in data["tenants"]] == [
        ("acme", 9000, 0), ("shop", 5000, 0)]
    narrowed = json.loads(report(estate, "--live", "--json", "--tenant", "shop", slapd=slapd, **env))
    assert [(r["tenant"], r["mail_used"]) for r in narrowed["tenants"]] == [("shop", 5000)]
    # Without the mail store on this machine there is no mail_used column (rather than zeros).
    directory_only = json.loads(report(estate, "--live", "--json", slapd=slapd, **{**env, "ISPCTL_PROVIDERS": "ldap"}))
    assert [("mail_used" in r, r["ftp_used"]) for r in directory_only["tenants"]] == [(False, 0), (False, 0)]
    text = report(estate, "--live", slapd=slapd, **env).splitlines()
    assert text[0].split()[-2:] == ["FTP_USED", "MAIL_USED"]
    assert text[1].split()[-4:] == ["0", "B", "8.8", "KiB"] and text[2].split()[-4:] == ["0", "B", "4.9", "KiB"]


def test_ftp_logins_and_space_used_from_the_real_directory(tmp_path: Path) -> None:
    """The FTP service's part (``UsagePart``): its sites' logins counted, and the bytes in every
    FTP home (a mailbox's and a site's) summed per tenant from the live directory's logins."""
    with ftp_estate(tmp_path) as estate:
        desired = WIRING.desired(estate.root, env=estate.env)
        (estate.ftp_root / "acme.example" / "joe").mkdir(parents=True)
        (estate.ftp_root / "acme.example" / "joe" / "big.bin").write_bytes(b"j" * 950 * 1024)
        docroot = Path(str(desired.resources[("site", SITE)].attrs["docroot"]))
        docroot.mkdir(parents=True, exist_ok=True)
        (docroot / "index.html").write_bytes(b"s" * 300)
        data = json.loads(report(estate.root, "--live", "--json", slapd=estate.slapd, **estate.env))
        [acme] = data["tenants"]
        assert (acme["ftp_logins"], acme["ftp_used"], acme["sites"]) == (2, 950 * 1024 + 300, 2)
        shown = run_cli(estate.slapd, "show", "mailbox", JOE, "--live", "--json", "-d", str(estate.root),
                        **estate.env)
        assert json.loads(shown.stdout)["used"] == {"ftp_used": 950 * 1024}


def test_the_example_estate() -> None:
    assert report(EXAMPLE).splitlines() == [
        "TENANT     KIND      DOMAINS  MAILBOXES  ALIASES  QUOTA             SITES  ACCESS_ACCOUNTS  FTP_LOGINS",
        "bakery     client    2/3      4/10       1/-      8 GiB/20 GiB      3      0                0",
        "lawfirm    client    1/2      7/15       3/20     16.5 GiB/60 GiB   0      0                0",
        "northwind  reseller  4/20     16/200     9/400    37.5 GiB/500 GiB  8      0                0",
        "school     client    1/1      6/40       2/-      3 GiB/40 GiB      0      0                0",
        "southbay   reseller  2/50     9/-        4/-      13.1 GiB/1 TiB    3      0                0",
    ]
