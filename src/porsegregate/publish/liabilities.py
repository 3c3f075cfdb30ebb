"""Reading the custodian's ledger export: `account_id,asset,amount` as CSV or Parquet.

The result is columnar (`Liabilities`): the account ids once each, in order of
first appearance, and per asset the rows of the accounts that hold it with
their amounts as 16-byte big-endian integers, so a million clients take tens of
megabytes rather than a Python object per balance.

CSV has two readers that must agree exactly. The fast one (pyarrow, vectorised)
accepts only what it is sure of; on anything else (a problem in the file, a
quote, a lone CR, bad UTF-8, ...) it gives up and the reference reader, which
streams the file row by row, reads it again: that one is the only place that
words CSV errors, so messages, line numbers and the problem limit are the same
whichever reader runs. Parquet is read in record batches; a batch the
vectorised checks do not accept is checked row by row with the same rules and
messages, the rows numbered from 1 (a Parquet file has no header line).

Every problem is collected (up to a limit) with its file and line, so a
custodian fixes an export in one pass instead of one error at a time.

A ledger may also be a directory of files (a partitioned export): its `.csv`
files or its `.parquet` files, read one by one in the byte order of their
names with the per-file reader (`read_liabilities_file`), then merged
(`merge_liabilities`): accounts in order of first appearance across the files
in that order, an account's rows in several files summed. Every file is read
even when one fails, then `raise_file_problems` reports them all at once;
`check_totals` and `check_not_empty` judge the merged ledger. A distributed
engine calls the same functions (the per-file reader on its workers, the rest
on its driver), so its errors read exactly like these.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import InputError
from ..progress import NO_PROGRESS, Progress, step
from ..protocol.amounts import AMOUNT_BYTES, MAX_AMOUNT, format_decimal, parse_decimal
from ..protocol.hashing import MAX_ACCOUNT_ID_BYTES, account_id_problem
from ..protocol.models import Asset

HEADER = ["account_id", "asset", "amount"]
MAX_PROBLEMS = 20
MAX_FIELD = 1024
MAX_AMOUNT_TEXT = 80  # parse_decimal's limit
BLOCK_BYTES = 1 << 22  # CSV bytes per pyarrow block
BATCH_ROWS = 1 << 17  # Parquet rows per record batch

Holders = npt.NDArray[np.int64]
Amounts = npt.NDArray[np.uint8]
Rows = Callable[[int], None]  # n more rows read
READING = "reading liabilities (rows)"  # the progress step
KINDS = (".csv", ".parquet")  # the files a liabilities directory holds (one kind only)
SHOWN_NAMES = 5  # stray entries of a directory named in its error
EMPTY = {".csv": "no client rows after the header", ".parquet": "no client rows"}


@dataclass(eq=False)
class Liabilities:
    """The ledger, columnar: every account once, and per asset who holds how much.

    `holders[a]` are indices into `accounts`, strictly ascending; `amounts[a]` is
    aligned with it, shape (len(holders[a]), 16) uint8, each row an amount in the
    asset's smallest unit as a 16-byte big-endian integer. An account with no
    row for an asset is absent from that asset's holders (not a zero).
    """

    assets: tuple[Asset, ...]
    accounts: list[str]
    holders: tuple[Holders, ...]
    amounts: tuple[Amounts, ...]

    @classmethod
    def from_balances(
        cls, assets: tuple[Asset, ...], balances: Mapping[str, Sequence[int | None]]
    ) -> Liabilities:
        """From {account: [amount or None per asset]} (small inputs and tests)."""
        accounts = list(balances)
        holders: list[Holders] = []
        amounts: list[Amounts] = []
        for i in range(len(assets)):
            rows = [(r, a) for r, v in enumerate(balances.values()) if (a := v[i]) is not None]
            holders.append(np.array([r for r, _ in rows], dtype=np.int64))
            raw = b"".join(a.to_bytes(AMOUNT_BYTES, "big") for _, a in rows)
            amounts.append(np.frombuffer(raw, np.uint8).reshape(-1, AMOUNT_BYTES).copy())
        return cls(assets, accounts, tuple(holders), tuple(amounts))

    def totals(self) -> list[int]:
        """Per asset, the sum of every amount (exact)."""
        return [_sum_be(a) for a in self.amounts]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(self.accounts)}

    def index_of(self, account: str) -> int | None:
        """The account's row in `accounts`, or None when the ledger does not have it."""
        return self._index.get(account)

    @cached_property
    def _positions(self) -> list[npt.NDArray[np.int64]]:
        """Per asset, each account's position in holders/amounts, or -1."""
        out = []
        for holders in self.holders:
            where = np.full(len(self.accounts), -1, np.int64)
            where[holders] = np.arange(len(holders))
            out.append(where)
        return out

    def amount(self, row: int, asset: int) -> int | None:
        """What account `row` holds in asset `asset`; None when it has no row for it."""
        k = int(self._positions[asset][row])
        if k < 0:
            return None
        return int.from_bytes(self.amounts[asset][k].tobytes(), "big")

    @cached_property
    def balances(self) -> dict[str, list[int | None]]:
        """{account: [amount or None per asset]}: slow and large, for small inputs only."""
        rows: list[list[int | None]] = [[None] * len(self.assets) for _ in self.accounts]
        for i, (holders, amounts) in enumerate(zip(self.holders, self.amounts, strict=True)):
            for r, v in zip(holders.tolist(), _be_ints(amounts), strict=True):
                rows[r][i] = v
        return dict(zip(self.accounts, rows, strict=True))


