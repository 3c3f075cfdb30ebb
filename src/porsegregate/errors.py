"""The small error tree every porsegregate failure belongs to.

The CLI maps these to exit codes: VerificationError -> 1, InputError and
ConfigError -> 3 (usage errors are click's, exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence


class PorError(Exception):
    """Base of every error porsegregate raises on purpose."""


class InputError(PorError):
    """Bad input data or an I/O problem: names the file and line where possible."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class ConfigError(PorError):
    """A problem with the workspace configuration, keys or secrets."""


class ReservesError(InputError):
    """Reserves that fail a check (control, commingling, balance) or do not cover liabilities."""


class VerificationError(PorError):
    """A proof, signature or site failed a check: names the check and asset."""

    def __init__(self, check: str, detail: str, asset: str | None = None) -> None:
        self.check = check
        self.asset = asset
        self.detail = detail
        where = f" [{asset}]" if asset else ""
        super().__init__(f"check {check}{where} failed: {detail}")


class FormatError(ValueError):
    """Bytes or a document that are not well formed (internal; callers wrap it)."""
