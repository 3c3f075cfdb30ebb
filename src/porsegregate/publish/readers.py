"""Balance readers: `--rpc CHAIN=URL` turned into something that reads a chain at a block.

EVM chains use a JSON-RPC node; Bitcoin uses a Bitcoin Core node
(`scantxoutset`, valid only when the node's tip is the snapshot block) or,
with an `esplora+https://...` URL, an Esplora-compatible API. A URL with an
API key in it is a secret: give `CHAIN=env:VARIABLE` to read it from the
environment instead of the command line.
"""

from __future__ import annotations

import os
import re

from ..errors import ChainError, InputError
from ..protocol.models import ChainAsset, ChainSnapshot
from .assess import BalanceReader

_SPEC = re.compile(r"([a-z0-9][a-z0-9._-]{0,31})=(.+)")
ESPLORA_PREFIX = "esplora+"


def parse_rpc_options(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    """['ethereum=http://...', 'bitcoin=env:BTC_RPC'] -> {'ethereum': url, 'bitcoin': url}."""
    urls: dict[str, str] = {}
    for option in options:
        match = _SPEC.fullmatch(option.strip())
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


class EvmReader:
    def __init__(self, url: str) -> None:
        from ..chains.evm import EvmRpc

        self.rpc = EvmRpc(url)

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        chain_id = self.rpc.chain_id()
        if str(chain_id) != chain.network:
            raise ChainError(
                f"the node serves chain id {chain_id}, but {chain.id} is declared with "
                f"chain_id {chain.network}"
            )
        return self.rpc.block(chain.block_height)

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        if asset.contract is None:
            return None
        return self.rpc.erc20_decimals(asset.contract, chain.block_height)

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        out = {}
        for address, asset in holdings:
            if asset.contract is None:
                amount = self.rpc.native_balance(address, chain.block_height)
            else:
                amount = self.rpc.erc20_balance(asset.contract, address, chain.block_height)
            out[(address, asset.code)] = amount
        return out


class BitcoinCoreReader:
    def __init__(self, url: str) -> None:
        from ..chains.bitcoin import BitcoinCoreRpc

        self.rpc = BitcoinCoreRpc(url)

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        return self.rpc.block(chain.block_height)

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        return None

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        addresses = sorted({address for address, _ in holdings})
        found = self.rpc.balances_at(addresses, chain.block_height)
        return {(address, asset.code): found.get(address, 0) for address, asset in holdings}


class EsploraReader:
    def __init__(self, url: str) -> None:
        from ..chains.bitcoin import Esplora

        self.api = Esplora(url.removeprefix(ESPLORA_PREFIX))

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        return self.api.block(chain.block_height)

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        return None

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        return {
            (address, asset.code): self.api.balance_at(address, chain.block_height)
            for address, asset in holdings
        }


def make_readers(
    urls: dict[str, str], chains: tuple[ChainSnapshot, ...]
) -> dict[str, BalanceReader]:
    by_id = {c.id: c for c in chains}
    readers: dict[str, BalanceReader] = {}
    for name, url in urls.items():
        chain = by_id.get(name)
        if chain is None:
            known = ", ".join(by_id) or "none"
            raise InputError(
                f"--rpc {name}: no such chain in the reserves file (declared: {known})"
            )
        if any(a.contract is not None for a in chain.assets) and chain.kind != "evm":
            raise InputError(f"--rpc {name}: token balances can only be read on evm chains")
        if chain.kind == "evm":
            readers[name] = EvmReader(url)
        elif chain.kind == "bitcoin":
            readers[name] = (
                EsploraReader(url) if url.startswith(ESPLORA_PREFIX) else BitcoinCoreReader(url)
            )
        else:
            raise InputError(
                f"--rpc {name}: reading balances from {chain.kind} chains is not supported yet; "
                "their balances are published as declared, not checked"
            )
    return readers