def to_csv(liabilities: Liabilities) -> bytes:
    """The ledger as CSV: one row per account and asset it holds, accounts in order, amounts
    summed (what read_liabilities reads back to the same Liabilities)."""
    cells: list[tuple[int, int, str]] = []
    for i, asset in enumerate(liabilities.assets):
        holders, amounts = liabilities.holders[i], liabilities.amounts[i]
        cells += (
            (r, i, format_decimal(v, asset.decimals))
            for r, v in zip(holders.tolist(), _be_ints(amounts), strict=True)
        )
    cells.sort()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # quotes an id with a comma or a quote
    writer.writerow(HEADER)
    accounts, codes = liabilities.accounts, [a.code for a in liabilities.assets]
    writer.writerows((accounts[r], codes[i], text) for r, i, text in cells)
    return out.getvalue().encode()


def _sum_be(amounts: Amounts) -> int:
    if not len(amounts):
        return 0
    limbs = np.ascontiguousarray(amounts).view(">u4")  # (m, 4), most significant first
    sums = limbs.sum(axis=0, dtype=np.uint64)  # exact below 2^32 rows
    return sum(int(s) << (32 * (3 - j)) for j, s in enumerate(sums.tolist()))


def _be_ints(amounts: Amounts) -> list[int]:
    if not len(amounts):
        return []
    pairs = np.ascontiguousarray(amounts).view(">u8")  # (m, 2): high, low
    return [(h << 64) | lo for h, lo in pairs.tolist()]


def read_liabilities(
    path: Path, assets: tuple[Asset, ...], progress: Progress | None = None
) -> Liabilities:
    """The ledger export at `path`: a file (Parquet when its name ends in .parquet, else
    CSV), or a directory of such files (`liabilities_files`), each read as one file, merged.

    InputError lists every problem (up to MAX_PROBLEMS) with file and line (CSV)
    or row (Parquet); for a directory, every file's, in file order. `progress`
    counts the rows read (across the files).
    """
    files = liabilities_files(path)
    with step(progress or NO_PROGRESS, READING, None) as reading:
        rows = reading.advance
        if not path.is_dir():
            return read_liabilities_file(path, assets, rows)
        parts: list[Liabilities] = []
        failures: list[InputError] = []
        for file in files:
            try:
                parts.append(read_liabilities_file(file, assets, rows, part=True))
            except InputError as exc:  # read the others: every file's problems at once
                failures.append(exc)
        raise_file_problems(path, failures)
        check_not_empty(path, sum(len(p.accounts) for p in parts))
        check_totals(path, assets, [sum(t) for t in zip(*(p.totals() for p in parts), strict=True)])
        return merge_liabilities(parts)


