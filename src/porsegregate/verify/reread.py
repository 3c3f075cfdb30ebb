"""Reading a signed attestation's chains again from the verifier's own nodes (section 12).

`source: chain` and the snapshot block are the custodian's claim: it chose the
node. `--rpc CHAIN=URL` given to `audit`, `verify` or `cosign` reads every
holding of that chain the attestation says was read from the chain, at the
signed block height, from a node the verifier chooses; the comparison is
checks.py's (`reread_problems`, check `reserves-reread`). Holdings published as
declared (Ed25519 chains such as Solana, whose balances porsegregate cannot
read, or chains the custodian gave no node for) are never re-read: they stay
"declared, not checked".
"""

from __future__ import annotations

from collections.abc import Mapping

from ..chains import ChainReading, read_chain
from ..errors import InputError
from ..protocol.models import Attestation, ChainAsset

__all__ = ["check_chains_listed", "reread"]


def check_chains_listed(attestation: Attestation, urls: Mapping[str, str]) -> None:
    """InputError (exit 3) for a `--rpc CHAIN` the attestation does not list."""
    listed = [c.id for c in attestation.reserves.chains]
    for name in urls:
        if name not in listed:
            raise InputError(
                f"--rpc {name}: the attestation of epoch {attestation.epoch_id} lists no chain "
                f"{name!r} (it lists: {', '.join(listed) or 'none'})"
            )


def reread(attestation: Attestation, urls: Mapping[str, str]) -> list[ChainReading]:
    """Each chain given a node read again at its signed block, in the attestation's order.

    InputError for a chain the attestation does not list (before any node is asked),
    ChainError when a node gives no trustworthy answer.
    """
    check_chains_listed(attestation, urls)
    readings = []
    for chain in attestation.reserves.chains:
        url = urls.get(chain.id)
        if url is None:
            continue
        holdings: list[tuple[str, ChainAsset]] = []
        declared = 0
        for wallet in attestation.reserves.wallets:
            if wallet.chain != chain.id:
                continue
            for holding in wallet.holdings:
                asset = chain.asset(holding.asset)
                if holding.source == "chain" and asset is not None:
                    holdings.append((wallet.address, asset))
                else:
                    declared += 1
        readings.append(read_chain(chain, url, holdings, declared))
    return readings
