"""Shared helpers for the tests that run ispctl against a real slapd.

An estate is copied (or written) into a temp dir and driven through the real CLI, either
in-process with typer's ``CliRunner`` or as the installed ``ispctl`` command. The
directory is inspected with the real ldap-utils (``SlapdInstance.ldapsearch``), never
through ispctl's own reading code, so a bug there cannot hide itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import git
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.cli.app import app

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "desired-state"
BASE = "ou=ispctl,dc=example,dc=net"
EXAMPLE_COUNT = 46
# A valid SHA-512 crypt hash (of a password nobody needs to know) for hand-written estates.
HASH = (
    "{CRYPT}$6$rounds=100000$WVN8P3X8ZK/Oo.No$yf2Xpq9BxRFd8Pg4jc2hEXC46SWaLK6BV/0euQXUOWVnK."
    "uXxVZqb7UaweoMIHNuQpR5bjdDw7j15KskfFFGX."
)
ENV_NAMES = ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD", "ISPCTL_LDAP_PASSWORD_FILE",
             "ISPCTL_LDAP_STARTTLS", "ISPCTL_LDAP_CA_FILE", "ISPCTL_DESIRED_STATE", "ISPCTL_DEBUG")


def copy_example(tmp_path: Path) -> Path:
    """The example estate in a private folder; its base_dn is the fixture's managed base."""
    target = tmp_path / "estate"
    shutil.copytree(EXAMPLE, target)
    return target


def write_estate(root: Path, files: Mapping[str, str], page_size: int | None = None) -> Path:
    """A hand-written estate: ``files`` maps paths below ``tenants/`` to YAML text."""
    root.mkdir(parents=True, exist_ok=True)
    site = f"directory:\n  base_dn: {BASE}\n"
    if page_size is not None:
        site += f"  page_size: {page_size}\n"
    (root / "ispctl.yaml").write_text(site, encoding="utf-8")
    for rel, text in files.items():
        path = root / "tenants" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    """Change one YAML file in place, keeping its comments and layout (as an operator would)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def cli_env(slapd: SlapdInstance | None, **extra: str | None) -> dict[str, str | None]:
    """Environment for one CLI call: the fixture's connection, nothing inherited from the shell."""
    env: dict[str, str | None] = {name: None for name in ENV_NAMES}
    if slapd is not None:
        env.update({k: v for k, v in slapd.env().items() if k in ENV_NAMES})
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def run_cli(slapd: SlapdInstance | None, *args: str, input: str | None = None, **env: str | None) -> Result:
    """``ispctl ARGS`` in-process; stdout and stderr stay apart (result.stdout / result.stderr)."""
    return CliRunner().invoke(app, list(args), input=input, env=cli_env(slapd, **env), catch_exceptions=False)


def ispctl_binary() -> str:
    beside = Path(sys.executable).parent / "ispctl"
    found = str(beside) if beside.exists() else shutil.which("ispctl")
    assert found, "the ispctl command is not installed (pip install -e .)"
    return found


def run_ispctl(slapd: SlapdInstance | None, *args: str, input: str | None = None,
               cwd: Path | None = None, **extra: str | None) -> subprocess.CompletedProcess[str]:
    """The installed ``ispctl`` command as a separate process.

    ``input`` goes through a real pipe; ``input=None`` starts it with standard input
    closed, as some CI runners do.
    """
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update({k: v for k, v in cli_env(slapd, **extra).items() if v is not None})
    if input is None:
        return subprocess.run([ispctl_binary(), *args], stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0),
                              env=env, capture_output=True, text=True, cwd=cwd, timeout=60, check=False)
    return subprocess.run([ispctl_binary(), *args], input=input, env=env,
                          capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def plan_data(slapd: SlapdInstance, estate: Path) -> dict[str, Any]:
    result = run_cli(slapd, "plan", "--json", "-d", str(estate))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def changes_by_address(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in data["changes"]}


def apply_ok(slapd: SlapdInstance, estate: Path) -> Result:
    result = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate))
    assert result.exit_code == 0, result.output
    assert "Apply complete!" in result.stdout or "No changes." in result.stdout, result.output
    return result


def assert_converged(slapd: SlapdInstance, estate: Path) -> None:
    result = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(estate))
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


# -- reading the directory with the real ldapsearch ------------------------------------------

Entry = dict[str, list[str]]