def read_liabilities_file(
    path: Path, assets: tuple[Asset, ...], rows: Rows | None = None, *, part: bool = False
) -> Liabilities:
    """One ledger file: Parquet when its name ends in .parquet (any case), else CSV.

    `rows(n)` is told of every n rows read. `part`: the file is one of a
    directory's, where a file with no client rows is no problem on its own
    (`check_not_empty` judges the directory); everything else is checked as
    for a file alone, its total too.
    """
    if _is_parquet(path):
        return _read_parquet(path, assets, rows, part)
    fast = _read_csv_fast(path, assets, rows)
    if fast is not None:
        return fast
    return _read_csv_reference(path, assets, rows, part)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() == ".parquet"


# ---- a directory of files ----


def liabilities_files(path: Path) -> list[Path]:
    """The files a ledger `path` names: [path] for a file; for a directory, its .csv files
    or its .parquet files (suffix in any case), sorted by the bytes of their names.

    Hidden entries (names starting with a dot) are ignored. InputError for a path that
    does not exist, and for a directory holding anything else (a subdirectory, another
    file), both kinds, or neither.
    """
    try:
        if not path.is_dir():
            if not path.exists():
                raise InputError(f"{path}: no such file or directory")
            return [path]
        entries = sorted(path.iterdir(), key=lambda e: os.fsencode(e.name))
        found: dict[str, list[Path]] = {k: [] for k in KINDS}
        stray: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            kind = entry.suffix.lower()
            if kind in found and entry.is_file():
                found[kind].append(entry)
            else:
                stray.append(entry.name + ("/" if entry.is_dir() else ""))
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    if stray:
        shown = ", ".join(stray[:SHOWN_NAMES])
        more = f" and {len(stray) - SHOWN_NAMES} more" if len(stray) > SHOWN_NAMES else ""
        raise InputError(
            f"{path}: a liabilities directory may hold only .csv files or only .parquet "
            f"files (and hidden files); it also holds {shown}{more}"
        )
    csvs, parquets = found[".csv"], found[".parquet"]
    if csvs and parquets:
        raise InputError(
            f"{path}: a liabilities directory holds .csv files or .parquet files, not both "
            f"(it holds {len(csvs)} .csv and {len(parquets)} .parquet)"
        )
    if not csvs and not parquets:
        raise InputError(f"{path}: no .csv or .parquet file in the liabilities directory")
    return csvs or parquets


def merge_liabilities(parts: Sequence[Liabilities]) -> Liabilities:
    """The ledgers of a directory's files, in file order, as one: accounts in order of first
    appearance across the parts, an account's amounts in several parts summed.

    Check the summed totals first (`check_totals`): a sum beyond 128 bits is not
    caught here. Columnar throughout: no Python work per row.
    """
    if not parts:
        raise ValueError("merge_liabilities needs at least one part")
    assets = parts[0].assets
    if any(p.assets != assets for p in parts):
        raise ValueError("merge_liabilities: the parts have different assets")
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p.accounts) for p in parts]).tolist()
    names = pa.chunked_array(
        [pa.array(p.accounts, pa.large_string()) for p in parts], pa.large_string()
    ).combine_chunks()
    encoded = pc.dictionary_encode(names)  # the dictionary in order of first appearance
    del names
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    holders: list[Holders] = []
    amounts: list[Amounts] = []
    for a in range(len(assets)):
        h = np.concatenate(
            [index[offsets[p] + part.holders[a]] for p, part in enumerate(parts)]
        ).astype(np.int64)
        le = np.concatenate([part.amounts[a] for part in parts])[:, ::-1]
        h, v = _merge(h, le)
        holders.append(h)
        amounts.append(v)
    accounts: list[str] = encoded.dictionary.to_pylist()
    return Liabilities(assets, accounts, tuple(holders), tuple(amounts))


_MORE = re.compile(r"\.\.\. and ([0-9]+) more problems")


def _more(count: int) -> str:
    return f"... and {count} more problems"


def _header(path: Path, count: int) -> str:
    what = "files" if path.is_dir() else "file"
    return f"{path}: {count} problem(s) in the liabilities {what}"


def _problem_lines(error: InputError) -> tuple[list[str], int]:
    """One file's problem lines (each naming its file) and how many problems it had."""
    if not error.problems:
        return [str(error)], 1
    lines = list(error.problems)
    hidden = _MORE.fullmatch(lines[-1])
    if hidden is None:
        return lines, len(lines)
    return lines[:-1], len(lines) - 1 + int(hidden[1])


