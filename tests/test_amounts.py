"""Amounts: integers in the smallest unit, strict decimal strings at the edges (T2, T3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porsegregate.protocol.amounts import MAX_AMOUNT, format_decimal, parse_decimal, parse_units


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("0", 8, 0),
        ("1", 8, 100_000_000),
        ("1.5", 8, 150_000_000),
        ("0.00000001", 8, 1),
        ("12.000000000000000001", 18, 12_000_000_000_000_000_001),
        ("007", 2, 700),
        ("5", 0, 5),
    ],
)
def test_parse_decimal(text: str, decimals: int, units: int) -> None:
    assert parse_decimal(text, decimals) == units


@pytest.mark.parametrize(
    ("text", "decimals", "message"),
    [
        ("-1", 8, "negative amount '-1'"),
        ("+1", 8, "amount '+1' is not a plain decimal number"),
        ("1e5", 8, "amount '1e5' is not a plain decimal number"),
        ("1,000", 8, "amount '1,000' is not a plain decimal number"),
        (" 1", 8, "amount ' 1' is not a plain decimal number"),
        ("1.", 8, "amount '1.' is not a plain decimal number"),
        (".5", 8, "amount '.5' is not a plain decimal number"),
        ("", 8, "amount '' is not a plain decimal number"),
        ("NaN", 8, "amount 'NaN' is not a plain decimal number"),
        ("0x10", 8, "amount '0x10' is not a plain decimal number"),
        ("\u0661", 8, "amount '\u0661' is not a plain decimal number"),  # Arabic-Indic one
        ("0.123456789", 8, "amount '0.123456789' has 9 decimals; the asset allows 8"),
        ("1.5", 0, "amount '1.5' has 1 decimals; the asset allows 0"),
        (str(2**128), 0, f"amount '{2**128}' does not fit in 16 bytes"),
        ("1" * 81, 0, "amount is too long"),
    ],
)
def test_parse_decimal_rejects(text: str, decimals: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_decimal(text, decimals)
    assert str(info.value) == message


@given(st.integers(0, MAX_AMOUNT), st.integers(0, 30))
def test_format_then_parse_round_trips(units: int, decimals: int) -> None:
    assert parse_decimal(format_decimal(units, decimals), decimals) == units


@pytest.mark.parametrize("text", ["-1", "01", "1.0", "", " 1", str(2**128), "1e3", "x"])
def test_parse_units_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_units(text)
