"""OpenDKIM's tables as ispctl writes and reads them: round trip, fingerprints, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.opendkim.tables import (
    HEADER,
    KEY_TABLE,
    SIGNING_TABLE,
    Entry,
    TableError,
    entry_of,
    format_tables,
    parse_tables,
    read_tables,
    txt_address,
)
from ispctl.reconciler.contract import write_rendered


def entry(domain: str, selector: str) -> Entry:
    plain = Entry(domain, selector, f"/etc/ispctl/dkim/{domain}/{selector}.private")
    return entry_of(plain.resource())  # with the fingerprint of its values, as the provider writes it


def test_written_tables_read_back_as_the_same_resources_without_drift(tmp_path: Path) -> None:
    written = [entry("beta.example", "s3"), entry("acme.example", "s1")]
    write_rendered(format_tables(written), tmp_path)
    assert (tmp_path / SIGNING_TABLE).read_text() == HEADER + (
        "*@acme.example s1._domainkey.acme.example\n*@beta.example s3._domainkey.beta.example\n")
    read = read_tables(tmp_path)
    assert read == sorted(written, key=lambda e: e.domain)
    for found in read:
        live = found.resource()
        assert live.drifted() is None
        assert live.attrs == {"key_file": found.key_file, "selector": found.selector}
        assert live.depends_on == (txt_address(found.domain, found.selector),)
    assert txt_address("acme.example", "s1") == "dns.acme.example/s1._domainkey/TXT"


def test_a_hand_edit_is_drift_and_a_hand_added_entry_was_created_outside_ispctl(tmp_path: Path) -> None:
    tables = format_tables([entry("acme.example", "s1")])
    keys = tables[KEY_TABLE].replace("acme.example:s1:", "acme.example:s1:/elsewhere")
    keys += "s9._domainkey.hand.example hand.example:s9:/keys/hand.example/s9.private\n"
    signing = tables[SIGNING_TABLE] + "*@hand.example s9._domainkey.hand.example\n"
    found = {e.domain: e.resource() for e in parse_tables(keys, signing, tmp_path)}
    assert found["acme.example"].drifted() == "changed outside ispctl"
    assert found["hand.example"].drifted() == "created outside ispctl"


def test_tables_ispctl_did_not_write_are_refused_and_missing_ones_are_empty(tmp_path: Path) -> None:
    assert read_tables(tmp_path) == []
    (tmp_path / KEY_TABLE).write_text("2007._domainkey.example.com example.com:2007:/etc/dkimkeys/dkim.key\n")
    with pytest.raises(TableError, match=f"{tmp_path / KEY_TABLE} was not written by ispctl"):
        read_tables(tmp_path)


def test_every_line_not_in_ispctl_s_form_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    keys = HEADER + "s1._domainkey.acme.example acme.example:s1:/k/acme.example/s1.private\nbroken line\n"
    signing = HEADER + "*@acme.example s1._domainkey.acme.example\n*@beta.example s1._domainkey.beta.example\n" \
        "*@acme.example s1._domainkey.acme.example\n"
    with pytest.raises(TableError) as caught:
        parse_tables(keys, signing, tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / KEY_TABLE}:3: not '<selector>._domainkey.<domain>" in message
    assert f"{tmp_path / SIGNING_TABLE}:3: not '*@<domain> <KeyTable entry of that domain>'" in message
    assert f"{tmp_path / SIGNING_TABLE}:4: acme.example is listed twice" in message


@pytest.mark.parametrize("bad", [Entry("acme.example", "s1", "/etc/dkim keys/s1.private"),
                                 Entry("acme.example", "s1\nMode v", "/k/s1.private")])
def test_a_value_that_would_break_a_line_is_never_written(bad: Entry) -> None:
    with pytest.raises(TableError, match="cannot be written into OpenDKIM's tables"):
        format_tables([bad])
