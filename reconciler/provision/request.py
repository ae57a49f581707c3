"""What a command line says, turned into operations and results into what it prints.

Shared by every write command and ``ispctl batch``: ``--set KEY=VALUE`` values are read as
YAML flow values (``[www, shop]`` a list, ``8`` a number, ``2 GiB`` text), the result is one
JSON document (``--json``) or lines for people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision.run import Outcome


def assignments(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; the value as YAML reads it in flow context, else the text as written."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise IspctlError(f"--set {pair!r}: expected KEY=VALUE (e.g. --set quota=2GiB, --set limits.max_domains=3)")
        try:
            values[key.strip()] = YAML(typ="safe", pure=True).load(text) if text.strip() else None
        except YAMLError:
            # not YAML (a hash such as {CRYPT}$6$..., which starts like a flow mapping): the text itself
            values[key.strip()] = text
    return values


def report(outcome: Outcome, root: Path) -> dict[str, Any]:
    """The ``--json`` document (README "Provisioning")."""
    base = root.absolute().parent
    return {
        "changed": outcome.changed,
        "operations": outcome.operations,
        "files": [{"path": str(p.relative_to(base)) if p.is_relative_to(base) else str(p), "change": what}
                  for p, what in outcome.files.items()],
        "commit": outcome.commit,
        "branch": outcome.branch,
    }


def lines(outcome: Outcome, root: Path) -> list[str]:
    data = report(outcome, root)
    if not outcome.changed:
        return ["Nothing to change: the desired state already says this."]
    shown = [f"{f['change']}: {f['path']}" for f in data["files"]]
    if outcome.commit:
        shown.append(f"committed {outcome.commit[:12]}" + (f" on branch {outcome.branch}" if outcome.branch else ""))
    return shown


def as_json(outcome: Outcome, root: Path) -> str:
    return json.dumps(report(outcome, root), ensure_ascii=False, indent=2)
