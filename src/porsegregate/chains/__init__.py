"""Chain-specific proof of control and balance reading.

Each chain module delegates curve and signature work to a well-kept library
made for that chain; nothing here does elliptic-curve arithmetic itself.
"""

from __future__ import annotations

from ..errors import AddressError, SignatureError
from ..protocol.models import ChainSnapshot


def normalize_address(chain: ChainSnapshot, address: str) -> str:
    """The address in its one canonical spelling for the chain; AddressError otherwise."""
    if chain.kind == "evm":
        from . import evm

        return evm.normalize_address(address)
    if chain.kind == "bitcoin":
        from . import bitcoin

        return bitcoin.normalize_address(address, chain.network)
    if chain.kind == "ed25519":
        from . import ed25519

        return ed25519.normalize_address(address)
    raise AddressError(f"unknown chain kind {chain.kind!r}")


def verify_control(
    chain: ChainSnapshot, address: str, proof_type: str, signature: str, message: str
) -> bytes | None:
    """The public key that signed `message` for `address` (None if the format hides it).

    Raises SignatureError (with the reason) when the signature does not verify.
    """
    if chain.kind == "evm" and proof_type == "eip191":
        from . import evm

        return evm.verify_personal_sign(message, address, signature)
    if chain.kind == "bitcoin" and proof_type == "bip137":
        from . import bitcoin

        return bitcoin.verify_bip137(message, address, signature, chain.network)
    if chain.kind == "bitcoin" and proof_type == "bip322":
        from . import bitcoin

        return bitcoin.verify_bip322_simple(message, address, signature, chain.network)
    if chain.kind == "ed25519" and proof_type == "ed25519":
        from . import ed25519

        return ed25519.verify(message, address, signature)
    raise SignatureError(f"a {proof_type} signature cannot prove control on a {chain.kind} chain")
