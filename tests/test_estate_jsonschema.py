"""The JSON Schemas of the desired-state files: generated from the models, committed, up to date.

An editor that reads them must accept every file the estate accepts (the example estate,
short forms included) and flag what the estate refuses by its keys (a typo, a key in the
wrong place). Checked with a real draft-07 validator, the dialect VS Code's YAML extension
reads, over the example files as parsed YAML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ldap_helpers import EXAMPLE
from ruamel.yaml import YAML

from ispctl.reconciler.estate import jsonschema as js
from tests.wiring import SCHEMA

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "schemas"
DOCUMENTS = js.file_schemas(SCHEMA)
EXAMPLE_FILES = sorted(EXAMPLE.rglob("*.yaml"))


def _data(path: Path) -> Any:
    # As JSON carries it; a YAML 1.1 date (2026-01-01) is text to the estate and to the editor (YAML 1.2).
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")), default=str))


def _errors(kind: js.SchemaKind, data: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(DOCUMENTS[kind])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_the_committed_schemas_are_what_the_models_make_now() -> None:
    for kind in js.KINDS:
        committed = (COMMITTED / js.FILE_NAMES[kind]).read_text(encoding="utf-8")
        assert committed == js.render(DOCUMENTS[kind]), (
            f"schemas/{js.FILE_NAMES[kind]} is stale: run `ispctl schema --out schemas` and commit it")


def test_they_are_valid_draft_7_schemas_with_every_section() -> None:
    for kind, document in DOCUMENTS.items():
        assert document["$schema"] == "http://json-schema.org/draft-07/schema#"
        jsonschema.Draft7Validator.check_schema(document)
        assert document["additionalProperties"] is False, kind
    # Each service's sections, beside the core keys.
    assert {"directory", "mail", "dns", "web", "providers", "lifecycle"} <= set(DOCUMENTS["site"]["properties"])
    assert {"mailboxes", "aliases", "dns", "web", "ftp", "radius"} <= set(DOCUMENTS["domain"]["properties"])
    assert {"name", "limits", "status"} <= set(DOCUMENTS["tenant"]["properties"])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLE)))
def test_every_example_file_is_valid_and_names_its_schema_first(path: Path) -> None:
    kind = js.kind_of(path)
    assert _errors(kind, _data(path)) == []
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == js.marker_line(path, COMMITTED)
    # The path in it leads to the committed file, from the file's own folder (what the editor resolves).
    assert (path.parent / first.removeprefix(js.MARKER)).resolve() == (COMMITTED / js.FILE_NAMES[kind]).resolve()


def test_a_key_the_estate_does_not_know_is_flagged_where_it_is() -> None:
    domain = {"domain": "a.example", "mailboxes": {"anna": {"quota": "2 GiB", "qouta": 1}},
              "aliases": {"info": ["anna"]}}
    assert _errors("domain", domain) == ["mailboxes.anna: Additional properties are not allowed ('qouta' was "
                                         "unexpected)"]
    assert _errors("tenant", {"name": "Acme", "domains": []}) == [
        ": Additional properties are not allowed ('domains' was unexpected)"]
    assert _errors("site", {"directory": {"base_dn": "dc=example,dc=net"}, "mailboxes": {}}) != []


def test_short_forms_the_estate_reads_are_accepted_and_the_wrong_kind_of_value_is_not() -> None:
    # A size as text, an alias as a list of targets or one target, a switch as a word.
    assert _errors("domain", {"domain": "a.example", "mail": {"default_quota": "1 GiB"},
                              "aliases": {"a": "anna", "b": ["anna", "tom"], "c": {"to": ["anna"]}}}) == []
    # An alias in full form still has its keys checked; a mailbox is a mapping, not a list.
    assert _errors("domain", {"domain": "a.example", "aliases": {"a": {"to": ["x"], "too": 1}}}) != []
    assert _errors("domain", {"domain": "a.example", "mailboxes": {"anna": ["x"]}}) != []


def test_short_forms_in_the_generator() -> None:
    assert js.short_forms({"type": "string"}) == {"type": "string"}
    assert js.short_forms({"type": "integer"}) == {"anyOf": [
        {"type": "integer"}, {"type": ["string", "number", "boolean", "array", "object", "null"]}]}
    assert js.short_forms({"$ref": "#/$defs/AliasSpec"})["anyOf"][2] == {"x-ispctl-loose": "#/$defs/AliasSpec"}


def test_schema_writes_the_three_files_and_leaves_unchanged_ones_alone(tmp_path: Path) -> None:
    written = js.write_schemas(SCHEMA, tmp_path / "out")
    assert sorted(p.name for p in written) == ["domain.schema.json", "site.schema.json", "tenant.schema.json"]
    assert js.write_schemas(SCHEMA, tmp_path / "out") == []
    for kind in js.KINDS:
        assert json.loads((tmp_path / "out" / js.FILE_NAMES[kind]).read_text(encoding="utf-8")) == DOCUMENTS[kind]


def test_the_marker_line_is_relative_to_the_file() -> None:
    assert js.marker_line(EXAMPLE / "ispctl.yaml", COMMITTED) == f"{js.MARKER}../schemas/site.schema.json"
    assert js.marker_line(EXAMPLE / "tenants/northwind/tenant.yaml", COMMITTED) == (
        f"{js.MARKER}../../../schemas/tenant.schema.json")
    assert js.kind_of(Path("x/northwind.example.yaml")) == "domain"


def test_the_schemas_folder_is_the_site_files_and_only_when_it_is_there(tmp_path: Path) -> None:
    from ispctl.reconciler.estate.jsonschema import MARKER, schemas_folder, with_marker
    root = tmp_path / "estate"
    root.mkdir()
    assert schemas_folder(root) is None  # no site file
    (root / "ispctl.yaml").write_text("directory: {}\n", encoding="utf-8")
    assert schemas_folder(root) is None  # no marker line
    (root / "ispctl.yaml").write_text(f"{MARKER}../schemas/site.schema.json\ndirectory: {{}}\n", encoding="utf-8")
    assert schemas_folder(root) is None  # a line pointing at nothing
    (tmp_path / "schemas").mkdir()
    assert schemas_folder(root) == root / "../schemas"
    new = root / "tenants" / "acme" / "acme.example.yaml"
    line = f"{MARKER}../../../schemas/domain.schema.json"
    assert with_marker(new, "domain: acme.example\n", tmp_path / "schemas") == f"{line}\ndomain: acme.example\n"
    # A file moved to another depth carries its old line: replaced, not doubled.
    moved = f"{MARKER}../../../../schemas/domain.schema.json\ndomain: acme.example\n"
    assert with_marker(new, moved, tmp_path / "schemas") == f"{line}\ndomain: acme.example\n"
