"""Helpers for the provisioning tests: run a write command on a copy of the example estate
and see exactly which lines of which files it changed."""

from __future__ import annotations

import difflib
from pathlib import Path

from ldap_helpers import copy_example, run_cli
from typer.testing import Result


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative path -> bytes), and every folder (-> b'<dir>')."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(root.rglob("*"))}


def changed_lines(before: dict[str, bytes], after: dict[str, bytes]) -> dict[str, list[str]]:
    """Per file that differs: its removed (``-``) and added (``+``) lines, in order."""
    found: dict[str, list[str]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        a = [] if old is None or old == b"<dir>" else old.decode().splitlines()
        b = [] if new is None or new == b"<dir>" else new.decode().splitlines()
        lines = [line for line in difflib.unified_diff(a, b, lineterm="", n=0)
                 if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        if lines or (old == b"<dir>") != (new == b"<dir>"):
            found[name] = lines
    return found


def edit(root: Path, *args: str, input: str | None = None) -> tuple[Result, dict[str, list[str]]]:
    """``ispctl ARGS -d root`` in-process; the result and the lines it changed."""
    before = snapshot(root)
    result = run_cli(None, *args, "-d", str(root), input=input)
    return result, changed_lines(before, snapshot(root))


def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


NW = "tenants/northwind/northwind.example.yaml"
BAKERY = "tenants/northwind/bakery/bäckerei-müller.example.yaml"
LAW = "tenants/northwind/lawfirm/hartcole.example.yaml"
SB_TENANT = "tenants/southbay/tenant.yaml"
