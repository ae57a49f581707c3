"""The FreeRADIUS dictionary's digest (``dictionary.files_digest``, the RADIUS service's
``inputs``): whatever ``load`` would read differently gives another digest."""

from __future__ import annotations

from pathlib import Path

from ispctl.providers.radius import dictionary_inputs
from ispctl.providers.radius.dictionary import files_digest
from ispctl.providers.registry import services


def dictionary(folder: Path) -> Path:
    folder.mkdir()
    (folder / "dictionary").write_text("$INCLUDE dictionary.rfc2865\n$INCLUDE- dictionary.local  # optional\n")
    (folder / "dictionary.rfc2865").write_text("ATTRIBUTE Framed-Pool 88 string\n")
    return folder / "dictionary"


def test_nothing_changed_gives_the_same_digest(tmp_path: Path) -> None:
    path = str(dictionary(tmp_path / "d"))
    assert files_digest(path) == files_digest(path)


def test_an_included_file_edited_gives_another_digest(tmp_path: Path) -> None:
    path = str(dictionary(tmp_path / "d"))
    before = files_digest(path)
    (tmp_path / "d" / "dictionary.rfc2865").write_text("ATTRIBUTE Framed-Pool 88 octets\n")
    assert files_digest(path) != before


def test_an_optional_include_appearing_gives_another_digest(tmp_path: Path) -> None:
    path = str(dictionary(tmp_path / "d"))
    before = files_digest(path)
    (tmp_path / "d" / "dictionary.local").write_text("ATTRIBUTE Local-Thing 3000 string\n")
    assert files_digest(path) != before


def test_a_file_not_included_is_not_read(tmp_path: Path) -> None:
    path = str(dictionary(tmp_path / "d"))
    before = files_digest(path)
    (tmp_path / "d" / "dictionary.unused").write_text("ATTRIBUTE Unused 3001 string\n")
    assert files_digest(path) == before


def test_a_missing_dictionary_has_a_stable_digest_of_its_own(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere" / "dictionary")
    assert files_digest(missing) == files_digest(missing)
    assert files_digest(missing) != files_digest(str(tmp_path / "elsewhere" / "dictionary"))
    (tmp_path / "nowhere").mkdir()
    (tmp_path / "nowhere" / "dictionary").write_text("")
    assert files_digest(missing) != files_digest(str(tmp_path / "elsewhere" / "dictionary"))


def test_the_services_inputs_read_the_dictionary_the_site_names(tmp_path: Path) -> None:
    path = str(dictionary(tmp_path / "d"))
    model = services().schema.files.site
    site = model.model_validate({"directory": {"base_dn": "ou=ispctl,dc=example,dc=net"},
                                 "radius": {"dictionary": path}})
    assert dictionary_inputs(site, {}) == files_digest(path)


def test_an_include_cycle_ends_and_each_file_counts_once(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "dictionary").write_text("$INCLUDE dictionary.a\n$INCLUDE ./dictionary.a\n")
    (folder / "dictionary.a").write_text("$INCLUDE dictionary\nATTRIBUTE A 1 string\n")
    path = str(folder / "dictionary")
    before = files_digest(path)
    assert files_digest(path) == before
    (folder / "dictionary.a").write_text("$INCLUDE dictionary\nATTRIBUTE A 1 octets\n")
    assert files_digest(path) != before


def test_a_linked_dictionary_includes_from_the_folder_of_its_target(tmp_path: Path) -> None:
    # As load reads it (Path.resolve().parent): the includes next to the file, not next to the link.
    target = dictionary(tmp_path / "d")
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "dictionary"
    link.symlink_to(target)
    (tmp_path / "links" / "dictionary.rfc2865").write_text("ATTRIBUTE Elsewhere 1 string\n")
    before = files_digest(str(link))
    (tmp_path / "links" / "dictionary.rfc2865").write_text("ATTRIBUTE Elsewhere 1 octets\n")
    assert files_digest(str(link)) == before
    (tmp_path / "d" / "dictionary.rfc2865").write_text("ATTRIBUTE Framed-Pool 88 octets\n")
    assert files_digest(str(link)) != before
