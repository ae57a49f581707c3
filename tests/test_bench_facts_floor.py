"""tests/bench/facts_floor.py times rules across files over per-file facts: they must find what
the catalog and estate.validate find, or the floor it measures is not the real work's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from ispctl.reconciler.estate.catalog import Catalog
from tests.bench import facts_floor
from tests.bench.generate import generate_estate
from tests.wiring import problems_of

REPO = Path(__file__).resolve().parents[1]
BASE = "dc=bench,dc=example"


def _estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    generate_estate(root, 60, 6, BASE)
    return root


def _usage(catalog: Catalog) -> dict[str, list[int]]:
    """What ``estate.limits.check_limits`` counts, per tenant, worked out from the catalog."""
    usage = {name: [0, 0, 0, 0, 0] for name in catalog.tenants}
    for domain in catalog.domains.values():
        for tenant in catalog.tenant_chain(domain.tenant):
            usage[tenant.name][0] += 1
    for box in catalog.mailboxes.values():
        for tenant in catalog.tenant_chain(catalog.domains[box.domain].tenant):
            used = usage[tenant.name]
            used[1] += 1
            used[2] += len(box.aliases)
            used[3] += box.quota
            used[4] += box.quota == 0
    for alias in catalog.aliases.values():
        for tenant in catalog.tenant_chain(catalog.domains[alias.domain].tenant):
            usage[tenant.name][2] += 1
    return {name: used for name, used in usage.items() if used[0]}


def test_the_facts_hold_every_claim_and_usage_and_survive_the_pack(tmp_path: Path) -> None:
    catalog = facts_floor.load_catalog(_estate(tmp_path))
    facts = facts_floor.extract(catalog)
    assert len(facts) == len(catalog.domains)
    assert facts_floor.unpack(facts_floor.pack(facts)) == facts
    parents = {name: tenant.parent for name, tenant in catalog.tenants.items()}
    found = facts_floor.rules(facts, parents)
    assert found.claims == catalog.addresses
    assert found.usage == _usage(catalog)
    assert (found.duplicates, found.undeliverable, found.loops) == (0, 0, 0)


def test_the_facts_rules_find_the_loop_validation_finds(tmp_path: Path) -> None:
    root = _estate(tmp_path)
    files = sorted(p for p in root.glob("tenants/**/*.yaml") if p.name != "tenant.yaml")
    first, second = files[0], files[-1]
    rt = YAML()
    docs = [rt.load(p.read_text()) for p in (first, second)]
    boxes = [next(iter(doc["mailboxes"])) for doc in docs]
    # Two mailboxes in two files forwarding to each other: a loop only the whole estate shows.
    for i, (path, doc) in enumerate(zip((first, second), docs, strict=True)):
        other = 1 - i
        doc["mailboxes"][boxes[i]]["forward"] = {"to": [f"{boxes[other]}@{docs[other]['domain']}"]}
        with path.open("w") as out:
            rt.dump(doc, out)
    assert any("mail loops" in p.message for p in problems_of(root))
    catalog = facts_floor.load_catalog(root)
    parents = {name: tenant.parent for name, tenant in catalog.tenants.items()}
    assert facts_floor.rules(facts_floor.extract(catalog), parents).loops == 1


def test_the_script_prints_the_three_figures(tmp_path: Path) -> None:
    root = _estate(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tests.bench.facts_floor", "--dir", str(root), "--repeat", "1"],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=300,
                         env={"ISPCTL_CACHE_DIR": "off", "PATH": "/usr/bin:/bin"}).stdout
    assert re.search(r"domain files 6, facts \d+ bytes packed", out)
    for label in ("catalog stage (today)", "facts: decode", "facts: rules"):
        assert re.search(rf"^{re.escape(label)}\s+\d+\.\d{{3}}$", out, re.MULTILINE)
