"""Benchmark: a tenant rename on a generated estate against a real slapd.

Run from the repository root (``pip install -e .`` done)::

    python -m tests.bench.tenant_rename [--mailboxes 10000]

The estate (``generate``: one reseller per 100 domains, 250 mailboxes a domain) is applied,
then its first reseller is renamed with ``ispctl tenant rename``: the rows are that command
(the folder moved, the whole estate validated), the plan after it (one planned rename), the
apply (one modrdn of the reseller's subtree, with the fingerprints of the entries right below
it) and the next plan (nothing to do). Client CPU is the ispctl process's, server CPU slapd's.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.generate import generate_estate
from tests.bench.import_ldap import slapd_cpu
from tests.bench.measure import Sample, child_run
from tests.ldap_helpers import ENV_NAMES, cli_env

ISPCTL = str(Path(sys.executable).parent / "ispctl")


def measure(mailboxes: int) -> list[tuple[str, Sample]]:
    work = Path(tempfile.mkdtemp(prefix="ispctl-bench-rename-"))
    slapd = SlapdInstance(work / "slapd")
    slapd.start()
    try:
        root = work / "estate"
        root.mkdir()
        generate_estate(root, mailboxes, max(1, mailboxes // 250), slapd.managed_base)
        env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
        env.update({k: v for k, v in cli_env(slapd, ISPCTL_PROVIDERS="ldap").items() if v is not None})

        def run(what: str, *args: str) -> tuple[Sample, str]:
            sample, result = child_run([ISPCTL, *args, "-d", str(root)], env=env, server=lambda: slapd_cpu(slapd))
            if result.returncode not in (0, 2):
                raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}")
            return sample, result.stdout

        run("the first apply", "apply", "--auto-approve", "--force")
        first = sorted(p.name for p in (root / "tenants").iterdir())[0]
        below = slapd.ldapsearch(f"o={first},{slapd.managed_base}", "(objectClass=ispctlManaged)", "1.1").count("dn:")
        rows = [(f"tenant rename ({mailboxes} mailboxes in the estate)", run("rename", "tenant", "rename", first,
                                                                              "renamed")[0])]
        sample, out = run("plan", "plan", "--json")
        changes = [(c["action"], c["address"], c.get("renamed_from")) for c in json.loads(out)["changes"]]
        if changes != [("update", "tenant.renamed", f"tenant.{first}")]:
            raise RuntimeError(f"the plan is not one rename: {changes}")
        rows.append(("plan: one rename", sample))
        rows.append((f"apply: one modrdn of {below} entries", run("apply", "apply", "--auto-approve")[0]))
        sample, out = run("next plan", "plan", "--detailed-exitcode")
        rows.append(("next plan: no changes", sample))
        return rows
    finally:
        slapd.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    args = parser.parse_args(argv)
    for what, sample in measure(args.mailboxes):
        sys.stdout.write(f"{what:<45} wall {sample.wall:6.2f} s  client {sample.client_cpu:5.2f} s  "
                         f"slapd {sample.server_cpu:5.2f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
