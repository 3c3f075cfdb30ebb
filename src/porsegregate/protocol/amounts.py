"""Money as integers in the smallest unit; decimal strings only at the edges."""

from __future__ import annotations

import re

AMOUNT_BYTES = 16
MAX_AMOUNT = (1 << (8 * AMOUNT_BYTES)) - 1
MAX_DECIMALS = 30

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_UNITS = re.compile(r"0|[1-9][0-9]*")


def parse_decimal(text: str, decimals: int) -> int:
    """'1.5' with 8 decimals -> 150000000. Raises ValueError with a reason a person can act on.

    Only plain digits with an optional fraction are accepted: no sign, exponent,
    spaces, separators or more fraction digits than the asset has (T2, T3).
    """
    if len(text) > 80:
        raise ValueError("amount is too long")
    if not _DECIMAL.fullmatch(text):
        if text.startswith("-"):
            raise ValueError(f"negative amount {text!r}")
        raise ValueError(f"amount {text!r} is not a plain decimal number")
    whole, _, frac = text.partition(".")
    if len(frac) > decimals:
        raise ValueError(f"amount {text!r} has {len(frac)} decimals; the asset allows {decimals}")
    scale: int = 10**decimals
    value = int(whole) * scale + (int(frac.ljust(decimals, "0")) if frac else 0)
    if value > MAX_AMOUNT:
        raise ValueError(f"amount {text!r} does not fit in {AMOUNT_BYTES} bytes")
    return value


def format_decimal(units: int, decimals: int) -> str:
    """150000000 with 8 decimals -> '1.5' (no trailing zeros, no exponent)."""
    if units < 0:
        raise ValueError("negative amount")
    whole, frac = divmod(units, 10**decimals) if decimals else (units, 0)
    if not decimals or frac == 0:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def parse_units(text: str) -> int:
    """A smallest-unit decimal string from JSON: '0' or no leading zeros, in range."""
    if not isinstance(text, str) or len(text) > 39 or not _UNITS.fullmatch(text):
        raise ValueError(f"{text!r} is not a smallest-unit decimal string")
    value = int(text)
    if value > MAX_AMOUNT:
        raise ValueError(f"{text!r} exceeds 2^128-1")
    return value


def amount_bytes(value: int) -> bytes:
    return value.to_bytes(AMOUNT_BYTES, "big")
