"""``lookup.table``: rows as a text table and as CSV."""

from __future__ import annotations

import csv
import io

from ispctl.reconciler.lookup.table import cell, csv_text, size_text, text_table


def test_sizes_for_people() -> None:
    assert [size_text(n) for n in (0, 999, 1024, 3000, 512 * 1024**2, 17716740096, 1024**4, 5 * 1024**5)] == [
        "0 B", "999 B", "1 KiB", "2.9 KiB", "512 MiB", "16.5 GiB", "1 TiB", "5120.0 TiB"]


def test_cells() -> None:
    assert [cell("x", None), cell("x", True), cell("x", False), cell("x", ["a", "b"]), cell("x", []),
            cell("quota", 2 * 1024**3, frozenset({"quota"})), cell("count", 2048)] == [
        "-", "yes", "no", "a, b", "-", "2 GiB", "2048"]


def test_a_table_pads_and_aligns_numbers_right_and_flags_left() -> None:
    rows = [{"name": "anna", "n": 5, "live": True, "quota": 1024}, {"name": "bo", "n": 12, "live": False,
                                                                    "quota": None}]
    assert text_table(rows, ["name", "n", "live", "quota"], frozenset({"quota"})) == [
        "NAME   N  LIVE  QUOTA",
        "anna   5  yes   1 KiB",
        "bo    12  no        -",
    ]


def test_csv_quotes_what_needs_it_and_keeps_bytes() -> None:
    rows = [{"name": "Hart, Cole", "quota": 1024, "targets": ["a@x.example", "b@x.example"], "limit": None}]
    text = csv_text(rows, ["name", "quota", "targets", "limit"])
    assert text == 'name,quota,targets,limit\r\n"Hart, Cole",1024,a@x.example b@x.example,\r\n'
    assert list(csv.reader(io.StringIO(text))) == [["name", "quota", "targets", "limit"],
                                                  ["Hart, Cole", "1024", "a@x.example b@x.example", ""]]
