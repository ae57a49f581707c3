"""Sizes in human units, stored as bytes everywhere (ISPMan mixed bytes, KB and MB).

Decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units are both accepted and
mean what the IEC says; a bare integer is bytes. Rendering picks the largest binary unit
that divides exactly, so "2 GiB" round-trips and plans show readable numbers.
"""

from __future__ import annotations

import re
from fractions import Fraction

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
MAX_BYTES = 2**63 - 1


def parse_size(value: object) -> int:
    """Bytes from ``2 GiB``, ``500 MB``, ``1048576``; ValueError with a helpful message."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '2 GiB' or '500 MB', not true/false")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        if value > MAX_BYTES:
            raise ValueError(f"{value} is too large")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a size such as '2 GiB' or '500 MB'")
    if value.strip().startswith("-"):
        raise ValueError("a size cannot be negative")
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. '2 GiB', '500 MB' or a number of bytes")
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r}; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB")
    if unit and unit.lower() in ("k", "m", "g", "t"):
        raise ValueError(f"ambiguous size unit {unit!r}; write {unit.upper()}B (decimal) or {unit.upper()}iB (binary)")
    # Exact arithmetic: with floats "1.1 kB" would come out as 1100.0000000000002 bytes.
    result = Fraction(number) * factor
    if result.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number of bytes")
    if int(result) > MAX_BYTES:
        raise ValueError(f"{value!r} is too large")
    return int(result)


def format_size(size: int | None) -> str:
    if size is None:
        return "unlimited"
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"
