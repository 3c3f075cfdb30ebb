"""The private client codes CSV: safe to open in a spreadsheet (no cell starts a formula),
and every account id the liabilities parser accepts reads back exactly."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate.cli import main
from porsegregate.errors import InputError
from porsegregate.protocol.hashing import account_id_problem
from porsegregate.publish.client_codes import (
    FORMULA_START,
    escape_cell,
    read_client_codes,
    write_client_codes,
)
from porsegregate.publish.config import load_config
from porsegregate.publish.pipeline import PublishOptions, publish
from porsegregate.publish.workspace import init_workspace
from porsegregate.verify.client import verify_site

from .conftest import PASSPHRASE

FORMULA_IDS = ["=1+2", "+SUM(A1)", "-3", "@x", "'quoted", "''twice", "=", "'", "plain"]

# Account ids the liabilities parser accepts (account_id_problem), many starting with a formula
# character or an apostrophe (a leading tab or carriage return is never accepted: whitespace).
account_ids = st.builds(
    lambda prefix, rest: (prefix + rest).strip(),
    st.sampled_from(["", "=", "+", "-", "@", "'", "''", "'=", "=+"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40),
).filter(lambda a: account_id_problem(a) is None)


def cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, strict=True))


def assert_spreadsheet_safe(path: Path) -> None:
    for row in cells(path):
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(account_ids, account_ids), unique_by=lambda r: r[0]))
def test_every_accepted_account_id_round_trips(rows: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.csv"
        write_client_codes(path, rows)
        assert read_client_codes(path) == dict(rows)
        assert_spreadsheet_safe(path)


def test_formula_cells_are_escaped_with_an_apostrophe(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    write_client_codes(path, [(a, "-CODE") for a in FORMULA_IDS])
    written = [row[0] for row in cells(path)[1:]]
    escaped = ["'=1+2", "'+SUM(A1)", "'-3", "'@x", "''quoted", "'''twice", "'=", "''", "plain"]
    assert written == escaped
    assert {row[1] for row in cells(path)[1:]} == {"'-CODE"}
    assert read_client_codes(path) == {a: "-CODE" for a in FORMULA_IDS}
    # A leading tab or carriage return (never in an accepted account id) is escaped too.
    assert [escape_cell(c) for c in ("\tx", "\rx", "x=1")] == ["'\tx", "'\rx", "x=1"]


def test_an_unescaped_file_still_reads_and_a_bad_one_names_its_line(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text("account_id,code\n=1+2,AAAA\nbob,BBBB\n")
    assert read_client_codes(old) == {"=1+2": "AAAA", "bob": "BBBB"}
    twice = tmp_path / "twice.csv"
    twice.write_text("account_id,code\nbob,AAAA\nbob,BBBB\n")
    with pytest.raises(InputError, match=r"twice.csv:3: account id 'bob' is listed twice"):
        read_client_codes(twice)
    short = tmp_path / "short.csv"
    short.write_text("account_id,code\nbob\n")
    with pytest.raises(InputError, match=r"short.csv:2: expected 2 fields"):
        read_client_codes(short)


def test_formula_account_ids_publish_and_verify(tmp_path: Path) -> None:
    """A published site whose clients' ids look like formulas: the codes file is safe to open
    in a spreadsheet, and each client verifies with their id as the ledger has it."""
    ids = ["=1+2", "+SUM(A1)", "-3", "@x", "'quoted"]
    init_workspace(tmp_path / "ws", PASSPHRASE, sample_data=False)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    config.liabilities.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i},BTC,{n}\n" for n, i in enumerate(ids, 1))
    config.liabilities.write_text("account_id,asset,amount\n" + rows, encoding="utf-8")
    options = PublishOptions("e1", snapshot_time="2026-01-01T00:00:00Z", allow_shortfall=True)
    result = publish(config, PASSPHRASE, options)
    assert_spreadsheet_safe(result.codes)
    assert {row[0] for row in cells(result.codes)[1:]} == {f"'{i}" for i in ids}
    codes = read_client_codes(result.codes)
    assert set(codes) == set(ids)
    for n, account in enumerate(ids, 1):
        report = verify_site(str(result.site), account, codes[account])
        assert report.verified, (account, report.failed)
        assert [(b.asset, b.amount) for b in report.balances] == [("BTC", n * 10**8)]
    # The command line too, the id as typed and the code from the environment.
    verified = CliRunner().invoke(
        main,
        ["verify", "--site", str(result.site), "--account", "=1+2"],
        env={"PORSEGREGATE_CODE": codes["=1+2"]},
        catch_exceptions=False,
    )
    assert verified.exit_code == 0 and "VERIFIED" in verified.output, verified.output
