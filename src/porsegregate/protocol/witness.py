"""Witnessed checkpoints: the C2SP formats the log's witnesses co-sign (docs/protocol.md 13).

The log's checkpoint is also published as a C2SP signed note
(c2sp.org/tlog-checkpoint, c2sp.org/signed-note), signed by the custodian key;
each witness appends a C2SP cosignature/v1 line (c2sp.org/tlog-cosignature)
over the same note body. Witnesses are named in the attestation by C2SP
verifier keys (`<name>+<8 hex key id>+<base64(0x04 || 32-byte key)>`). Only
formats and signing live here; checking a co-signature is verify/checks.py's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .. import _crypto
from ..errors import FormatError
from .models import Checkpoint, Witness, Witnesses

ED25519 = 0x01  # signed-note: an Ed25519 signature over the note text
COSIGNATURE_V1 = 0x04  # signed-note: a timestamped Ed25519 cosignature (tlog-cosignature)
MAX_WITNESSES = 16
MAX_NOTE_BYTES = 65536
MAX_SIGNATURES = 64
MAX_TIMESTAMP = 2**63 - 1
DASH = "\u2014"
# Key names: 1-200 visible ASCII characters, no '+' (signed-note forbids spaces and '+').
_NAME = re.compile(r"[!-*,-~]{1,200}")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


def origin(fingerprint: str) -> str:
    """The checkpoint's origin line: one log per custodian key."""
    return f"porsegregate/{fingerprint}"


def name_problem(name: str) -> str | None:
    if not _NAME.fullmatch(name):
        return (
            f"witness name {name!r} must be 1 to 200 visible ASCII characters without '+' "
            "or spaces (a C2SP signed-note key name)"
        )
    return None


def key_id(name: str, kind: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4] (C2SP signed-note)."""
    return hashlib.sha256(name.encode("ascii") + b"\n" + bytes([kind]) + public_key).digest()[:4]


def vkey(witness: Witness) -> str:
    """The witness's C2SP verifier key: <name>+<hex key id>+<base64(0x04 || key)>."""
    kid = key_id(witness.name, COSIGNATURE_V1, witness.key).hex()
    encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + witness.key).decode("ascii")
    return f"{witness.name}+{kid}+{encoded}"


def parse_vkey(text: str) -> Witness:
    """A cosignature/v1 verifier key; FormatError says what is wrong with it."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"witness key {text!r} is not <name>+<key id>+<base64 key>")
    name, kid, encoded = parts
    problem = name_problem(name)
    if problem is not None:
        raise FormatError(problem)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"witness key {name!r}: the key is not base64") from exc
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise FormatError(
            f"witness key {name!r}: not a cosignature/v1 Ed25519 key (type 0x04 and 32 bytes)"
        )
    if base64.b64encode(raw).decode("ascii") != encoded:
        raise FormatError(f"witness key {name!r}: the key is not in canonical base64")
    witness = Witness(name, raw[1:])
    if not _KEY_ID.fullmatch(kid) or bytes.fromhex(kid) != key_id(name, COSIGNATURE_V1, raw[1:]):
        raise FormatError(f"witness key {name!r}: the key id {kid!r} is not the key's")
    try:
        _crypto.ed25519_public_key(raw[1:])
    except ValueError as exc:
        raise FormatError(f"witness key {name!r}: not an Ed25519 public key") from exc
    return witness


def witnesses_to_dict(witnesses: Witnesses) -> dict[str, Any]:
    return {"threshold": witnesses.threshold, "keys": [vkey(w) for w in witnesses.keys]}


def parse_witnesses(doc: Any) -> Witnesses:
    """The attestation's `witnesses` member (section 7)."""
    if not isinstance(doc, dict) or set(doc) != {"threshold", "keys"}:
        raise FormatError("attestation.witnesses must have exactly threshold and keys")
    threshold, keys = doc["threshold"], doc["keys"]
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_WITNESSES:
        raise FormatError(f"witnesses.keys must list 1 to {MAX_WITNESSES} witness keys")
    if not all(isinstance(k, str) for k in keys):
        raise FormatError("witnesses.keys must be strings")
    parsed = tuple(parse_vkey(k) for k in keys)
    if len({w.name for w in parsed}) != len(parsed) or len({w.key for w in parsed}) != len(parsed):
        raise FormatError("witnesses.keys names a witness name or key twice")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not 1 <= threshold <= len(parsed)
    ):
        raise FormatError(f"witnesses.threshold must be an integer from 1 to {len(parsed)}")
    return Witnesses(threshold, parsed)


# -- notes ----------------------------------------------------------------------------------


def checkpoint_body(checkpoint: Checkpoint) -> bytes:
    """The C2SP tlog-checkpoint note text: origin, decimal size, base64 root; no extensions."""
    root = base64.b64encode(checkpoint.root).decode("ascii")
    return f"{origin(checkpoint.log)}\n{checkpoint.size}\n{root}\n".encode("ascii")


def cosigned_message(body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, the note body."""
    return b"cosignature/v1\ntime " + str(timestamp).encode("ascii") + b"\n" + body


def signature_line(name: str, payload: bytes) -> bytes:
    return f"{DASH} {name} {base64.b64encode(payload).decode('ascii')}\n".encode()


def checkpoint_note(key: _crypto.Ed25519PrivateKey, body: bytes) -> bytes:
    """The checkpoint as a signed note: the body, a blank line, the custodian's signature line
    (key name = the origin, an Ed25519 signed-note signature, type 0x01)."""
    raw = _crypto.raw_public_key(key.public_key())
    name = body.split(b"\n", 1)[0].decode("ascii")
    return body + b"\n" + signature_line(name, key_id(name, ED25519, raw) + key.sign(body))


def cosignature_line(
    key: _crypto.Ed25519PrivateKey, name: str, body: bytes, timestamp: int
) -> bytes:
    """A witness's cosignature/v1 signature line over the note body at `timestamp`."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError("timestamp out of range")
    raw = _crypto.raw_public_key(key.public_key())
    signature = key.sign(cosigned_message(body, timestamp))
    payload = key_id(name, COSIGNATURE_V1, raw) + timestamp.to_bytes(8, "big") + signature
    return signature_line(name, payload)


@dataclass(frozen=True)
class Note:
    body: bytes  # the note text, ending in a newline
    signatures: tuple[tuple[str, bytes], ...]  # (key name, decoded key id || signature)


def parse_note(data: bytes) -> Note:
    """A C2SP signed note: text, a blank line, one or more signature lines."""
    if len(data) > MAX_NOTE_BYTES:
        raise FormatError(f"the note is longer than {MAX_NOTE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("the note is not UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise FormatError("the note holds a control character other than newline")
    if not text.endswith("\n"):
        raise FormatError("the note does not end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise FormatError("the note has no blank line before its signatures")
    body, lines = text[: split + 1], text[split + 2 :].split("\n")[:-1]
    if not lines or len(lines) > MAX_SIGNATURES:
        raise FormatError(f"the note must have 1 to {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not parts[1]:
            raise FormatError(f"not a signature line: {line[:80]!r}")
        try:
            payload = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FormatError(f"signature line of {parts[1][:80]!r} is not base64") from exc
        if len(payload) < 5:
            raise FormatError(f"signature line of {parts[1][:80]!r} is too short")
        signatures.append((parts[1], payload))
    return Note(body.encode("utf-8"), tuple(signatures))
