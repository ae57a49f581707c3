"""The helpdesk commands' wiring (``cli.lookup``, ``cli.helpdesk``): ``show`` is still the saved
plan's command, and an object's when a NAME follows a kind; every command is in the help."""

from __future__ import annotations

import json
from pathlib import Path

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.ldap_helpers import run_cli
from tests.lookup_helpers import small_estate


def test_show_renders_a_saved_plan_and_an_object(slapd: SlapdInstance, tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    saved = tmp_path / "plans" / "first.json"
    made = run_cli(slapd, "plan", "-d", str(estate), "--out", str(saved), ISPCTL_PROVIDERS="ldap")
    assert made.exit_code == 0, made.output
    plan = run_cli(slapd, "show", str(saved), "--format", "markdown")
    assert plan.exit_code == 0 and "to add, 0 to change, 0 to destroy." in plan.stdout
    assert json.loads(run_cli(slapd, "show", str(saved), "--json").stdout)["changes"]
    shown = run_cli(slapd, "show", "tenant", "shop", "--json", "-d", str(estate))
    assert shown.exit_code == 0 and json.loads(shown.stdout)["tenants"] == ["acme"]


def test_every_helpdesk_command_is_listed_with_an_example() -> None:
    top = run_cli(None, "--help", COLUMNS="200").stdout
    for name in ("show", "list", "find"):
        assert f" {name} " in top
    for args in (["show"], ["list"], ["find"], ["report", "usage"]):
        helped = run_cli(None, *args, "--help", COLUMNS="200")
        assert helped.exit_code == 0 and "Example: ispctl " in helped.stdout, args
    assert " usage " in run_cli(None, "report", "--help", COLUMNS="200").stdout


def test_bad_formats_are_usage_errors(tmp_path: Path) -> None:
    estate = small_estate(tmp_path)
    done = run_cli(None, "list", "mailboxes", "--format", "xml", "-d", str(estate))
    assert done.exit_code == 1 and "--format must be table, csv or json, not 'xml'" in done.output
    done = run_cli(None, "report", "usage", "--format", "markdown", "-d", str(estate))
    assert done.exit_code == 1 and "--format must be table, csv or json" in done.output
