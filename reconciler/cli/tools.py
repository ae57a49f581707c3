"""The command line's own tools: ``ispctl man``, ``ispctl schema`` and ``validate --json``.

Registered by ``app.build_app`` with one line; the bodies import what they need when they
run (the start of the command line stays light).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ispctl.reconciler.engine import output

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring
    from ispctl.reconciler.engine.errors import Problem

def register(app: typer.Typer, ctx: Wiring) -> None:
    @app.command("man")
    def man(out: Path | None = typer.Option(None, "--out", "-o", help="write the page to this file (e.g. "
                                                                       "man/ispctl.1) instead of stdout")) -> None:
        """Print the manual page (roff for man(1)), made from every command's help."""
        ctx.run(lambda: man_cmd(out))

    @app.command("schema")
    def schema(out: Path | None = typer.Option(None, "--out", "-o", help="folder to write site, tenant and domain "
                                                                          ".schema.json into (default: print all "
                                                                          "three as one JSON object)")) -> None:
        """JSON Schema of the desired-state files (site, tenant, domain), with the services' sections.

        Editors read it through the first line of a file, e.g. in a domain file:
        # yaml-language-server: $schema=../../schemas/domain.schema.json
        """
        ctx.run(lambda: schema_cmd(ctx, out))


def man_cmd(out: Path | None) -> int:
    from typer._click.core import Context
    from typer._click.globals import get_current_context
    from typer.core import TyperGroup

    from ispctl.reconciler.cli.manpage import manpage

    root = get_current_context().find_root().command  # the application this command runs in
    assert isinstance(root, TyperGroup)
    with Context(root, info_name="ispctl", **root.context_settings) as ctx:
        text = manpage(root, ctx)
    if out is None:
        output.write_raw(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        output.out().print(f"Wrote {out}.", markup=False)
    return 0


def schema_cmd(ctx: Wiring, out: Path | None) -> int:
    from ispctl.reconciler.estate.jsonschema import file_schemas, write_schemas

    if out is None:
        output.write_raw(json.dumps(file_schemas(ctx.registry.schema), indent=2, ensure_ascii=False))
        return 0
    written = write_schemas(ctx.registry.schema, out)
    what = ", ".join(p.name for p in written) if written else "nothing (up to date)"
    output.out().print(f"Wrote {what} in {out}.", markup=False)
    return 0


def problem_json(problem: Problem) -> dict[str, Any]:
    """One problem for machines: where (1-based line and column; null when not in a file), what."""
    where = problem.location
    return {"file": where.file or None, "line": where.line or None, "column": where.column or None,
            "field": problem.path or None, "message": problem.message, "code": problem.code or None}


def validate_json_cmd(ctx: Wiring, folder: Path | None) -> int:
    """``validate --json``: every problem at once on stdout; exit 1 when there is one."""
    from ispctl.reconciler.engine.errors import IspctlError, Location, Problem, ValidationFailed

    counts: dict[str, int] = {}
    root: Path | None = None
    try:
        root = ctx.root(folder)
        desired, problems = ctx.check(root)
        if desired is not None and not problems:
            for kind, _ in desired.resources:
                counts[kind] = counts.get(kind, 0) + 1
    except ValidationFailed as exc:
        problems = list(exc.problems)
    except IspctlError as exc:  # no estate to check (no folder, unreadable settings): one problem, no file
        problems = [Problem(Location(""), "", str(exc))]
    report = {"valid": not problems, "root": str(root) if root is not None else None,
              "problems": [problem_json(p) for p in sorted(problems)], "resources": dict(sorted(counts.items()))}
    output.write_raw(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if problems else 0
