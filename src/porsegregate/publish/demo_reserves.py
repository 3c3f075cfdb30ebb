"""A demonstration reserves declaration, signed for real by demo-only wallet keys.

Three chains (Bitcoin, Ethereum with two tokens, Solana), every category,
EIP-191, BIP-137 and Ed25519 proofs, and one client_dedicated wallet. The keys are derived
from fixed labels so the demo is reproducible; they are demo keys and hold
nothing. With `shortfall=True` one asset is deliberately under-covered so a
user can see how a shortfall is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _crypto
from .._fs import atomic_write
from ..chains import family
from ..protocol.amounts import format_decimal
from .assess import challenges
from .pipeline import PreparedEpoch
from .reserves import read_reserves

USDT_CONTRACT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
USDC_CONTRACT = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
SHORT_ASSET = "SOL"


def demo_key(label: str) -> bytes:
    """A fixed 32-byte demo key: never use these for anything but the demo."""
    return _crypto.sha256(b"porsegregate demo wallet key\x00" + label.encode())


@dataclass(frozen=True)
class _Planned:
    chain: str
    key_label: str
    address_type: str  # evm | ed25519 | a Bitcoin address type (p2wpkh...) | none (no key)
    category: str
    holder: str
    label: str
    shares: dict[str, tuple[int, int]]  # asset -> (numerator, denominator) of liabilities
    client: str | None = None
    evidence: str | None = None


# Every holder is one of the demo's declared [[entities]] (demo.py DEMO_ENTITIES).
TRUST = "Demo Custody Trustees Ltd"
SPV = "Demo Client Assets SPV Ltd"
OPCO = "Demo Custody Ltd"
BANK = "Example Bank plc"

PLAN = (
    _Planned(
        "bitcoin",
        "btc-cold-1",
        "p2wpkh",
        "client_segregated",
        TRUST,
        "BTC cold storage 1",
        {"BTC": (60, 100)},
    ),
    _Planned(
        "bitcoin",
        "btc-cold-2",
        "p2pkh",
        "client_segregated",
        SPV,
        "BTC cold storage 2",
        {"BTC": (42, 100)},
    ),
    _Planned(
        "bitcoin", "btc-house", "p2sh-p2wpkh", "proprietary", OPCO, "Treasury", {"BTC": (15, 100)}
    ),
    _Planned(
        "bitcoin",
        "",
        "none",
        "third_party",
        BANK,
        "Held at Example Bank",
        {"BTC": (5, 100)},
        evidence="Example Bank plc custody statement no. DEMO-2026-11, dated 2026-11-30",
    ),
    _Planned(
        "ethereum",
        "eth-omnibus",
        "evm",
        "client_segregated",
        TRUST,
        "Omnibus cold wallet",
        {"ETH": (101, 100), "USDT": (103, 100), "USDC": (102, 100)},
    ),
    _Planned(
        "ethereum",
        "eth-house",
        "evm",
        "proprietary",
        OPCO,
        "Operating wallet",
        {"ETH": (20, 100), "USDC": (10, 100)},
    ),
    _Planned(
        "solana",
        "sol-omnibus",
        "ed25519",
        "client_segregated",
        SPV,
        "SOL cold storage",
        {"SOL": (101, 100)},
    ),
    _Planned(
        "solana",
        "sol-house",
        "ed25519",
        "proprietary",
        OPCO,
        "SOL staking (own)",
        {"SOL": (30, 100)},
    ),
)


def demo_wallet_keys() -> dict[str, tuple[str, bytes]]:
    """Every demo wallet's (address type, key) by address: the PLAN's and the dedicated one's."""
    keys = {
        _demo_address(p.chain, p.address_type, demo_key(p.key_label)): (
            p.address_type,
            demo_key(p.key_label),
        )
        for p in PLAN
        if p.address_type != "none"
    }
    dedicated = demo_key("eth-dedicated-1")
    keys[_demo_address("ethereum", "evm", dedicated)] = ("evm", dedicated)
    return keys


def _demo_address(chain: str, address_type: str, key: bytes) -> str:
    """The address of a demo key on one of the demo's CHAINS."""
    table = CHAINS[chain]
    chain_family = family(table["kind"])
    return chain_family.demo_address(key, address_type, chain_family.network(table))


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


CHAINS: dict[str, dict[str, Any]] = {
    "bitcoin": {
        "kind": "bitcoin",
        "network": "mainnet",
        "block": 925_000,
        "block_hash": "00000000000000000001" + "de" * 22,
        "explorer_address": "https://mempool.space/address/{address}",
        "explorer_block": "https://mempool.space/block/{block}",
        "assets": {"BTC": "native"},
    },
    "ethereum": {
        "kind": "evm",
        "chain_id": 1,
        "block": 23_900_000,
        "block_hash": "0x" + "de" * 32,
        "explorer_address": "https://etherscan.io/address/{address}",
        "explorer_block": "https://etherscan.io/block/{block}",
        "assets": {"ETH": "native", "USDT": USDT_CONTRACT, "USDC": USDC_CONTRACT},
    },
    "solana": {
        "kind": "ed25519",
        "network": "mainnet-beta",
        "block": 380_000_000,
        "block_hash": "DemoB1ockhash1111111111111111111111111111111",
        "explorer_address": "https://explorer.solana.com/address/{address}",
        "explorer_block": "https://explorer.solana.com/block/{block}",
        "assets": {"SOL": "native"},
    },
}


