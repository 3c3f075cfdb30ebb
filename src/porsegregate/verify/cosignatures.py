"""Checking auditors' co-signatures of an attestation (docs/protocol.md section 14).

`auditors/index.json` lists the fingerprints (there is no directory listing
over HTTP); every listed co-signature must verify, and an index that lists one
whose files are missing or whose signatures fail is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _crypto
from ..errors import FormatError
from ..protocol import layout
from ..protocol.cosignature import RereadChain, parse_document, parse_index, statement_problem
from ..protocol.models import Attestation
from ..protocol.serialization import parse_attestation
from .fetch import SiteReader


@dataclass(frozen=True)
class CosignCheck:
    """One listed auditor's co-signature, checked. `name` is None until auditor.json verifies."""

    fingerprint: str
    name: str | None
    ok: bool
    detail: str
    time: str | None = None
    # The chains the auditor read again from their own nodes (section 12), as it signed.
    reread: tuple[RereadChain, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "time": self.time,
            "reread": [r.to_json() for r in self.reread],
        }


class _Bad(Exception):
    def __init__(self, detail: str, name: str | None = None, time: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.name = name
        self.time = time


def _reread_problem(reread: tuple[RereadChain, ...], signed: Attestation | None) -> str | None:
    """Why the chains an auditor says it read again are not the attestation's, or None."""
    if not reread:
        return None
    if signed is None:
        return "the attestation cannot be read to compare the chains it re-read"
    for r in reread:
        chain = signed.reserves.chain(r.chain)
        if chain is None:
            return f"it says it re-read chain {r.chain}, which the attestation does not list"
        if r.block_height != chain.block_height or r.block_hash != chain.block_hash:
            return (
                f"it says it re-read {r.chain} at block {r.block_height} ({r.block_hash}), "
                f"but the attestation signs block {chain.block_height} ({chain.block_hash})"
            )
    return None


def _check_one(
    reader: SiteReader, fingerprint: str, attestation: bytes, signed: Attestation | None
) -> CosignCheck:
    epoch = signed.epoch_id if signed is not None else None
    where = layout.auditor_folder(fingerprint)
    key_file, signature_file, statement_file, document_file, _ = (
        f"{where}/{name}" for name in layout.AUDITOR_FILES
    )
    files = {name: reader.read(f"{where}/{name}") for name in layout.AUDITOR_FILES}
    missing = [name for name, data in files.items() if data is None]
    if missing:
        raise _Bad(
            f"auditor {fingerprint} is listed in {layout.AUDITORS_INDEX} but {where}/ lacks "
            f"{', '.join(missing)}: the co-signature was removed or never completed"
        )
    key_pem, signature, statement, document, document_sig = (
        files[name] or b"" for name in layout.AUDITOR_FILES
    )
    try:
        key = _crypto.load_public_key_pem(key_pem)
    except (TypeError, ValueError) as exc:
        raise _Bad(f"{key_file} is not an Ed25519 public key") from exc
    if _crypto.fingerprint(key) != fingerprint:
        raise _Bad(
            f"{key_file} has fingerprint {_crypto.fingerprint(key)}, not the "
            "fingerprint its folder is named by"
        )
    if not _crypto.ed25519_verify(key, document_sig, document):
        raise _Bad(
            f"{document_file} is not signed by the auditor's key: its name, statement or "
            "time was changed after signing"
        )
    try:
        doc = parse_document(document)
    except FormatError as exc:
        raise _Bad(f"{document_file} is malformed: {exc}") from exc
    name, time = doc.name, doc.time
    if doc.fingerprint != fingerprint:
        raise _Bad(f"{document_file} names another key ({doc.fingerprint})", name, time)
    problem = statement_problem(statement)
    if problem is not None:
        raise _Bad(f"{statement_file}: {problem}", name, time)
    if _crypto.sha256_hex(statement) != doc.statement_sha256:
        raise _Bad(
            f"{statement_file} is not the statement the auditor signed: it was changed",
            name,
            time,
        )
    if doc.attestation_sha256 != _crypto.sha256_hex(attestation) or (
        epoch is not None and doc.epoch != epoch
    ):
        raise _Bad(
            f"{document_file} is for another attestation (epoch {doc.epoch}, SHA-256 "
            f"{doc.attestation_sha256}): this co-signature does not belong here",
            name,
            time,
        )
    if not _crypto.ed25519_verify(key, signature, attestation):
        raise _Bad(
            f"{signature_file} does not verify over this attestation.json under the "
            "auditor's key: it signs other bytes (another epoch's attestation, or an "
            "altered one)",
            name,
            time,
        )
    problem = _reread_problem(doc.reread, signed)
    if problem is not None:
        raise _Bad(f"{document_file}: {problem}", name, time)
    reread = ""
    if doc.reread:
        reread = ", having read again from its own nodes the balances of " + ", ".join(
            f"{r.chain} at block {r.block_height}" for r in doc.reread
        )
    return CosignCheck(
        fingerprint,
        name,
        True,
        f"{name!r} (key {fingerprint}) co-signed this attestation on {time}{reread}",
        time,
        doc.reread,
    )


def verify_cosignatures(source: SiteReader | Path | str, attestation: bytes) -> list[CosignCheck]:
    """Every co-signature `auditors/index.json` lists, checked against `attestation`.

    `source` is the epoch's site: a SiteReader, a folder, or a folder or URL as
    text. No index: no auditors, an empty list. A malformed index is one failed
    check with an empty fingerprint. I/O errors other than a missing file raise
    InputError, as every other read of the site does.
    """
    reader = source if isinstance(source, SiteReader) else SiteReader(str(source))
    index = reader.read(layout.AUDITORS_INDEX)
    if index is None:
        return []
    try:
        fingerprints = parse_index(index)
    except FormatError as exc:
        return [CosignCheck("", None, False, f"{layout.AUDITORS_INDEX} is malformed: {exc}")]
    try:
        signed: Attestation | None = parse_attestation(attestation)
    except FormatError:
        signed = None
    checks = []
    for fingerprint in fingerprints:
        try:
            checks.append(_check_one(reader, fingerprint, attestation, signed))
        except _Bad as bad:
            checks.append(CosignCheck(fingerprint, bad.name, False, bad.detail, bad.time))
    return checks
