"""What a plan process imports (issue 11): ``ispctl plan --json`` of an estate whose only service is
the directory, in a process of its own against a real slapd, imports neither ldap3 (the preflight
and the reads are python-ldap's) nor dnspython (no DNS service to compile or read), and no
rich.progress when its output is not a terminal; and it plans exactly what the same command plans
in this process, where the test's own modules have imported all of them.

Deterministic: the modules a process holds at its exit, never a timing. (pyasn1 stays: python-ldap
imports it with ``ldap`` itself.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ldap_helpers import ENV_NAMES, cli_env, run_cli

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.cli_runs import change_one_domain, commit_estate
from tests.bench.generate import generate_estate

# ``ispctl`` itself, plus a look at sys.modules as the process ends (after typer's own exit).
WRAPPER = """
import atexit, json, sys
from pathlib import Path
report = Path(sys.argv.pop(1))
atexit.register(lambda: report.write_text(json.dumps(sorted(sys.modules)), encoding="utf-8"))
sys.argv[0] = "ispctl"
from ispctl.reconciler.cli.app import main
main()
"""
# Never on the plan of a directory-only estate: (module, why it used to come).
NOT_IMPORTED = {
    "ldap3": "the provider's preflight, the DN checks of the settings, the lock and hosts modules",
    "dns": "the DNS service's modules, imported with the registry",
    "rich.progress": "apply's progress bar, drawn on a terminal only",
    # The services' apply, command and status code, imported with the registry before: a plan
    # runs none of it (each is imported by the function that uses it).
    "ispctl.providers.adopt.writer": "the adopt service's estate writer (and ruamel.yaml's dumper), for import",
    "ispctl.providers.adopt.report": "the adopt service's report of what an import left out",
    "ispctl.providers.web.apply": "the web provider's writes, made by its apply",
    "ispctl.providers.web.apply_config": "the web provider's config tests and reloads",
    "ispctl.providers.web.files": "the web provider's read of the sites' files",
    "ispctl.providers.web.describe": "the web provider's site diffs",
    "ispctl.providers.web.quota": "the web provider's btrfs quotas",
    "ispctl.providers.web.render": "the web provider's vhost and pool files",
    "ispctl.providers.dovecot.render": "ispctl render dovecot (and the Sieve settings of Dovecot)",
    "ispctl.providers.postfix.render": "ispctl render postfix",
    "ispctl.providers.opendkim.render": "ispctl render opendkim",
    "ispctl.providers.ldap.replication": "the directory's replicas, watched by apply and status",
    "ispctl.providers.ldap.writer": "the directory provider's pipelined writes",
    "ispctl.providers.ldap.tenant_rename": "the directory provider's tenant renames",
    "ispctl.providers.dns.catalog_check": "the DNS secondaries, watched by apply and status",
    "ispctl.providers.dns.axfr": "the DNS provider's zone transfers (reads of an estate with DNS)",
    "ispctl.providers.dns.catalog": "the DNS provider's catalog zone",
    "ispctl.providers.dns.mapping": "the DNS provider's live zones",
    "ispctl.providers.dns.updates": "the DNS provider's RFC 2136 updates",
    "ispctl.providers.dns.zones": "the DNS provider's zone creation and deletion (rndc)",
    "ispctl.providers.dovecot.move": "a mailbox's move between mail store hosts (doveadm)",
    "ispctl.providers.web.move": "a site's move between web hosts (rsync)",
    "ispctl.providers.ftp.report": "ispctl report quota and usage: the FTP logins' homes",
    "ispctl.providers.mailstore.report": "ispctl report usage: the mail store's maildirs",
    # Apply's, history's and the sandbox's modules, imported with the contract and the core
    # commands' bodies before (``contract.__getattr__`` and the commands import them on first use).
    "ispctl.reconciler.engine.audit": "the audit trail (and getpass), written by apply, read by history",
    "ispctl.reconciler.engine.journal": "the hosts' move journal, read when a cluster's hosts are",
    "ispctl.reconciler.engine.replicas": "the replicas' watch, polled by apply and status",
    "ispctl.reconciler.engine.rendered": "the rendered files' writer (render, OpenDKIM's apply)",
    "ispctl.reconciler.harness": "the sandbox of real daemons (shlex, subprocess helpers)",
    "ispctl.reconciler.provision.yamlrt": "the round-trip YAML of the editing commands",
    "ispctl.reconciler.cli.replicas": "apply's wait for the replicas",
    "ispctl.reconciler.cli.reviewed": "apply --reviewed",
    "ispctl.reconciler.cli.identity": "the estate's identity in the audit trail (apply, history)",
    "ispctl.reconciler.views.markdown": "plan --format markdown",
    "getpass": "hash-password's prompt (and the audit trail's user name)",
    # The core commands' modules other than the plan's: registered when one of theirs is looked up.
    "ispctl.providers.dns.connection": "the DNS server's connection, made by the DNS provider's build",
    "ispctl.providers.dns.query": "the DNS provider's and the DKIM check's queries",
    "ispctl.providers.mailstore.store": "the mail store's reads and writes, on a machine that keeps one",
    "ispctl.providers.mailstore.adopt": "the adoption of mail that exists before ispctl (apply)",
    "ispctl.providers.mailstore.merge": "a renamed mailbox's newly delivered mail (apply)",
    **{f"ispctl.reconciler.cli.{name}": "the command line's own commands: group.LATER_COMMANDS"
       for name in ("lookup", "provision", "provision_core", "edits", "sandbox", "status", "tools")},
}
# The digests' key is random per run (``saved.value_digests``): the checksum over it too.
RANDOM = ("checksum",)


@pytest.fixture
def estate(tmp_path: Path, slapd: SlapdInstance) -> tuple[Path, dict[str, str]]:
    """The benchmark's directory-only estate, small, applied, with one committed change (a
    mailbox's display name), and the environment to plan it with a cache of its own."""
    root = tmp_path / "estate"
    size = generate_estate(root, 40, 4, slapd.managed_base)
    commit_estate(root)
    env = {"ISPCTL_CACHE_DIR": str(tmp_path / "cache")}
    applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(root), **env)
    assert applied.exit_code == 0, applied.output
    change_one_domain(root, size.domain_names)
    return root, {k: v for k, v in cli_env(slapd, **env).items() if v is not None}