def raise_file_problems(path: Path, failures: Sequence[InputError]) -> None:
    """Nothing when no file failed; else one InputError for the directory `path` listing
    every file's problems in file order (each already naming its file and line or row),
    at most MAX_PROBLEMS lines then "... and K more problems".

    A file `path` (not a directory) with its one failure raises that failure as it is.
    """
    if not failures:
        return
    if len(failures) == 1 and not path.is_dir():
        raise failures[0]
    lines: list[str] = []
    count = 0
    for failure in failures:
        mine, n = _problem_lines(failure)
        lines += mine
        count += n
    shown = lines[:MAX_PROBLEMS]
    hidden = count - len(shown)
    raise InputError(_header(path, count), shown + ([_more(hidden)] if hidden else []))


def _overflows(path: Path, assets: Sequence[Asset], totals: Sequence[int]) -> list[str]:
    return [
        f"{path}: total liabilities in {asset.code} "
        f"({format_decimal(total, asset.decimals)}) do not fit in 128 bits"
        for asset, total in zip(assets, totals, strict=True)
        if total > MAX_AMOUNT
    ]


def check_totals(path: Path, assets: Sequence[Asset], totals: Sequence[int]) -> None:
    """InputError when an asset's total (of every file of `path`) does not fit in 128 bits,
    worded as for one file."""
    problems = _overflows(path, assets, totals)
    if problems:
        raise InputError(_header(path, len(problems)), problems)


def check_not_empty(path: Path, rows: int) -> None:
    """InputError when `path` (every file of a directory together) has no client row,
    worded as for one file of its kind."""
    if rows:
        return
    first = liabilities_files(path)[0]
    empty = EMPTY[".parquet" if _is_parquet(first) else ".csv"]
    raise InputError(_header(path, 1), [f"{path}: {empty}"])


# ---- the reference CSV reader: row by row, the one place CSV errors are worded ----


