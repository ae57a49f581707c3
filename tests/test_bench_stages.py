"""tests/bench/stages.py splits the estate's loading into stages to time each: the split must
be the real thing, the same desired state and the same problems as loading it in one go."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ispctl.providers.registry import services
from tests.bench import stages
from tests.bench.generate import generate_estate
from tests.wiring import problems_of, resources_of

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "desired-state"
BASE = "dc=bench,dc=example"


def _bench_estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    generate_estate(root, 30, 3, BASE)
    return root


@pytest.mark.parametrize("which", ["example", "bench"])
def test_the_stages_compile_what_loading_in_one_go_compiles(tmp_path: Path, which: str) -> None:
    root = EXAMPLE if which == "example" else _bench_estate(tmp_path)
    took, resources, problems = stages.run(root, services().schema)
    assert problems == []
    assert resources == resources_of(root)
    assert {stages.LOAD, stages.CATALOG, stages.LIFECYCLE, stages.COMPILE} <= took.keys()
    assert {stages.hook_label(e.service) for e in services().schema.extensions} <= took.keys()


def test_the_stages_find_the_problems_loading_in_one_go_finds(tmp_path: Path) -> None:
    root = _bench_estate(tmp_path)
    domain_files = sorted(root.glob("tenants/**/*.example.yaml"))
    folders = sorted({p.parent for p in domain_files})
    assert len(folders) > 1
    # A rule across files: the same domain declared in two tenants' folders.
    copy = folders[-1] / "copy.yaml"
    copy.write_bytes(next(p for p in domain_files if p.parent != folders[-1]).read_bytes())
    _, resources, problems = stages.run(root, services().schema)
    assert resources is None
    assert sorted(set(problems)) == problems_of(root)
    assert problems


def test_the_command_prints_every_stage_and_the_imports(tmp_path: Path) -> None:
    root = _bench_estate(tmp_path)
    env = {**os.environ, "ISPCTL_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "tests.bench.stages", "--dir", str(root), "--repeat", "2"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for label in (stages.IMPORTS, stages.LOAD, stages.CATALOG, stages.LIFECYCLE, stages.COMPILE, "total"):
        assert re.search(rf"^{re.escape(label)} +\d+\.\d{{3}}$", result.stdout, re.M), label
