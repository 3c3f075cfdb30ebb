"""Proof of control: the message each wallet key signs, and checking that it did.

The message binds everything a signature must not be reusable across: the
custodian (name and signing-key fingerprint), the epoch, the SHA-256 of the
epoch's liabilities section, the chain, the address, the category, the
holder and, for a client_dedicated wallet, the client's tag (T11). Signature
checks are delegated to the chain modules, each built on a library made for
that chain.
"""

from __future__ import annotations

from ..errors import AddressError, SignatureError
from .hashing import PROTOCOL_VERSION
from .models import ChainSnapshot

MESSAGE_TITLE = "porsegregate proof of control"


def control_message(
    *,
    custodian: str,
    fingerprint: str,
    epoch: str,
    liabilities_sha256: str,
    chain: str,
    address: str,
    category: str,
    holder: str,
    client_tag: bytes | None,
) -> str:
    """The exact text to sign: ten lines joined by "\\n", no trailing newline."""
    return "\n".join(
        [
            f"{MESSAGE_TITLE} ({PROTOCOL_VERSION})",
            f"custodian: {custodian}",
            f"custodian key: {fingerprint}",
            f"epoch: {epoch}",
            f"liabilities: {liabilities_sha256}",
            f"chain: {chain}",
            f"address: {address}",
            f"category: {category}",
            f"holder: {holder}",
            f"client: {client_tag.hex() if client_tag is not None else 'none'}",
        ]
    )


def normalize_address(chain: ChainSnapshot, address: str) -> str:
    """The address in its one canonical spelling for the chain; AddressError otherwise."""
    if chain.kind == "evm":
        from ..chains import evm

        return evm.normalize_address(address)
    if chain.kind == "bitcoin":
        from ..chains import bitcoin

        return bitcoin.normalize_address(address, chain.network)
    if chain.kind == "ed25519":
        from ..chains import ed25519

        return ed25519.normalize_address(address)
    raise AddressError(f"unknown chain kind {chain.kind!r}")


def verify_control(
    chain: ChainSnapshot, address: str, proof_type: str, signature: str, message: str
) -> bytes | None:
    """The public key that signed `message` for `address` (None if the format hides it).

    Raises SignatureError (with the reason) when the signature does not verify.
    """
    if chain.kind == "evm" and proof_type == "eip191":
        from ..chains import evm

        return evm.verify_personal_sign(message, address, signature)
    if chain.kind == "bitcoin" and proof_type == "bip137":
        from ..chains import bitcoin

        return bitcoin.verify_bip137(message, address, signature, chain.network)
    if chain.kind == "bitcoin" and proof_type == "bip322":
        from ..chains import bitcoin

        return bitcoin.verify_bip322_simple(message, address, signature, chain.network)
    if chain.kind == "ed25519" and proof_type == "ed25519":
        from ..chains import ed25519

        return ed25519.verify(message, address, signature)
    raise SignatureError(f"a {proof_type} signature cannot prove control on a {chain.kind} chain")
