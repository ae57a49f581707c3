"""Reply items checked against FreeRADIUS's dictionary: Debian's real one, and small ones
written here to pin down how includes, types and named values are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.radius.dictionary import (
    DEFAULT_DICTIONARY,
    DictionaryError,
    check_item,
    load,
)


@pytest.mark.parametrize("item", [
    'Framed-Pool := "dsl-pool"', "Session-Timeout = 3600", "Service-Type := Framed-User",
    "service-type += framed-user", 'Framed-Route += "192.0.2.0/28 0.0.0.0 1"', "Tunnel-Type:1 := L2TP",
    'Cisco-AVPair += "ip:addr-pool=dsl"', "Framed-IPv6-Prefix := 2001:db8:1::/48", "Framed-IP-Address := 10.0.0.1",
])
def test_good_items_of_the_real_dictionary(item: str) -> None:
    assert check_item(item, load(DEFAULT_DICTIONARY)) is None


@pytest.mark.parametrize(("item", "wrong"), [
    ("Sesion-Timeout := 5", "'Sesion-Timeout' is not an attribute"),
    ("Session-Timeout := soon", "'soon' is not a number from 0 to 4294967295"),
    ("Session-Timeout := -1", "not a number"),
    ("Service-Type := Bogus-User", "or one of"),
    ("Framed-IP-Address := 10.0.0.256", "not an ipaddr"),
    ("Framed-IPv6-Prefix := 10.0.0.0/8", "not an ipv6prefix"),
    ("Reply-Message == 'x'", "operator '=='"),
    ("Reply-Message !* ANY", "operator '!*'"),
    ("Reply-Message :=", "has no value"),
    ("just words", "is not of the form"),
    ("Reply-Message := 'a\nb'", "control character"),
])
def test_bad_items_say_what_is_wrong(item: str, wrong: str) -> None:
    found = check_item(item, load(DEFAULT_DICTIONARY))
    assert found is not None and wrong in found


def test_includes_types_and_named_values_of_a_dictionary_of_ones_own(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "dictionary").write_text(
        "# comment\n$INCLUDE sub/dictionary.v\n$INCLUDE- dictionary.absent\nATTRIBUTE\tMy-Count\t1\tshort\n",
        encoding="utf-8")
    (tmp_path / "sub" / "dictionary.v").write_text(
        "VENDOR V 99\nBEGIN-VENDOR V\nATTRIBUTE V-Mode 1 integer\nVALUE V-Mode Fast 1\nATTRIBUTE V-Blob 2 tlv\n"
        "END-VENDOR V\n", encoding="utf-8")
    found = load(str(tmp_path / "dictionary"))
    assert check_item("v-mode := fast", found) is None
    assert "from 0 to 65535" in (check_item("My-Count = 70000", found) or "")
    assert "cannot be written as one value" in (check_item("V-Blob = 1", found) or "")


def test_a_missing_or_empty_dictionary_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError, match="cannot read"):
        load(str(tmp_path / "nothing"))
    (tmp_path / "empty").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="defines no attributes"):
        load(str(tmp_path / "empty"))
