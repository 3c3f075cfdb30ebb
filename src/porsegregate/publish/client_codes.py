"""The private client codes file, `account_id,code`: written by publish, read by the demo,
the data room and a custodian's own delivery tools. Never published."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from .._fs import atomic_write
from ..errors import InputError

HEADER = ["account_id", "code"]


def write_client_codes(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """Written atomically, readable by the custodian alone (0600)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    atomic_write(path, text.getvalue().encode(), mode=0o600)


def read_client_codes(path: Path) -> dict[str, str]:
    """{account id: code}; InputError naming the file and line of anything malformed."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, strict=True))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a client codes CSV ({exc})") from exc
    if not rows or [h.strip() for h in rows[0]] != HEADER:
        raise InputError(f"{path}:1: header must be account_id,code")
    codes: dict[str, str] = {}
    for number, row in enumerate(rows[1:], 2):
        if len(row) != 2:
            raise InputError(f"{path}:{number}: expected 2 fields account_id,code")
        codes[row[0]] = row[1]
    return codes