def _lines(path: Path) -> Iterator[str]:
    """Text lines, with a decoding error reported at its line rather than as a crash."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason})") from exc
            yield line.removeprefix("\ufeff") if number == 1 else line


def _check_row(
    account: str, code: str, text: str, by_code: Mapping[str, tuple[int, int]], known: bool
) -> tuple[int, int] | str:
    """(asset index, amount) of a row, or what is wrong with it."""
    if not known:
        why = account_id_problem(account)
        if why:
            return why
    found = by_code.get(code)
    if found is None:
        listed = ", ".join(by_code) or "none"
        return f"unknown asset {code[:40]!r} (the config lists {listed})"
    index, decimals = found
    try:
        return index, parse_decimal(text, decimals)
    except ValueError as exc:
        return f"{code}: {exc}"


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self.more = 0

    def add(self, where: str, message: str) -> None:
        if len(self.messages) < MAX_PROBLEMS:
            self.messages.append(f"{self.path}:{where}: {message}")
        else:
            self.more += 1

    def finish(self, totals: Sequence[int], assets: tuple[Asset, ...], empty: str | None) -> None:
        """Raise InputError for the problems so far, an overflowing total or no rows."""
        problems = self.messages or _overflows(self.path, assets, totals)
        if not problems and empty:
            problems = [f"{self.path}: {empty}"]
        if problems:
            count = len(problems) + self.more
            more = [_more(self.more)] if self.more else []
            raise InputError(_header(self.path, count), problems + more)


def _read_csv_reference(
    path: Path, assets: tuple[Asset, ...], progress: Rows | None = None, part: bool = False
) -> Liabilities:
    by_code = {a.code: (i, a.decimals) for i, a in enumerate(assets)}
    balances: dict[str, list[int | None]] = {}
    problems = _Problems(path)

    try:
        reader = csv.reader(_lines(path), strict=True)
        previous_limit = csv.field_size_limit(MAX_FIELD)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(
                    f"{path}: the file is empty; expected header account_id,asset,amount"
                )
            if [h.strip() for h in header] != HEADER:
                missing = [h for h in HEADER if h not in [x.strip() for x in header]]
                what = f"missing column {', '.join(missing)}" if missing else "wrong column order"
                raise InputError(
                    f"{path}:1: header must be account_id,asset,amount "
                    f"({what}; got {','.join(header)!r})"
                )
            width = len(assets)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    problems.add(str(reader.line_num), f"malformed CSV line ({exc})")
                    continue
                line = reader.line_num
                if progress is not None and line % 65536 == 0:
                    progress(65536)
                if len(row) != 3:
                    if row:
                        problems.add(
                            str(line), f"expected 3 fields account_id,asset,amount; got {len(row)}"
                        )
                    else:
                        problems.add(str(line), "empty line")
                    continue
                account, code, text = row
                amounts = balances.get(account)
                checked = _check_row(account, code, text, by_code, amounts is not None)
                if isinstance(checked, str):
                    problems.add(str(line), checked)
                    continue
                index, amount = checked
                if amounts is None:
                    amounts = balances[account] = [None] * width
                old = amounts[index]
                amounts[index] = amount if old is None else old + amount
        finally:
            csv.field_size_limit(previous_limit)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected a CSV file") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc

    totals = [0] * len(assets)
    for values in balances.values():
        for i, v in enumerate(values):
            if v is not None:
                totals[i] += v
    problems.finish(totals, assets, None if balances or part else EMPTY[".csv"])
    return Liabilities.from_balances(assets, balances)


# ---- vectorised pieces shared by the fast CSV path and Parquet ----


def _accounts_ok(accounts: Any) -> bool:
    """Whether account_id_problem finds nothing wrong with any of these (a pyarrow string array)."""
    plain = pc.match_substring_regex(accounts, r"^[\x20-\x7e]+$")
    bad = pc.and_(
        plain,
        pc.or_(
            pc.greater(pc.binary_length(accounts), MAX_ACCOUNT_ID_BYTES),
            pc.or_(pc.starts_with(accounts, " "), pc.ends_with(accounts, " ")),
        ),
    )
    if pc.any(bad).as_py():
        return False
    others = accounts.filter(pc.invert(plain)).to_pylist()  # empty, non-ASCII, control...
    return not any(account_id_problem(a) for a in others)


def _units_le(text: Any, decimals: int) -> Amounts | None:
    """Decimal strings (all of one asset) as 16-byte little-endian units; None if any is wrong."""
    if not len(text):
        return np.zeros((0, AMOUNT_BYTES), np.uint8)
    if pc.max(pc.binary_length(text)).as_py() > MAX_AMOUNT_TEXT:
        return None
    pattern = rf"^[0-9]+(\.[0-9]{{1,{decimals}}})?$" if decimals else r"^[0-9]+$"
    if not pc.all(pc.match_substring_regex(text, pattern)).as_py():
        return None
    return _decimal_le(text.cast(pa.decimal256(76, decimals)))


def _decimal_le(values: Any) -> Amounts | None:
    """A decimal256 array's unscaled values as 16-byte little-endian; None if any is
    negative or does not fit in 16 bytes."""
    raw = np.frombuffer(values.buffers()[1], np.uint8).reshape(-1, 32)
    raw = raw[values.offset : values.offset + len(values)]
    if raw[:, AMOUNT_BYTES:].any():
        return None
    return raw[:, :AMOUNT_BYTES]


def _sum_le(amounts: Amounts) -> int:
    if not len(amounts):
        return 0
    sums = np.ascontiguousarray(amounts).view("<u4").sum(axis=0, dtype=np.uint64)
    return sum(int(s) << (32 * j) for j, s in enumerate(sums.tolist()))


def _merge(holders: Holders, amounts: Amounts) -> tuple[Holders, Amounts]:
    """Rows sorted by holder, an account's rows summed (the total fits, so every sum does)."""
    if len(holders) > 1 and not bool(np.all(holders[1:] > holders[:-1])):
        order = np.argsort(holders, kind="stable")
        holders, amounts = holders[order], amounts[order]
        starts = np.flatnonzero(np.concatenate(([True], holders[1:] != holders[:-1])))
        if len(starts) < len(holders):
            limbs = np.ascontiguousarray(amounts).view("<u4").astype(np.uint64)
            sums = np.add.reduceat(limbs, starts, axis=0)
            carry = np.zeros(len(starts), np.uint64)
            for j in range(4):
                v = sums[:, j] + carry
                sums[:, j] = v & np.uint64(0xFFFFFFFF)
                carry = v >> np.uint64(32)
            amounts = sums.astype("<u4").view(np.uint8).reshape(-1, AMOUNT_BYTES)
            holders = holders[starts]
    return holders, np.ascontiguousarray(amounts[:, ::-1])


