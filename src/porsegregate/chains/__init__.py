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
import os
import pkgutil
import re

from ..errors import AddressError, InputError
from ..protocol.models import (
    CHAIN_KINDS,
    NETWORK_BOUND_KINDS,
    PROOF_TYPES,
    ChainAsset,
    ChainSnapshot,
)
from ._family import BalanceReader, ChainFamily, ChainReading, unsupported_proof

__all__ = [
    "BalanceReader",
    "ChainFamily",
    "ChainReading",
    "balance_reader",
    "family",
    "normalize_address",
    "parse_rpc_options",
    "read_chain",
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
    whichever chain entry lists it. An Ed25519 network is only a name: there the key alone is
    the wallet ("*" for the network). AddressError for an address the chain would not accept."""
    if chain.kind not in CHAIN_KINDS:
        raise AddressError(f"unknown chain kind {chain.kind!r}")
    try:
        seen = family(chain.kind).identity(address, chain.network)
    except ValueError as exc:  # a network the family does not know
        raise AddressError(str(exc)) from exc
    network = chain.network if chain.kind in NETWORK_BOUND_KINDS else "*"
    return f"{chain.kind}:{network}:{seen}"


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


# --------------------------------------------------------------------------- --rpc CHAIN=URL

_RPC_SPEC = re.compile(r"([a-z0-9][a-z0-9._-]{0,31})=(.+)")


def parse_rpc_options(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    """['ethereum=http://...', 'bitcoin=env:BTC_RPC'] -> {'ethereum': url, 'bitcoin': url}.

    The same `--rpc CHAIN=URL` (or `CHAIN=env:VARIABLE`, for a URL with an API key in
    it) for the custodian's publish and for an auditor's or client's re-read.
    """
    urls: dict[str, str] = {}
    for option in options:
        match = _RPC_SPEC.fullmatch(option.strip())
        if not match:
            raise InputError(f"--rpc {option!r}: expected CHAIN=URL or CHAIN=env:VARIABLE")
        name, url = match.groups()
        if url.startswith("env:"):
            variable = url[4:]
            value = os.environ.get(variable)
            if not value:
                raise InputError(f"--rpc {name}: the environment variable {variable} is not set")
            url = value
        if name in urls:
            raise InputError(f"--rpc {name} is given twice")
        if not re.match(r"(esplora\+)?https?://", url):
            raise InputError(f"--rpc {name}: the URL must start with http:// or https://")
        urls[name] = url
    return urls


def balance_reader(chain: ChainSnapshot, url: str) -> BalanceReader:
    """The chain family's reader of `chain` from the node at `url`; InputError naming the
    chain when its kind's balances cannot be read (or the URL is malformed)."""
    try:
        return family(chain.kind).balance_reader(chain, url)
    except (InputError, ValueError) as exc:
        raise InputError(f"--rpc {chain.id}: {exc}") from exc


def read_chain(
    chain: ChainSnapshot, url: str, holdings: list[tuple[str, ChainAsset]], declared: int = 0
) -> ChainReading:
    """The signed `chain` read again from the node at `url` (docs/protocol.md section 12).

    First the network the node serves, then the hash of its block at the signed
    height; only when both are the signed ones are the `holdings` ((address, asset)
    pairs) read at that height. Nothing is compared here: that is the verifier's
    check. ChainError when the node gives no trustworthy answer.
    """
    if not holdings:
        return ChainReading(chain.id, "", None, chain.block_height, None, None, declared)
    reader = balance_reader(chain, url)
    network = reader.network(chain)
    if network != chain.network:
        return ChainReading(
            chain.id, reader.node, network, chain.block_height, None, None, declared
        )
    block_hash, _ = reader.block(chain)
    if block_hash.lower() != chain.block_hash.lower():
        return ChainReading(
            chain.id, reader.node, network, chain.block_height, block_hash.lower(), None, declared
        )
    balances = reader.balances(chain, holdings)
    return ChainReading(
        chain.id, reader.node, network, chain.block_height, block_hash.lower(), balances, declared
    )
