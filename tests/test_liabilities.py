"""Every kind of bad liabilities input gives the exact error, naming file and line (T2, T3, T13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from porsegregate.errors import InputError
from porsegregate.protocol.models import Asset
from porsegregate.publish.liabilities import MAX_PROBLEMS, read_liabilities

ASSETS = (Asset("BTC", 8), Asset("USDT", 6))
HEADER = "account_id,asset,amount\n"


def read(tmp_path: Path, text: str | bytes) -> dict[str, list[int | None]]:
    path = tmp_path / "liabilities.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_liabilities(path, ASSETS).balances


def test_rows_for_the_same_account_and_asset_are_summed(tmp_path: Path) -> None:
    balances = read(tmp_path, HEADER + "a,BTC,1\na,BTC,0.5\na,USDT,3\nb,USDT,0\n")
    assert balances == {"a": [150_000_000, 3_000_000], "b": [None, 0]}


def test_a_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    assert read(tmp_path, ("\ufeff" + HEADER + "a,BTC,1\r\n").encode()) == {
        "a": [100_000_000, None]
    }


BAD_ROWS = [
    ("a,BTC,-1", "BTC: negative amount '-1'"),
    ("a,BTC,1.123456789", "BTC: amount '1.123456789' has 9 decimals; the asset allows 8"),
    ("a,DOGE,1", "unknown asset 'DOGE' (the config lists BTC, USDT)"),
    (",BTC,1", "account id is empty"),
    ("x" * 129 + ",BTC,1", "account id is longer than 128 bytes"),
    ("a\x07b,BTC,1", "account id contains control character U+0007"),
    (" a,BTC,1", "account id has leading or trailing whitespace"),
    ("a,BTC", "expected 3 fields account_id,asset,amount; got 2"),
    ("a,BTC,1,extra", "expected 3 fields account_id,asset,amount; got 4"),
    ("a,BTC,1e3", "BTC: amount '1e3' is not a plain decimal number"),
    ("a,BTC,", "BTC: amount '' is not a plain decimal number"),
    ('"a,BTC,1', "malformed CSV line (unexpected end of data)"),
    ("a,BTC," + "9" * 2000, "malformed CSV line (field larger than field limit (1024))"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=[m for _, m in BAD_ROWS])
def test_bad_row(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path, HEADER + "ok,BTC,1\n" + row + "\n")
    path = tmp_path / "liabilities.csv"
    assert info.value.problems == [f"{path}:3: {message}"]
    assert str(info.value).startswith(f"{path}: 1 problem(s) in the liabilities file")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "{p}: the file is empty; expected header account_id,asset,amount"),
        (
            "account_id,asset\n",
            "{p}:1: header must be account_id,asset,amount (missing column amount; "
            "got 'account_id,asset')",
        ),
        (
            "asset,account_id,amount\n",
            "{p}:1: header must be account_id,asset,amount (wrong column order; "
            "got 'asset,account_id,amount')",
        ),
    ],
)
def test_bad_header(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path, text)
    assert str(info.value) == message.format(p=tmp_path / "liabilities.csv")


def test_no_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no client rows after the header"):
        read(tmp_path, HEADER)


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path, HEADER.encode() + b"a,BTC,1\nb\xff,BTC,1\n")
    assert str(info.value).startswith(f"{tmp_path / 'liabilities.csv'}:3: not UTF-8 text")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_liabilities(tmp_path / "nope.csv", ASSETS)


def test_all_problems_are_reported_up_to_a_limit(tmp_path: Path) -> None:
    rows = "".join(f"a{i},BTC,-{i}\n" for i in range(MAX_PROBLEMS + 5))
    with pytest.raises(InputError) as info:
        read(tmp_path, HEADER + rows)
    assert len(info.value.problems) == MAX_PROBLEMS + 1
    assert info.value.problems[-1] == "... and 5 more problems"
    assert f"{MAX_PROBLEMS + 5} problem(s)" in str(info.value)


def test_total_overflow(tmp_path: Path) -> None:
    big = str(2**127 // 10**8)
    with pytest.raises(InputError, match=r"total liabilities in BTC .* do not fit in 128 bits"):
        read(tmp_path, HEADER + f"a,BTC,{big}\nb,BTC,{big}\nc,BTC,{big}\n")