class _Rows:
    """Valid rows gathered batch by batch: the account ids, and per asset the rows' numbers
    and little-endian amounts (split at once, so nothing is concatenated whole)."""

    def __init__(self, assets: tuple[Asset, ...]) -> None:
        self.assets = assets
        self.accounts: list[Any] = []
        self.count = 0
        self.rows: list[list[npt.NDArray[Any]]] = [[] for _ in assets]
        self.amounts: list[list[Amounts]] = [[] for _ in assets]
        self.totals = [0] * len(assets)  # exact, so an overflow is seen before merging

    def add(self, accounts: Any, asset: npt.NDArray[np.int32], amount: Amounts) -> None:
        if not len(accounts):
            return
        self.accounts.append(accounts)
        for a in range(len(self.assets)):
            rows = np.flatnonzero(asset == a)
            if len(rows):
                mine = amount[rows]
                numbers = rows + self.count
                small = self.count + len(accounts) <= 1 << 32
                self.rows[a].append(numbers.astype(np.uint32) if small else numbers)
                self.amounts[a].append(mine)
                self.totals[a] += _sum_le(mine)
        self.count += len(accounts)

    def build(self) -> Liabilities:
        """The columnar result (call only when every total fits in 16 bytes)."""
        if not self.accounts:
            empty = tuple(np.zeros(0, np.int64) for _ in self.assets)
            blank = tuple(np.zeros((0, AMOUNT_BYTES), np.uint8) for _ in self.assets)
            return Liabilities(self.assets, [], empty, blank)
        combined = pa.chunked_array(self.accounts, pa.string()).combine_chunks()
        self.accounts = []
        # An account's rows are usually adjacent: encode only the first row of each run (an
        # account's first appearance is always one), then repeat its index along the run.
        n = len(combined)
        change = pc.not_equal(combined.slice(1), combined.slice(0, n - 1))
        heads = np.flatnonzero(np.concatenate(([True], change.to_numpy(zero_copy_only=False))))
        encoded = pc.dictionary_encode(combined.take(pa.array(heads)))
        del combined, change
        runs = np.diff(np.append(heads, n))
        index = np.repeat(encoded.indices.to_numpy(zero_copy_only=False), runs)
        unique = encoded.dictionary  # in order of first appearance
        del encoded, heads, runs
        pool = pa.default_memory_pool()
        pool.release_unused()  # the reader's and the encoder's buffers, before the merges
        holders: list[Holders] = []
        amounts: list[Amounts] = []
        for a in range(len(self.assets)):
            rows = self.rows[a]
            h = index[np.concatenate(rows)].astype(np.int64) if rows else np.zeros(0, np.int64)
            self.rows[a] = []
            parts = self.amounts[a]
            v = np.concatenate(parts) if parts else np.zeros((0, AMOUNT_BYTES), np.uint8)
            self.amounts[a] = []
            h, v = _merge(h, v)
            holders.append(h)
            amounts.append(v)
        del index
        accounts: list[str] = unique.to_pylist()
        del unique
        pool.release_unused()
        return Liabilities(self.assets, accounts, tuple(holders), tuple(amounts))


def _batch_fast(
    accounts: Any, codes: Any, amounts: Any, assets: tuple[Asset, ...], check_accounts: bool
) -> tuple[npt.NDArray[np.int32], Amounts] | None:
    """Vectorised checks and conversion of one batch; None when anything is or may be wrong."""
    if accounts.null_count or codes.null_count or amounts.null_count:
        return None
    if check_accounts and not _accounts_ok(accounts):
        return None
    found = pc.index_in(codes, value_set=pa.array([a.code for a in assets], pa.string()))
    if found.null_count:
        return None
    asset = found.to_numpy(zero_copy_only=False).astype(np.int32)
    out = np.zeros((len(asset), AMOUNT_BYTES), np.uint8)
    for a, spec in enumerate(assets):
        rows = np.flatnonzero(asset == a)
        if not len(rows):
            continue
        values = amounts.take(pa.array(rows))
        if pa.types.is_decimal(values.type):
            if values.type.scale > spec.decimals:
                return None
            le = _decimal_le(values.cast(pa.decimal256(76, spec.decimals)))
        else:
            le = _units_le(values, spec.decimals)
        if le is None:
            return None
        out[rows] = le
    return asset, out


