"""Reading a directory for an import: LDIF (folding, base64, errors at file:line) and live."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.adopt.source import SourceError, read_ldif, read_live
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance


def test_folded_lines_base64_values_comments_and_version_are_read(tmp_path: Path) -> None:
    ldif = tmp_path / "dump.ldif"
    ldif.write_bytes(
        b"version: 1\n\n"
        b"# a comment\n"
        b"dn: mail=anna@example.org,ou=Users,\n domainName=example.org\n"
        b"objectClass: mailUser\n"
        b"cn:: QW5uYSBNw7xsbGVy\n"
        b"description: a value folded over\n  two lines\r\n"
        b"mail: anna@example.org\n"
        b"\n\n"
        b"dn: o=domains\nobjectClass: organization\n")
    first, second = read_ldif(ldif)
    assert first.dn == "mail=anna@example.org,ou=Users,domainName=example.org"
    assert first.get("CN") == "Anna Müller"
    assert first.get("description") == "a value folded over two lines"
    assert first.classes == frozenset({"mailuser"})
    assert (first.line, second.line) == (4, 13)
    assert first.where("cn") == f"{ldif}:4: mail=anna@example.org,ou=Users,domainName=example.org: cn"
    assert second.all("objectClass") == ["organization"] and second.all("absent") == []


def test_every_bad_line_is_reported_at_once(tmp_path: Path) -> None:
    ldif = tmp_path / "bad.ldif"
    ldif.write_text("dn: o=a\nno colon here\ncn:: !!!notbase64\n\nobjectClass: top\n\ndn: o=b\njpegPhoto:< file:///x\n")
    with pytest.raises(SourceError) as caught:
        read_ldif(ldif)
    assert str(caught.value) == (
        f"4 problem(s) in the LDIF:\n  {ldif}:2: not 'attribute: value'\n  {ldif}:3: cn: bad base64, or not UTF-8 "
        f"text\n  {ldif}:5: a record must start with dn:\n  {ldif}:8: jpegPhoto: values read from URLs (:<) are not "
        "supported")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"cannot read the LDIF {tmp_path}/absent.ldif: No such file"):
        read_ldif(tmp_path / "absent.ldif")
    latin = tmp_path / "latin1.ldif"
    latin.write_bytes(b"dn: o=caf\xe9\n")
    with pytest.raises(SourceError, match="not UTF-8 text"):
        read_ldif(latin)


def test_live_read_is_paged_and_names_the_server_on_failure(slapd: SlapdInstance) -> None:
    settings = LdapSettings(slapd.url, slapd.bind_dn, slapd.password)
    entries = read_live(settings, slapd.suffix, page_size=2)
    dns = {e.dn.lower() for e in entries}
    assert slapd.suffix in dns and slapd.managed_base in dns and len(entries) > 4
    assert all(e.origin == slapd.url and e.line == 0 for e in entries)
    with pytest.raises(SourceError, match=r"\(o=nowhere,dc=example,dc=net\): the base does not exist"):
        read_live(settings, "o=nowhere,dc=example,dc=net")
    with pytest.raises(SourceError, match="cannot connect to the directory"):
        read_live(LdapSettings(slapd.url, slapd.bind_dn, "wrong"), slapd.suffix)
