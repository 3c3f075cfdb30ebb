"""Auditors' co-signatures: what is signed and the rules for names and statements (section 14).

Shared by the auditor who writes a co-signature (cosign.py) and every verifier
that checks one (verify/cosignatures.py): one definition of each document and
of what a name or statement may contain.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError
from .hashing import CHAIN_RE, text_problem
from .layout import is_time
from .serialization import canonical, json_loads

# A co-signature without re-read chains is format 1 (seven members, as ever); one whose
# auditor read chains again from their own nodes is format 2, with the eighth member
# "reread". Verifiers read both; an auditor writes 1 unless they re-read.
COSIGN_FORMAT = "porsegregate-cosign/1"
COSIGN_FORMAT_REREAD = "porsegregate-cosign/2"
REREAD_MEMBERS = ("block_hash", "block_height", "chain")
MAX_REREAD = 1000
MAX_NAME = 200
MAX_STATEMENT = 64 * 1024
MAX_AUDITORS = 100
DOCUMENT_MEMBERS = (
    "attestation_sha256",
    "epoch",
    "fingerprint",
    "format",
    "name",
    "statement_sha256",
    "time",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Bidirectional overrides and isolates make a name display as something else.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class RereadChain:
    """A chain the auditor read again from their own node: at this block, with this hash."""

    chain: str
    block_height: int
    block_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "block_height": self.block_height,
            "block_hash": self.block_hash,
        }


@dataclass(frozen=True)
class CosignDocument:
    """auditor.json, parsed."""

    format: str
    name: str
    fingerprint: str
    epoch: str
    attestation_sha256: str
    statement_sha256: str
    time: str
    reread: tuple[RereadChain, ...] = ()


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an auditor's name, or None."""
    if not name or name != name.strip():
        return "the auditor name must be non-empty, without leading or trailing spaces"
    if len(name) > MAX_NAME:
        return f"the auditor name is longer than {MAX_NAME} characters"
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            return f"the auditor name contains a control character (U+{ord(ch):04X})"
    return None


def statement_problem(data: bytes) -> str | None:
    """Why `data` cannot be a statement (UTF-8 text up to 64 KiB), or None."""
    if not data.strip():
        return "the statement is empty"
    if len(data) > MAX_STATEMENT:
        return f"the statement is {len(data)} bytes; at most {MAX_STATEMENT} (64 KiB)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the statement is not UTF-8 (byte {exc.start})"
    for ch in text:
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r") or ch in _BIDI:
            return f"the statement contains a control character (U+{ord(ch):04X})"
    return None


def _canonical_json(data: bytes) -> Any:
    """A document that is exactly RFC 8785 JSON (a hostile host's file: every error caught)."""
    try:
        doc = json_loads(data.decode("utf-8"))
        again = canonical(doc)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"not JSON: {exc}") from exc
    if again != data:
        raise FormatError("not in RFC 8785 canonical form")
    return doc


def parse_index(data: bytes) -> list[str]:
    """`auditors/index.json`: RFC 8785 JSON array of fingerprints, sorted, no duplicates."""
    doc = _canonical_json(data)
    if not isinstance(doc, list) or not all(
        isinstance(f, str) and _HEX64.fullmatch(f) for f in doc
    ):
        raise FormatError("not a list of key fingerprints (64 lowercase hex digits)")
    if doc != sorted(set(doc)):
        raise FormatError("the fingerprints are not sorted, or one is listed twice")
    if len(doc) > MAX_AUDITORS:
        raise FormatError(f"more than {MAX_AUDITORS} auditors")
    return list(doc)


def index_bytes(fingerprints: list[str]) -> bytes:
    return canonical(sorted(set(fingerprints)))


def document_bytes(
    name: str,
    fingerprint: str,
    epoch: str,
    attestation_sha256: str,
    statement_sha256: str,
    time: str,
    reread: Sequence[RereadChain] = (),
) -> bytes:
    """auditor.json: format 1, or format 2 with "reread" (sorted by chain) when not empty."""
    doc: dict[str, Any] = {
        "format": COSIGN_FORMAT_REREAD if reread else COSIGN_FORMAT,
        "name": name,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "attestation_sha256": attestation_sha256,
        "statement_sha256": statement_sha256,
        "time": time,
    }
    if reread:
        doc["reread"] = [r.to_json() for r in sorted(reread, key=lambda r: r.chain)]
    return canonical(doc)


def _parse_reread(value: Any) -> tuple[RereadChain, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_REREAD:
        raise FormatError(f"reread must be a list of 1 to {MAX_REREAD} chains")
    out = []
    for i, item in enumerate(value):
        where = f"reread[{i}]"
        if not isinstance(item, dict) or sorted(item) != list(REREAD_MEMBERS):
            raise FormatError(f"{where} must have exactly the members {', '.join(REREAD_MEMBERS)}")
        chain, height, block_hash = item["chain"], item["block_height"], item["block_hash"]
        if not isinstance(chain, str) or not CHAIN_RE.fullmatch(chain):
            raise FormatError(f"{where}.chain is not a chain id")
        if type(height) is not int or not 0 <= height < 2**53:
            raise FormatError(f"{where}.block_height is not a block height")
        if not isinstance(block_hash, str) or text_problem(block_hash, 100) is not None:
            raise FormatError(f"{where}.block_hash is not a block hash")
        out.append(RereadChain(chain, height, block_hash))
    chains = [r.chain for r in out]
    if chains != sorted(set(chains)):
        raise FormatError("reread is not sorted by chain, or names a chain twice")
    return tuple(out)


def parse_document(data: bytes) -> CosignDocument:
    """auditor.json: exactly RFC 8785; format 1 has exactly the seven string members,
    format 2 those and "reread", the chains the auditor read again."""
    doc = _canonical_json(data)
    if not isinstance(doc, dict):
        raise FormatError("it must be a JSON object")
    fmt = doc.get("format")
    members = (
        sorted((*DOCUMENT_MEMBERS, "reread"))
        if fmt == COSIGN_FORMAT_REREAD
        else list(DOCUMENT_MEMBERS)
    )
    if sorted(doc) != members:
        raise FormatError(f"it must have exactly the members {', '.join(members)}")
    if not all(isinstance(doc[m], str) for m in DOCUMENT_MEMBERS):
        raise FormatError("every member but reread must be a string")
    if fmt not in (COSIGN_FORMAT, COSIGN_FORMAT_REREAD):
        raise FormatError(f"format is not {COSIGN_FORMAT} or {COSIGN_FORMAT_REREAD}")
    for member in ("fingerprint", "attestation_sha256", "statement_sha256"):
        if not _HEX64.fullmatch(doc[member]):
            raise FormatError(f"{member} is not 64 lowercase hex digits")
    problem = name_problem(doc["name"])
    if problem is not None:
        raise FormatError(problem)
    if not is_time(doc["time"]):
        raise FormatError("time is not a valid date and time")
    reread = _parse_reread(doc["reread"]) if fmt == COSIGN_FORMAT_REREAD else ()
    return CosignDocument(
        format=fmt,
        name=doc["name"],
        fingerprint=doc["fingerprint"],
        epoch=doc["epoch"],
        attestation_sha256=doc["attestation_sha256"],
        statement_sha256=doc["statement_sha256"],
        time=doc["time"],
        reread=reread,
    )
