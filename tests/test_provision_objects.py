"""Services' objects (declared through the contract as ``Editable``) edited on a copy of the
example estate: DNS records, web sites, access accounts; exact diffs."""

from __future__ import annotations

import re
from pathlib import Path

from provision_helpers import NW, edit, example, snapshot

from ispctl.providers.registry import services
from ispctl.reconciler.estate.passwords import verify_password

SB = "tenants/southbay/southbay.example.yaml"


def test_the_services_declare_their_objects() -> None:
    editables = services().editables
    assert {noun: (e.section, e.naming, e.rename, e.suspend is not None) for noun, e in editables.items()} == {
        "record": (("dns", "records"), "host", True, False),
        "site": (("web", "sites"), "host", False, True),
        "ftp-site": (("ftp", "sites"), "host", False, False),
        "access": (("radius", "accounts"), "login", False, True),
    }


def test_record_add_in_its_neighbours_style_and_rename_is_delete_plus_add(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "record", "add", "shop2.northwind.example", "--set", "A=192.0.2.9")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["+    shop2: {A: 192.0.2.9}"]}
    result, diff = edit(root, "record", "rename", "vpn.northwind.example", "vpn2.northwind.example")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ['-    vpn: {A: 198.51.100.7, AAAA: "2001:db8:100::7"}',
                         '+    vpn2: {A: 198.51.100.7, AAAA: "2001:db8:100::7"}']}
    result, diff = edit(root, "record", "set", "filiale-süd.bäckerei-müller.example", "--set", "A=203.0.113.41")
    assert result.exit_code == 0, result.output
    assert list(diff.values()) == [["-    filiale-süd: {A: 203.0.113.40}        # IDN owner: stored as "
                                    "xn--filiale-sd-ieb",
                                    "+    filiale-süd: {A: 203.0.113.41}        # IDN owner: stored as "
                                    "xn--filiale-sd-ieb"]]


def test_an_invalid_record_is_refused_and_nothing_written(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "record", "add", "bad.northwind.example", "--set", "A=not-an-address")
    assert result.exit_code == 1 and diff == {}
    assert "tenants/northwind/northwind.example.yaml:" in result.output  # file:line of the problem
    assert snapshot(root) == original
    # no 'record suspend' command; the engine says why to a batch
    result, diff = edit(root, "batch", "-", input='{"op": "record.suspend", "object": "vpn.northwind.example"}\n')
    assert result.exit_code == 1 and diff == {}
    assert "<stdin>:1: a record cannot be suspended" in result.output


def test_site_suspend_and_resume_restore_the_file(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "site", "suspend", "shop.northwind.example")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["+      status: suspended"]}
    assert edit(root, "site", "resume", "shop.northwind.example")[0].exit_code == 0
    assert snapshot(root) == original


def test_access_account_add_makes_the_section(tmp_path: Path) -> None:
    root = example(tmp_path)
    hashed = ("{CRYPT}$6$rounds=100000$z/w13jJriZyzQWRP$iQ/LEovcsNuDz4luY.gzU1ty2LN9OdXmeMX09h9WvZXpQhDRPzsgnsSq58"
              "fYMsjkwmlShPboqPCd7q9TFiswy.")
    result, diff = edit(root, "access", "add", "dsl-1@southbay.example", "--set", f"password={hashed}",
                        "--set", "framed_ip=10.1.0.42")
    assert result.exit_code == 0, result.output
    assert diff == {SB: ["+radius:", "+  accounts:", "+    dsl-1:", f"+      password: '{hashed}'",
                         "+      framed_ip: 10.1.0.42"]}
    result, diff = edit(root, "access", "suspend", "dsl-1@southbay.example")
    assert diff == {SB: ["+      status: suspended"]}


def test_password_stdin_sets_a_service_objects_password_hashed(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "access", "add", "dsl-2@southbay.example", "--password-stdin", input="line secret 42\n")
    assert result.exit_code == 0, result.output
    assert "line secret" not in result.output and "line secret" not in (root / SB).read_text(encoding="utf-8")
    hashed = re.fullmatch(r'\+      password: "(\{CRYPT\}\$6\$[^"]+)"', diff[SB][-1])
    assert hashed is not None and verify_password("line secret 42", hashed.group(1))
    result, diff = edit(root, "access", "set", "dsl-2@southbay.example", "--password-stdin", input="new one\n")
    assert result.exit_code == 0 and len(diff[SB]) == 2 and diff[SB][0].startswith("-      password:")
    result, diff = edit(root, "record", "add", "x.southbay.example", "--password-stdin", input="no\n")
    assert result.exit_code == 1 and diff == {} and "has no password" in result.output
