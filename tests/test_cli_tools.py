"""``validate --json`` and ``ispctl schema``: what machines read from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from ldap_helpers import EXAMPLE, copy_example, edit_yaml, run_cli, run_ispctl

from ispctl.reconciler.estate import jsonschema as js
from tests.wiring import SCHEMA


def test_validate_json_of_a_valid_estate_counts_its_resources() -> None:
    done = run_cli(None, "validate", "--json", "-d", str(EXAMPLE))
    assert done.exit_code == 0 and done.stderr == ""
    report = json.loads(done.stdout)
    assert report == {"valid": True, "root": str(EXAMPLE), "problems": [], "resources": {
        "alias": 10, "dns": 69, "dns_zone": 5, "domain": 6, "mailbox": 25, "maildir": 25, "sieve": 1, "site": 11,
        "tenant": 5}}


def test_validate_json_lists_every_problem_with_file_line_column_and_field(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    edit_yaml(root / "tenants/northwind/northwind.example.yaml",
              lambda d: d["mailboxes"]["noc"].__setitem__("quota", "lots"))
    edit_yaml(root / "tenants/southbay/tenant.yaml", lambda d: d.__setitem__("colour", "blue"))
    done = run_ispctl(None, "validate", "--json", "-d", str(root))  # the real process: exit status, streams
    assert done.returncode == 1 and done.stderr == ""
    report = json.loads(done.stdout)
    assert report["valid"] is False and report["resources"] == {}
    problems = report["problems"]
    assert [(p["file"].split("tenants/", 1)[1], p["field"]) for p in problems] == [
        ("northwind/northwind.example.yaml", "mailboxes.noc.quota"), ("southbay/tenant.yaml", "colour")]
    quota = problems[0]
    assert set(quota) == {"file", "line", "column", "field", "message", "code"}
    lines = (root / "tenants/northwind/northwind.example.yaml").read_text(encoding="utf-8").split("\n")
    assert lines[quota["line"] - 1][quota["column"] - 1:] == "quota: lots"  # 1-based, at the field
    assert quota["message"].startswith("'lots' is not a size")
    assert "unknown field 'colour'" in problems[1]["message"]
    # The same problems the human form prints, one per line.
    human = run_cli(None, "validate", "-d", str(root))
    assert human.exit_code == 1
    assert len([line for line in human.stderr.splitlines() if ": " in line and "error(s)" not in line]) == 2


def test_validate_json_without_an_estate_is_one_problem(tmp_path: Path) -> None:
    done = run_cli(None, "validate", "--json", "-d", str(tmp_path / "nowhere"))
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert [(p["file"], p["line"], p["message"]) for p in report["problems"]] == [
        (str(tmp_path / "nowhere"), None, "desired-state folder not found")]


def test_schema_prints_all_three_or_writes_them(tmp_path: Path) -> None:
    printed = run_cli(None, "schema")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == js.file_schemas(SCHEMA)
    out = tmp_path / "schemas"
    written = run_cli(None, "schema", "--out", str(out))
    assert written.exit_code == 0 and "site.schema.json" in written.stdout
    assert sorted(p.name for p in out.iterdir()) == ["domain.schema.json", "site.schema.json", "tenant.schema.json"]
    again = run_cli(None, "schema", "--out", str(out))
    assert "nothing (up to date)" in again.stdout
