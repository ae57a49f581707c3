"""Tenants and domains edited on a copy of the example estate: the exact lines each command
changes, everything else byte for byte as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

from provision_helpers import SB_TENANT, edit, example, snapshot


def test_tenant_add_client_gets_its_own_folder_in_conventional_order(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "tenant", "add", "acme", "--parent", "northwind", "--name", "Acme Ltd",
                        "--contact", "it@acme.example", "--set", "limits.max_domains=2")
    assert result.exit_code == 0, result.output
    assert diff == {"tenants/northwind/acme": [],
                    "tenants/northwind/acme/tenant.yaml": ["+name: Acme Ltd", "+contact: it@acme.example",
                                                           "+limits:", "+  max_domains: 2"]}


def test_tenant_suspend_is_one_line_and_resume_puts_the_file_back_byte_for_byte(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "tenant", "suspend", "southbay")
    assert result.exit_code == 0, result.output
    assert diff == {SB_TENANT: ["+status: suspended"]}
    text = (root / SB_TENANT).read_text(encoding="utf-8").splitlines()
    assert text.index("status: suspended") == text.index("contact: noc@southbay.example") + 1  # before limits:
    result, diff = edit(root, "tenant", "resume", "southbay")
    assert result.exit_code == 0 and diff == {SB_TENANT: ["-status: suspended"]}
    assert snapshot(root) == original


def test_an_explicit_active_status_is_changed_in_place(tmp_path: Path) -> None:
    root = example(tmp_path)
    school = "tenants/southbay/school/tenant.yaml"
    result, diff = edit(root, "tenant", "suspend", "school")
    assert result.exit_code == 0, result.output
    assert diff == {school: ["-status: active", "+status: suspended"]}


def test_tenant_delete_refuses_while_it_has_domains_and_removes_an_empty_one(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "tenant", "delete", "school")
    assert result.exit_code == 1 and diff == {}
    assert "still has domains riverside-school.example" in result.output
    assert snapshot(root) == original
    assert edit(root, "tenant", "add", "acme", "--parent", "southbay", "--name", "Acme")[0].exit_code == 0
    result, diff = edit(root, "tenant", "delete", "acme")
    assert result.exit_code == 0, result.output
    assert snapshot(root) == original


# Renames of a tenant and of a domain are planned renames: tests/test_provision_tenant_rename.py and
# tests/test_provision_domain_rename.py.


def test_domain_add_its_own_file_and_set_suspend_delete(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "domain", "add", "school-two.example", "--tenant", "school", "--type", "nodns",
                        "--services", "mail")
    assert result.exit_code == 1  # over the school's limit of one domain: validation says so, nothing written
    assert diff == {} and "max_domains" in result.output
    result, diff = edit(root, "domain", "add", "lawfirm-two.example", "--tenant", "lawfirm", "--services",
                        "mail,dns")
    assert result.exit_code == 0, result.output
    path = "tenants/northwind/lawfirm/lawfirm-two.example.yaml"
    assert diff == {path: ["+domain: lawfirm-two.example", "+services: [mail, dns]"]}
    result, diff = edit(root, "domain", "set", "lawfirm-two.example", "--set", "mail.default_quota=2GiB")
    assert result.exit_code == 0 and diff == {path: ["+mail:", "+  default_quota: 2GiB"]}
    result, diff = edit(root, "domain", "suspend", "lawfirm-two.example")
    assert result.exit_code == 0 and diff == {path: ["+status: suspended"]}
    assert (root / path).read_text(encoding="utf-8").splitlines()[2] == "status: suspended"
    result, diff = edit(root, "domain", "delete", "lawfirm-two.example")
    assert result.exit_code == 0 and list(diff) == [path]
    assert not (root / path).exists()


def test_repeating_an_add_changes_nothing_and_exits_0(tmp_path: Path) -> None:
    root = example(tmp_path)
    args = ("tenant", "add", "acme", "--parent", "northwind", "--name", "Acme Ltd")
    assert edit(root, *args)[0].exit_code == 0
    result, diff = edit(root, *args)
    assert result.exit_code == 0 and diff == {}
    assert "Nothing to change" in result.stdout
    result, diff = edit(root, "tenant", "add", "acme", "--parent", "northwind", "--name", "Other")
    assert result.exit_code == 1 and diff == {} and "already exists" in result.output


def test_tenant_move_takes_a_client_folder_whole_to_another_reseller(tmp_path: Path) -> None:
    root = example(tmp_path)
    before = snapshot(root / "tenants" / "southbay" / "school")
    result, diff = edit(root, "tenant", "move", "school", "--parent", "northwind")
    assert result.exit_code == 0, result.output
    assert sorted(diff) == ["tenants/northwind/school", "tenants/northwind/school/riverside-school.example.yaml",
                            "tenants/northwind/school/tenant.yaml", "tenants/southbay/school",
                            "tenants/southbay/school/riverside-school.example.yaml",
                            "tenants/southbay/school/tenant.yaml"]
    assert snapshot(root / "tenants" / "northwind" / "school") == before  # byte for byte
    assert not (root / "tenants" / "southbay" / "school").exists()
    result, diff = edit(root, "tenant", "move", "northwind", "--parent", "southbay")
    assert result.exit_code == 1 and diff == {} and "only clients move" in result.stderr


def test_new_files_name_their_schema_like_the_estates_files_when_the_schemas_are_there(tmp_path: Path) -> None:
    root = example(tmp_path)
    # The example's files point at ../schemas (the repository's): put the schemas there too.
    shutil.copytree(Path(__file__).parents[1] / "schemas", tmp_path / "schemas")
    result, diff = edit(root, "tenant", "add", "acme", "--parent", "northwind", "--name", "Acme Ltd")
    assert result.exit_code == 0, result.output
    result, more = edit(root, "domain", "add", "acme.example", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    for name, kind in (("tenants/northwind/acme/tenant.yaml", "tenant"),
                       ("tenants/northwind/acme/acme.example.yaml", "domain")):
        first = (root / name).read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../../../../schemas/{kind}.schema.json"
        assert ((root / name).parent / first.split("=", 1)[1]).resolve() == (tmp_path / "schemas" /
                                                                             f"{kind}.schema.json").resolve()
    # The existing files did not change, apart from what the two commands asked.
    assert set(diff) | set(more) <= {"tenants/northwind/acme", "tenants/northwind/acme/tenant.yaml",
                                     "tenants/northwind/acme/acme.example.yaml"}
