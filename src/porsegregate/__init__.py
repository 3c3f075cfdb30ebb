"""porsegregate: proof of reserves, liabilities and client-asset segregation.

The library API is what this module exports; everything else is private and
may change. A custodian publishes an epoch, a client verifies their inclusion,
an auditor audits and co-signs:

    from porsegregate import load_config, publish_epoch, PublishOptions
    result = publish_epoch(load_config(path), passphrase, PublishOptions(epoch="2026-11"))

    from porsegregate import verify_site, ClientState
    report = verify_site(url, account_id, code, expect_key=fingerprint, state=ClientState(file))
    report.verified, report.failed, report.balances, report.to_json()

    from porsegregate import audit_site, DataRoom
    report = audit_site(url_or_folder)          # report.ok, report.failed, report.to_json()

Every failure is a PorError: InputError or ConfigError for what could not be
read, ChainError for a node, VerificationError (exit code 1) for a failed
check, naming it. Names are imported on first use, so `import porsegregate`
stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .protocol.hashing import PROTOCOL_VERSION

if TYPE_CHECKING:
    from .audit import AuditCheck, AuditReport, DataRoom, audit_site
    from .cosign import CosignResult
    from .cosign import cosign as cosign_epoch
    from .errors import (
        ChainError,
        ConfigError,
        InputError,
        PorError,
        ReservesError,
        VerificationError,
    )
    from .progress import NO_PROGRESS, Progress
    from .protocol.serialization import parse_proof_file
    from .publish.client_codes import read_client_codes
    from .publish.config import Config, load_config
    from .publish.pipeline import PublishOptions, PublishResult
    from .publish.pipeline import publish as publish_epoch
    from .publish.workspace import init_workspace
    from .verify.client import (
        Check,
        HistoryReport,
        Report,
        verify_history,
        verify_proof,
        verify_site,
    )
    from .verify.state import ClientState
    from .witness import WitnessResult
    from .witness import witness as witness_checkpoint

# Public name -> (module, name there).
_EXPORTS: dict[str, tuple[str, str]] = {
    # the custodian
    "init_workspace": ("publish.workspace", "init_workspace"),
    "Config": ("publish.config", "Config"),
    "load_config": ("publish.config", "load_config"),
    "PublishOptions": ("publish.pipeline", "PublishOptions"),
    "PublishResult": ("publish.pipeline", "PublishResult"),
    "publish_epoch": ("publish.pipeline", "publish"),
    "read_client_codes": ("publish.client_codes", "read_client_codes"),
    # the client
    "verify_site": ("verify.client", "verify_site"),
    "verify_history": ("verify.client", "verify_history"),
    "verify_proof": ("verify.client", "verify_proof"),
    "parse_proof_file": ("protocol.serialization", "parse_proof_file"),
    "Report": ("verify.client", "Report"),
    "HistoryReport": ("verify.client", "HistoryReport"),
    "Check": ("verify.client", "Check"),
    "ClientState": ("verify.state", "ClientState"),
    # the auditor
    "audit_site": ("audit", "audit_site"),
    "DataRoom": ("audit", "DataRoom"),
    "AuditReport": ("audit", "AuditReport"),
    "AuditCheck": ("audit", "AuditCheck"),
    "cosign_epoch": ("cosign", "cosign"),
    "CosignResult": ("cosign", "CosignResult"),
    # a witness
    "witness_checkpoint": ("witness", "witness"),
    "WitnessResult": ("witness", "WitnessResult"),
    # long steps report to a Progress (publish_epoch, audit_site: progress=...)
    "Progress": ("progress", "Progress"),
    "NO_PROGRESS": ("progress", "NO_PROGRESS"),
    # errors
    "PorError": ("errors", "PorError"),
    "InputError": ("errors", "InputError"),
    "ConfigError": ("errors", "ConfigError"),
    "ChainError": ("errors", "ChainError"),
    "VerificationError": ("errors", "VerificationError"),
    "ReservesError": ("errors", "ReservesError"),
}

__all__ = [
    "NO_PROGRESS",
    "PROTOCOL_VERSION",
    "AuditCheck",
    "AuditReport",
    "ChainError",
    "Check",
    "ClientState",
    "Config",
    "ConfigError",
    "CosignResult",
    "DataRoom",
    "HistoryReport",
    "InputError",
    "PorError",
    "Progress",
    "PublishOptions",
    "PublishResult",
    "Report",
    "ReservesError",
    "VerificationError",
    "WitnessResult",
    "__version__",
    "audit_site",
    "cosign_epoch",
    "init_workspace",
    "load_config",
    "parse_proof_file",
    "publish_epoch",
    "read_client_codes",
    "verify_history",
    "verify_proof",
    "verify_site",
    "witness_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
