"""A service that lives only in the test suite plugs in with no engine change.

``tests/banner_service.py`` brings its own section of the domain files, its site settings
and override, its kind, a provider against real files on disk, an archive wording and a
command. Registered with the services the command line already has, it is validated,
planned, applied, drift-checked, renamed nothing and archived through the real ``ispctl``
application; registered as an installed plug-in (an ``ispctl.services`` entry point), the
real ``ispctl`` process finds it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ispctl.providers import registry
from ispctl.reconciler.cli.app import build_app
from ispctl.reconciler.contract import ConfigError
from tests import banner_service
from tests.ldap_helpers import copy_example, edit_yaml, ispctl_binary
from tests.wiring import REGISTRY

REPO = Path(__file__).resolve().parents[1]
DOMAIN_FILE = "tenants/northwind/northwind.example.yaml"
APP = build_app(REGISTRY.extended([banner_service.SERVICE]))


def run(estate: Path, banners: Path, *args: str) -> Result:
    env = {"ISPCTL_PROVIDERS": "banner", "ISPCTL_BANNER_DIR": str(banners), "NO_COLOR": "1",
           "ISPCTL_DESIRED_STATE": None, "ISPCTL_DEBUG": "1"}
    return CliRunner().invoke(APP, [*args, "-d", str(estate)], env=env, catch_exceptions=False)


def set_banner(estate: Path, banner: dict[str, Any] | None) -> None:
    def change(data: Any) -> None:
        if banner is None:
            del data["banner"]
        else:
            data["banner"] = banner
    edit_yaml(estate / DOMAIN_FILE, change)


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = copy_example(tmp_path)
    set_banner(root, {"text": "Welcome to Northwind"})
    return root


def test_a_test_only_service_is_planned_applied_and_archived_through_the_real_cli(estate: Path, tmp_path: Path) -> None:
    banners = tmp_path / "banners"
    valid = run(estate, banners, "validate")
    assert valid.exit_code == 0, valid.output
    assert "banner: 1" in valid.stdout

    planned = run(estate, banners, "plan")
    assert planned.exit_code == 0, planned.output
    assert "# banner.northwind.example will be created" in planned.stdout
    assert 'text = "Welcome to Northwind"' in planned.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in planned.stdout

    applied = run(estate, banners, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    written = json.loads((banners / "northwind.example.banner").read_text())
    assert written["text"] == "Welcome to Northwind" and written["fingerprint"].startswith("sha256:")
    assert run(estate, banners, "plan", "--detailed-exitcode").exit_code == 0

    # A hand edit of the live file is drift, and the plan puts it back.
    (banners / "northwind.example.banner").write_text(json.dumps({**written, "text": "hacked"}))
    drift = run(estate, banners, "plan", "--detailed-exitcode")
    assert drift.exit_code == 2 and "banner.northwind.example: changed outside ispctl" in drift.stdout

    set_banner(estate, {"text": "Welcome to Northwind", "shout": True})
    assert run(estate, banners, "apply", "--auto-approve").exit_code == 0
    assert json.loads((banners / "northwind.example.banner").read_text())["text"] == "WELCOME TO NORTHWIND"

    shown = run(estate, banners, "banner", "show")
    assert shown.exit_code == 0 and "northwind.example: WELCOME TO NORTHWIND" in shown.stdout

    # Removing the section archives, in the provider's own words; nothing is destroyed.
    set_banner(estate, None)
    removed = run(estate, banners, "plan")
    assert ("# banner.northwind.example will be archived (moved to the banner attic, not destroyed, "
            "because it is not in the desired state)") in removed.stdout
    assert "Plan: 0 to add, 0 to change, 1 to destroy (1 of them archived)." in removed.stdout
    assert run(estate, banners, "apply", "--auto-approve").exit_code == 0
    assert not (banners / "northwind.example.banner").exists()
    assert (banners / ".attic" / "northwind.example.banner").exists()
    assert run(estate, banners, "plan", "--detailed-exitcode").exit_code == 0


def test_its_section_is_validated_with_file_and_line(estate: Path, tmp_path: Path) -> None:
    set_banner(estate, {"text": "", "colour": "red"})
    failed = run(estate, tmp_path / "banners", "validate")
    assert failed.exit_code == 1
    lines = (estate / DOMAIN_FILE).read_text().splitlines()
    # The banner's own keys: the file has other text: keys before it (a mailbox's vacation).
    start = next(n for n, line in enumerate(lines, 1) if line.startswith("banner:"))
    text, colour = (next(n for n, line in enumerate(lines, 1) if n > start and line.strip().startswith(key))
                    for key in ("text:", "colour:"))
    assert f"estate/{DOMAIN_FILE}:{text}:3: banner.text: String should have at least 1 character" in failed.stderr
    assert (f"estate/{DOMAIN_FILE}:{colour}:3: banner.colour: unknown field 'colour'; allowed here: shout, text"
            in failed.stderr)
    assert "2 error(s) in the desired state; nothing was changed." in failed.stderr


def test_the_section_belongs_to_the_service_not_to_the_engine(estate: Path) -> None:
    # The same estate with the built-in services only: the banner section is unknown.
    result = CliRunner().invoke(build_app(REGISTRY), ["validate", "-d", str(estate)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "unknown field 'banner'" in result.stderr


def test_an_installed_plugin_is_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             estate: Path) -> None:
    site = tmp_path / "site"
    dist = site / "ispctl_banner-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ispctl-banner\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nbanner = tests.banner_service:SERVICE\n")
    monkeypatch.syspath_prepend(str(site))
    found = registry.services()
    assert found.get("banner") is banner_service.SERVICE
    assert found.names[: len(registry.BUILTIN)] == tuple(s.name for s in registry.BUILTIN)

    # The real ispctl process finds the plug-in and runs its command.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "NO_COLOR": "1",
           "ISPCTL_BANNER_DIR": str(tmp_path / "banners")}
    done = subprocess.run([ispctl_binary(), "banner", "show", "-d", str(estate)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"0 banner(s) in {tmp_path / 'banners'}" in done.stdout


def test_a_broken_plugin_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "ispctl_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ispctl-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [{registry.ENTRY_POINT_GROUP}]
        broken = tests.banner_service:KIND
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="the service plug-in broken .* is not an ispctl Service"):
        registry.services()
