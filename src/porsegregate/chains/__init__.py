"""Chain families: everything that differs between kinds of chain, one module per kind.

The protocol's table (``CHAIN_KINDS`` and ``PROOF_TYPES`` in protocol/models.py)
says which kinds exist and how each proves control. Here each kind has one
module named after it whose ``FAMILY`` is a :class:`ChainFamily`: addresses,
proof-of-control signatures, balance readers, the declaration's network and
block hash, demo keys. A new chain family is one module here plus its row in the
protocol's table; the registry checks at import that the two agree.

The registry is lazy: a family's module is imported the first time its kind is
looked up, so the libraries it uses (eth-account alone takes half a second to
import) load only when a chain of that kind is used.

Each chain module delegates curve and signature work to a well-kept library made
for that chain; nothing here does elliptic-curve arithmetic itself. Modules here
import only porsegregate.protocol, errors, _crypto and _http.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import AddressError
from ..protocol.models import CHAIN_KINDS, PROOF_TYPES, ChainSnapshot
from ._family import BalanceReader, ChainFamily, unsupported_proof

__all__ = [
    "BalanceReader",
    "ChainFamily",
    "family",
    "normalize_address",
    "verify_control",
    "wallet_identity",
]


def _check_registry() -> None:
    """The family modules (every module here not starting with "_") are the protocol's kinds."""
    modules = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    if modules != set(CHAIN_KINDS):
        raise ImportError(
            f"porsegregate.chains has family modules {sorted(modules)}, but the protocol's "
            f"chain kinds are {sorted(CHAIN_KINDS)}: each kind needs one module named after it"
        )


_check_registry()


def family(kind: str) -> ChainFamily:
    """The family of chains of `kind`, one of the protocol's CHAIN_KINDS; ValueError otherwise.

    Its module is imported on first use (Python keeps it), and checked against the table.
    """
    if kind not in CHAIN_KINDS:
        raise ValueError(f"unknown chain kind {kind!r}")
    found: ChainFamily = importlib.import_module(f"{__name__}.{kind}").FAMILY
    if found.kind != kind or found.proof_types != PROOF_TYPES[kind]:
        raise ImportError(
            f"porsegregate.chains.{kind}.FAMILY is for kind {found.kind!r} with proof types "
            f"{found.proof_types}, not the protocol's {kind!r} with {PROOF_TYPES[kind]}"
        )
    return found


def normalize_address(chain: ChainSnapshot, address: str) -> str:
    """The address in its one canonical spelling for the chain; AddressError otherwise."""
    if chain.kind not in CHAIN_KINDS:
        raise AddressError(f"unknown chain kind {chain.kind!r}")
    return family(chain.kind).normalize_address(address, chain.network)


def wallet_identity(chain: ChainSnapshot, address: str) -> str:
    """A wallet as the chain sees it (T14): kind, network, then the Bitcoin output script, the
    EVM address or the Ed25519 key, so one wallet has one identity however it is spelled or
    whichever chain entry lists it. AddressError for an address the chain would not accept."""
    if chain.kind not in CHAIN_KINDS:
        raise AddressError(f"unknown chain kind {chain.kind!r}")
    return f"{chain.kind}:{chain.network}:{family(chain.kind).identity(address, chain.network)}"


def verify_control(
    chain: ChainSnapshot, address: str, proof_type: str, signature: str, message: str
) -> bytes | None:
    """The public key that signed `message` for `address` (None if the format hides it).

    Raises SignatureError (with the reason) when the signature does not verify.
    """
    if proof_type not in PROOF_TYPES.get(chain.kind, ()):
        raise unsupported_proof(chain.kind, proof_type)
    return family(chain.kind).verify_control(
        network=chain.network,
        address=address,
        proof_type=proof_type,
        signature=signature,
        message=message,
    )
