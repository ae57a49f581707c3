"""``ispctl list KINDS`` (``lookup.listing``): rows from git, narrowed by --tenant and --domain,
and with --live whether each object is live and differs, against a real slapd and mail store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.lookup.listing import list_rows
from tests.ldap_helpers import BASE, EXAMPLE, ldap_ok, run_cli
from tests.lookup_helpers import small_estate
from tests.wiring import WIRING

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root")


def table(estate: Path, *args: str) -> list[str]:
    done = run_cli(None, "list", *args, "-d", str(estate))
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()


def test_tables_of_each_kind_narrowed_by_tenant_and_domain(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    assert table(estate, "mailboxes", "--tenant", "acme") == [  # a reseller: its clients' too
        "ADDRESS             NAME          QUOTA  STATUS  TENANT",
        "anna@acme.example   Anna Smith    1 GiB  active  acme",
        "boss@acme.example   boss          2 GiB  active  acme",
        "sales@shop.example  sales       512 MiB  active  shop",
    ]
    assert table(estate, "mailbox", "--tenant", "shop") == [  # a client: its own only
        "ADDRESS             NAME     QUOTA  STATUS  TENANT",
        "sales@shop.example  sales  512 MiB  active  shop",
    ]
    assert table(estate, "domains") == [
        "DOMAIN        TYPE     SERVICES   STATUS  MAILBOXES  ALIASES  TENANT",
        "acme.example  primary  dns, mail  active          2        2  acme",
        "acme.test     alias    dns, mail  active          0        0  acme",
        "shop.example  primary  dns, mail  active          1        0  shop",
    ]
    assert table(estate, "aliases", "--domain", "ACME.example") == [
        "ADDRESS            TYPE   TARGETS                               STATUS  TENANT",
        "info@acme.example  alias  anna@acme.example                     active  acme",
        "team@acme.example  list   anna@acme.example, boss@acme.example  active  acme",
    ]
    assert table(estate, "tenants") == [
        "TENANT  KIND      PARENT  NAME  STATUS  CONTACT",
        "acme    reseller  -       Acme  active  boss@acme.example",
        "shop    client    acme    Shop  active  -",
    ]
    assert table(estate, "aliases", "--tenant", "shop") == ["No alias matches."]


def test_json_and_csv_rows_name_their_file_and_line(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    done = run_cli(None, "list", "mailboxes", "--domain", "shop.example", "--json", "-d", str(estate))
    assert json.loads(done.stdout) == {"kind": "mailbox", "count": 1, "live": False, "rows": [{
        "key": "sales@shop.example", "address": "sales@shop.example", "name": "sales", "quota": 536870912,
        "status": "active", "domain": "shop.example", "tenant": "shop",
        "file": "est/tenants/acme/shop/shop.example.yaml", "line": 3}]}
    csv = run_cli(None, "list", "mailboxes", "--tenant", "shop", "--format", "csv", "-d", str(estate))
    assert csv.stdout.splitlines() == ["key,address,name,quota,status,tenant,file,line",
                                       "sales@shop.example,sales@shop.example,sales,536870912,active,shop,"
                                       "est/tenants/acme/shop/shop.example.yaml,3"]


def test_a_service_kind_in_unicode_with_its_domain_and_tenant() -> None:
    desired = WIRING.desired(EXAMPLE)
    rows = list_rows("site", desired.resources, desired.catalog, domain="xn--bckerei-mller-bfb28a.example")
    assert [(r["name"], r["domain"], r["tenant"]) for r in rows] == [
        ("autoconfig.bäckerei-müller.example", "bäckerei-müller.example", "bakery"),
        ("mta-sts.bäckerei-müller.example", "bäckerei-müller.example", "bakery"),
        ("bäckerei-müller.example", "bäckerei-müller.example", "bakery"),
    ]


def test_unknown_names_are_errors(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    desired = WIRING.desired(estate)
    with pytest.raises(IspctlError, match=r"--tenant nope: no such tenant \(known: acme, shop\)"):
        list_rows("mailbox", desired.resources, desired.catalog, tenant="nope")
    with pytest.raises(IspctlError, match="--domain other.example: no such domain"):
        list_rows("mailbox", desired.resources, desired.catalog, domain="other.example")
    wrong = run_cli(None, "list", "widgets", "-d", str(estate))
    assert wrong.exit_code == 1 and "list widgets: not a kind of object (known: alias, domain," in wrong.stderr


@needs_root
def test_live_columns_from_the_real_directory_and_mail_store(slapd: SlapdInstance, tmp_path: Path,
                                                             mail_root: Path) -> None:
    estate = small_estate(tmp_path)
    env = {"ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(mail_root)}
    assert run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    (mail_root / "acme.example" / "boss" / "Maildir" / "cur" / "1.eml:2,S").write_bytes(b"m" * 2048)
    ldap_ok(slapd.ldapmodify(f"dn: uid=anna@acme.example,associatedDomain=acme.example,o=acme,{BASE}\n"
                             "changetype: modify\nreplace: cn\ncn: Anna Jones\n"))
    path = estate / "tenants" / "acme" / "acme.example.yaml"
    path.write_text(path.read_text().replace("aliases:\n  info:", "  carl:\n    quota: 1 GiB\naliases:\n  info:"))
    done = run_cli(slapd, "list", "mailboxes", "--tenant", "acme", "--live", "--json", "-d", str(estate), **env)
    assert done.exit_code == 0, done.output
    found = json.loads(done.stdout)["rows"]
    rows = {r["key"]: (r["live"], r["differs"], r["mail_used"], r["ftp_used"]) for r in found}
    assert rows == {"anna@acme.example": (True, ["display_name"], 0, None),
                    "boss@acme.example": (True, [], 2048, None),
                    "carl@acme.example": (False, [], None, None),  # not applied yet
                    "sales@shop.example": (True, [], 0, None)}
    text = run_cli(slapd, "list", "mailboxes", "--domain", "acme.example", "--live", "-d", str(estate), **env)
    assert text.stdout.splitlines() == [
        "ADDRESS            NAME        QUOTA  STATUS  TENANT  LIVE  DIFFERS       FTP_USED  MAIL_USED",
        "anna@acme.example  Anna Smith  1 GiB  active  acme    yes   display_name         -        0 B",
        "boss@acme.example  boss        2 GiB  active  acme    yes   -                    -      2 KiB",
        "carl@acme.example  carl        1 GiB  active  acme    no    -                    -          -",
    ]


def test_the_example_estate() -> None:
    assert table(EXAMPLE, "domains") == [
        "DOMAIN                     TYPE     SERVICES                     STATUS  MAILBOXES  ALIASES  TENANT",
        "baeckerei-mueller.example  alias    dns, mail                    active          0        0  bakery",
        "hartcole.example           slave    dns, mail                    active          7        3  lawfirm",
        "northwind.example          primary  dns, mail, web               active          5        2  northwind",
        "riverside-school.example   nodns    mail                         active          6        2  school",
        "southbay.example           primary  dialup, dns, ftp, mail, web  active          3        2  southbay",
        "bäckerei-müller.example    primary  dns, mail, web               active          4        1  bakery",
    ]
    assert table(EXAMPLE, "tenants", "--tenant", "southbay") == [
        "TENANT    KIND      PARENT    NAME                STATUS  CONTACT",
        "school    client    southbay  Riverside School    active  office@riverside-school.example",
        "southbay  reseller  -         South Bay Networks  active  noc@southbay.example",
    ]
