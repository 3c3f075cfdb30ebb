"""Canonical (RFC 8785) JSON for the models, and strict parsing back.

Parsing is strict because a verifier's input is hostile: every field is
checked for type, shape and range, and any problem is a FormatError naming
the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import rfc8785

from . import PROTOCOL_VERSION
from .amounts import AMOUNT_BYTES, MAX_DECIMALS, parse_units
from .errors import FormatError
from .models import AssetLiabilities, Attestation, Custodian, Manifest, ProofFile
from .protocol import MAX_HEIGHT, check_asset_code, check_epoch_id

PROOF_FORMAT = "porsegregate-proof/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
MAX_TEXT = 4000


def canonical(obj: Any) -> bytes:
    return bytes(rfc8785.dumps(obj))


def attestation_to_dict(a: Attestation) -> dict[str, Any]:
    return {
        "format": a.format,
        "generator": a.generator,
        "custodian": {"name": a.custodian.name, "legal_entity": a.custodian.legal_entity},
        "segregation": {"arrangement": a.segregation_arrangement},
        "epoch": {"id": a.epoch_id, "snapshot_time": a.snapshot_time},
        "liabilities": {
            "hash": "SHA-256",
            "amount_bytes": AMOUNT_BYTES,
            "assets": [
                {
                    "code": x.code,
                    "decimals": x.decimals,
                    "root": x.root.hex(),
                    "total": str(x.total),
                    "padded_height": x.padded_height,
                }
                for x in sorted(a.assets, key=lambda x: x.code)
            ],
        },
        "previous_attestation_sha256": a.previous_attestation_sha256,
    }


def attestation_bytes(a: Attestation) -> bytes:
    return canonical(attestation_to_dict(a))


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise FormatError(f"{where}.{key} is missing")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise FormatError(f"{where}.{key} must be an integer")
    if not isinstance(value, kind):
        raise FormatError(f"{where}.{key} must be a {kind.__name__}")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise FormatError(f"{where}.{key} is too long")
    return value


def _load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{what} is not JSON: {exc}") from exc


def _load_canonical(data: bytes, what: str) -> Any:
    """Signed documents must be exactly RFC 8785: one reading for every JSON parser.

    This rules out duplicate keys (which parsers resolve differently), floats
    standing in for integers, and any other spelling of the same document.
    """
    doc = _load_json(data, what)
    try:
        again = canonical(doc)
    except rfc8785.CanonicalizationError as exc:
        raise FormatError(f"{what} cannot be put in RFC 8785 canonical form: {exc}") from exc
    if again != data:
        raise FormatError(
            f"{what} is not in RFC 8785 canonical form (duplicate keys, floats, "
            "whitespace or key order)"
        )
    return doc


def parse_attestation(data: bytes) -> Attestation:
    doc = _load_canonical(data, "attestation.json")
    fmt = _get(doc, "format", str, "attestation")
    if fmt != PROTOCOL_VERSION:
        raise FormatError(f"attestation format {fmt!r} is not {PROTOCOL_VERSION}")
    cust = _get(doc, "custodian", dict, "attestation")
    epoch = _get(doc, "epoch", dict, "attestation")
    liab = _get(doc, "liabilities", dict, "attestation")
    if _get(liab, "hash", str, "liabilities") != "SHA-256":
        raise FormatError("liabilities.hash must be SHA-256")
    if _get(liab, "amount_bytes", int, "liabilities") != AMOUNT_BYTES:
        raise FormatError(f"liabilities.amount_bytes must be {AMOUNT_BYTES}")
    assets = []
    for i, item in enumerate(_get(liab, "assets", list, "liabilities")):
        where = f"liabilities.assets[{i}]"
        root = _get(item, "root", str, where)
        if not _HEX64.fullmatch(root):
            raise FormatError(f"{where}.root must be 64 lowercase hex digits")
        decimals = _get(item, "decimals", int, where)
        height = _get(item, "padded_height", int, where)
        if not 0 <= decimals <= MAX_DECIMALS or not 0 <= height <= MAX_HEIGHT:
            raise FormatError(f"{where}: decimals or padded_height out of range")
        try:
            code = check_asset_code(_get(item, "code", str, where))
            total = parse_units(_get(item, "total", str, where))
        except ValueError as exc:
            raise FormatError(f"{where}: {exc}") from exc
        assets.append(AssetLiabilities(code, decimals, bytes.fromhex(root), total, height))
    codes = [a.code for a in assets]
    if codes != sorted(set(codes)):
        raise FormatError("liabilities.assets must be sorted by code without duplicates")
    prev = doc.get("previous_attestation_sha256") if isinstance(doc, dict) else None
    if prev is not None and not (isinstance(prev, str) and _HEX64.fullmatch(prev)):
        raise FormatError("previous_attestation_sha256 must be null or 64 hex digits")
    snapshot = _get(epoch, "snapshot_time", str, "epoch")
    if not _TIME.fullmatch(snapshot):
        raise FormatError("epoch.snapshot_time must be YYYY-MM-DDTHH:MM:SSZ")
    try:
        epoch_id = check_epoch_id(_get(epoch, "id", str, "epoch"))
    except ValueError as exc:
        raise FormatError(str(exc)) from exc
    return Attestation(
        format=fmt,
        generator=_get(doc, "generator", str, "attestation"),
        custodian=Custodian(
            _get(cust, "name", str, "custodian"), _get(cust, "legal_entity", str, "custodian")
        ),
        segregation_arrangement=_get(
            _get(doc, "segregation", dict, "attestation"), "arrangement", str, "segregation"
        ),
        epoch_id=epoch_id,
        snapshot_time=snapshot,
        assets=tuple(assets),
        previous_attestation_sha256=prev,
    )


def manifest_bytes(m: Manifest) -> bytes:
    return canonical(
        {
            "format": m.format,
            "epoch": m.epoch_id,
            "attestation_sha256": m.attestation_sha256,
            "proofs": {"shard_prefix_hex_chars": m.shard_prefix_chars},
            "files": dict(sorted(m.files.items())),
        }
    )


def parse_manifest(data: bytes) -> Manifest:
    doc = _load_canonical(data, "manifest.json")
    if _get(doc, "format", str, "manifest") != PROTOCOL_VERSION:
        raise FormatError(f"manifest format is not {PROTOCOL_VERSION}")
    att = _get(doc, "attestation_sha256", str, "manifest")
    prefix = _get(_get(doc, "proofs", dict, "manifest"), "shard_prefix_hex_chars", int, "proofs")
    files = _get(doc, "files", dict, "manifest")
    if not _HEX64.fullmatch(att) or not 0 <= prefix <= 32:
        raise FormatError("manifest.attestation_sha256 or proofs.shard_prefix_hex_chars is bad")
    for path, digest in files.items():
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise FormatError(f"manifest.files[{path!r}] is not a SHA-256 hex digest")
    return Manifest(PROTOCOL_VERSION, _get(doc, "epoch", str, "manifest"), att, prefix, files)


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise FormatError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what} is not valid base64") from exc


def proof_file_bytes(p: ProofFile) -> bytes:
    return json.dumps(
        {
            "format": PROOF_FORMAT,
            "attestation": base64.b64encode(p.attestation).decode(),
            "attestation_sig": base64.b64encode(p.attestation_sig).decode(),
            "public_key_pem": p.public_key_pem.decode(),
            "lookup": p.lookup.hex(),
            "entry": base64.b64encode(p.entry).decode(),
        },
        indent=2,
    ).encode()


def proof_file_from_dict(doc: Any) -> ProofFile:
    if _get(doc, "format", str, "proof") != PROOF_FORMAT:
        raise FormatError(f"not a {PROOF_FORMAT} file")
    lookup = _get(doc, "lookup", str, "proof")
    if not re.fullmatch(r"[0-9a-f]{32}", lookup):
        raise FormatError("proof.lookup must be 32 lowercase hex digits")
    return ProofFile(
        attestation=_b64(doc.get("attestation"), "proof.attestation"),
        attestation_sig=_b64(doc.get("attestation_sig"), "proof.attestation_sig"),
        public_key_pem=_get(doc, "public_key_pem", str, "proof").encode(),
        lookup=bytes.fromhex(lookup),
        entry=_b64(doc.get("entry"), "proof.entry"),
    )


def parse_proof_file(data: bytes) -> ProofFile:
    return proof_file_from_dict(_load_json(data, "proof file"))
