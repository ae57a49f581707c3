"""JSON Schema of each kind of desired-state file, generated from the composed models.

The models the estate validates against (``schema.EstateSchema``: the core models plus every
registered service's sections) are the one source; an editor that reads these schemas
(VS Code's YAML extension, through the ``# yaml-language-server: $schema=`` line at the top
of a file) completes and checks the same keys ``ispctl validate`` accepts.

Validation-mode schemas describe what a model holds after its validators ran, which is
narrower than what a file may write: a field with a before-validator also takes a short
form (a quota as ``2 GiB``, an alias as a list of targets, a DNS record as its value, HTTPS
as ``{cert_file, key_file}`` without its ``mode``). For those the schema accepts the full
form, any value of another JSON type, or for a model its keys with none required, and leaves
the rest to ``ispctl validate``: a file the estate accepts is never flagged by the editor,
and a key the estate does not know always is (the models forbid extra keys).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from ispctl.reconciler.estate.schema import EstateSchema

SchemaKind = Literal["site", "tenant", "domain"]
KINDS: tuple[SchemaKind, ...] = ("site", "tenant", "domain")
FILE_NAMES: dict[SchemaKind, str] = {kind: f"{kind}.schema.json" for kind in KINDS}
TITLES: dict[SchemaKind, str] = {
    "site": "ispctl site settings (ispctl.yaml)",
    "tenant": "ispctl tenant (tenant.yaml)",
    "domain": "ispctl domain file (<domain>.yaml)",
}
DIALECT = "http://json-schema.org/draft-07/schema#"  # what yaml-language-server reads (draft 7 and below)
MARKER = "# yaml-language-server: $schema="
_JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
_LOOSE = "x-ispctl-loose"  # a placeholder for a model's keys with none required, resolved at the end


class _FileSchema(GenerateJsonSchema):
    """pydantic's generator, with short forms allowed where a before-validator reads them."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        full = super().function_before_schema(schema)
        return short_forms(full)


def short_forms(full: JsonSchemaValue) -> JsonSchemaValue:
    """``full``, or a value of any JSON type ``full`` does not have (strings stay as they are)."""
    kinds = _types(full)
    if kinds is None or kinds == {"string"}:
        return full
    if "number" in kinds:
        kinds.add("integer")
    other = [t for t in _JSON_TYPES if t not in kinds]
    forms = [full, {"type": other}]
    if "$ref" in full:
        forms.append({_LOOSE: full["$ref"]})
    return {"anyOf": forms}


def _loosen(value: Any, defs: dict[str, Any]) -> Any:
    # The placeholders become a copy of the model's definition that requires no key.
    if isinstance(value, list):
        return [_loosen(v, defs) for v in value]
    if not isinstance(value, dict):
        return value
    if _LOOSE in value:
        model = defs[str(value[_LOOSE]).rsplit("/", 1)[-1]]
        return {k: _loosen(v, defs) for k, v in model.items() if k not in ("required", "title")}
    return {k: _loosen(v, defs) for k, v in value.items()}


def _types(value: JsonSchemaValue) -> set[str] | None:
    # The JSON types a schema admits, when it says (a reference is to a model: an object).
    if "$ref" in value:
        return {"object"}
    kind = value.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return None


def file_schemas(schema: EstateSchema) -> dict[SchemaKind, dict[str, Any]]:
    """The JSON Schema of each kind of file, for this registry's services."""
    found: dict[SchemaKind, dict[str, Any]] = {}
    for kind in KINDS:
        model = getattr(schema.files, kind)
        body = model.model_json_schema(mode="validation", schema_generator=_FileSchema)
        body = _loosen(body, body.get("$defs", {}))
        found[kind] = {"$schema": DIALECT, "title": TITLES[kind], **{k: v for k, v in body.items() if k != "title"}}
    return found


def render(document: dict[str, Any]) -> str:
    """The committed text of one schema: stable, so a diff shows what the models changed."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_schemas(schema: EstateSchema, out: Path) -> list[Path]:
    """Write every kind's schema into ``out``; the files written (unchanged ones untouched)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for kind, document in file_schemas(schema).items():
        path = out / FILE_NAMES[kind]
        text = render(document)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def kind_of(path: Path) -> SchemaKind:
    """The kind of a desired-state file, by the layout's names."""
    if path.name == "ispctl.yaml":
        return "site"
    return "tenant" if path.name == "tenant.yaml" else "domain"


def marker_line(path: Path, schemas: Path) -> str:
    """The editor's schema line for this file: a path relative to the file's folder."""
    target = Path(os.path.relpath(schemas.resolve() / FILE_NAMES[kind_of(path)], path.resolve().parent))
    return f"{MARKER}{target.as_posix()}"


def schemas_folder(root: Path) -> Path | None:
    """The folder the estate's files take their schemas from, as its site file's marker line
    names it; None when it names none or the folder is not there (a line pointing at nothing
    would only make an editor complain)."""
    try:
        with (root / "ispctl.yaml").open(encoding="utf-8") as site:
            first = site.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith(MARKER):
        return None
    folder = (root / first[len(MARKER):]).parent
    return folder if folder.is_dir() else None


def with_marker(path: Path, text: str, schemas: Path) -> str:
    """``text`` of a file new at ``path`` starting with its own schema line: a copied line (a
    file moved to another depth) is replaced, a missing one added."""
    line = marker_line(path, schemas)
    if text.startswith(MARKER):
        return line + text[text.find("\n"):] if "\n" in text else line + "\n"
    return f"{line}\n{text}"

