"""The import benchmark runs end to end at a few mailboxes (its timings belong to the bench, not here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import import_ldap


def test_the_generated_directory_imports_and_the_table_has_every_row(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    medians = import_ldap.run(30, 3, 1, tmp_path, lambda _text: None)
    assert set(medians) == {"slapcat", "import ldap --from-ldif", "ldapsearch (paged)", "import ldap --url"}
    table = capsys.readouterr().out
    assert "30 mailboxes, 3 domains, 49 entries; median of 1" in table
    assert "import ldap --from-ldif / slapcat: " in table and "x CPU" in table
    written = sorted(p.name for p in (tmp_path / "estate-ldif" / "tenants" / "imported").iterdir())
    assert written == ["d00000.example.yaml", "d00001.example.yaml", "d00002.example.yaml", "tenant.yaml"]
    assert sorted((tmp_path / "estate-live").rglob("*.yaml")) != []