def parse_ldif(text: str) -> dict[str, Entry]:
    """Unwrapped ``ldapsearch -LLL`` output -> {dn: {attr (lower case): [values]}}.

    Values ldapsearch had to base64-encode (non-ASCII, leading or trailing spaces) come
    back decoded, so tests compare the text exactly as stored.
    """
    entries: dict[str, Entry] = {}
    for block in text.strip().split("\n\n"):
        dn: str | None = None
        attrs: Entry = {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            name, sep, rest = line.partition(":")
            assert sep, f"not an LDIF line: {line!r}"
            if rest.startswith(":"):
                value = base64.b64decode(rest[1:].strip()).decode("utf-8")
            else:
                value = rest[1:] if rest.startswith(" ") else rest
            if name.lower() == "dn":
                dn = value
            else:
                attrs.setdefault(name.lower(), []).append(value)
        if dn is not None:
            entries[dn] = attrs
    return entries


def search(slapd: SlapdInstance, filter: str, *attrs: str, base: str = BASE) -> dict[str, Entry]:
    return parse_ldif(slapd.ldapsearch(base, filter, *attrs))


def find_one(slapd: SlapdInstance, filter: str, *attrs: str, base: str = BASE) -> tuple[str, Entry]:
    found = search(slapd, filter, *attrs, base=base)
    assert len(found) == 1, f"{filter}: expected one entry, found {sorted(found)}"
    return next(iter(found.items()))


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping, written independently of the provider's own helper."""
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\x00" else c for c in value)


def snapshot(slapd: SlapdInstance, base: str) -> str:
    """Everything (user and operational attributes) under ``base``, as raw LDIF text."""
    return slapd.ldapsearch(base, "(objectClass=*)", "*", "+")


def marked_entry_ldif(dn: str, kind: str, key: str) -> str:
    """A hand-made entry with ispctl's marker and the kind's classes, but no fingerprint."""
    bodies = {
        "tenant": f"objectClass: organization\nobjectClass: ispctlTenant\no: {key}\nispctlTenantKind: client\n",
        "domain": f"objectClass: ispctlDomain\nassociatedDomain: {key}\nispctlDomainType: primary\n",
        "mailbox": (f"objectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: ispctlMailUser\n"
                    f"uid: {key}\nmail: {key}\ncn: Ghost\nsn: Ghost\nuidNumber: 5000\ngidNumber: 5000\n"
                    f"homeDirectory: /var/vmail/ghost\n"),
        "alias": f"objectClass: ispctlMailGroup\nmail: {key}\nispctlMailTarget: noc@northwind.example\n",
    }
    return f"dn: {dn}\n{bodies[kind]}objectClass: ispctlManaged\n"


def ldap_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"ldap tool failed ({proc.returncode}): {proc.stderr}"


def estate_repo(tmp_path: Path) -> tuple[git.Repo, Path]:
    """The example estate copied into tmp_path as a git repository with one commit."""
    root = copy_example(tmp_path)
    # Only the estate is the repository's: the test's slapd keeps its database beside it,
    # and a changing lock.mdb in git once made a checkout refuse mid-test.
    (tmp_path / ".gitignore").write_text(f"/*\n!/.gitignore\n!/{root.name}/\n", encoding="utf-8")
    repo = git.Repo.init(root.parent, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.invalid")
    repo.git.add(A=True)
    repo.index.commit("estate")
    return repo, root


def env_of(slapd: SlapdInstance, **extra: str) -> dict[str, str]:
    """The connection environment of ``slapd`` (the estate's own base DN, not the slapd's)."""
    env = {k: v for k, v in slapd.env().items() if k != "ISPCTL_LDAP_BASE_DN"}
    env.update(extra)
    return env


def apply_example(slapd: SlapdInstance) -> None:
    """The example estate applied to ``slapd`` through a full session; every change must apply."""
    from tests.wiring import open_session

    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        result = session.apply(session.plan())
    assert result.ok, [o.error for o in result.failed]


def whoami(slapd: SlapdInstance, dn: str, password: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Bind as ``dn`` with ``password`` (ldapwhoami, the password from a file): 0 bound, 49 refused."""
    secret = tmp_path / "user.pw"
    secret.write_text(password, encoding="utf-8")  # -y sends the file as it is: no newline
    tool = shutil.which("ldapwhoami")
    assert tool, "ldapwhoami (ldap-utils) is required"
    return subprocess.run([tool, "-x", "-H", slapd.url, "-D", dn, "-y", str(secret)],
                          capture_output=True, text=True, check=False, timeout=30)
