"""The fast liabilities readers agree with the row-by-row reference, and Parquet input.

The pyarrow CSV reader must return exactly what the reference reader returns, or step
aside (then the reference reads and words the errors): checked on generated CSV text,
valid and invalid. Parquet: the same rules and messages, rows numbered from 1.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from porsegregate.cli import main
from porsegregate.errors import InputError
from porsegregate.protocol.amounts import MAX_AMOUNT
from porsegregate.protocol.models import Asset
from porsegregate.publish import liabilities as ingest
from porsegregate.publish.liabilities import Liabilities, read_liabilities

from .conftest import PASSPHRASE

ASSETS = (Asset("BTC", 8), Asset("USDT", 6), Asset("ETH", 18), Asset("PTS", 0))
HEADER = "account_id,asset,amount"


def same(a: Liabilities, b: Liabilities) -> bool:
    return (
        a.assets == b.assets
        and a.accounts == b.accounts
        and all(np.array_equal(x, y) for x, y in zip(a.holders, b.holders, strict=True))
        and all(np.array_equal(x, y) for x, y in zip(a.amounts, b.amounts, strict=True))
        and all(x.dtype == np.int64 for x in a.holders)
        and all(
            x.dtype == np.uint8 and x.shape == (len(h), 16)
            for x, h in zip(a.amounts, a.holders, strict=True)
        )
    )


def outcome(path: Path, reader: Any) -> Liabilities | tuple[str, list[str]]:
    try:
        return reader(path, ASSETS)  # type: ignore[no-any-return]
    except InputError as exc:
        return str(exc), list(exc.problems)


# ---- the columnar result ----


def test_columnar_view_and_lookups() -> None:
    balances: dict[str, list[int | None]] = {
        "b": [5, None, None, 0],
        "a": [None, MAX_AMOUNT, 10**30, None],
        "c": [1, 2, None, None],
    }
    lia = Liabilities.from_balances(ASSETS, balances)
    assert lia.accounts == ["b", "a", "c"]
    assert [h.tolist() for h in lia.holders] == [[0, 2], [1, 2], [1], [0]]
    assert lia.amounts[1][0].tobytes() == b"\xff" * 16
    assert lia.totals() == [6, MAX_AMOUNT + 2, 10**30, 0]
    assert lia.index_of("a") == 1 and lia.index_of("zz") is None
    assert lia.amount(1, 1) == MAX_AMOUNT and lia.amount(0, 1) is None and lia.amount(0, 3) == 0
    assert lia.balances == balances


# ---- fast CSV == reference CSV ----

ACCOUNTS = st.sampled_from(
    ["a", "b", "C0001", "x y", "é", "ü" * 64, "ü" * 65, "x" * 128, "x" * 129, " a", "a ", "",
     "a\x07", 'a"b', "\ufeffa", "a\u2028b", "a\x00", "Ω-7", "a\tb"]
)  # fmt: skip
CODES = st.sampled_from(["BTC", "USDT", "ETH", "PTS", "btc", "", " BTC", "DOGE", "BTC "])


@st.composite
def amounts(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        whole = draw(st.one_of(st.integers(0, 10**6), st.integers(0, 2**128)))
        frac = draw(st.text("0123456789", min_size=0, max_size=draw(st.sampled_from([3, 9, 20]))))
        zeros = "0" * draw(st.integers(0, 2))
        return f"{zeros}{whole}" + (f".{frac}" if frac else "")
    if kind == 6:
        return draw(
            st.sampled_from([str(MAX_AMOUNT), str(MAX_AMOUNT + 1), "9" * 39, "1" + "0" * 38])
        )
    return draw(
        st.sampled_from(
            ["", "-1", "1.", ".5", "+1", "1e3", " 1", "1 ", "\u0661", "0x10", "1,5", "9" * 81,
             "0" * 80 + "1", "0" * 79 + "1", "NaN", "1.0.0", '"1"']
        )
    )  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    valid = draw(st.booleans())
    if valid:
        rows = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["a", "b", "C0001", "é", "Ω-7", "x" * 128, "ü" * 64]),
                    st.sampled_from(["BTC", "USDT", "ETH", "PTS"]),
                    st.integers(0, 10**20),
                    st.integers(0, 8),
                ),
                min_size=1,
                max_size=30,
            )
        )
        lines = []
        for account, code, units, places in rows:
            d = min(places, {"BTC": 8, "USDT": 6, "ETH": 18, "PTS": 0}[code])
            text = str(units).rjust(d + 1, "0")
            lines.append(
                f"{account},{code},{text[:-d]}.{text[-d:]}" if d else f"{account},{code},{text}"
            )
    else:
        lines = [
            ",".join(draw(st.tuples(ACCOUNTS, CODES, amounts())))
            if draw(st.integers(0, 9))
            else draw(st.sampled_from(["", "a,BTC", "a,BTC,1,2", '"a",BTC,1', "a,BTC,1\r", " "]))
            for _ in range(draw(st.integers(0, 12)))
        ]
    header = (
        HEADER
        if draw(st.integers(0, 5))
        else draw(
            st.sampled_from(
                ["account_id , asset,amount", "account_id,asset", "asset,account_id,amount", ""]
            )
        )
    )
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([header, *lines]) + (newline if draw(st.booleans()) else "")
    data = ("\ufeff" if draw(st.integers(0, 4)) == 0 else "") + text
    raw = data.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw += b"z,BTC,1\xff\n"
    return raw


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=csv_files())
def test_fast_csv_equals_the_reference(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(data)
    reference = outcome(path, ingest._read_csv_reference)
    fast = ingest._read_csv_fast(path, ASSETS, None)
    if fast is not None:
        assert isinstance(reference, Liabilities), reference
        assert same(fast, reference)
    chosen = outcome(path, read_liabilities)
    if isinstance(reference, Liabilities):
        assert isinstance(chosen, Liabilities) and same(chosen, reference)
    else:
        assert chosen == reference


def test_the_fast_path_reads_what_it_should(tmp_path: Path) -> None:
    """Not a trivial pass: a realistic file (BOM, CRLF, repeats, holders out of order,
    non-ASCII ids, amounts up to 2^128-1 in a total that just fits) is read by pyarrow."""
    half = MAX_AMOUNT // 2
    rows = [
        ("zoë", "ETH", "1.000000000000000001"),
        ("a", "USDT", "0001.5"),
        ("a", "BTC", "3"),
        ("zoë", "BTC", "0.00000001"),
        ("b", "PTS", str(half)),
        ("zoë", "ETH", "2"),
        ("b", "PTS", str(MAX_AMOUNT - half)),
        ("a", "USDT", "0"),
        ("C" * 128, "BTC", "0"),
    ]
    text = "\ufeff" + HEADER + "\r\n" + "".join(f"{a},{c},{v}\r\n" for a, c, v in rows)
    path = tmp_path / "l.csv"
    path.write_bytes(text.encode())
    fast = ingest._read_csv_fast(path, ASSETS, None)
    assert fast is not None
    assert same(fast, ingest._read_csv_reference(path, ASSETS))
    assert fast.accounts == ["zoë", "a", "b", "C" * 128]
    assert fast.balances["zoë"] == [1, None, 3 * 10**18 + 1, None]
    assert fast.balances["a"] == [3 * 10**8, 1_500_000, None, None]
    assert fast.totals() == [3 * 10**8 + 1, 1_500_000, 3 * 10**18 + 1, MAX_AMOUNT]


@pytest.mark.parametrize(
    "text",
    [
        '"a",BTC,1\n',  # a quote: csv.reader unquotes it, pyarrow would not
        "a,BTC,1\rb,BTC,1\n",  # a lone CR
        "a,BTC,1\n\nb,BTC,1\n",  # an empty line is a problem
        "a\x00,BTC,1\n",
        f"a,BTC,{MAX_AMOUNT}\nb,BTC,1\n",  # the total overflows
    ],
)
def test_the_fast_path_steps_aside(tmp_path: Path, text: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text(HEADER + "\n" + text)
    assert ingest._read_csv_fast(path, ASSETS, None) is None


# ---- Parquet ----


def write_parquet(path: Path, columns: dict[str, Any], row_group_size: int | None = None) -> Path:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def test_parquet_matches_csv_for_text_decimal_and_integer_amounts(tmp_path: Path) -> None:
    csv_path = tmp_path / "l.csv"
    csv_path.write_text(HEADER + "\na,BTC,1.5\nb,USDT,2\na,USDT,7\nb,BTC,0.25\na,BTC,1\n")
    expected = read_liabilities(csv_path, ASSETS)
    accounts = ["a", "b", "a", "b", "a"]
    codes = ["BTC", "USDT", "USDT", "BTC", "BTC"]
    texts = ["1.5", "2", "7", "0.25", "1"]
    variants: dict[str, Any] = {
        "text": pa.array(texts),
        "large text": pa.array(texts, pa.large_string()),
        "decimal128": pa.array([Decimal(t) for t in texts], pa.decimal128(20, 2)),
        "decimal256": pa.array([Decimal(t) for t in texts], pa.decimal256(50, 0 + 2)),
    }
    for name, amount in variants.items():
        path = write_parquet(
            tmp_path / f"{name}.parquet",
            {
                "account_id": pa.array(accounts).dictionary_encode(),
                "asset": codes,
                "amount": amount,
            },
        )
        assert same(read_liabilities(path, ASSETS), expected), name
    whole = write_parquet(
        tmp_path / "int.parquet",
        {"account_id": ["a", "b"], "asset": ["BTC", "PTS"], "amount": pa.array([2, 3], pa.int64())},
    )
    assert read_liabilities(whole, ASSETS).balances == {
        "a": [2 * 10**8, None, None, None],
        "b": [None, None, None, 3],
    }


def test_parquet_in_several_batches_numbers_rows_from_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 3)
    n = 10
    amounts = ["1"] * n
    amounts[7] = "1e3"
    path = write_parquet(
        tmp_path / "l.parquet",
        {"account_id": [f"c{i % 4}" for i in range(n)], "asset": ["BTC"] * n, "amount": amounts},
        row_group_size=4,
    )
    with pytest.raises(InputError) as info:
        read_liabilities(path, ASSETS)
    assert info.value.problems == [f"{path}:row 8: BTC: amount '1e3' is not a plain decimal number"]
    amounts[7] = "2"
    write_parquet(
        path,
        {"account_id": [f"c{i % 4}" for i in range(n)], "asset": ["BTC"] * n, "amount": amounts},
        4,
    )
    got = read_liabilities(path, ASSETS)
    assert got.accounts == ["c0", "c1", "c2", "c3"]
    assert got.balances["c3"] == [3 * 10**8, None, None, None]  # rows 4 and 8 (1 + 2)


BAD_PARQUET_ROWS = [
    ("null amount", {"amount": ["1", None]}, "row 2: no value (null) in column amount"),
    ("null account", {"account_id": ["a", None]}, "row 2: no value (null) in column account_id"),
    (
        "unknown asset",
        {"asset": ["BTC", "DOGE"]},
        "row 2: unknown asset 'DOGE' (the config lists BTC, USDT, ETH, PTS)",
    ),
    (
        "bad decimal",
        {"amount": ["1", "1e3"]},
        "row 2: BTC: amount '1e3' is not a plain decimal number",
    ),
    ("negative text", {"amount": ["1", "-1"]}, "row 2: BTC: negative amount '-1'"),
    (
        "negative integer",
        {"amount": pa.array([1, -5], pa.int32())},
        "row 2: BTC: negative amount '-5'",
    ),
    (
        "negative decimal",
        {"amount": pa.array([Decimal("1.5"), Decimal("-1.5")], pa.decimal128(9, 1))},
        "row 2: BTC: negative amount '-1.5'",
    ),
    (
        "decimal scale",
        {"amount": pa.array([Decimal("1"), Decimal("2")], pa.decimal128(20, 9))},
        "row 1: BTC: amount '1.000000000' has 9 decimals; the asset allows 8",
    ),
    (
        "too many decimals",
        {"amount": ["1", "0.123456789"]},
        "row 2: BTC: amount '0.123456789' has 9 decimals; the asset allows 8",
    ),
    (
        "too big",
        {"amount": ["1", "9" * 40]},
        f"row 2: BTC: amount '{'9' * 40}' does not fit in 16 bytes",
    ),
    (
        "bad account",
        {"account_id": ["a", " b"]},
        "row 2: account id has leading or trailing whitespace",
    ),
    (
        "control in account",
        {"account_id": ["a", "b\x07"]},
        "row 2: account id contains control character U+0007",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in BAD_PARQUET_ROWS], ids=[c[0] for c in BAD_PARQUET_ROWS]
)
def test_bad_parquet_row(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    columns: dict[str, Any] = {
        "account_id": ["a", "b"],
        "asset": ["BTC", "BTC"],
        "amount": ["1", "2"],
    }
    columns.update(change)
    path = write_parquet(tmp_path / "l.parquet", columns)
    with pytest.raises(InputError) as info:
        read_liabilities(path, ASSETS)
    first = message.split(":")[0]
    assert info.value.problems[0] == f"{path}:{message}", first
    assert str(info.value).startswith(f"{path}: ")


BAD_PARQUET_FILES = [
    (
        "float",
        {"account_id": ["a"], "asset": ["BTC"], "amount": [1.5]},
        "column amount has type double, a floating-point type: money is never a float; write "
        "amounts as decimal text, a decimal type or an integer type (whole units)",
    ),
    (
        "missing column",
        {"account_id": ["a"], "asset": ["BTC"]},
        "the columns must be account_id, asset, amount (missing column amount; "
        "got account_id, asset)",
    ),
    (
        "extra column",
        {"account_id": ["a"], "asset": ["BTC"], "amount": ["1"], "note": ["x"]},
        "the columns must be account_id, asset, amount (unexpected column note; "
        "got account_id, asset, amount, note)",
    ),
    (
        "numeric account",
        {"account_id": [1], "asset": ["BTC"], "amount": ["1"]},
        "column account_id has type int64; expected text (string)",
    ),
    (
        "boolean amount",
        {"account_id": ["a"], "asset": ["BTC"], "amount": [True]},
        "column amount has type bool; expected decimal text, a decimal type or an integer type "
        "(whole units)",
    ),
]


@pytest.mark.parametrize(
    ("columns", "message"),
    [c[1:] for c in BAD_PARQUET_FILES],
    ids=[c[0] for c in BAD_PARQUET_FILES],
)
def test_bad_parquet_file(tmp_path: Path, columns: dict[str, Any], message: str) -> None:
    path = write_parquet(tmp_path / "l.parquet", columns)
    with pytest.raises(InputError) as info:
        read_liabilities(path, ASSETS)
    assert str(info.value) == f"{path}: {message}"


def test_parquet_file_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_liabilities(tmp_path / "none.parquet", ASSETS)
    junk = tmp_path / "junk.parquet"
    junk.write_text(HEADER + "\n")
    with pytest.raises(InputError, match=r"junk.parquet: not a readable Parquet file"):
        read_liabilities(junk, ASSETS)
    empty = write_parquet(
        tmp_path / "e.parquet",
        {
            "account_id": pa.array([], pa.string()),
            "asset": pa.array([], pa.string()),
            "amount": pa.array([], pa.string()),
        },
    )
    with pytest.raises(InputError) as info:
        read_liabilities(empty, ASSETS)
    assert info.value.problems == [f"{empty}: no client rows"]
    big = write_parquet(
        tmp_path / "b.parquet",
        {"account_id": ["a", "b"], "asset": ["PTS", "PTS"], "amount": [str(MAX_AMOUNT), "1"]},
    )
    with pytest.raises(InputError) as info:
        read_liabilities(big, ASSETS)
    assert info.value.problems == [
        f"{big}: total liabilities in PTS ({MAX_AMOUNT + 1}) do not fit in 128 bits"
    ]


def test_parquet_problems_are_all_reported_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 7)
    n = ingest.MAX_PROBLEMS + 5
    path = write_parquet(
        tmp_path / "l.parquet",
        {
            "account_id": [f"a{i}" for i in range(n)],
            "asset": ["BTC"] * n,
            "amount": [f"-{i}" for i in range(n)],
        },
    )
    with pytest.raises(InputError) as info:
        read_liabilities(path, ASSETS)
    assert info.value.problems[0] == f"{path}:row 1: BTC: negative amount '-0'"
    assert info.value.problems[-1] == "... and 5 more problems"
    assert str(info.value).startswith(f"{path}: {n} problem(s) in the liabilities file")


# ---- publish from Parquet ----


def test_publish_from_parquet_signs_the_same_totals_as_the_csv(tmp_path: Path) -> None:
    env = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode()}

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    ws = tmp_path / "ws"
    assert run("init", str(ws)).exit_code == 0
    rows = [
        ("alice", "BTC", "1.25"),
        ("bob", "ETH", "12.000000000000000001"),
        ("carol", "USDT", "250000"),
        ("alice", "USDT", "0.5"),
        ("bob", "BTC", "0"),
    ]
    csv_path = tmp_path / "l.csv"
    csv_path.write_text(HEADER + "\n" + "".join(f"{a},{c},{v}\n" for a, c, v in rows))
    parquet = write_parquet(
        tmp_path / "l.parquet", {h: [r[i] for r in rows] for i, h in enumerate(HEADER.split(","))}
    )

    signed = []
    for epoch, source in (("2026-11", csv_path), ("2026-12", parquet)):
        result = run(
            "publish",
            "-w",
            str(ws),
            "--epoch",
            epoch,
            "--liabilities",
            str(source),
            "--snapshot-time",
            f"{epoch}-28T23:59:59Z",
            "--allow-shortfall",
            "--json",
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["clients"] == 3
        attestation = json.loads((ws / "site" / "attestation.json").read_text())
        assert attestation["epoch"]["id"] == epoch
        signed.append(sorted((a["code"], a["total"]) for a in attestation["liabilities"]["assets"]))
    assert (
        signed[0]
        == signed[1]
        == [("BTC", "125000000"), ("ETH", "12000000000000000001"), ("USDT", "250000500000")]
    )

    # The data room of a Parquet epoch holds it as CSV; the auditor rebuilds the same trees.
    room = tmp_path / "room"
    env["PORSEGREGATE_DATAROOM_PASSPHRASE"] = "a passphrase for the auditor only"
    args = ["dataroom", "export", "-w", str(ws), "--epoch", "2026-12", "--out", str(room)]
    exported = run(*args, "--liabilities", str(parquet), "--json")
    assert exported.exit_code == 0, exported.output
    assert read_liabilities(room / "liabilities.csv", ASSETS[:3]).accounts == [
        "alice",
        "bob",
        "carol",
    ]
    audited = run("audit", str(ws / "site"), "--dataroom", str(room), "--all", "--json")
    statuses = {c["id"]: c["status"] for c in json.loads(audited.stdout)["checks"]}
    room_checks = {k: v for k, v in statuses.items() if k.startswith("dataroom-")}
    assert {room_checks[k] for k in ("dataroom-totals", "dataroom-roots", "dataroom-bundles")} == {
        "pass"
    }, room_checks

    bad = write_parquet(
        tmp_path / "bad.parquet", {"account_id": ["a"], "asset": ["BTC"], "amount": [1.5]}
    )
    result = run(
        "publish",
        "-w",
        str(ws),
        "--epoch",
        "2027-01",
        "--liabilities",
        str(bad),
        "--allow-shortfall",
    )
    assert result.exit_code == 3
    assert "money is never a float" in result.output


def test_to_csv_reads_back_the_same(tmp_path: Path) -> None:
    """What the data room holds for a Parquet ledger: CSV that reads back to the same ledger."""
    columns = {
        "account_id": ["b", 'x,"y"', "b", "é", 'x,"y"'],
        "asset": ["ETH", "BTC", "ETH", "PTS", "USDT"],
        "amount": ["1.000000000000000001", "2", "3", str(MAX_AMOUNT), "0"],
    }
    ledger = read_liabilities(write_parquet(tmp_path / "l.parquet", columns), ASSETS)
    path = tmp_path / "l.csv"
    path.write_bytes(ingest.to_csv(ledger))
    assert same(read_liabilities(path, ASSETS), ledger)
    assert ledger.balances == {
        "b": [None, None, 4 * 10**18 + 1, None],
        'x,"y"': [2 * 10**8, 0, None, None],
        "é": [None, None, None, MAX_AMOUNT],
    }


PARQUET_ACCOUNTS = st.sampled_from(
    ["a", "b", "C0001", "x y", "é", "ü" * 65, "x" * 129, " a", "", "a\x07", "a,b", 'a"b']
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["a", "b", "é", "a,b"]), PARQUET_ACCOUNTS),
            st.one_of(st.sampled_from(["BTC", "PTS"]), CODES),
            st.one_of(st.sampled_from(["1", "0.5", str(MAX_AMOUNT // 4)]), amounts()),
        ),
        min_size=1,
        max_size=25,
    ),
    batch=st.integers(1, 8),
)
def test_parquet_equals_the_csv_reference(rows: list[tuple[str, str, str]], batch: int) -> None:
    """The same rows as Parquet (read in batches of `batch` rows) and as CSV: the same ledger,
    or the same problems, Parquet's row N being the CSV's line N + 1."""
    import csv
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([HEADER.split(","), *rows])
        csv_path = Path(folder) / "l.csv"
        csv_path.write_text(text.getvalue(), encoding="utf-8")
        columns = {h: [r[i] for r in rows] for i, h in enumerate(HEADER.split(","))}
        parquet = write_parquet(Path(folder) / "l.parquet", columns)
        expected = outcome(csv_path, ingest._read_csv_reference)
        saved = ingest.BATCH_ROWS
        ingest.BATCH_ROWS = batch
        try:
            got = outcome(parquet, read_liabilities)
        finally:
            ingest.BATCH_ROWS = saved
        if isinstance(expected, Liabilities):
            event("a valid ledger")
            assert isinstance(got, Liabilities) and same(got, expected)
            return
        assert isinstance(got, tuple), got
        renamed = []
        for problem in expected[1]:
            where, _, message = problem.partition(": ")
            if where.startswith(f"{csv_path}:"):
                line = int(where.rsplit(":", 1)[1])
                renamed.append(f"{parquet}:row {line - 1}: {message}")
            else:
                renamed.append(problem.replace(str(csv_path), str(parquet)))
        assert got[1] == renamed


# ---- a directory of files (a partitioned export) ----

GOOD_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "C0001", "é", "Ω-7", "x" * 128, "a,b", 'q"q']),
        st.sampled_from(["BTC", "USDT", "ETH", "PTS"]),
        st.integers(0, 10**25),
    ),
    min_size=1,
    max_size=40,
)
DECIMALS = {a.code: a.decimals for a in ASSETS}


def decimal_text(code: str, units: int) -> str:
    d = DECIMALS[code]
    text = str(units).rjust(d + 1, "0")
    return f"{text[:-d]}.{text[-d:]}" if d else text


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER.split(","), *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def write_rows(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """`rows` as a CSV or (by the suffix) a Parquet ledger file."""
    if path.suffix.lower() != ".parquet":
        return write_csv(path, rows)
    return write_parquet(
        path,
        {h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(HEADER.split(","))},
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=GOOD_ROWS,
    cuts=st.lists(st.integers(0, 40), max_size=6),
    kind=st.sampled_from([".csv", ".parquet", ".CSV"]),
)
def test_a_directory_equals_its_files_concatenated(
    rows: list[tuple[str, str, int]], cuts: list[int], kind: str
) -> None:
    """Random rows cut at random places into files (some empty, accounts split across
    files): the directory reads as the one file holding every row in file order."""
    import tempfile

    texts = [(a, c, decimal_text(c, u)) for a, c, u in rows]
    bounds = [0, *sorted(min(c, len(texts)) for c in cuts), len(texts)]
    pieces = [texts[i:j] for i, j in itertools.pairwise(bounds)]
    split = {a for piece in pieces for a in {r[0] for r in piece}}
    if sum(len({r[0] for r in p}) for p in pieces) > len(split):
        event("an account in several files")
    with tempfile.TemporaryDirectory() as folder:
        whole = read_liabilities(write_csv(Path(folder) / "whole.csv", texts), ASSETS)
        ledger = Path(folder) / "ledger"
        ledger.mkdir()
        for i, piece in enumerate(pieces):
            write_rows(ledger / f"part-{i:05d}{kind}", piece)
        merged = read_liabilities(ledger, ASSETS)
        assert same(merged, whole)
        parts = [
            ingest.read_liabilities_file(f, ASSETS, part=True)
            for f in ingest.liabilities_files(ledger)
        ]
        assert same(ingest.merge_liabilities(parts), whole)


def test_directory_files_are_read_in_byte_order_of_their_names(tmp_path: Path) -> None:
    """B < Z < a < é in bytes (not in a locale's or a natural order); hidden entries and the
    suffix's case do not matter."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for name in ["é.csv", "a.CSV", "Z.csv", "B.csv", "10.csv", "9.csv"]:
        write_csv(ledger / name, [(name.split(".")[0], "BTC", "1"), ("shared", "PTS", "2")])
    write_csv(ledger / ".hidden.csv", [("hidden", "BTC", "1")])
    (ledger / ".cache").mkdir()
    (ledger / ".cache" / "x.txt").write_text("ignored")
    assert [f.name for f in ingest.liabilities_files(ledger)] == [
        "10.csv", "9.csv", "B.csv", "Z.csv", "a.CSV", "é.csv"
    ]  # fmt: skip
    got = read_liabilities(ledger, ASSETS)
    assert got.accounts == ["10", "shared", "9", "B", "Z", "a", "é"]
    assert got.balances["shared"] == [None, None, None, 12]
    assert ingest.liabilities_files(ledger / "B.csv") == [ledger / "B.csv"]


def test_merge_liabilities_sums_in_first_appearance_order() -> None:
    first = Liabilities.from_balances(ASSETS, {"b": [1, None, None, 5], "a": [None, 2, None, None]})
    second = Liabilities.from_balances(
        ASSETS,
        {"c": [3, None, None, None], "a": [MAX_AMOUNT - 2, None, 7, None], "b": [4, 0, None, None]},
    )
    merged = ingest.merge_liabilities([first, second])
    assert merged.balances == {
        "b": [5, 0, None, 5],
        "a": [MAX_AMOUNT - 2, 2, 7, None],
        "c": [3, None, None, None],
    }
    assert [h.tolist() for h in merged.holders] == [[0, 1, 2], [0, 1], [1], [0]]
    assert ingest.merge_liabilities([first]) is first
    with pytest.raises(ValueError, match="at least one part"):
        ingest.merge_liabilities([])
    with pytest.raises(ValueError, match="different assets"):
        ingest.merge_liabilities([first, Liabilities.from_balances(ASSETS[:2], {"a": [1, 2]})])


def _ledger_dir(tmp_path: Path, files: dict[str, str | None]) -> Path:
    """A directory: name -> CSV rows text (None: a subdirectory)."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for name, text in files.items():
        if text is None:
            (ledger / name).mkdir()
        else:
            (ledger / name).write_text(text, encoding="utf-8")
    return ledger


ROW = HEADER + "\na,BTC,1\n"
BAD_DIRECTORIES = [
    (
        "both kinds",
        {"a.csv": ROW, "b.parquet": "x", "c.csv": ROW},
        "{d}: a liabilities directory holds .csv files or .parquet files, not both "
        "(it holds 2 .csv and 1 .parquet)",
    ),
    ("empty", {}, "{d}: no .csv or .parquet file in the liabilities directory"),
    (
        "only hidden files",
        {".a.csv": ROW, ".git": None},
        "{d}: no .csv or .parquet file in the liabilities directory",
    ),
    (
        "a subdirectory",
        {"a.csv": ROW, "more": None},
        "{d}: a liabilities directory may hold only .csv files or only .parquet files "
        "(and hidden files); it also holds more/",
    ),
    (
        "a directory named like a part",
        {"a.parquet": None},
        "{d}: a liabilities directory may hold only .csv files or only .parquet files "
        "(and hidden files); it also holds a.parquet/",
    ),
    (
        "a stray file",
        {"a.csv": ROW, "_SUCCESS": "", "b.csv.gz": "x"},
        "{d}: a liabilities directory may hold only .csv files or only .parquet files "
        "(and hidden files); it also holds _SUCCESS, b.csv.gz",
    ),
    (
        "many stray files",
        {**{f"n{i}.txt": "" for i in range(8)}, "a.csv": ROW},
        "{d}: a liabilities directory may hold only .csv files or only .parquet files "
        "(and hidden files); it also holds n0.txt, n1.txt, n2.txt, n3.txt, n4.txt and 3 more",
    ),
]


@pytest.mark.parametrize(
    ("files", "message"), [c[1:] for c in BAD_DIRECTORIES], ids=[c[0] for c in BAD_DIRECTORIES]
)
def test_bad_directory(tmp_path: Path, files: dict[str, str | None], message: str) -> None:
    ledger = _ledger_dir(tmp_path, files)
    for call in (ingest.liabilities_files, lambda p: read_liabilities(p, ASSETS)):
        with pytest.raises(InputError) as info:
            call(ledger)
        assert str(info.value) == message.format(d=ledger)


def test_a_missing_path(tmp_path: Path) -> None:
    for path in (tmp_path / "none", tmp_path / "none.parquet", tmp_path / "none.csv"):
        with pytest.raises(InputError) as info:
            read_liabilities(path, ASSETS)
        assert str(info.value) == f"{path}: no such file or directory"


def test_problems_of_several_files_are_reported_together_in_file_order(tmp_path: Path) -> None:
    ledger = _ledger_dir(
        tmp_path,
        {
            "b.csv": HEADER + "\nb,BTC,1\nb,BTC,-1\nb,DOGE,1\n",
            "a.csv": HEADER + "\na,BTC,1.123456789\n",
            "c.csv": HEADER + "\nc,BTC,1\n",  # fine: read, and reported nowhere
            "d.csv": "",
        },
    )
    a, b, d = ledger / "a.csv", ledger / "b.csv", ledger / "d.csv"
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    problems = [
        f"{a}:2: BTC: amount '1.123456789' has 9 decimals; the asset allows 8",
        f"{b}:3: BTC: negative amount '-1'",
        f"{b}:4: unknown asset 'DOGE' (the config lists BTC, USDT, ETH, PTS)",
        f"{d}: the file is empty; expected header account_id,asset,amount",
    ]
    assert info.value.problems == problems
    assert str(info.value) == f"{ledger}: 4 problem(s) in the liabilities files\n" + "\n".join(
        f"  - {p}" for p in problems
    )


def test_problems_of_parquet_files_name_their_rows(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    one = write_rows(ledger / "1.parquet", [("a", "BTC", "1"), ("a", "BTC", "1e3")])
    write_rows(ledger / "2.parquet", [("b", "BTC", "1")])
    three = write_parquet(
        ledger / "3.parquet", {"account_id": ["c"], "asset": ["BTC"], "amount": [1.5]}
    )
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    assert info.value.problems == [
        f"{one}:row 2: BTC: amount '1e3' is not a plain decimal number",
        f"{three}: column amount has type double, a floating-point type: money is never a "
        "float; write amounts as decimal text, a decimal type or an integer type (whole units)",
    ]
    assert str(info.value).startswith(f"{ledger}: 2 problem(s) in the liabilities files\n")


def test_more_problems_than_the_limit_across_files(tmp_path: Path) -> None:
    first = ingest.MAX_PROBLEMS + 3  # more than one file reports: its own "... and 3 more"
    ledger = _ledger_dir(
        tmp_path,
        {
            "1.csv": HEADER + "\n" + "".join(f"a{i},BTC,-{i}\n" for i in range(first)),
            "2.csv": HEADER + "\n" + "".join(f"b{i},BTC,-{i}\n" for i in range(4)),
        },
    )
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    one = ledger / "1.csv"
    assert info.value.problems == [
        *(f"{one}:{i + 2}: BTC: negative amount '-{i}'" for i in range(ingest.MAX_PROBLEMS)),
        "... and 7 more problems",
    ]
    assert str(info.value).startswith(
        f"{ledger}: {first + 4} problem(s) in the liabilities files\n"
    )

    (tmp_path / "x").mkdir()
    ledger2 = _ledger_dir(
        tmp_path / "x",
        {
            "1.csv": HEADER + "\n" + "".join(f"a{i},BTC,-{i}\n" for i in range(15)),
            "2.csv": HEADER + "\n" + "".join(f"b{i},BTC,-{i}\n" for i in range(10)),
        },
    )
    with pytest.raises(InputError) as info:
        read_liabilities(ledger2, ASSETS)
    two = ledger2 / "2.csv"
    assert info.value.problems[15:] == [
        *(f"{two}:{i + 2}: BTC: negative amount '-{i}'" for i in range(5)),
        "... and 5 more problems",
    ]
    assert str(info.value).startswith(f"{ledger2}: 25 problem(s) in the liabilities files\n")


def test_raise_file_problems_from_pickled_failures(tmp_path: Path) -> None:
    """What a distributed engine does: each file read elsewhere, its InputError shipped
    back (pickled), then one report for the directory, worded as read_liabilities words it."""
    import pickle

    ledger = _ledger_dir(
        tmp_path,
        {"a.csv": HEADER + "\na,BTC,-1\n", "b.csv": ROW, "c.csv": HEADER + "\nc,XX,1\n"},
    )
    failures = []
    for f in ingest.liabilities_files(ledger):
        try:
            ingest.read_liabilities_file(f, ASSETS, part=True)
        except InputError as exc:
            failures.append(pickle.loads(pickle.dumps(exc)))
    with pytest.raises(InputError) as expected:
        read_liabilities(ledger, ASSETS)
    with pytest.raises(InputError) as got:
        ingest.raise_file_problems(ledger, failures)
    assert str(got.value) == str(expected.value) and got.value.problems == expected.value.problems
    ingest.raise_file_problems(ledger, [])  # nothing failed: nothing raised
    single = ledger / "a.csv"
    with pytest.raises(InputError) as alone:
        ingest.raise_file_problems(single, failures[:1])
    assert alone.value is failures[0]  # a file on its own: its error as it is


def test_totals_that_overflow_only_when_merged(tmp_path: Path) -> None:
    ledger = _ledger_dir(
        tmp_path,
        {
            "1.csv": HEADER + f"\na,PTS,{MAX_AMOUNT}\nb,BTC,1\n",
            "2.csv": HEADER + "\nb,PTS,1\n",
            "3.csv": HEADER + "\nc,USDT,1\n",
        },
    )
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    problem = f"{ledger}: total liabilities in PTS ({MAX_AMOUNT + 1}) do not fit in 128 bits"
    assert str(info.value) == f"{ledger}: 1 problem(s) in the liabilities files\n  - {problem}"
    with pytest.raises(InputError) as direct:
        ingest.check_totals(ledger, ASSETS, [0, 0, 0, MAX_AMOUNT + 1])
    assert str(direct.value) == str(info.value)
    ingest.check_totals(ledger, ASSETS, [MAX_AMOUNT] * 4)  # fits: nothing raised

    # One file that overflows on its own fails as a file does, inside the directory's report.
    (ledger / "2.csv").write_text(HEADER + f"\nb,PTS,{MAX_AMOUNT}\nc,PTS,1\n")
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    two = ledger / "2.csv"
    assert info.value.problems == [
        f"{two}: total liabilities in PTS ({MAX_AMOUNT + 1}) do not fit in 128 bits"
    ]


@pytest.mark.parametrize(
    ("kind", "empty"), [(".csv", "no client rows after the header"), (".parquet", "no client rows")]
)
def test_no_rows_in_any_file(tmp_path: Path, kind: str, empty: str) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for name in ("1", "2"):
        write_rows(ledger / f"{name}{kind}", [])
    with pytest.raises(InputError) as info:
        read_liabilities(ledger, ASSETS)
    assert str(info.value) == (
        f"{ledger}: 1 problem(s) in the liabilities files\n  - {ledger}: {empty}"
    )
    # One file with rows is enough: the empty ones add nothing.
    write_rows(ledger / f"3{kind}", [("a", "BTC", "1")])
    assert read_liabilities(ledger, ASSETS).balances == {"a": [10**8, None, None, None]}


def test_progress_counts_the_rows_of_every_file(tmp_path: Path) -> None:
    class Counter:
        def __init__(self) -> None:
            self.steps: list[tuple[str, int]] = []

        def begin(self, step: str, total: int | None = None) -> None:
            self.steps.append((step, 0))

        def advance(self, n: int = 1) -> None:
            label, done = self.steps[-1]
            self.steps[-1] = (label, done + n)

        def end(self) -> None:
            pass

    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for i, count in enumerate((3, 5, 4)):
        write_rows(ledger / f"{i}.parquet", [(f"a{j}", "BTC", "1") for j in range(count)])
    counter = Counter()
    read_liabilities(ledger, ASSETS, counter)
    assert counter.steps == [(ingest.READING, 12)]


# ---- publish from a directory ----


def test_publish_from_a_directory_signs_the_same_roots_as_the_one_file(tmp_path: Path) -> None:
    import shutil

    env = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode()}

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    rows = [
        ("alice", "BTC", "1.25"),
        ("bob", "ETH", "12.000000000000000001"),
        ("carol", "USDT", "250000"),
        ("alice", "USDT", "0.5"),
        ("dave", "BTC", "0.001"),
        ("bob", "BTC", "0"),
        ("alice", "BTC", "2"),
        ("erin", "ETH", "1"),
    ]
    whole = write_csv(tmp_path / "whole.csv", rows)
    ws = tmp_path / "ws"
    assert run("init", str(ws)).exit_code == 0
    for copy in ("ws-dir", "ws-config"):
        shutil.copytree(ws, tmp_path / copy)
    ledger = tmp_path / "ledger"  # alice and bob in several files
    ledger.mkdir()
    for name, piece in (
        ("part-0.csv", rows[:3]),
        ("part-1.csv", rows[3:5]),
        ("part-2.csv", rows[5:]),
    ):
        write_csv(ledger / name, piece)
    config = tmp_path / "ws-config" / "porsegregate.toml"
    text = config.read_text()
    assert 'liabilities = "data/liabilities.csv"' in text
    config.write_text(
        text.replace('liabilities = "data/liabilities.csv"', 'liabilities = "data/ledger"')
    )
    shutil.copytree(ledger, tmp_path / "ws-config" / "data" / "ledger")

    epoch = "2026-11"
    signed = []
    for workspace, source in (("ws", [str(whole)]), ("ws-dir", [str(ledger)]), ("ws-config", [])):
        liabilities = ["--liabilities", *source] if source else []
        result = run(
            "publish", "-w", str(tmp_path / workspace), "--epoch", epoch, *liabilities,
            "--snapshot-time", f"{epoch}-28T23:59:59Z", "--allow-shortfall", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["clients"] == 5
        attestation = json.loads((tmp_path / workspace / "site" / "attestation.json").read_text())
        signed.append(attestation["liabilities"])
    assert signed[0] == signed[1] == signed[2]
    assert [a["total"] for a in signed[0]["assets"]] == [
        "325100000", "13000000000000000001", "250000500000"
    ]  # fmt: skip

    # The data room of the directory's epoch holds the merged ledger as one CSV (the sums);
    # the auditor rebuilds the same trees from it.
    room = tmp_path / "room"
    env["PORSEGREGATE_DATAROOM_PASSPHRASE"] = "a passphrase for the auditor only"
    site = tmp_path / "ws-config" / "site"
    exported = run(
        "dataroom", "export", "-w", str(tmp_path / "ws-config"), "--epoch", epoch,
        "--out", str(room), "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert (room / "liabilities.csv").read_bytes() == ingest.to_csv(
        read_liabilities(whole, ASSETS[:3])
    )
    audited = run("audit", str(site), "--dataroom", str(room), "--all", "--json")
    statuses = {c["id"]: c["status"] for c in json.loads(audited.stdout)["checks"]}
    room_checks = {k: v for k, v in statuses.items() if k.startswith("dataroom-")}
    assert {room_checks[k] for k in ("dataroom-totals", "dataroom-roots", "dataroom-bundles")} == {
        "pass"
    }, room_checks

    # A bad file in the directory: exit 3, the directory's report naming the file and line.
    (ledger / "part-1.csv").write_text(HEADER + "\nalice,BTC,-1\n")
    result = run(
        "publish", "-w", str(tmp_path / "ws-dir"), "--epoch", "2026-12", "--liabilities",
        str(ledger), "--allow-shortfall",
    )  # fmt: skip
    assert result.exit_code == 3
    assert f"{ledger}: 1 problem(s) in the liabilities files" in result.output
    assert f"{ledger / 'part-1.csv'}:2: BTC: negative amount '-1'" in result.output
