"""`reserves snapshot`: each chain's last block at or before a time, from real nodes (anvil and
regtest bitcoind), written into the epoch's reserves file; signatures stay valid."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from porsegregate.chains import bitcoin
from porsegregate.chains.bitcoin import BitcoinCoreReader
from porsegregate.chains.evm import EvmReader
from porsegregate.cli import main
from porsegregate.errors import ChainError
from porsegregate.protocol.models import ChainSnapshot
from porsegregate.publish.config import load_config
from porsegregate.publish.demo_reserves import write_signed_reserves
from porsegregate.publish.pipeline import assess_reserves, prepare_epoch
from porsegregate.publish.reserves import read_reserves
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE

if TYPE_CHECKING:
    from .support.bitcoin_node import BitcoinNode
    from .support.evm_node import Anvil

pytest_plugins = ["tests.support.evm_node", "tests.support.bitcoin_node"]


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evm_chain(anvil: Anvil) -> ChainSnapshot:
    return ChainSnapshot("ethereum", "evm", str(anvil.chain_id), 0, "0x" + "00" * 32, ())


def test_evm_last_block_at_or_before(anvil: Anvil) -> None:
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    base = int(latest["timestamp"], 16) + 1000
    heights = {}
    for offset in (100, 200, 300):
        anvil.set_next_block_timestamp(base + offset)
        heights[offset] = anvil.mine(1)
    reader = EvmReader(anvil.url)
    chain = evm_chain(anvil)
    for at, expect in ((base + 250, 200), (base + 200, 200), (base + 199, 100)):
        height, block_hash, block_time = reader.block_at_or_before(chain, at)
        block = anvil.rpc("eth_getBlockByNumber", [hex(heights[expect]), False])
        assert (height, block_hash, block_time) == (
            heights[expect],
            block["hash"],
            base + expect,
        ), at
    # The newest block is not after the time: a later block may still come before it.
    with pytest.raises(ChainError, match="not after the snapshot time"):
        reader.block_at_or_before(chain, base + 10**6)
    with pytest.raises(ChainError, match="first block has time"):
        reader.block_at_or_before(chain, 0)
    other = ChainSnapshot("ethereum", "evm", str(anvil.chain_id + 1), 0, "0x" + "00" * 32, ())
    with pytest.raises(ChainError, match="serves chain id"):
        reader.block_at_or_before(other, base + 250)


def _mine_past(bitcoind: BitcoinNode, at: int) -> int:
    """Mine until the tip's time is after `at` (block times have one-second resolution)."""
    for _ in range(60):
        time.sleep(0.5)
        tip = bitcoind.mine(1)
        if bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [tip])])["time"] > at:
            return tip
    raise AssertionError("regtest block times did not pass the snapshot time")


def _times(bitcoind: BitcoinNode, tip: int) -> list[int]:
    return [
        bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [h])])["time"]
        for h in range(tip + 1)
    ]


def test_bitcoin_last_block_at_or_before(bitcoind: BitcoinNode) -> None:
    target = bitcoind.mine(3)
    at = bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [target])])["time"]
    tip = _mine_past(bitcoind, at)
    times = _times(bitcoind, tip)
    expect = max(h for h, t in enumerate(times) if t <= at)
    assert expect >= target
    chain = ChainSnapshot("bitcoin", "bitcoin", "regtest", 0, "00" * 32, ())
    reader = BitcoinCoreReader(bitcoind.url)
    height, block_hash, block_time = reader.block_at_or_before(chain, at)
    assert (height, block_hash, block_time) == (
        expect,
        bitcoind.rpc("getblockhash", [expect]),
        times[expect],
    )
    with pytest.raises(ChainError, match="first block has time"):
        reader.block_at_or_before(chain, 0)
    with pytest.raises(ChainError, match="not after the snapshot time"):
        reader.block_at_or_before(chain, times[-1] + 3600)
    mainnet = ChainSnapshot("bitcoin", "bitcoin", "mainnet", 0, "00" * 32, ())
    with pytest.raises(ChainError, match="serves regtest"):
        reader.block_at_or_before(mainnet, at)


