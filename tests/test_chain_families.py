"""The chain registry: one family per kind of the protocol's table, loaded on first use.

Everything chain-specific goes through a family, so these tests also pin the
messages of the rules that moved into the families (a declaration's network and
block hash, tokens, balance readers, unknown kinds and proof types).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from porsegregate import chains
from porsegregate.chains import bitcoin, family, normalize_address, verify_control
from porsegregate.errors import AddressError, InputError, SignatureError
from porsegregate.protocol.models import (
    CHAIN_KINDS,
    PROOF_TYPES,
    Asset,
    ChainAsset,
    ChainSnapshot,
)
from porsegregate.publish.readers import make_readers
from porsegregate.publish.reserves import read_reserves

ASSETS = (Asset("BTC", 8), Asset("ETH", 18), Asset("SOL", 9), Asset("USDT", 6))
USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
SOL_ADDRESS = "11111111111111111111111111111111"


def snapshot(kind: str, network: str, *assets: ChainAsset, name: str = "x") -> ChainSnapshot:
    native = assets or (ChainAsset("ETH", None),)
    return ChainSnapshot(name, kind, network, 1, "00" * 32, native)


# --------------------------------------------------------------------------- the registry


def test_the_registry_is_the_protocols_table() -> None:
    for kind in CHAIN_KINDS:
        chain_family = family(kind)
        assert chain_family.kind == kind
        assert chain_family.proof_types == PROOF_TYPES[kind]
    modules = {m.name for m in pkgutil.iter_modules(chains.__path__) if m.name[0] != "_"}
    assert modules == set(CHAIN_KINDS), "one module per kind, named after it"
    with pytest.raises(ValueError, match="unknown chain kind 'tron'"):
        family("tron")


def test_families_load_on_first_use() -> None:
    """Importing the registry and its users loads no chain library; a lookup loads one."""
    code = (
        "import sys\n"
        "import porsegregate.chains, porsegregate.publish.readers, porsegregate.publish.assess\n"
        "import porsegregate.publish.reserves, porsegregate.verify.fetch\n"
        "heavy = ('eth_account', 'coincurve', 'bip322')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "porsegregate.chains.family('ed25519')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "porsegregate.chains.family('evm')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["[]", "[]", "['eth_account']"]


# --------------------------------------------------------------------------- dispatch


def test_unknown_kinds_and_proof_types() -> None:
    with pytest.raises(AddressError, match=r"^unknown chain kind 'tron'$"):
        normalize_address(snapshot("tron", "mainnet"), "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb")
    with pytest.raises(SignatureError, match=r"^a tron signature cannot prove control on a tron"):
        verify_control(snapshot("tron", "mainnet"), "T9", "tron", "sig", "message")
    evm = snapshot("evm", "1")
    with pytest.raises(SignatureError, match=r"^a bip137 signature cannot prove control on a evm"):
        verify_control(evm, USDT, "bip137", "sig", "message")
    bitcoin = snapshot("bitcoin", "mainnet", ChainAsset("BTC", None))
    with pytest.raises(SignatureError, match=r"^a eip191 signature cannot prove control on a bit"):
        verify_control(bitcoin, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "eip191", "0x", "m")
    assert normalize_address(evm, USDT.lower()) == USDT
    assert normalize_address(snapshot("ed25519", "mainnet-beta"), SOL_ADDRESS) == SOL_ADDRESS


def test_balance_readers_come_from_the_family() -> None:
    declared = (
        snapshot("evm", "1", name="ethereum"),
        snapshot("bitcoin", "mainnet", ChainAsset("BTC", None), name="bitcoin"),
        snapshot("ed25519", "mainnet-beta", ChainAsset("SOL", None), name="solana"),
        snapshot(
            "ed25519",
            "mainnet-beta",
            ChainAsset("SOL", None),
            ChainAsset("USDT", SOL_ADDRESS),
            name="spl",
        ),
    )
    readers = make_readers({"ethereum": "http://127.0.0.1:8545/"}, declared)
    assert type(readers["ethereum"]).__name__ == "EvmReader"
    core = make_readers({"bitcoin": "http://u:p@127.0.0.1:8332/"}, declared)["bitcoin"]
    assert type(core).__name__ == "BitcoinCoreReader"
    esplora = make_readers({"bitcoin": "esplora+https://mempool.space/api"}, declared)["bitcoin"]
    assert type(esplora).__name__ == "EsploraReader"
    for name, message in (
        (
            "solana",
            "--rpc solana: reading balances from ed25519 chains is not supported yet; their "
            "balances are published as declared, not checked",
        ),
        ("spl", "--rpc spl: token balances can only be read on evm chains"),
        (
            "nope",
            "--rpc nope: no such chain in the reserves file (declared: ethereum, bitcoin, "
            "solana, spl)",
        ),
    ):
        with pytest.raises(InputError) as caught:
            make_readers({name: "http://127.0.0.1:1/"}, declared)
        assert str(caught.value) == message


# --------------------------------------------------------------------------- declarations

CHAIN_TABLES = {
    "bitcoin": 'kind = "bitcoin"\nblock = 5\nblock_hash = "{hash}"\nassets = {{ BTC = "native" }}',
    "evm": 'kind = "evm"\nchain_id = 1\nblock = 5\nblock_hash = "0x{hash}"\n'
    'assets = {{ ETH = "native" }}',
    "ed25519": 'kind = "ed25519"\nblock = 5\nblock_hash = "{hash}"\nassets = {{ SOL = "native" }}',
}
BAD_CHAINS = [
    ("evm", ("chain_id = 1", "chain_id = 0"), "an evm chain needs chain_id, a positive integer "
     "(1 = Ethereum)"),
    ("evm", ("chain_id = 1", 'chain_id = "1"'), "an evm chain needs chain_id"),
    ("evm", ('"0x', '"'), "block_hash must be 0x and 64 hex digits"),
    ("bitcoin", ("block = 5", 'network = "testnet3"\nblock = 5'),
     "network must be one of mainnet, testnet, signet, regtest"),
    ("bitcoin", ("block = 5", "network = 3\nblock = 5"), "network must be one of mainnet"),
    ("bitcoin", ('block_hash = "', 'block_hash = "0x'), "block_hash must be 64 hex digits"),
    ("bitcoin", ('BTC = "native"', f'BTC = "native", USDT = "{USDT}"'),
     'assets.USDT: must be "native"'),
    ("ed25519", ("block = 5", 'network = "main net "\nblock = 5'),
     "network must be the chain's own name in lower case (letters, digits, . _ -), "
     "e.g. mainnet-beta"),
    ("ed25519", ("block = 5", 'network = "Mainnet-Beta"\nblock = 5'),
     "network must be the chain's own name in lower case"),
    ("ed25519", ('block_hash = "', 'block_hash = "\\u0007'), "block_hash must be text"),
    ("ed25519", ('SOL = "native"', 'SOL = "native", USDT = 5'),
     "assets.USDT: must be \"native\" or the token's contract / mint address"),
]  # fmt: skip


def _declaration(tmp_path: Path, kind: str, change: tuple[str, str] = ("", "")) -> Path:
    table = CHAIN_TABLES[kind].format(hash="AB" * 32)
    assert change[0] in table
    path = tmp_path / "reserves.toml"
    path.write_text(f"[chains.c]\n{table.replace(*change)}\n")
    return path


@pytest.mark.parametrize(("kind", "change", "expected"), BAD_CHAINS)
def test_declared_chain_rules(
    tmp_path: Path, kind: str, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_reserves(_declaration(tmp_path, kind, change), ASSETS)
    where = f"{tmp_path / 'reserves.toml'}: [chains.c]"
    assert any(p.startswith(where) and expected in p for p in caught.value.problems), (
        caught.value.problems
    )


SPELLINGS = [
    ("bitcoin", ("block = 5", 'network = "regtest"\nblock = 5'), "regtest", "ab" * 32),
    ("evm", ("chain_id = 1", "chain_id = 137"), "137", "0x" + "ab" * 32),
    ("ed25519", ("", ""), "mainnet", "AB" * 32),
]


@pytest.mark.parametrize(("kind", "change", "network", "block_hash"), SPELLINGS)
def test_declared_chains_in_their_one_spelling(
    tmp_path: Path, kind: str, change: tuple[str, str], network: str, block_hash: str
) -> None:
    """Hex block hashes are lowercased; the network is the chain id (evm) or defaults to
    mainnet."""
    address, asset = {
        "bitcoin": (bitcoin.address_of(b"\x01" * 32, "p2wpkh", "regtest"), "BTC"),
        "evm": (USDT, "ETH"),
        "ed25519": (SOL_ADDRESS, "SOL"),
    }[kind]
    path = _declaration(tmp_path, kind, change)
    path.write_text(
        path.read_text()
        + f'[[wallets]]\nchain = "c"\naddress = "{address}"\ncategory = "proprietary"\n'
        f'holder = "H"\nbalances = {{ {asset} = "1" }}\nproof = "none"\nevidence = "E"\n'
    )
    (chain,) = read_reserves(path, ASSETS).chains
    assert (chain.kind, chain.network, chain.block_hash) == (kind, network, block_hash)
