"""YAML loading: positions, duplicate keys, anchors and aliases, hostile documents."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from estate_builder import EstateBuilder, mailbox, problem_at

from ispctl.reconciler.engine.errors import Location, Problem
from ispctl.reconciler.estate.yamlload import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    Document,
    format_path,
    load_document,
    load_text,
)

SECRET = "Tr0ub4dor&3-hunter2"


def load(tmp_path: Path, text: str | bytes) -> tuple[Document | None, list[Problem]]:
    path = tmp_path / "doc.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_document(path, "doc.yaml")


def test_positions_of_keys_and_list_items(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, """
        domain: a.example
        mailboxes:
          anna:
            aliases:
              - one
              - two
        """)
    assert problems == []
    assert doc is not None
    assert doc.data == {"domain": "a.example", "mailboxes": {"anna": {"aliases": ["one", "two"]}}}
    assert doc.positions[("domain",)] == (1, 1)
    assert doc.positions[("mailboxes", "anna")] == (3, 3)
    assert doc.positions[("mailboxes", "anna", "aliases", 1)] == (6, 9)


def test_location_walks_up_to_the_nearest_known_parent(tmp_path: Path) -> None:
    doc, _ = load(tmp_path, "a: 1\nb:\n  c: 2\n")
    assert doc is not None
    # A missing field is reported at the mapping that should contain it.
    assert doc.location(("b", "missing", "deeper")) == Location("doc.yaml", 2, 1)
    assert doc.location(("nowhere",)) == Location("doc.yaml", 1, 1)


def test_scalars_become_plain_python_values(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "n: 5\nf: 1.5\nb: true\nz: null\nd: 2024-01-31\ns: 'x'\n")
    assert problems == []
    assert doc is not None
    assert doc.data == {"n": 5, "f": 1.5, "b": True, "z": None, "d": "2024-01-31", "s": "x"}
    assert [type(v) for v in doc.data.values()] == [int, float, bool, type(None), str, str]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("domain",), "domain"),
        (("mailboxes", "anna", "aliases", 0), "mailboxes.anna.aliases[0]"),
        (("mailboxes", "j.hart"), "mailboxes['j.hart']"),
        (("aliases", "a b"), "aliases['a b']"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_duplicate_key_names_the_key_and_line_but_never_the_value(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, f"""
        anna:
          password: "{{CRYPT}}$6$abc"
          password: "{SECRET}"
        """)
    assert doc is None
    [problem] = problems
    assert problem.location == Location("doc.yaml", 3, 3)
    assert 'duplicate key "password"' in problem.message
    assert SECRET not in str(problem)
    assert "{CRYPT}" not in str(problem)


def test_duplicate_key_in_an_estate_is_reported_with_file_and_line(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    rel = "tenants/acme/acme.example.yaml"
    builder.write(rel, f"""
        domain: acme.example
        mailboxes:
          anna:
            password: "{SECRET}"
          anna:
            password: "{SECRET}"
        """)
    failure = builder.failure()
    [problem] = failure.problems
    assert problem.location.file == builder.display(rel)
    assert problem.location.line == 5
    assert 'duplicate key "anna"' in problem.message
    assert SECRET not in str(failure)


def test_billion_laughs_fails_cleanly_and_fast(tmp_path: Path) -> None:
    # 10**40 values: walking the expansion would never end, so failing at all proves it was
    # measured (the size of each node once), not walked. No clock needed.
    names = [f"n{i}" for i in range(40)]
    lines = [f"{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip(names, names[1:], strict=False):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    doc, problems = load(tmp_path, "\n".join(lines) + "\n")
    assert doc is None
    [problem] = problems
    assert "anchors/aliases expand" in problem.message
    # 10**6 values are reached by the anchor on line 6 (10 + 10*... grows tenfold a line).
    assert problem.location.line == 6


def test_expansion_just_under_the_bound_is_allowed(tmp_path: Path) -> None:
    # 100 x 100 items: a legitimate (if odd) use of aliases well under MAX_NODES.
    assert 100 * 100 < MAX_NODES
    text = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    doc, problems = load(tmp_path, text)
    assert problems == []
    assert doc is not None and len(doc.data["b"]) == 100 and len(doc.data["b"][99]) == 100


@pytest.mark.parametrize(
    "text",
    ["a: &x\n  - *x\n", "a: &x\n  b: *x\n", "a: &x\n  b:\n    - c: *x\n"],
    ids=["sequence", "mapping", "nested"],
)
def test_recursive_alias_is_an_error(tmp_path: Path, text: str) -> None:
    doc, problems = load(tmp_path, text)
    assert doc is None
    [problem] = problems
    assert "recursive alias" in problem.message
    # The alias itself, on the last line.
    assert problem.location.line == text.count("\n")


def test_anchor_and_merge_key_reused_legitimately(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    builder.write("tenants/acme/acme.example.yaml", f"""
        domain: acme.example
        mailboxes:
          anna: &staff
            password: "{mailbox()['password']}"
            quota: 2 GiB
            services: {{ftp: false}}
          bob:
            <<: *staff
            name: Bob
            quota: 3 GiB
          carl: *staff
        aliases:
          team: &team [anna, bob]
          crew: *team
        """)
    catalog = builder.catalog()
    assert {a: m.quota for a, m in catalog.mailboxes.items()} == {
        "anna@acme.example": 2 * 1024**3,
        "bob@acme.example": 3 * 1024**3,  # a key next to the merge overrides it
        "carl@acme.example": 2 * 1024**3,
    }
    assert catalog.mailboxes["bob@acme.example"].display == "Bob"
    assert catalog.aliases["crew@acme.example"].targets == ("anna@acme.example", "bob@acme.example")


def test_error_inside_merged_settings_points_at_the_merging_mapping(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    rel = "tenants/acme/acme.example.yaml"
    builder.write(rel, f"""
        domain: acme.example
        mailboxes:
          anna:
            password: "{mailbox()['password']}"
          bob:
            <<: {{quota: 5G}}
            password: "{mailbox()['password']}"
        """)
    problem = problem_at(builder.problems(), "mailboxes.bob.quota")
    assert problem.location.file == builder.display(rel)
    assert problem.location.line == 5
    assert "ambiguous size unit 'G'" in problem.message


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    assert doc is None
    [problem] = problems
    assert (problem.location.line, problem.location.column) == (3, 2)
    assert problem.message.startswith("YAML syntax: ")


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a:\n\t- 1\n")
    assert doc is None
    assert problems[0].location.line == 2
    assert "YAML syntax" in problems[0].message


def test_unquoted_star_value_is_not_echoed(tmp_path: Path) -> None:
    # An unquoted password starting with '*' parses as an alias; its "name" is the secret.
    doc, problems = load(tmp_path, "password: *s3cretvalue\n")
    assert doc is None
    [problem] = problems
    assert "s3cretvalue" not in str(problem)
    assert "quote the value" in problem.message
    assert problem.location.line == 1


def test_non_utf8_file_names_line_and_column_of_the_bad_byte(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a: 1\r\nname: Bäckerei\r\n".encode() + b"word: B\xe4r\n")
    assert doc is None
    [problem] = problems
    # Line 3, the 8th character: columns count characters, and CRLF is one line break.
    assert problem.location == Location("doc.yaml", 3, 8)
    assert "not valid UTF-8" in problem.message
    assert "\\xe4" not in problem.message and "ä" not in problem.message  # no byte of the text is shown


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!python/object/apply:os.system ['true']\n", "python/object"),
        ("a: !!binary aGVsbG8=\n", "binary"),
        ("a: !custom value\n", "custom"),
        ("a: !!str value\n", "str"),  # even the harmless ones: "! x" would silently drop the "!"
        ("a: ! value\n", "! value"),
        ("a: !<tag:yaml.org,2002:str> value\n", "yaml.org"),
        ("a: !Sup3rS3cret\n", "Sup3rS3cret"),
        ("a: !Sup3r!x value\n", "Sup3r"),  # an undefined tag handle: a parser error, reworded
        ("a: !<Sup3r\n", "Sup3r"),  # an unfinished verbatim tag
    ],
)
def test_explicit_tags_are_rejected_without_repeating_them(tmp_path: Path, text: str, tag: str) -> None:
    doc, problems = load(tmp_path, text)
    assert doc is None
    [problem] = problems
    assert problem.message.startswith("a YAML tag (text starting with '!') is not allowed here; quote the value")
    assert tag not in str(problem)
    assert problem.location.file == "doc.yaml" and problem.location.line == 1 and problem.location.column >= 4


def test_deep_nesting_fails_at_the_level_that_is_too_deep(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a:\n  " + "[" * 500 + "]" * 500 + "\n")
    assert doc is None
    # The mapping is level 1, so the 64th "[" opens level 65: column 3 + 63.
    assert problems == [Problem(Location("doc.yaml", 2, 3 + MAX_DEPTH - 1), "",
                                f"YAML is nested more than {MAX_DEPTH} levels deep")]


def test_nesting_up_to_the_limit_is_allowed(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert problems == []
    assert doc is not None


def test_aliases_cannot_nest_past_the_depth_limit(tmp_path: Path) -> None:
    deep = "[" * 40 + "]" * 40
    doc, problems = load(tmp_path, f"a: &d {deep}\nb:\n  - " + "[" * 30 + "*d" + "]" * 30 + "\n")
    assert doc is None
    [problem] = problems
    assert "anchors/aliases nest more than 64 levels" in problem.message
    assert (problem.location.line, problem.location.column) == (3, 35)


def test_several_documents_in_one_file_are_an_error(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "a: 1\n---\nb: 2\n")
    assert doc is None
    assert problems[0].location.line == 2
    assert "one YAML document" in problems[0].message


def test_empty_file_loads_as_no_data(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "# only a comment\n")
    assert problems == []
    assert doc is not None and doc.data is None


def test_libyaml_and_the_pure_parser_read_every_example_file_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (libyaml) must give exactly what the pure-Python parser gives."""
    import ispctl.reconciler.estate.yamlload as yamlload

    assert not yamlload._PURE, "ruamel.yaml.clib (a declared dependency) is not installed"
    example = Path(__file__).resolve().parent.parent / "desired-state"
    files = sorted(example.rglob("*.yaml"))
    assert len(files) >= 10
    fast = {f: yamlload.load_document(f, f.name) for f in files}
    monkeypatch.setattr(yamlload, "_PURE", True)
    for f in files:
        (doc_fast, problems_fast), (doc_pure, problems_pure) = fast[f], yamlload.load_document(f, f.name)
        assert problems_fast == problems_pure == []
        assert doc_fast is not None and doc_pure is not None
        assert (doc_fast.data, doc_fast.positions, doc_fast.value_positions) == (
            doc_pure.data, doc_pure.positions, doc_pure.value_positions), f


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:  # sparse: reading it would be the only way to spend memory
        handle.truncate(50 * 1024 * 1024)
    doc, problems = load_document(path, "big.yaml")
    assert doc is None
    assert problems == [Problem(Location("big.yaml"), "", "file is 50.0 MiB; ispctl reads YAML files of up to "
                                                          f"{MAX_FILE_BYTES // 1024 // 1024} MiB")]
    doc, problems = load_text("a: 1\n" + " " * MAX_FILE_BYTES, "text.yaml")
    assert doc is None and "larger than" in problems[0].message


