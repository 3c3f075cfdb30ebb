"""What an audit reports: every check, once, as passed, failed or not applicable.

Unlike the client's verifier, an audit does not stop at the first failure:
`Findings` collects each failure under the audit check it belongs to (keeping
the shared check's detail), and `finish` turns them into one line per check
(or per failure), in the order of `CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from ..chains import ChainReading
from ..errors import VerificationError
from ..protocol.models import Checkpoint
from ..protocol.serialization import checkpoint_summary

PASS = "pass"  # noqa: S105 - a check status
FAIL = "fail"
NOT_APPLICABLE = "n/a"
# At most this many failure lines per check; the rest are counted.
MAX_DETAILS = 20

# Every check, in report order (docs/protocol.md section 13, "Audit").
CHECKS = (
    "custodian-key",
    "attestation-signatures",
    "manifest-signatures",
    "checkpoint-signatures",
    "auditor-signatures",
    "manifest-missing",
    "manifest-changed",
    "manifest-extra",
    "proof-shards",
    "log-entries",
    "log-attestations",
    "log-root",
    "log-consistency",
    "log-inclusion",
    "log-checkpoint",
    "log-epoch-logs",
    "log-witnesses",
    "log-state",
    "history-epoch",
    "history-chain",
    "reserves-proofs",
    "legal",
    "reserves-reread",
    "freshness",
    "dataroom-totals",
    "dataroom-roots",
    "dataroom-bundles",
    "dataroom-coverage",
    "dataroom-wallets",
)
DATAROOM_CHECKS = tuple(c for c in CHECKS if c.startswith("dataroom-"))

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class AuditCheck:
    id: str
    status: str  # PASS, FAIL or NOT_APPLICABLE
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != FAIL


@dataclass
class AuditReport:
    site: str
    checks: list[AuditCheck] = field(default_factory=list)
    epoch: str | None = None
    key_fingerprint: str | None = None
    epochs: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    clients_checked: int = 0
    seconds: float = 0.0
    rereads: list[ChainReading] = field(default_factory=list)
    # audit --documents: each file of the folder and each hash-only document, and what it is.
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[AuditCheck]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and not self.failed

    def status(self, check: str) -> str | None:
        """The check's overall status: FAIL if any line of it failed."""
        lines = [c for c in self.checks if c.id == check]
        if not lines:
            return None
        if any(c.status == FAIL for c in lines):
            return FAIL
        return lines[0].status

    def to_json(self) -> dict[str, Any]:
        failed_ids = list(dict.fromkeys(c.id for c in self.failed))
        return {
            "ok": self.ok,
            "site": self.site,
            "epoch": self.epoch,
            "key_fingerprint": self.key_fingerprint,
            "epochs": self.epochs,
            "log": None if self.checkpoint is None else checkpoint_summary(self.checkpoint),
            "failed": failed_ids,
            "checks": [{"id": c.id, "status": c.status, "detail": c.detail} for c in self.checks],
            "reread": [reading_json(r) for r in self.rereads],
            "documents": self.documents,
            "summary": {
                "checks": len(dict.fromkeys(c.id for c in self.checks)),
                "failed": len(failed_ids),
                "not_applicable": sum(1 for c in self.checks if c.status == NOT_APPLICABLE),
                "clients_checked": self.clients_checked,
                "seconds": round(self.seconds, 3),
            },
        }


def reading_json(reading: ChainReading) -> dict[str, Any]:
    """A chain read again from the verifier's node, for --json (balances are not repeated)."""
    return {
        "chain": reading.chain,
        "node": reading.node or None,
        "network": reading.network,
        "block_height": reading.block_height,
        "block_hash": reading.block_hash,
        "balances_read": None if reading.balances is None else len(reading.balances),
        "declared_not_checked": reading.declared,
    }


class Findings:
    """Every audit check's outcome so far: its failures, or why it passed or did not apply."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.passed: dict[str, str] = {}
        self.not_applicable: dict[str, str] = {}

    def fail(self, check: str, detail: str) -> None:
        self.problems[check].append(detail)

    def ok(self, check: str, detail: str) -> None:
        self.passed[check] = detail

    def na(self, check: str, detail: str) -> None:
        self.not_applicable[check] = detail

    def attempt(
        self, check: str, run: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T | None:
        """Run a shared check; its failure is one of this audit check's, and gives None."""
        try:
            return run(*args, **kwargs)
        except VerificationError as exc:
            self.fail(check, exc.detail)
            return None

    def lines(self) -> list[AuditCheck]:
        out: list[AuditCheck] = []
        for check in CHECKS:
            problems = self.problems[check]
            if problems:
                out.extend(AuditCheck(check, FAIL, detail) for detail in problems[:MAX_DETAILS])
                if len(problems) > MAX_DETAILS:
                    more = f"... and {len(problems) - MAX_DETAILS} more failures"
                    out.append(AuditCheck(check, FAIL, more))
            elif check in self.passed:
                out.append(AuditCheck(check, PASS, self.passed[check]))
            else:
                why = self.not_applicable.get(
                    check, "not checked: what it checks could not be read (see above)"
                )
                out.append(AuditCheck(check, NOT_APPLICABLE, why))
        return out