# ---- CSV, fast ----


def _read_csv_fast(
    path: Path, assets: tuple[Asset, ...], progress: Rows | None
) -> Liabilities | None:
    """The ledger read with pyarrow, or None: then the reference reader reads (and words)."""
    try:
        return _csv_fast(path, assets, progress)
    except Exception:  # anything at all: the reference reader is the authority
        return None


def _csv_bytes_plain(path: Path) -> bool:
    """Whether the whole file is UTF-8 with no quote and no CR outside CRLF, and its header
    line is the expected one: what the fast reader parses exactly as csv.reader does."""
    with path.open("rb") as f:
        first = f.readline(4 * MAX_FIELD)
        if not first.endswith(b"\n"):
            return False
        head = first.removeprefix(b"\xef\xbb\xbf").removesuffix(b"\n").removesuffix(b"\r")
        if not head.isascii() or b'"' in head:
            return False
        if [h.strip() for h in head.decode("ascii").split(",")] != HEADER:
            return False
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = False
        cr_open = False
        while chunk := f.read(BLOCK_BYTES):
            if b'"' in chunk or (cr_open and not chunk.startswith(b"\n")):
                return False
            cr_open = chunk.endswith(b"\r")
            if b"\r" in chunk and chunk.count(b"\r") - chunk.count(b"\r\n") - cr_open:
                return False
            if text or not chunk.isascii():
                text = True
                decoder.decode(chunk)  # UnicodeDecodeError: the reference reader says where
        decoder.decode(b"", final=True)
        return not cr_open


def _csv_fast(path: Path, assets: tuple[Asset, ...], progress: Rows | None) -> Liabilities | None:
    if not _csv_bytes_plain(path):
        return None
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(
            skip_rows=1, column_names=HEADER, block_size=BLOCK_BYTES, use_threads=True
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=",", quote_char=False, escape_char=False, ignore_empty_lines=False
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={h: pa.string() for h in HEADER},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )
    rows = _Rows(assets)
    for batch in reader:
        accounts, codes, amounts = batch.columns
        converted = _batch_fast(accounts, codes, amounts, assets, check_accounts=False)
        if converted is None:
            return None
        rows.add(accounts, *converted)
        if progress is not None:
            progress(batch.num_rows)
    if any(t > MAX_AMOUNT for t in rows.totals):
        return None
    result = rows.build()
    if not result.accounts:
        return None
    unique = pa.array(result.accounts, pa.string())
    return result if _accounts_ok(unique) else None


# ---- Parquet ----