@pytest.mark.parametrize(
    ("text", "where", "char"),
    [
        ("a: x\x00y\n", (1, 5), "U+0000"),
        ("a: 1\nb: x\x1by\n", (2, 5), "U+001B"),
        ("a: 1\r\nb: 'x\x85y'\n", (2, 6), "U+0085"),  # NEL: libyaml would read a line break
        ("a: x\u2028y\n", (1, 5), "U+2028"),
        ("a: 1\nb: x\ufeffy\n", (2, 5), "U+FEFF"),  # a byte order mark inside the text
        ("a: \x7f\n", (1, 4), "U+007F"),
    ],
)
def test_control_and_separator_characters_are_refused_at_their_place(
        tmp_path: Path, text: str, where: tuple[int, int], char: str) -> None:
    doc, problems = load(tmp_path, text.encode())
    assert doc is None
    [problem] = problems
    assert (problem.location.line, problem.location.column) == where
    assert problem.message.startswith(f"control or invisible character {char} is not allowed")


def test_a_leading_byte_order_mark_and_crlf_line_ends_are_read(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, "\ufeffa: 1\r\nb:\r\n  - x\r\n".encode())
    assert problems == [] and doc is not None
    assert doc.data == {"a": 1, "b": ["x"]}
    assert doc.positions[("b", 0)] == (3, 5)


