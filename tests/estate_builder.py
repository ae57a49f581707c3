"""Write small desired-state estates into a temp folder so validation tests stay short.

Files are given as Python dicts (dumped as block YAML in insertion order) or as YAML
text (written verbatim after dedenting), so a test can state exactly the line it
expects an error on. Paths are relative to the estate root, ``<tmp>/desired-state``,
and problems name files as ``desired-state/<relative path>``.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ispctl.reconciler.engine.errors import Problem, ValidationFailed
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.estate.catalog import Catalog
from tests.wiring import resources_of, validate_estate

ROOT_NAME = "desired-state"
# A well-formed SHA-512 crypt hash; the tests never need to log in with it.
HASH = (
    "{CRYPT}$6$rounds=1000$Gw7J3F83IWxu57kA$lyxcrXFYurHf5yn4x2E4csOmPLRU8Gm/"
    "6Vl9WRKe2NQrNWJg4TZz4xnVmD.YB7WknEGpLVccxxWsyJeeUjSgf/"
)
SITE: dict[str, Any] = {"directory": {"base_dn": "ou=ispctl,dc=example,dc=net"}}


def mailbox(**fields: Any) -> dict[str, Any]:
    """A valid mailbox entry, with ``fields`` added or overriding."""
    return {"password": HASH, **fields}


def dump(data: Any) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


class EstateBuilder:
    """An estate under ``tmp_path/desired-state``; ``site=None`` leaves ispctl.yaml out."""

    def __init__(self, tmp_path: Path, site: dict[str, Any] | str | None = None, with_site: bool = True) -> None:
        self.root = tmp_path / ROOT_NAME
        self.root.mkdir()
        if with_site:
            self.write("ispctl.yaml", SITE if site is None else site)

    def write(self, rel: str, content: dict[str, Any] | list[Any] | str | bytes) -> str:
        """Write one file; returns its display path as problems name it."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        else:
            path.write_text(dump(content), encoding="utf-8")
        return self.display(rel)

    def tenant(self, folder: str, content: dict[str, Any] | str | None = None, **fields: Any) -> str:
        """``folder`` is ``reseller`` or ``reseller/client``; the display name defaults to it."""
        data: dict[str, Any] | str = content if content is not None else {"name": folder, **fields}
        return self.write(f"tenants/{folder}/tenant.yaml", data)

    def domain(self, folder: str, domain: str, content: dict[str, Any] | str | None = None, **fields: Any) -> str:
        """A domain file ``tenants/<folder>/<domain>.yaml``; dict content gets ``domain:`` first."""
        data: dict[str, Any] | str
        if isinstance(content, str):
            data = content
        else:
            data = {"domain": domain, **(content or {}), **fields}
        return self.write(f"tenants/{folder}/{domain}.yaml", data)

    def display(self, rel: str) -> str:
        return f"{ROOT_NAME}/{rel}"

    def domain_rel(self, folder: str, domain: str) -> str:
        return f"tenants/{folder}/{domain}.yaml"

    def line_of(self, rel: str, needle: str, nth: int = 1) -> int:
        """1-based line of the ``nth`` line containing ``needle`` in a written file."""
        seen = 0
        for number, line in enumerate((self.root / rel).read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                seen += 1
                if seen == nth:
                    return number
        raise AssertionError(f"{needle!r} not found {nth} time(s) in {rel}")

    def catalog(self) -> Catalog:
        """Validate, expecting success; on failure show every problem."""
        try:
            return validate_estate(self.root)
        except ValidationFailed as exc:
            raise AssertionError(f"expected a valid estate, got:\n{exc}") from None

    def resources(self) -> dict[tuple[str, str], Resource]:
        """Everything the estate compiles to (its own kinds and every service's), expecting it valid."""
        self.catalog()
        return resources_of(self.root)

    def failure(self) -> ValidationFailed:
        try:
            validate_estate(self.root)
        except ValidationFailed as exc:
            return exc
        raise AssertionError("expected validation to fail, but the estate is valid")

    def problems(self) -> list[Problem]:
        return self.failure().problems

    def only_problem(self) -> Problem:
        problems = self.problems()
        assert len(problems) == 1, "expected exactly one problem, got:\n" + "\n".join(map(str, problems))
        return problems[0]


def simple_estate(tmp_path: Path, **domain: Any) -> EstateBuilder:
    """Reseller ``acme`` with domain ``acme.example`` holding mailbox ``anna``."""
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}, **domain})
    return builder


def problem_at(problems: list[Problem], path: str) -> Problem:
    """The single problem whose field path is ``path``."""
    found = [p for p in problems if p.path == path]
    assert len(found) == 1, f"expected one problem at {path!r}, got:\n" + "\n".join(map(str, problems))
    return found[0]