def _amount_text(value: Any) -> str:
    """A Parquet amount as the decimal text parse_decimal judges (a decimal keeps its scale)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _parquet_schema(path: Path, schema: Any) -> None:
    names = list(schema.names)
    missing = [h for h in HEADER if h not in names]
    extra = [n for n in names if n not in HEADER]
    if missing or extra or len(set(names)) != len(names):
        what = [f"missing column {', '.join(missing)}"] if missing else []
        what += [f"unexpected column {', '.join(extra)}"] if extra else []
        what += [] if what else ["a column appears twice"]
        raise InputError(
            f"{path}: the columns must be account_id, asset, amount ({'; '.join(what)}; "
            f"got {', '.join(names)})"
        )
    for name in ("account_id", "asset"):
        t = schema.field(name).type
        if not _is_text(t):
            raise InputError(f"{path}: column {name} has type {t}; expected text (string)")
    t = schema.field("amount").type
    if pa.types.is_floating(t):
        raise InputError(
            f"{path}: column amount has type {t}, a floating-point type: money is never a "
            "float; write amounts as decimal text, a decimal type or an integer type (whole units)"
        )
    if not (_is_text(t) or pa.types.is_decimal(t) or pa.types.is_integer(t)):
        raise InputError(
            f"{path}: column amount has type {t}; expected decimal text, a decimal type "
            "or an integer type (whole units)"
        )


def _is_text(t: Any) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _as_string(column: Any) -> Any:
    return column if column.type == pa.string() else column.cast(pa.string())


def _read_parquet(
    path: Path, assets: tuple[Asset, ...], progress: Rows | None, part: bool = False
) -> Liabilities:
    try:
        source = pq.ParquetFile(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected a Parquet file") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    _parquet_schema(path, source.schema_arrow)

    try:
        # First pass: vectorised, account ids checked once each at the end. On anything it
        # does not accept, a second pass checks every row and names the bad ones.
        fast = _parquet_pass(path, source, assets, progress, None, part)
        if fast is not None and _accounts_ok(pa.array(fast.accounts, pa.string())):
            return fast
        problems = _Problems(path)
        result = _parquet_pass(path, source, assets, None, problems, part)
        assert result is not None
        return result
    except pa.ArrowException as exc:
        raise InputError(f"{path}: cannot read the Parquet data ({exc})") from exc


def _parquet_pass(
    path: Path,
    source: Any,
    assets: tuple[Asset, ...],
    progress: Rows | None,
    problems: _Problems | None,
    part: bool = False,
) -> Liabilities | None:
    """One pass over the file. Without `problems`: vectorised only, None at the first batch
    (or total) it does not accept. With: every row checked, InputError naming the rows.
    `part`: a file of a directory, where no rows is no problem."""
    by_code = {a.code: (i, a.decimals) for i, a in enumerate(assets)}
    rows = _Rows(assets)
    done = 0
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=HEADER):
        accounts = _as_string(batch.column("account_id"))
        codes = _as_string(batch.column("asset"))
        amounts = batch.column("amount")
        if pa.types.is_dictionary(amounts.type) or pa.types.is_large_string(amounts.type):
            amounts = _as_string(amounts)
        elif pa.types.is_integer(amounts.type):
            amounts = amounts.cast(pa.string())
        converted = None
        if problems is None or not problems.messages:
            try:
                converted = _batch_fast(
                    accounts, codes, amounts, assets, check_accounts=problems is not None
                )
            except pa.ArrowException:  # e.g. a value beyond decimal256: row by row says
                converted = None
        if converted is not None:
            rows.add(accounts, *converted)
        elif problems is None:
            return None
        else:
            _parquet_rows(accounts, codes, amounts, done, by_code, problems, rows)
        done += batch.num_rows
        if progress is not None:
            progress(batch.num_rows)
    if problems is None:
        if not (rows.accounts or part) or any(t > MAX_AMOUNT for t in rows.totals):
            return None
    else:
        problems.finish(rows.totals, assets, None if rows.accounts or part else EMPTY[".parquet"])
    return rows.build()


def _parquet_rows(
    accounts: Any,
    codes: Any,
    amounts: Any,
    done: int,
    by_code: Mapping[str, tuple[int, int]],
    problems: _Problems,
    rows: _Rows,
) -> None:
    """One batch checked row by row: every problem named by its row, the good rows kept."""
    keep: list[int] = []
    asset: list[int] = []
    value: list[int] = []
    columns = zip(accounts.to_pylist(), codes.to_pylist(), amounts.to_pylist(), strict=True)
    for i, (account, code, amount) in enumerate(columns):
        where = f"row {done + i + 1}"
        nulls = [h for h, v in zip(HEADER, (account, code, amount), strict=True) if v is None]
        if nulls:
            problems.add(where, f"no value (null) in column {', '.join(nulls)}")
            continue
        checked = _check_row(account, code, _amount_text(amount), by_code, False)
        if isinstance(checked, str):
            problems.add(where, checked)
            continue
        keep.append(i)
        asset.append(checked[0])
        value.append(checked[1])
    if problems.messages:
        return  # nothing will be built: keep only counting problems
    raw = b"".join(v.to_bytes(AMOUNT_BYTES, "little") for v in value)
    rows.add(
        accounts.take(pa.array(keep, pa.int64())),
        np.array(asset, np.int32),
        np.frombuffer(raw, np.uint8).reshape(-1, AMOUNT_BYTES),
    )
