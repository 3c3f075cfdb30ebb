"""Client codes: the one secret a client needs, derived so the custodian stores none.

A code is 130 random-looking bits (HMAC of the master secret and account id)
plus a 10-bit checksum, in Crockford base-32, grouped for reading aloud.
"""

from __future__ import annotations

import base64

from .. import _crypto
from ..errors import CodeError
from .hashing import CODE_CHECK

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = {"O": "0", "I": "1", "L": "1"}
DIGITS = 28
SECRET_BITS = 130
SECRET_BYTES = 17


def client_secret(master_secret: bytes, account_id: str) -> bytes:
    t = _crypto.hmac_sha256(master_secret, b"porsegregate/1 client-code\x00" + account_id.encode())
    value = int.from_bytes(t[:SECRET_BYTES], "big") >> (8 * SECRET_BYTES - SECRET_BITS)
    return value.to_bytes(SECRET_BYTES, "big")


def _checksum(secret: bytes) -> int:
    return int.from_bytes(_crypto.sha256(CODE_CHECK + secret)[:2], "big") >> 6


_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)


def format_code(secret: bytes) -> str:
    value = (int.from_bytes(secret, "big") << 10) | _checksum(secret)
    # 140 bits in 20 bytes: base32 gives 32 digits, the first 4 always zero.
    text = base64.b32encode(value.to_bytes(20, "big")).decode().translate(_FROM_RFC4648)[4:]
    return "-".join(text[i : i + 4] for i in range(0, DIGITS, 4))


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
