"""Reading the ISPMan directory from an LDIF dump: folding, base64, comments; bad lines at file:line.

The live read is tested against a real slapd in test_adopt_ispman.py (it must equal this one).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ispctl.providers.adopt.ispman_source import SourceError, read_ldif


def test_a_slapcat_dump_with_folding_base64_and_comments(tmp_path: Path) -> None:
    name = base64.b64encode("Bäckerei Müller".encode()).decode()
    dump = tmp_path / "dump.ldif"
    dump.write_text(
        "version: 1\n\n# a comment between records\n"
        "dn: ispmanClientId=2,ispmanResellerId=1,ou=ispman,o=ispman\n"
        "objectClass: ispmanClient\n"
        f"cn:: {name}\n"
        "description: a long value that slapcat folds at seventy-six col\n"
        " umns, continued\n"
        "mail: a@b.example\n\n"
        "dn: o=ispman\nobjectClass: organization\no: ispman\n", encoding="utf-8")
    first, second = read_ldif(dump)
    assert first.dn == "ispmanClientId=2,ispmanResellerId=1,ou=ispman,o=ispman"
    assert first.get("CN") == "Bäckerei Müller"
    assert first.get("description") == "a long value that slapcat folds at seventy-six columns, continued"
    assert first.classes == frozenset({"ispmanclient"})
    assert second.all("o") == ["ispman"]
    assert first.get("missing") is None and first.all("missing") == []


def test_every_bad_line_is_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    dump = tmp_path / "bad.ldif"
    dump.write_text("dn: o=ispman\nthis line has no colon\ncn:: not*base64\n\nobjectClass: top\n", encoding="utf-8")
    with pytest.raises(SourceError) as failed:
        read_ldif(dump)
    message = str(failed.value)
    assert "3 problem(s)" in message
    assert f"{dump}:2: not 'attribute: value'" in message
    assert f"{dump}:3: cn: bad base64 or not UTF-8" in message
    assert f"{dump}:5: a record must start with dn:" in message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read the LDIF .*missing\.ldif"):
        read_ldif(tmp_path / "missing.ldif")
    latin1 = tmp_path / "latin1.ldif"
    latin1.write_bytes("dn: o=ispman\ncn: M\xfcller\n".encode("latin-1"))
    with pytest.raises(SourceError, match="not UTF-8"):
        read_ldif(latin1)
