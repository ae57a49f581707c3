"""The fast emitter writes exactly what ruamel's round-trip dumper writes, or leaves it to ruamel."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ispctl.providers.adopt import emit
from ispctl.providers.adopt.homes import HomeSettings
from ispctl.providers.adopt.iredmail import convert
from ispctl.providers.adopt.mapping import Mapping
from ispctl.providers.adopt.report import ImportReport
from ispctl.providers.adopt.source import read_ldif
from ispctl.providers.adopt.writer import plan_files, ruamel_dump

FIXTURE = Path(__file__).parent / "data" / "iredmail" / "directory.ldif"
TRICKY = ["yes", "no", "on", "true", "null", "~", "1024", "0o17", "1.5", "1e3", "2024-01-01", "12:30", "@", "*.dev",
          "-x", "- x", "a: b", "a #b", "a#b", "{CRYPT}$6$rounds=5000$abc$def", "[x]", "x, y", "Bäckerei Müller GmbH",
          "Crèvecœur", "x'y", 'say "hi"', "", " lead", "trail ", "two  spaces", "multi\nline", "tab\there", "%x",
          "!tag", "&anchor", "|", ">", "?", "`x`", "5 GiB", "/var/vmail/d.example/a", "mailto:x@y.example",
          "v=spf1 include:_spf.example.net -all", "0 issue \"letsencrypt.org\"", "word " * 30, "x" * 130]


def _doc(value: object) -> CommentedMap:
    doc = CommentedMap({"key": value, "seq": CommentedSeq([value, "b"])})
    doc["seq"].fa.set_flow_style()
    return doc


@pytest.mark.parametrize("text", TRICKY)
def test_a_scalar_is_written_as_ruamel_writes_it_or_left_to_ruamel(text: str) -> None:
    doc = _doc(text)
    fast = emit.dump(doc)
    assert fast is None or fast == ruamel_dump(doc)


def test_the_imported_fixture_takes_the_fast_path_with_ruamels_exact_text() -> None:
    estate = convert(read_ldif(FIXTURE), Mapping(), ImportReport("x"), HomeSettings(), "ou=ispctl,dc=example,dc=net")
    files = plan_files(estate, Path("/nowhere"))
    assert len(files) == 6
    for path, doc in files.items():
        assert emit.dump(doc) == ruamel_dump(doc), path


def test_comments_nested_mappings_and_sequences_of_mappings() -> None:
    doc = CommentedMap({"domain": "a.example", "n": 3, "on": True, "web": CommentedMap({"sites": CommentedMap({
        "@": CommentedMap({"aliases": ["www"], "redirects": [CommentedMap({"from": "/x", "to": "https://y/"}),
                                                               CommentedMap({"from": "*", "to": "https://z/"})]})})})})
    doc["web"]["sites"]["@"]["aliases"] = CommentedSeq(["www"])
    doc["web"]["sites"]["@"]["aliases"].fa.set_flow_style()
    doc.yaml_set_start_comment("first line\nsecond line")
    doc.yaml_add_eol_comment("converted", "n")
    doc.yaml_add_eol_comment("second comment in the map", "on")
    doc["web"].yaml_add_eol_comment("a comment on a mapping's key", "sites")
    doc["web"]["sites"]["@"].yaml_add_eol_comment("at column 40", "aliases", column=40)
    fast = emit.dump(doc)
    assert fast is not None
    assert fast == ruamel_dump(doc)


def test_what_it_does_not_cover_is_left_to_ruamel() -> None:
    empty = CommentedMap({"a": CommentedMap()})
    flow_map = CommentedMap({"a": CommentedMap({"b": 1})})
    flow_map["a"].fa.set_flow_style()
    before = CommentedMap({"a": 1, "b": 2})
    before.yaml_set_comment_before_after_key("b", before="a comment above b")
    for doc in (empty, flow_map, before, CommentedMap({"a": None}), CommentedMap({"a": 1.5})):
        assert emit.dump(doc) is None
