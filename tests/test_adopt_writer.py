"""The estate writer: the layout, order, comments and refusals, and that what it writes validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml.comments import CommentedMap
from wiring import validate_estate

from ispctl.providers.adopt.writer import (
    EstateWriteError,
    ImportedDomain,
    ImportedEstate,
    ImportedTenant,
    commented,
    plan_files,
    tenant_slug,
    write_estate,
)

HASH = "{CRYPT}$6$rounds=1000$abcdefgh$" + "x" * 86


def _estate() -> ImportedEstate:
    estate = ImportedEstate()
    estate.tenants["acme"] = ImportedTenant(None, commented({"limits": {"max_domains": 5}, "name": "Acme Hosting"}))
    estate.tenants["bakery"] = ImportedTenant("acme", commented({"name": "Bakery"}))
    # Written in an importer's order: the writer puts them in the estate's.
    mailboxes = CommentedMap()
    mailboxes["zoe"] = commented({"password": HASH, "name": "Zoe"})
    mailboxes["anna"] = commented({"quota": "100 MiB", "name": "Anna", "password": HASH},
                                  {"quota": "mailQuota 104857600 bytes"})
    data = commented({"mailboxes": mailboxes, "aliases": {"sales": ["zoe", "anna"], "info": "anna"},
                      "services": ["mail"], "type": "nodns", "domain": "bakery.example"},
                     {"type": "the directory has no DNS for it"})
    data.yaml_set_start_comment("Imported from cn=bakery.example,o=domains,dc=example,dc=net")
    estate.domains["bakery.example"] = ImportedDomain("bakery", data)
    estate.domains["acme.example"] = ImportedDomain("acme", commented({"domain": "acme.example",
                                                                       "services": ["mail"], "type": "nodns"}))
    estate.site_extra = commented({"mail": {"root": "/var/vmail"}, "directory": {"base_dn": "ou=ispctl,dc=example"}})
    return estate


def test_one_folder_per_tenant_clients_inside_their_reseller_one_file_per_domain(tmp_path: Path) -> None:
    written = write_estate(_estate(), tmp_path)
    rel = [str(p.relative_to(tmp_path)) for p in written]
    assert rel == sorted(["ispctl.yaml", "tenants/acme/tenant.yaml", "tenants/acme/acme.example.yaml",
                          "tenants/acme/bakery/tenant.yaml", "tenants/acme/bakery/bakery.example.yaml"])


def test_keys_in_the_estates_order_names_sorted_comments_kept(tmp_path: Path) -> None:
    write_estate(_estate(), tmp_path)
    text = (tmp_path / "tenants/acme/bakery/bakery.example.yaml").read_text()
    lines = text.splitlines()
    assert lines[0] == "# Imported from cn=bakery.example,o=domains,dc=example,dc=net"
    keys = [line.split(":")[0] for line in lines if line and not line.startswith((" ", "#"))]
    assert keys == ["domain", "type", "services", "mailboxes", "aliases"]
    assert [line.strip() for line in lines if line.startswith("  ") and not line.startswith("   ")] == [
        "anna:", "zoe:", "info: anna", "sales: [zoe, anna]"]
    assert "type: nodns  # the directory has no DNS for it" in text
    anna = text.index("anna:")
    assert text.index("name: Anna", anna) < text.index("password:", anna) < text.index("quota:", anna)
    assert "quota: 100 MiB  # mailQuota 104857600 bytes" in text
    tenant = (tmp_path / "tenants/acme/tenant.yaml").read_text()
    assert tenant.index("name:") < tenant.index("limits:")


def test_what_it_writes_is_a_valid_estate(tmp_path: Path) -> None:
    estate = _estate()
    estate.site_extra = commented({"directory": {"base_dn": "ou=ispctl,dc=example,dc=net"},
                                   "mail": {"root": str(tmp_path / "vmail"), "uid": 5000, "gid": 5000}})
    write_estate(estate, tmp_path)
    catalog = validate_estate(tmp_path)
    assert sorted(catalog.domains) == ["acme.example", "bakery.example"]
    assert sorted(m.address for m in catalog.mailboxes.values()) == ["anna@bakery.example", "zoe@bakery.example"]


def test_existing_files_are_all_named_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "tenants/acme/bakery").mkdir(parents=True)
    (tmp_path / "tenants/acme/tenant.yaml").write_text("name: mine\n")
    (tmp_path / "ispctl.yaml").write_text("# mine\n")
    with pytest.raises(EstateWriteError) as caught:
        write_estate(_estate(), tmp_path)
    message = str(caught.value)
    assert "2 file(s) exist" in message
    assert str(tmp_path / "tenants/acme/tenant.yaml") in message and str(tmp_path / "ispctl.yaml") in message
    assert not (tmp_path / "tenants/acme/bakery/bakery.example.yaml").exists()
    assert (tmp_path / "ispctl.yaml").read_text() == "# mine\n"
    write_estate(_estate(), tmp_path, force=True)
    assert (tmp_path / "tenants/acme/tenant.yaml").read_text().startswith("name: Acme Hosting")


def test_bad_names_and_dangling_tenants_are_reported_together(tmp_path: Path) -> None:
    estate = _estate()
    estate.tenants["Bad Name"] = ImportedTenant(None, commented({"name": "x"}))
    estate.tenants["orphan"] = ImportedTenant("nobody", commented({"name": "x"}))
    estate.tenants["deep"] = ImportedTenant("bakery", commented({"name": "x"}))
    estate.domains["lost.example"] = ImportedDomain("nowhere", commented({"domain": "lost.example"}))
    estate.domains["../evil"] = ImportedDomain("acme", commented({"domain": "../evil"}))
    with pytest.raises(EstateWriteError) as caught:
        plan_files(estate, tmp_path)
    message = str(caught.value)
    for needle in ("'Bad Name' must be", "'orphan' names the reseller 'nobody'", "'deep' is a client of 'bakery'",
                   "'lost.example' belongs to tenant 'nowhere'", "'../evil' cannot be a file name"):
        assert needle in message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("text", "slug"), [("Acme Ltd.", "acme-ltd"), ("o=Bäcker", "o-b-cker"), ("---", "tenant"),
                                            ("x" * 80, "x" * 63)])
def test_tenant_slug(text: str, slug: str) -> None:
    assert tenant_slug(text) == slug