def test_reserves_snapshot_writes_blocks_and_keeps_signatures(
    anvil: Anvil, bitcoind: BitcoinNode, tmp_path: Path
) -> None:
    init_workspace(tmp_path / "ws", PASSPHRASE)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    prepared = prepare_epoch(config, PASSPHRASE, "2026-11")
    omnibus = anvil.new_account("snapshot omnibus")
    btc_key = bytes.fromhex("22" * 32)
    btc = bitcoin.address_of(btc_key, "p2wpkh", "regtest")
    chains: dict[str, dict[str, Any]] = {
        "bitcoin": {"kind": "bitcoin", "network": "regtest", "block": 1,
                    "block_hash": "ab" * 32, "assets": {"BTC": "native"}},
        "ethereum": {"kind": "evm", "chain_id": anvil.chain_id, "block": 1,
                     "block_hash": "0x" + "cd" * 32, "assets": {"ETH": "native"}},
    }  # fmt: skip
    wallets: list[dict[str, Any]] = [
        {"chain": "bitcoin", "address": btc, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"BTC": "1.2504"}},
        {"chain": "ethereum", "address": omnibus.address, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"ETH": "12.000000000000000001"}},
    ]  # fmt: skip
    keys = {btc: ("p2wpkh", btc_key), omnibus.address: ("evm", omnibus.private_key)}
    path = tmp_path / "ws" / "data" / "reserves-2026-11.toml"
    write_signed_reserves(path, prepared, chains, wallets, keys)
    before = path.read_text()

    # An EVM block a little before the snapshot time, and a later one.
    latest = int(anvil.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    anvil.set_next_block_timestamp(latest + 5000)
    evm_height = anvil.mine(1)
    anvil.set_next_block_timestamp(latest + 5100)
    anvil.mine(1)
    btc_height = bitcoind.mine(1)
    btc_time = bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [btc_height])])["time"]
    _mine_past(bitcoind, btc_time)
    # One snapshot time for both chains is what a custodian gives; the nodes' clocks differ
    # here (anvil's is ahead), so each chain is snapshotted at its own time in two runs.
    runner = CliRunner()
    for rpc, when in (
        (f"ethereum={anvil.url}", latest + 5050),
        (f"bitcoin={bitcoind.url}", btc_time),
    ):
        result = runner.invoke(
            main,
            ["reserves", "snapshot", "--workspace", str(tmp_path / "ws"), "--epoch", "2026-11",
             "--time", iso(when), "--rpc", rpc],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "signatures stay valid" in result.output
    declaration = read_reserves(path, config.assets)
    by_id = {c.id: c for c in declaration.chains}
    evm_block = anvil.rpc("eth_getBlockByNumber", [hex(evm_height), False])
    assert (by_id["ethereum"].block_height, by_id["ethereum"].block_hash) == (
        evm_height,
        evm_block["hash"],
    )
    expect_btc = max(h for h, t in enumerate(_times(bitcoind, bitcoind.height())) if t <= btc_time)
    assert (by_id["bitcoin"].block_height, by_id["bitcoin"].block_hash) == (
        expect_btc,
        bitcoind.rpc("getblockhash", [expect_btc]),
    )
    # Only the block lines changed, everything else byte for byte.
    after = path.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 4
    assert all(a.split("=")[0] in ("block ", "block_hash ") for a, _ in changed)
    # The signatures made before still verify (the message does not bind the block).
    assessment = assess_reserves(prepared, declaration)
    assert assessment.errors == []


def test_reserves_snapshot_refuses_without_rpc_and_unknown_chain(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", PASSPHRASE)
    runner = CliRunner()
    args = ["reserves", "snapshot", "--workspace", str(tmp_path / "ws"), "--epoch", "2026-11",
            "--time", "2026-11-30T23:59:59Z"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 3 and "give --rpc CHAIN=URL" in result.output
    result = runner.invoke(main, [*args, "--rpc", "ethereum=http://127.0.0.1:1"])
    assert result.exit_code == 3
    assert "reserves-2026-11.toml" in result.output  # the epoch's file, which is missing


REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def test_esplora_last_block_at_or_before() -> None:
    """The same search over an Esplora API (the stand-in server of test_chain_bitcoin)."""
    from porsegregate.chains.bitcoin import ESPLORA_PREFIX, EsploraReader

    from .test_chain_bitcoin import StandIn, esplora_routes

    start = 1_700_000_000

    def blocks(height: int) -> tuple[str, int]:
        return (REGTEST_GENESIS if height == 0 else f"{height:064x}"), start + 600 * height

    server = StandIn()
    try:
        server.route = esplora_routes(150, lambda address: [], blocks)
        reader = EsploraReader(ESPLORA_PREFIX + server.url)
        chain = ChainSnapshot("bitcoin", "bitcoin", "regtest", 0, "00" * 32, ())
        for at, expect in ((start + 600 * 77, 77), (start + 600 * 77 + 599, 77), (start, 0)):
            assert reader.block_at_or_before(chain, at) == (expect, *blocks(expect)), at
        with pytest.raises(ChainError, match="not after the snapshot time"):
            reader.block_at_or_before(chain, start + 600 * 150)
        mainnet = ChainSnapshot("bitcoin", "bitcoin", "mainnet", 0, "00" * 32, ())
        with pytest.raises(ChainError, match="serves regtest"):
            reader.block_at_or_before(mainnet, start + 600)
    finally:
        server.close()
