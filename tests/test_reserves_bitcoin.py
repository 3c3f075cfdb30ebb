"""Bitcoin reserves end to end on a real regtest node: signatures, balances, the height rule."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from porsegregate import _crypto
from porsegregate.chains import bitcoin
from porsegregate.publish.config import load_config
from porsegregate.publish.demo_reserves import write_signed_reserves
from porsegregate.publish.pipeline import assess_reserves, prepare_epoch
from porsegregate.publish.reserves import read_reserves
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE

if TYPE_CHECKING:
    from .support.bitcoin_node import BitcoinNode

pytest_plugins = [
    "tests.support.bitcoin_node"
]  # the session fixture `bitcoind`: a real regtest node


def test_bitcoin_reserves_read_from_bitcoin_core(bitcoind: BitcoinNode, tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", PASSPHRASE)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    prepared = prepare_epoch(config, PASSPHRASE, "2026-11")
    cold_key = _crypto.sha256(b"porsegregate tests: regtest cold")
    legacy_key = _crypto.sha256(b"porsegregate tests: regtest legacy")
    cold = bitcoin.address_of(cold_key, "p2wpkh", "regtest")
    legacy = bitcoin.address_of(legacy_key, "p2pkh", "regtest")
    # The sample workspace owes 1.2504 BTC.
    bitcoind.send({cold: 100_000_000, legacy: 25_040_000})
    height = bitcoind.mine(1)
    header = bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [height])])
    chains = {
        "bitcoin": {
            "kind": "bitcoin",
            "network": "regtest",
            "block": height,
            "block_hash": header["hash"],
            "assets": {"BTC": "native"},
        }
    }
    wallets: list[dict[str, Any]] = [
        {"chain": "bitcoin", "address": cold, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"BTC": "1"}},
        {"chain": "bitcoin", "address": legacy, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"BTC": "0.2504"}},
    ]  # fmt: skip
    keys = {cold: ("p2wpkh", cold_key), legacy: ("p2pkh", legacy_key)}
    snapshot = datetime.fromtimestamp(header["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def check(name: str, changes: dict[str, str] | None = None) -> Any:
        declared = copy.deepcopy(wallets)
        if changes:
            declared[0]["balances"] = changes
        path = tmp_path / name
        write_signed_reserves(path, prepared, copy.deepcopy(chains), declared, keys)
        return assess_reserves(
            prepared, read_reserves(path, config.assets), {"bitcoin": bitcoind.url}, snapshot
        )

    result = check("good.toml")
    assert result.errors == []
    assert result.checked_chains == ["bitcoin"]
    assert {h.source for w in result.reserves.wallets for h in w.holdings} == {"chain"}
    btc = next(c for c in result.reserves.coverage if c.asset == "BTC")
    assert btc.client_segregated == btc.liabilities == 125_040_000 and btc.covered

    result = check("more.toml", {"BTC": "1.1"})
    assert result.errors == [
        f"{tmp_path / 'more.toml'}: wallet 1 (bitcoin {cold}): BTC balance at block {height} "
        "is 1 on the chain, but 1.1 is declared"
    ]

    # scantxoutset reads the node's current UTXO set: once the tip moves on, it cannot
    # say what the balance was at the snapshot height, and the check says so.
    bitcoind.mine(1)
    result = check("later.toml")
    assert len(result.errors) == 1
    assert result.errors[0].startswith("bitcoin: cannot check balances:")
    assert f"not the snapshot height {height}" in result.errors[0]


@pytest.mark.parametrize("network", ["mainnet", "testnet"])
def test_an_address_of_another_network_is_refused(tmp_path: Path, network: str) -> None:
    init_workspace(tmp_path / "ws", PASSPHRASE)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    regtest = bitcoin.address_of(b"\x01" * 32, "p2wpkh", "regtest")
    path = tmp_path / "r.toml"
    path.write_text(
        f'[chains.bitcoin]\nkind = "bitcoin"\nnetwork = "{network}"\nblock = 1\n'
        f'block_hash = "{"00" * 32}"\nassets = {{ BTC = "native" }}\n\n'
        f'[[wallets]]\nchain = "bitcoin"\naddress = "{regtest}"\n'
        'category = "client_segregated"\nholder = "T"\nbalances = { BTC = "1" }\n'
        'proof = "bip137"\nsignature = "x"\n'
    )
    from porsegregate.errors import InputError

    with pytest.raises(InputError) as info:
        read_reserves(path, config.assets)
    assert len(info.value.problems) == 1
    assert f"{path}: wallet 1: address:" in info.value.problems[0]
