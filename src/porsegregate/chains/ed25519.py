"""Ed25519 chains whose address is the public key in base58 (Solana and its kind).

The wallet signs the exact UTF-8 bytes of the challenge message, as Solana
wallets' `signMessage` does; the signature is given in base58 (as wallets
show it) or as 128 hex digits. Verification is `cryptography`'s Ed25519.
"""

from __future__ import annotations

import re

import base58

from .. import _crypto
from ..errors import AddressError, SignatureError

_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")
_HEX_SIGNATURE = re.compile(r"(?:0x)?[0-9a-fA-F]{128}")


def public_key_bytes(address: str) -> bytes:
    if not _BASE58.fullmatch(address or "") or len(address) > 50:
        raise AddressError(f"{address!r} is not a base58 Ed25519 address")
    raw = base58.b58decode(address)
    if len(raw) != 32:
        raise AddressError(f"{address!r} decodes to {len(raw)} bytes, not a 32-byte public key")
    return raw


def normalize_address(address: str) -> str:
    public_key_bytes(address)
    return address


def _signature_bytes(signature: str) -> bytes:
    if _HEX_SIGNATURE.fullmatch(signature):
        return bytes.fromhex(signature.removeprefix("0x"))
    if _BASE58.fullmatch(signature) and len(signature) <= 100:
        raw = base58.b58decode(signature)
        if len(raw) == 64:
            return raw
    raise SignatureError("an Ed25519 signature is 64 bytes, in base58 or 128 hex digits")


def verify(message: str, address: str, signature: str) -> bytes:
    """Returns the 32-byte public key that signed `message`; SignatureError otherwise."""
    raw_key = public_key_bytes(address)
    sig = _signature_bytes(signature)
    try:
        key = _crypto.Ed25519PublicKey.from_public_bytes(raw_key)
    except ValueError as exc:
        raise SignatureError(f"{address} is not a valid Ed25519 public key") from exc
    if not _crypto.ed25519_verify(key, sig, message.encode("utf-8")):
        raise SignatureError(f"the Ed25519 signature does not verify for {address}")
    return raw_key


def address_of(private_key: bytes) -> str:
    """For tests and the demo: the base58 address of a 32-byte Ed25519 seed."""
    key = _crypto.Ed25519PrivateKey.from_private_bytes(private_key)
    return base58.b58encode(_crypto.raw_public_key(key.public_key())).decode()


def sign(message: str, private_key: bytes) -> str:
    """For tests and the demo: a base58 signature, as a Solana wallet shows it."""
    key = _crypto.Ed25519PrivateKey.from_private_bytes(private_key)
    return base58.b58encode(key.sign(message.encode("utf-8"))).decode()
