"""Ed25519 chains whose address is the public key in base58 (Solana and its kind).

The wallet signs the exact UTF-8 bytes of the challenge message, as Solana
wallets' `signMessage` does; the signature is given in base58 (as wallets
show it) or as 128 hex digits. Verification is `cryptography`'s Ed25519.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import base58

from .. import _crypto
from ..errors import AddressError, InputError, SignatureError
from ..protocol.hashing import text_problem
from ..protocol.models import NETWORK_PATTERNS, PROOF_TYPES, ChainSnapshot
from ._family import BalanceReader, ChainFamily, refuse_tokens, unsupported_proof

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


class Ed25519Family:
    """Ed25519 chains (Solana and its kind): tokens are declared by mint address; their
    balances cannot be read from a node yet, so they are published as declared."""

    kind = "ed25519"
    proof_types = PROOF_TYPES["ed25519"]
    tokens = True

    def network(self, table: Mapping[str, Any]) -> str:
        network = table.get("network", "mainnet")
        if not isinstance(network, str) or not re.fullmatch(NETWORK_PATTERNS["ed25519"], network):
            raise ValueError(
                "network must be the chain's own name in lower case (letters, digits, . _ -), "
                "e.g. mainnet-beta"
            )
        return network

    def block_hash(self, text: str) -> str:
        if text_problem(text, 100) is not None:
            raise ValueError("block_hash must be text")
        return text

    def normalize_address(self, address: str, network: str) -> str:
        return normalize_address(address)

    def identity(self, address: str, network: str) -> str:
        return public_key_bytes(address).hex()

    def verify_control(
        self, *, network: str, address: str, proof_type: str, signature: str, message: str
    ) -> bytes | None:
        if proof_type != "ed25519":
            raise unsupported_proof(self.kind, proof_type)
        return verify(message, address, signature)

    def balance_reader(self, chain: ChainSnapshot, url: str) -> BalanceReader:
        refuse_tokens(chain)
        raise InputError(
            f"reading balances from {self.kind} chains is not supported yet; "
            "their balances are published as declared, not checked"
        )

    def _demo_type(self, address_type: str) -> None:
        if address_type != self.kind:
            raise ValueError(
                f"an ed25519 demo key has address type 'ed25519', not {address_type!r}"
            )

    def demo_address(self, key: bytes, address_type: str, network: str) -> str:
        self._demo_type(address_type)
        return address_of(key)

    def demo_proof_type(self, address_type: str) -> str:
        self._demo_type(address_type)
        return "ed25519"

    def demo_sign(self, key: bytes, address_type: str, network: str, message: str) -> str:
        self._demo_type(address_type)
        return sign(message, key)


FAMILY: ChainFamily = Ed25519Family()
