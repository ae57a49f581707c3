"""Sizes: human units in, bytes everywhere, readable units out."""

from __future__ import annotations

import pytest

from ispctl.reconciler.estate.units import MAX_BYTES, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2 GiB", 2147483648),
        ("500 MB", 500_000_000),
        ("1.5 GiB", 1610612736),
        ("1.1 kB", 1100),
        ("0.25 KiB", 256),
        ("512MiB", 512 * 1024**2),
        ("1 TiB", 1024**4),
        ("3 TB", 3 * 1000**4),
        ("2 gib", 2147483648),
        ("7 B", 7),
        ("1048576", 1048576),
        ("  10 kB  ", 10_000),
        (0, 0),
        (5000, 5000),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("5G", "ambiguous size unit 'G'; write GB (decimal) or GiB (binary)"),
        ("5 k", "ambiguous size unit 'k'"),
        ("2 M", "ambiguous size unit 'M'"),
        ("1 T", "ambiguous size unit 'T'"),
        ("-1 GiB", "a size cannot be negative"),
        (-1, "a size cannot be negative"),
        ("0.5 B", "is not a whole number of bytes"),
        ("1.0000001 kB", "is not a whole number of bytes"),
        ("3 PB", "unknown size unit 'PB'"),
        ("lots", "is not a size"),
        ("1,5 GiB", "is not a size"),
        ("", "is not a size"),
        ("١٠ MB", "is not a size"),
        (True, "not true/false"),
        (1.5, "expected a size"),
        (None, "expected a size"),
        (MAX_BYTES + 1, "is too large"),
        ("9000000 TiB", "is too large"),
    ],
)
def test_bad_sizes(value: object, words: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "unlimited"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (2147483648, "2 GiB"),
        (1610612736, "1536 MiB"),
        (1024**4, "1 TiB"),
        (500_000_000, "500 MB"),
        (1000, "1 kB"),
        (1100, "1100 B"),
    ],
)
def test_format_size(size: int | None, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize("text", ["2 GiB", "500 MB", "7 B", "3 TiB", "1 kB"])
def test_round_trip(text: str) -> None:
    assert format_size(parse_size(text)) == text


@pytest.mark.parametrize("text", ["2 GiB", "1.5 kB", "lots", "-1 MB", "3 m", "1.1 B", "9" * 30 + " TiB"])
def test_a_size_written_again_gets_the_same_answer_as_the_first_time(text: str) -> None:
    """Sizes written as text are remembered (an estate repeats a few quotas thousands of
    times): the bytes, or the refusal and its message, must not depend on that."""
    from ispctl.reconciler.estate import units

    def answer() -> int | str:
        try:
            return parse_size(text)
        except ValueError as exc:
            return f"refused: {exc}"

    units._parsed_text.cache_clear()
    first = answer()
    assert answer() == first and units._parsed_text.cache_info().hits == 1
    try:
        direct: int | str = units._parse_size(text)  # the same parse, never remembered
    except ValueError as exc:
        direct = f"refused: {exc}"
    assert first == direct
