"""``ispctl --version`` and ``--help`` start light: no service, no model, no client library.

Checked by what a fresh process has imported, never by timing: a child runs the command
line's ``main`` and reports which of the heavy modules ended up in ``sys.modules``. The
top-level help lists the services' commands from ``group.BUILTIN_COMMANDS`` (tests/test_group.py
keeps that list equal to what the registry adds, and the lazy help equal to the help of an
application built eagerly from the registry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers import registry
from ispctl.reconciler import __version__
from ispctl.reconciler.cli import group
from tests.ldap_helpers import ispctl_binary
from tests.wiring import REGISTRY

REPO = Path(__file__).resolve().parents[1]
# What a command's body needs and a start does not: services, models, client libraries.
HEAVY = ("ispctl.providers", "ispctl.reconciler.contract", "ispctl.reconciler.estate", "ispctl.reconciler.views",
         "ispctl.reconciler.engine.session", "ispctl.reconciler.cli.commands", "ldap3", "ldap", "dns", "pydantic",
         "git", "deepdiff", "cryptography", "ruamel", "idna", "pyasn1")
PROBE = textwrap.dedent("""\
    import json, sys
    sys.argv = ["ispctl", *sys.argv[1:]]
    from ispctl.reconciler.cli.app import main
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}))
""")


def _start(*args: str) -> tuple[int, str, list[str]]:
    """``ispctl ARGS`` in a fresh interpreter: exit code, stdout, every module it imported."""
    code, out, modules = _start_with(PROBE, *args)
    return int(code), out, modules


def _start_with(probe: str, *args: str) -> tuple[Any, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPCTL_")}
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    report = json.loads(done.stderr[done.stderr.rindex('{"code"'):])
    return report["code"], done.stdout, report["modules"]


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_version_imports_nothing_heavy_not_even_rich() -> None:
    code, out, modules = _start("--version")
    assert (code, out) == (0, f"ispctl {__version__}\n")
    assert _heavy(modules) == []
    assert "rich" not in modules
    # Looking for plug-ins (entry points) is for the top-level help and the registry only.
    assert "importlib.metadata" not in modules


# No arguments shows the help too, as a usage error (exit 1: 2 means "changes present").
@pytest.mark.parametrize(("args", "exit_code"), [(["--help"], 0), (["-h"], 0), ([], 1)])
def test_help_imports_nothing_heavy_and_still_lists_every_services_command(args: list[str], exit_code: int) -> None:
    code, out, modules = _start(*args)
    assert code == exit_code
    assert _heavy(modules) == []
    for name, _, _ in group.BUILTIN_COMMANDS:
        assert f" {name} " in out, name


def _plugin(site: Path, entry: str) -> dict[str, str]:
    dist = site / "ispctl_banner-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ispctl-banner\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nbanner = {entry}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "NO_COLOR": "1"}


def test_with_a_plugin_installed_the_help_lists_its_commands_too(tmp_path: Path) -> None:
    env = _plugin(tmp_path / "site", "tests.banner_service:SERVICE")
    done = subprocess.run([ispctl_binary(), "--help"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert " banner " in done.stdout and " render " in done.stdout


def test_a_broken_plugin_is_one_message_not_a_traceback(tmp_path: Path) -> None:
    env = _plugin(tmp_path / "site", "tests.banner_service:KIND")
    done = subprocess.run([ispctl_binary(), "--help"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "the service plug-in banner" in done.stderr and "Traceback" not in done.stderr
    # The core commands still work: the registry is loaded only for what needs it.
    version = subprocess.run([ispctl_binary(), "--version"], env=env, capture_output=True, text=True, timeout=60,
                             check=False)
    assert version.returncode == 0


def test_the_console_script_freezes_the_heap_for_the_interpreters_shutdown_and_still_prints_everything() -> None:
    # main() ends the process: what is alive then is left out of the shutdown's full
    # collections (gc.freeze), on success as on a usage error; its output is complete.
    probe = PROBE.replace('code = exc.code', 'code = exc.code\nimport gc\ncode = [code, gc.get_freeze_count() > 0]')
    for args, exit_code in ((["--version"], 0), (["no-such-command"], 1)):
        code, out, _ = _start_with(probe, *args)
        assert code == [exit_code, True]
        if exit_code == 0:
            assert out == f"ispctl {__version__}\n"


# What a plan does not need at its start (issue 11: a one-file pull request's plan must be
# cheap): the services' commands and sandbox daemons, and the libraries only they, a provider
# that reads certificates and keys, or hashing a password use.
NOT_FOR_A_PLAN = ("cryptography", "crypt")


def _not_for_a_plan(module: str) -> bool:
    parts = module.split(".")
    if parts[0] in NOT_FOR_A_PLAN:
        return True
    # ispctl.providers.<service>.commands, ispctl.providers.<service>.sandbox[.*]
    return parts[:2] == ["ispctl", "providers"] and len(parts) > 3 and parts[3] in ("commands", "sandbox")


def test_a_plan_loads_every_service_but_none_of_their_commands_or_sandboxes() -> None:
    # The example estate's plan without a directory to read: it loads the registry and the
    # estate (every service's compile hook) and stops building the LDAP provider (exit 1).
    code, _, modules = _start("plan", "--dir", str(REPO / "desired-state"))
    assert code == 1
    assert {"ispctl.providers.registry", "ispctl.reconciler.estate.desired", "ispctl.providers.web"} <= set(modules)
    assert [m for m in modules if _not_for_a_plan(m)] == []


def test_the_sandbox_components_still_load_when_used() -> None:
    components = {type(c).__name__ for c in REGISTRY.components()}
    assert {"LdapComponent", "DnsComponent", "WebComponent", "DovecotComponent"} <= components
