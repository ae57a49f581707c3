"""Sizes and durations in human units: pure parsing and formatting.

Sizes are stored as bytes everywhere (ISPMan mixed bytes, KB and MB). Decimal (kB, MB, GB,
TB) and binary (KiB, MiB, GiB, TiB) units are both accepted and mean what the IEC says; a
bare integer is bytes. Rendering picks the largest binary unit that divides exactly, so
"2 GiB" round-trips and plans show readable numbers.

Durations are seconds, written as a number or BIND-style (``1h30m``), bounded like a DNS
TTL (RFC 2181 section 8: an unsigned 31-bit number).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
MAX_BYTES = 2**63 - 1


def parse_size(value: object) -> int:
    """Bytes from ``2 GiB``, ``500 MB``, ``1048576``; ValueError with a helpful message."""
    if type(value) is str:
        # An estate writes the same few quotas thousands of times; exact arithmetic on each
        # was a tenth of reading the files. The text alone decides the answer.
        found = _parsed_text(value)
        if isinstance(found, str):
            raise ValueError(found)
        return found
    return _parse_size(value)


@lru_cache(maxsize=4096)
def _parsed_text(value: str) -> int | str:
    """The bytes of a size written as text, or the message saying why it is refused."""
    try:
        return _parse_size(value)
    except ValueError as exc:
        return str(exc)


def _parse_size(value: object) -> int:
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


MAX_TTL = 2**31 - 1  # RFC 2181 section 8: a TTL is an unsigned 31-bit number
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")  # ASCII digits: \d also matches "٣"


def parse_duration(value: object) -> int:
    """Seconds from ``3600``, ``"3600"``, ``"1h"`` or BIND-style ``"1h30m"``."""
    if isinstance(value, bool):  # YAML true/false is never a duration
        raise ValueError("expected a duration (seconds, or a number with s/m/h/d/w)")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isascii() and text.isdigit():
            seconds = int(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{value!r} is not a duration: write seconds or e.g. 30m, 3h, 1d, 1w, 1h30m")
            seconds = sum(int(n) * _SECONDS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration (seconds, or a number with s/m/h/d/w)")
    if not 0 <= seconds <= MAX_TTL:
        raise ValueError(f"must be between 0 and {MAX_TTL} seconds")
    return seconds


def format_duration(seconds: int) -> str | int:
    """The shortest exact spelling (``3600`` -> ``"1h"``); odd values stay seconds."""
    for unit in ("w", "d", "h", "m"):
        size = _SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return seconds
