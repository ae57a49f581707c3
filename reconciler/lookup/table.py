"""Rows as a text table or CSV: the columns given, in order; values as ``cell`` writes them."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ispctl.reconciler.estate.units import format_size

Rows = Sequence[Mapping[str, Any]]


def cell(column: str, value: Any, sizes: frozenset[str] = frozenset()) -> str:
    """One value for people: sizes in units, lists joined, nothing as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and column in sizes:
        return size_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def size_text(size: int) -> str:
    """A size for people: exact when it is a round number of a binary unit (``4 GiB``), else one
    decimal (``16.5 GiB``, never ``16896 MiB``; ``2.9 KiB``, never ``3 kB`` beside KiB)."""
    if size < 1024:
        return f"{size} B"
    exact = format_size(size)
    number, unit = exact.split()
    if unit.endswith("iB") and int(number) < 1024:
        return exact
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return exact


def text_table(rows: Rows, columns: Sequence[str], sizes: frozenset[str] = frozenset()) -> list[str]:
    """A header in capitals and one line per row, columns padded (the last one is not)."""
    cells = [[cell(c, row.get(c), sizes) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    right = [c in sizes or all(isinstance(v, int) and not isinstance(v, bool) for row in rows
                               if (v := row.get(c)) is not None) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    return [line([c.upper() for c in columns])] + [line(r) for r in cells]


def csv_text(rows: Rows, columns: Sequence[str]) -> str:
    """RFC 4180 CSV with a header line; numbers as numbers (bytes), lists joined by spaces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, list | tuple):
                value = " ".join(str(v) for v in value)
            values.append("" if value is None else value)
        writer.writerow(values)
    return buffer.getvalue()
