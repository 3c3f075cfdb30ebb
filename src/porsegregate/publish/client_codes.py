"""The private client codes file, written by publish, read by the demo and a custodian's own
delivery tools (`read_client_codes`). Never published, nor given to an auditor: the data room
(dataroom_export.py) holds one epoch's keys instead.

Format: UTF-8 CSV (RFC 4180 quoting, `\\n` line ends), header `account_id,code`, then one
row per client. Custodians open it in spreadsheets, so no cell may start with a character
a spreadsheet reads as the start of a formula (CSV injection, OWASP): a cell whose text
starts with `=`, `+`, `-`, `@`, a tab, a carriage return, or an apostrophe `'` is written
with one more `'` in front (OWASP's escape, shown as text by spreadsheets), and a cell read
back that starts with `'` loses that one `'`. Escaping the apostrophe too makes the rule
unambiguous: every account id round-trips exactly (`'quoted` is written `''quoted`). A
cell starting with a formula character without the `'` (a file from before this rule, or
edited by hand) is read as it stands.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from .._fs import atomic_write
from ..errors import InputError

HEADER = ["account_id", "code"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
# A cell csv.writer would write unquoted and escape_cell leaves alone.
_PLAIN = re.compile(r"[^=+\-@\t\r'\",\n][^\",\n\r]*")


def escape_cell(text: str) -> str:
    """The cell as written: `'` in front of a formula character or of a leading `'`."""
    return ESCAPE + text if text.startswith((*FORMULA_START, ESCAPE)) else text


def unescape_cell(text: str) -> str:
    """The cell as read: one leading `'` removed (the inverse of escape_cell)."""
    return text[1:] if text.startswith(ESCAPE) else text


def write_client_codes(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """Written atomically, readable by the custodian alone (0600), safe in a spreadsheet."""
    write_client_codes_bytes(path, client_codes_bytes(rows))


def write_client_codes_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, data, mode=0o600)


def client_codes_bytes(rows: Iterable[tuple[str, str]]) -> bytes:
    """The file's bytes: the header, then `client_codes_rows`."""
    return (",".join(HEADER) + "\n" + client_codes_rows(rows)).encode()


def client_codes_rows(rows: Iterable[tuple[str, str]]) -> str:
    """The rows of the file (no header). A cell that needs neither quotes nor the escape is
    written as it is (one join for millions of rows); the csv module writes every other row."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    plain: list[str] = []
    for account, code in rows:
        if _PLAIN.fullmatch(account) and _PLAIN.fullmatch(code):
            plain.append(f"{account},{code}\n")
            continue
        text.write("".join(plain))
        plain = []
        writer.writerow((escape_cell(account), escape_cell(code)))
    text.write("".join(plain))
    return text.getvalue()


def read_client_codes(path: Path) -> dict[str, str]:
    """{account id: code}; InputError naming the file and line of anything malformed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: not a client codes CSV ({exc})") from exc
    return parse_client_codes(data, str(path))


def parse_client_codes(data: bytes, path: str) -> dict[str, str]:
    """read_client_codes of the file's bytes; `path` names it in errors."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a client codes CSV ({exc})") from exc
    if not rows or [h.strip() for h in rows[0]] != HEADER:
        raise InputError(f"{path}:1: header must be account_id,code")
    codes: dict[str, str] = {}
    for number, row in enumerate(rows[1:], 2):
        if len(row) != 2:
            raise InputError(f"{path}:{number}: expected 2 fields account_id,code")
        account = unescape_cell(row[0])
        if account in codes:
            raise InputError(f"{path}:{number}: account id {account!r} is listed twice")
        codes[account] = unescape_cell(row[1])
    return codes
