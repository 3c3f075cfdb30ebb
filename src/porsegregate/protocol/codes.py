"""Client codes: the one secret a client needs, derived so the custodian stores none.

A code is 130 random-looking bits (HMAC of the master secret and account id)
plus a 10-bit checksum, in Crockford base-32, grouped for reading aloud.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from .. import _crypto
from ..errors import CodeError
from .hashing import CODE_CHECK

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = {"O": "0", "I": "1", "L": "1"}
DIGITS = 28
SECRET_BITS = 130
SECRET_BYTES = 17


CODE_LABEL = b"porsegregate/1 client-code\x00"


def client_secret(master_secret: bytes, account_id: str) -> bytes:
    return client_secrets(master_secret, [account_id])[0]


def client_secrets(master_secret: bytes, account_ids: Sequence[str]) -> list[bytes]:
    """Each account's 130-bit secret: the top bits of HMAC(master secret, label || id)."""
    tags = _crypto.hmac_sha256_each(master_secret, [CODE_LABEL + a.encode() for a in account_ids])
    shift = 8 * SECRET_BYTES - SECRET_BITS
    return [
        (int.from_bytes(t[:SECRET_BYTES], "big") >> shift).to_bytes(SECRET_BYTES, "big")
        for t in tags
    ]


def _checksum(secret: bytes) -> int:
    return int.from_bytes(_crypto.sha256(CODE_CHECK + secret)[:2], "big") >> 6


def format_codes(secrets: Sequence[bytes]) -> list[str]:
    """format_code for many secrets at once: one base-32 encoding of all of them (each 20-byte
    value is exactly 32 digits, so the encodings do not straddle)."""
    if not secrets:
        return []
    checks = _crypto.sha256_each([CODE_CHECK + s for s in secrets])
    values = b"".join(
        ((int.from_bytes(s, "big") << 10) | (int.from_bytes(c[:2], "big") >> 6)).to_bytes(20, "big")
        for s, c in zip(secrets, checks, strict=True)
    )
    digits = np.frombuffer(
        base64.b32encode(values).translate(_FROM_RFC4648_BYTES), dtype=np.uint8
    ).reshape(len(secrets), 32)[:, 32 - DIGITS :]
    groups = DIGITS // 4
    out = np.full((len(secrets), DIGITS + groups - 1), ord("-"), dtype=np.uint8)
    for g in range(groups):
        out[:, 5 * g : 5 * g + 4] = digits[:, 4 * g : 4 * g + 4]
    text = out.tobytes().decode("ascii")
    width = DIGITS + groups - 1
    return [text[i : i + width] for i in range(0, len(text), width)]


_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)
_FROM_RFC4648_BYTES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


def format_code(secret: bytes) -> str:
    return format_codes([secret])[0]


def parse_code(text: str) -> bytes:
    """The 17-byte client secret in a code; tolerant of case, spaces, dashes and O/I/L."""
    cleaned = "".join(_ALIASES.get(c, c) for c in text.upper() if c not in " -")
    if len(cleaned) != DIGITS or any(c not in _VALUE for c in cleaned):
        raise CodeError("format", f"a client code has {DIGITS} letters and digits in groups of 4")
    value = 0
    for c in cleaned:
        value = value * 32 + _VALUE[c]
    check = value & 0x3FF
    secret_value = value >> 10
    if secret_value >> SECRET_BITS:
        raise CodeError("format", "not a valid client code")
    secret = secret_value.to_bytes(SECRET_BYTES, "big")
    if not _crypto.constant_time_equal(
        check.to_bytes(2, "big"), _checksum(secret).to_bytes(2, "big")
    ):
        raise CodeError("checksum", "the code's checksum does not match: check it for a typo")
    return secret
