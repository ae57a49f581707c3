"""The import report: sections with counts and DNs, as text and JSON, and no hash ever in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport, SecretInReport


def _report() -> ImportReport:
    report = ImportReport("ldap://127.0.0.1:3890 (dc=example,dc=net)")
    report.count("mailboxes", 3)
    report.count("domains")
    report.add("custom", "cn=x,dc=example,dc=net", "an importer's own section", title="Own section")
    report.add(WEAK_HASHES, "mail=b@example.net,dc=example,dc=net", "{CRYPT} DES (13 characters)")
    report.add(NOT_IMPORTED, "cn=db1,dc=example,dc=net", "database")
    report.add(NOT_IMPORTED, "cn=db0,dc=example,dc=net", "database")
    report.add(NOT_IMPORTED, "cn=book,dc=example,dc=net", "address book")
    report.written = [Path("/x/tenants/a/tenant.yaml")]
    return report


def test_json_has_counts_by_detail_and_every_dn_sorted_in_the_conventional_order() -> None:
    data = json.loads(json.dumps(_report().as_json()))
    assert data["imported"] == {"domains": 1, "mailboxes": 3}
    assert data["written"] == ["/x/tenants/a/tenant.yaml"]
    assert list(data["sections"]) == [NOT_IMPORTED, WEAK_HASHES, "custom"]
    not_imported = data["sections"][NOT_IMPORTED]
    assert not_imported["count"] == 3
    assert not_imported["by_detail"] == {"address book": 1, "database": 2}
    assert [i["dn"] for i in not_imported["items"]] == ["cn=book,dc=example,dc=net", "cn=db0,dc=example,dc=net",
                                                        "cn=db1,dc=example,dc=net"]
    assert data["sections"]["custom"]["title"] == "Own section"


def test_text_shows_counts_and_at_most_limit_dns_per_section() -> None:
    report = _report()
    for n in range(5):
        report.add(CONVERTED, f"uid=u{n},dc=example,dc=net", "mailQuota bytes -> size")
    text = report.text(limit=2)
    assert text.startswith("Imported from ldap://127.0.0.1:3890 (dc=example,dc=net): 1 domains, 3 mailboxes\n")
    assert "Converted (the value written differs from the directory's): 5" in text
    assert "       5  mailQuota bytes -> size" in text
    assert "uid=u1,dc=example,dc=net" in text and "uid=u2,dc=example,dc=net" not in text
    assert "... and 3 more (--json lists every DN)" in text
    assert report.items(CONVERTED)[0].dn == "uid=u0,dc=example,dc=net"
    assert report.items("absent") == []


@pytest.mark.parametrize("secret", ["{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "{CRYPT}$6$salt$abcdefghijklmnop",
                                    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"])
def test_a_hash_is_refused_wherever_it_is_put(secret: str) -> None:
    report = ImportReport("x")
    with pytest.raises(SecretInReport):
        report.add(WEAK_HASHES, "uid=a,dc=example,dc=net", f"weak: {secret}")
    with pytest.raises(SecretInReport):
        report.add(WEAK_HASHES, f"uid={secret},dc=example,dc=net", "weak")
    assert report.as_json()["sections"] == {}