@pytest.mark.parametrize(
    "text",
    [
        'password: "Sup3r\\qS3cret"\n', "password: |Sup3rS3cret\n", 'password: "\\xZZSup3rS3cret"\n',
        "password: &Sup3rS3cret\npassword2: &Sup3rS3cret\n", "password: *Sup3rS3cret\n", "password: Sup3rS3cret: x\n",
        "password: [Sup3rS3cret\n", "password: 'Sup3rS3cret\n", "password: !Sup3rS3cret!x y\n",
    ],
)
def test_parser_messages_never_quote_the_input(tmp_path: Path, text: str) -> None:
    doc, problems = load(tmp_path, text)
    assert doc is None
    [problem] = problems
    assert problem.location.line >= 1 and problem.location.column >= 1
    for fragment in ("Sup3r", "S3cret", "'q'", "'S'", "'Z'"):
        assert fragment not in str(problem)


def test_a_value_on_a_later_line_than_its_key_is_located_at_the_value(tmp_path: Path) -> None:
    doc, problems = load(tmp_path, """
        mail:
          catch_all:
            nobody
          note: |
            text
          same: line
        """)
    assert problems == [] and doc is not None
    assert doc.location(("mail", "catch_all")) == Location("doc.yaml", 3, 5)
    assert doc.location(("mail", "catch_all"), key=True) == Location("doc.yaml", 2, 3)
    assert doc.location(("mail", "note")) == Location("doc.yaml", 4, 3)  # a block scalar starts at its "|"
    assert doc.location(("mail", "same")) == Location("doc.yaml", 6, 3)  # same line: the entry


def test_a_field_filled_in_from_a_short_form_is_located_at_the_list_item(tmp_path: Path) -> None:
    # "info: [a, b]" is short for "info: {to: [a, b]}": a problem with item 1 is on its line.
    doc, problems = load(tmp_path, """
        aliases:
          info:
            - anna
            - ghost
          sales: ghost2
        """)
    assert problems == [] and doc is not None
    assert doc.location(("aliases", "info", "to", 1)) == Location("doc.yaml", 4, 7)
    assert doc.location(("aliases", "sales", "to", 0)) == Location("doc.yaml", 5, 3)
    assert doc.location(("aliases", "info", "missing", "x")) == Location("doc.yaml", 2, 3)
