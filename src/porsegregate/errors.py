"""The one error tree every porsegregate failure belongs to, and the exit code of each branch.

    PorError                         exit 3 unless a branch says otherwise
    ├── InputError                   bad input data or I/O: names the file and line
    │   ├── FormatError              bytes or a document that are not well formed
    │   ├── CodeError                text that cannot be a client code (`kind`)
    │   ├── AddressError             an address that is not valid for its chain
    │   ├── TreeOverflowError        a sum that does not fit in 128 bits
    │   └── HttpFailure (_http.py)   no usable reply; callers name the node or site
    ├── ConfigError                  the workspace configuration, keys or secrets
    │   └── KeyTypeError             a key of another algorithm (`kind`)
    ├── ChainError                   a node or API gave no trustworthy answer
    ├── WorkerError                  a worker process of publish or audit died
    └── VerificationError            exit 1: a check failed (`check`, `asset`, `detail`)
        ├── PathError                a sum-tree path that does not fold
        ├── SignatureError           a proof-of-control signature that does not verify
        └── ReservesError            reserves that fail a check or do not cover liabilities

Usage errors are click's (exit 2); the CLI maps everything else with `exit_code`.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_FAILED = 1
EXIT_INPUT = 3


class PorError(Exception):
    """Base of every error porsegregate raises on purpose; `problems` lists each one found."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class InputError(PorError):
    """Bad input data or an I/O problem: names the file and line where possible."""


class FormatError(InputError):
    """Bytes or a document that are not well formed; the message names the field."""


class CodeError(InputError):
    """Text that cannot be a client code; `kind` is 'format' or 'checksum'."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class AddressError(InputError):
    """An address that is not valid for its chain or network; the message says why."""


class TreeOverflowError(InputError):
    """A sum exceeded 2^128-1 (T3): the publisher refuses rather than wraps."""


class ConfigError(PorError):
    """A problem with the workspace configuration, keys or secrets."""


class KeyTypeError(ConfigError):
    """A key of another algorithm than Ed25519; `kind` says which, for the message."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}, not an Ed25519 key")


class ChainError(PorError):
    """A node or API could not give a trustworthy answer (names the URL and the call)."""


class WorkerError(PorError):
    """A worker process died before its work was done (killed, or out of memory): the run
    stops and nothing is published."""


class VerificationError(PorError):
    """A proof, signature or site failed a check: names the check and asset."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        check: str,
        detail: str,
        asset: str | None = None,
        *,
        message: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        self.check = check
        self.asset = asset
        self.detail = detail
        where = f" [{asset}]" if asset else ""
        super().__init__(
            f"check {check}{where} failed: {detail}" if message is None else message, problems
        )


class PathError(VerificationError):
    """A sum-tree path that does not fold: `check` is the protocol check id that failed."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(check, message, message=message)


class SignatureError(VerificationError):
    """A proof-of-control signature that cannot be parsed or does not verify."""

    def __init__(self, message: str) -> None:
        super().__init__("reserves-control", message, message=message)


class ReservesError(VerificationError):
    """Reserves that fail a check (control, commingling, balance) or do not cover liabilities."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__("reserves", message, message=message, problems=problems)
