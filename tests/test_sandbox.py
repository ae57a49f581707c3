"""``ispctl sandbox`` backend: detached services that outlive the CLI process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ispctl.reconciler.harness import sandbox
from ispctl.reconciler.harness.daemons import pids_matching
from tests.wiring import REGISTRY

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = REGISTRY.components()


def _up_in_another_process(root: Path) -> dict[str, object]:
    """Run ``sandbox.up`` the way the CLI does: in a process that exits right afterwards."""
    code = ("import json, sys; from pathlib import Path; from ispctl.reconciler.harness import sandbox; "
            "from ispctl.providers.registry import services; "
            "print(json.dumps(sandbox.up(Path(sys.argv[1]), services().components())))")
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                          text=True, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _really_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def test_round_trip_survives_the_cli_process(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox"
    try:
        _round_trip(root)
    finally:
        # Also when an assertion failed: leave nothing running, and no data outside tmp_path
        # (the Dovecot component may keep the sandbox's mail under /var/tmp, see its up()).
        sandbox.down(root, COMPONENTS, purge=True)


def _round_trip(root: Path) -> None:
    report = _up_in_another_process(root)
    ldap = report["components"]["ldap"]  # type: ignore[index]
    assert ldap["action"] == "started" and ldap["running"]

    # The process that started it is gone; the daemon is still there.
    status = sandbox.status(root, COMPONENTS)["components"]["ldap"]
    assert status["running"] and status["pid"] == ldap["pid"]
    assert status["url"].startswith("ldap://127.0.0.1:")
    assert (root / "state.json").stat().st_mode & 0o077 == 0

    variables = sandbox.env(root, COMPONENTS)
    # Every component adds its own variables (IMAP, DNS, ...); the directory's are always there.
    assert {"ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD",
            "ISPCTL_LDAP_BASE_DN"} <= set(variables)
    assert variables["ISPCTL_LDAP_URL"] == status["url"]
    # The exported credentials really work against the sandbox.
    whoami = subprocess.run(
        ["ldapwhoami", "-x", "-H", variables["ISPCTL_LDAP_URL"], "-D",
         variables["ISPCTL_LDAP_BIND_DN"], "-w", variables["ISPCTL_LDAP_PASSWORD"]],
        capture_output=True, text=True, check=False)
    assert whoami.returncode == 0, whoami.stderr

    again = sandbox.up(root, COMPONENTS)["components"]["ldap"]
    assert again["action"] == "already running" and again["pid"] == status["pid"]

    sandbox.down(root, COMPONENTS)
    assert _really_gone(status["pid"])
    assert pids_matching(str(root)) == []
    assert sandbox.status(root, COMPONENTS)["components"]["ldap"] == {
        "running": False, "pid": None, "url": status["url"]}
    assert (root / "ldap" / "data").is_dir()  # data kept for the next up
    with pytest.raises(sandbox.SandboxError, match="not running"):
        sandbox.env(root, COMPONENTS)


def test_up_after_down_reuses_data_and_purge_removes_it(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox"
    sandbox.up(root, COMPONENTS)
    first_env = sandbox.env(root, COMPONENTS)
    from ispctl.providers.ldap.sandbox.component import LdapComponent
    from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
    state = json.loads((root / "state.json").read_text())["components"][LdapComponent.name]
    instance = SlapdInstance.from_state(state)
    added = instance.ldapadd(f"dn: ou=kept,{instance.managed_base}\n"
                             "objectClass: organizationalUnit\nou: kept\n")
    assert added.returncode == 0, added.stderr
    sandbox.down(root, COMPONENTS)

    try:
        report = sandbox.up(root, COMPONENTS)["components"]["ldap"]
        assert report["action"] == "started"
        assert sandbox.env(root, COMPONENTS) == first_env  # same port and password when still free
        assert "ou=kept" in instance.ldapsearch(instance.managed_base, "(ou=kept)", "1.1")
    finally:
        sandbox.down(root, COMPONENTS, purge=True)
    assert not root.exists()
    assert pids_matching(str(root)) == []


def test_down_and_status_without_a_sandbox(tmp_path: Path) -> None:
    root = tmp_path / "never"
    sandbox.down(root, COMPONENTS)
    assert not root.exists()
    assert sandbox.status(root, COMPONENTS)["components"]["ldap"]["running"] is False
    with pytest.raises(sandbox.SandboxError):
        sandbox.env(root, COMPONENTS)


def test_shell_exports_survive_hostile_values() -> None:
    values = {"ISPCTL_LDAP_PASSWORD": "it's $(rm -rf /) `x` \"q\"", "ISPCTL_LDAP_URL": "ldap://h"}
    script = sandbox.shell_exports(values) + 'printf "%s\\n%s" "$ISPCTL_LDAP_PASSWORD" ' \
                                             '"$ISPCTL_LDAP_URL"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == f"{values['ISPCTL_LDAP_PASSWORD']}\nldap://h"
    assert sandbox.shell_exports(values).startswith("export ISPCTL_LDAP_PASSWORD=")


class _Stub(sandbox.Component):
    """A component that runs nothing: only its place in the start order matters here."""

    def __init__(self, name: str, needs: tuple[str, ...] = ()) -> None:
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]

    def up(self, workdir: Path, previous: dict[str, object] | None, context_env: object) -> dict[str, object]:
        return {}

    def down(self, state: dict[str, object]) -> bool:
        return False

    def status(self, state: dict[str, object]) -> dict[str, object]:
        return {"running": False, "pid": None, "url": None}

    def env(self, state: dict[str, object]) -> dict[str, str]:
        return {}


def test_components_start_after_what_they_need_and_keep_their_order_otherwise() -> None:
    mail, directory, dns = _Stub("mail", needs=("directory",)), _Stub("directory"), _Stub("dns")
    assert [c.name for c in sandbox.ordered([mail, directory, dns])] == ["directory", "mail", "dns"]
    # A need that no component meets (its service is not registered) does not block.
    assert [c.name for c in sandbox.ordered([_Stub("a", needs=("gone",))])] == ["a"]
    with pytest.raises(sandbox.SandboxError, match="need each other in a circle"):
        sandbox.ordered([_Stub("a", needs=("b",)), _Stub("b", needs=("a",))])