def write_demo_reserves(path: Path, prepared: PreparedEpoch, shortfall: bool = False) -> str:
    """Write and sign a reserves file; returns the client who has a dedicated wallet."""
    totals = {a.code: (a.total, a.decimals) for a in prepared.proofs.assets}
    liabilities = prepared.liabilities
    eth_index = [a.code for a in liabilities.assets].index("ETH")
    holding = liabilities.amounts[eth_index].any(axis=1)  # the first client owed some ETH
    row = int(liabilities.holders[eth_index][holding.argmax()])
    dedicated_client = liabilities.accounts[row]
    dedicated_eth = liabilities.amount(row, eth_index) or 0

    wallets: list[dict[str, Any]] = []
    keys: dict[str, tuple[str, bytes]] = {}
    chains = {
        name: {**table, "assets": {k: v for k, v in table["assets"].items() if k in totals}}
        for name, table in CHAINS.items()
    }
    chains = {name: table for name, table in chains.items() if table["assets"]}
    for plan in PLAN:
        if plan.chain not in chains or not set(plan.shares) & set(totals):
            continue
        balances = {}
        for code, (num, den) in plan.shares.items():
            if code not in totals:
                continue
            total, decimals = totals[code]
            if shortfall and code == SHORT_ASSET and plan.category == "client_segregated":
                num = num * 80 // 100
            if code == "ETH" and plan.category == "client_segregated":
                total -= dedicated_eth
            balances[code] = format_decimal(total * num // den, decimals)
        wallet: dict[str, Any] = {"chain": plan.chain}
        if plan.address_type == "none":  # at the sub-custodian; no key of ours controls it
            wallet["address"] = _demo_address(plan.chain, "p2wpkh", demo_key("bank-omnibus"))
        else:
            key = demo_key(plan.key_label)
            wallet["address"] = _demo_address(plan.chain, plan.address_type, key)
            keys[wallet["address"]] = (plan.address_type, key)
        wallet.update(category=plan.category, holder=plan.holder, label=plan.label)
        wallet["balances"] = balances
        if plan.evidence:
            wallet.update(proof="none", evidence=plan.evidence)
        wallets.append(wallet)
    key = demo_key("eth-dedicated-1")
    address = _demo_address("ethereum", "evm", key)
    keys[address] = ("evm", key)
    wallets.append(
        {
            "chain": "ethereum",
            "address": address,
            "category": "client_dedicated",
            "holder": TRUST,
            "label": "Segregated wallet of one client",
            "client": dedicated_client,
            "balances": {"ETH": format_decimal(dedicated_eth, totals["ETH"][1])},
        }
    )

    write_signed_reserves(path, prepared, chains, wallets, keys)
    return dedicated_client


def render_reserves_toml(
    chains: dict[str, dict[str, Any]], wallets: list[dict[str, Any]], title: str = ""
) -> str:
    """A reserves declaration in TOML, from plain tables (values: str, int, bool or tables)."""
    lines = [f"# {title}" if title else "# Reserves declaration (porsegregate)", ""]
    for name, table in chains.items():
        lines.append(f"[chains.{name}]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in table.items())
        lines.append("")
    for wallet in wallets:
        lines.append("[[wallets]]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in wallet.items())
        lines.append("")
    return "\n".join(lines)


def write_signed_reserves(
    path: Path,
    prepared: PreparedEpoch,
    chains: dict[str, dict[str, Any]],
    wallets: list[dict[str, Any]],
    keys: dict[str, tuple[str, bytes]],
) -> None:
    """Declare the wallets, then sign each challenge with its key, as a custodian's signers do.

    `keys` maps an address to (address type, 32-byte key), the address type being
    a Bitcoin one (signed with BIP-137) or the chain's kind (evm, ed25519); the
    chain's family signs. Wallets without a key keep whatever proof fields they have.
    """
    for wallet in wallets:
        if wallet["address"] in keys and "proof" not in wallet:
            chain_family = family(chains[wallet["chain"]]["kind"])
            wallet["proof"] = chain_family.demo_proof_type(keys[wallet["address"]][0])
    title = "Demo keys only: they hold nothing. Signed for epoch " + prepared.epoch
    atomic_write(path, render_reserves_toml(chains, wallets, title).encode())
    declaration = read_reserves(path, prepared.config.assets, signed=False)
    signatures: dict[tuple[str, str], str] = {}
    for item in challenges(declaration, prepared.context, prepared.nonce_of):
        if item.address in keys:
            address_type, key = keys[item.address]
            chain = declaration.chain(item.chain)
            signatures[(item.chain, item.address)] = family(chain.kind).demo_sign(
                key, address_type, chain.network, item.message
            )
    for wallet in wallets:
        where = (wallet["chain"], wallet["address"])
        if where in signatures and "signature" not in wallet:
            wallet["signature"] = signatures[where]
    atomic_write(path, render_reserves_toml(chains, wallets, title).encode())
