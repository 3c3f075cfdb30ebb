"""Auditors' co-signatures: what is signed and the rules for names and statements (section 14).

Shared by the auditor who writes a co-signature (cosign.py) and every verifier
that checks one (verify/cosignatures.py): one definition of each document and
of what a name or statement may contain.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..errors import FormatError
from .layout import is_time
from .serialization import canonical, json_loads

COSIGN_FORMAT = "porsegregate-cosign/1"
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
) -> bytes:
    return canonical(
        {
            "format": COSIGN_FORMAT,
            "name": name,
            "fingerprint": fingerprint,
            "epoch": epoch,
            "attestation_sha256": attestation_sha256,
            "statement_sha256": statement_sha256,
            "time": time,
        }
    )


def parse_document(data: bytes) -> dict[str, str]:
    """auditor.json: exactly RFC 8785, exactly the seven string members."""
    doc = _canonical_json(data)
    if not isinstance(doc, dict) or sorted(doc) != list(DOCUMENT_MEMBERS):
        raise FormatError(f"it must have exactly the members {', '.join(DOCUMENT_MEMBERS)}")
    if not all(isinstance(v, str) for v in doc.values()):
        raise FormatError("every member must be a string")
    if doc["format"] != COSIGN_FORMAT:
        raise FormatError(f"format is not {COSIGN_FORMAT}")
    for member in ("fingerprint", "attestation_sha256", "statement_sha256"):
        if not _HEX64.fullmatch(doc[member]):
            raise FormatError(f"{member} is not 64 lowercase hex digits")
    problem = name_problem(doc["name"])
    if problem is not None:
        raise FormatError(problem)
    if not is_time(doc["time"]):
        raise FormatError("time is not a valid date and time")
    return {str(k): str(v) for k, v in doc.items()}
