"""Reading the custodian's ledger export: CSV `account_id,asset,amount`.

The file is streamed; only one running total per account and asset is kept.
Every problem is collected (up to a limit) with its file and line, so a
custodian fixes an export in one pass instead of one error at a time.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..progress import NO_PROGRESS, Progress
from ..protocol.amounts import MAX_AMOUNT, format_decimal, parse_decimal
from ..protocol.hashing import account_id_problem
from ..protocol.models import Asset

HEADER = ["account_id", "asset", "amount"]
MAX_PROBLEMS = 20
MAX_FIELD = 1024
READING = "reading liabilities (bytes)"  # the progress step: total = the file's size
PROGRESS_BYTES = 1 << 20


@dataclass
class Liabilities:
    """Per account, one amount (or None when the account has no row) per asset."""

    assets: tuple[Asset, ...]
    balances: dict[str, list[int | None]]

    def totals(self) -> list[int]:
        totals = [0] * len(self.assets)
        for amounts in self.balances.values():
            for i, amount in enumerate(amounts):
                if amount is not None:
                    totals[i] += amount
        return totals


def _lines(path: Path, progress: Progress) -> Iterator[str]:
    """Text lines, with a decoding error reported at its line rather than as a crash."""
    with path.open("rb") as f:
        progress.begin(READING, os.fstat(f.fileno()).st_size)
        read = 0
        for number, raw in enumerate(f, 1):
            read += len(raw)
            if read >= PROGRESS_BYTES:
                progress.advance(read)
                read = 0
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason})") from exc
            yield line.removeprefix("\ufeff") if number == 1 else line
        progress.advance(read)
        progress.end()


def read_liabilities(
    path: Path, assets: tuple[Asset, ...], progress: Progress | None = None
) -> Liabilities:
    """The file's rows added up per account and asset; `progress` counts the file's bytes."""
    by_code = {a.code: (i, a.decimals) for i, a in enumerate(assets)}
    balances: dict[str, list[int | None]] = {}
    problems: list[str] = []
    more = 0

    def problem(line: int, message: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(f"{path}:{line}: {message}")
        else:
            more += 1

    try:
        reader = csv.reader(_lines(path, progress or NO_PROGRESS), strict=True)
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
                    problem(reader.line_num, f"malformed CSV line ({exc})")
                    continue
                line = reader.line_num
                if len(row) != 3:
                    if row:
                        problem(line, f"expected 3 fields account_id,asset,amount; got {len(row)}")
                    else:
                        problem(line, "empty line")
                    continue
                account, code, text = row
                amounts = balances.get(account)
                if amounts is None:
                    why = account_id_problem(account)
                    if why:
                        problem(line, why)
                        continue
                found = by_code.get(code)
                if found is None:
                    known = ", ".join(by_code) or "none"
                    problem(line, f"unknown asset {code[:40]!r} (the config lists {known})")
                    continue
                index, decimals = found
                try:
                    amount = parse_decimal(text, decimals)
                except ValueError as exc:
                    problem(line, f"{code}: {exc}")
                    continue
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

    result = Liabilities(assets, balances)
    if not problems:
        for asset, total in zip(assets, result.totals(), strict=True):
            if total > MAX_AMOUNT:
                problems.append(
                    f"{path}: total liabilities in {asset.code} "
                    f"({format_decimal(total, asset.decimals)}) do not fit in 128 bits"
                )
    if not problems and not balances:
        problems.append(f"{path}: no client rows after the header")
    if problems:
        if more:
            problems.append(f"... and {more} more problems")
        count = len(problems) - (1 if more else 0) + more
        raise InputError(f"{path}: {count} problem(s) in the liabilities file", problems)
    return result