def plan_process(root: Path, env: dict[str, str], report: Path, *extra: str) -> tuple[dict[str, Any], set[str]]:
    """``ispctl plan --json -d ROOT EXTRA`` as a process of its own, output to a pipe: its plan and modules."""
    inherited = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and not k.startswith("ISPCTL_")}
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(report), "plan", "--json", "-d", str(root), *extra],
                          env={**inherited, **env}, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), set(json.loads(report.read_text(encoding="utf-8")))


def without_random(plan: dict[str, Any]) -> dict[str, Any]:
    values = plan["meta"]["values"]
    return {**{k: v for k, v in plan.items() if k not in RANDOM},
            "meta": {**plan["meta"], "values": {"digests": sorted(values["digests"])}}}


def imported(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(f"{name}.") for m in modules)


@pytest.mark.parametrize("extra", [(), ("--changed-since", "HEAD~1")], ids=["full", "changed-since"])
def test_a_directory_only_plan_imports_neither_ldap3_nor_dnspython_and_plans_the_same(
        estate: tuple[Path, dict[str, str]], tmp_path: Path, extra: tuple[str, ...]) -> None:
    root, env = estate
    if extra:
        plan_process(root, env, tmp_path / "first.json")  # the full plan leaves the snapshot this one starts from
    plan, modules = plan_process(root, env, tmp_path / "modules.json", *extra)
    assert not [name for name in NOT_IMPORTED if imported(modules, name)], NOT_IMPORTED
    assert "ldap" in modules and "ispctl.providers.ldap.reader" in modules  # it did read the directory
    # One change, the committed one, as this process plans it (every module imported here).
    assert [(c["action"], c["kind"]) for c in plan["changes"]] == [("update", "mailbox")]
    assert [a["name"] for a in plan["changes"][0]["attributes"]] == ["display_name"]
    here = run_cli(None, "plan", "--json", "-d", str(root), *extra, **env)
    assert here.exit_code == 0, here.output
    assert without_random(plan) == without_random(json.loads(here.stdout))
