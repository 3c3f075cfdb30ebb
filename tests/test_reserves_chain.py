"""Balances read from a real EVM node (anvil) at the snapshot block, through publish and the CLI.

The chain moves on after the snapshot block (more tokens in, ether out), so
a reader that looked at the latest block instead of the stated one would
fail these tests.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from porsegregate.cli import main
from porsegregate.publish.config import Config, load_config
from porsegregate.publish.demo_reserves import write_signed_reserves
from porsegregate.publish.pipeline import (
    PreparedEpoch,
    PublishOptions,
    assess_reserves,
    prepare_epoch,
    publish,
)
from porsegregate.publish.reserves import read_reserves
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE, own_log

if TYPE_CHECKING:
    from .support.evm_node import Anvil, DevAccount

# The session fixture `anvil`: a real local node.
pytest_plugins = ["tests.support.evm_node"]

EPOCH = "2026-11"
ETHER = 10**18


@dataclass
class Snapshot:
    config: Config
    prepared: PreparedEpoch
    chains: dict[str, dict[str, Any]]
    wallets: list[dict[str, Any]]
    keys: dict[str, tuple[str, bytes]]
    block: int
    block_hash: str
    snapshot_time: str
    url: str

    def write(self, path: Path, **chain_changes: Any) -> Path:
        chains = copy.deepcopy(self.chains)
        chains["ethereum"].update(chain_changes)
        write_signed_reserves(path, self.prepared, chains, copy.deepcopy(self.wallets), self.keys)
        return path


@pytest.fixture(scope="module")
def snapshot(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("chain-reserves")
    init_workspace(root, PASSPHRASE)
    config = load_config(root / "porsegregate.toml")
    prepared = prepare_epoch(config, PASSPHRASE, EPOCH)
    funder = anvil.accounts[0]
    omnibus: DevAccount = anvil.new_account("reserves omnibus")
    bob: DevAccount = anvil.new_account("reserves bob dedicated")
    house: DevAccount = anvil.new_account("reserves house")
    token = anvil.deploy_token(funder, 10**15)  # 6 decimals, like USDT
    # What the sample workspace owes: USDT 251625.75 and ETH 12.000000000000000001 (all bob's).
    anvil.transfer_token(token, funder, omnibus.address, 251_625_750_000)
    anvil.transfer_ether(funder, omnibus.address, ETHER)  # gas money, counted as ETH reserves
    anvil.transfer_ether(funder, bob.address, 12 * ETHER + 1)
    receipt = anvil.transfer_ether(funder, house.address, 50 * ETHER)
    block = anvil.rpc("eth_getBlockByNumber", [hex(receipt.block_number), False])
    # The chain moves on after the snapshot.
    anvil.transfer_token(token, funder, omnibus.address, 1_000_000)
    anvil.transfer_ether(bob, funder.address, 5 * ETHER)
    anvil.mine(3)
    chains = {
        "bitcoin": {
            "kind": "bitcoin",
            "network": "mainnet",
            "block": 900_000,
            "block_hash": "00" * 32,
            "assets": {"BTC": "native"},
        },
        "ethereum": {
            "kind": "evm",
            "chain_id": anvil.chain_id,
            "block": receipt.block_number,
            "block_hash": receipt.block_hash,
            "assets": {"ETH": "native", "USDT": token},
        },
    }
    from porsegregate.chains import bitcoin

    btc_key = bytes.fromhex("11" * 32)
    btc = bitcoin.address_of(btc_key, "p2wpkh", "mainnet")
    wallets = [
        {"chain": "bitcoin", "address": btc, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"BTC": "1.2504"}},
        {"chain": "ethereum", "address": omnibus.address, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"ETH": "1", "USDT": "251625.75"}},
        {"chain": "ethereum", "address": bob.address, "category": "client_dedicated",
         "holder": "Client Trust", "client": "bob-7731",
         "balances": {"ETH": "12.000000000000000001"}},
        {"chain": "ethereum", "address": house.address, "category": "proprietary",
         "holder": "Example Custody Ltd", "balances": {"ETH": "50"}},
    ]  # fmt: skip
    keys = {
        btc: ("p2wpkh", btc_key),
        omnibus.address: ("evm", omnibus.private_key),
        bob.address: ("evm", bob.private_key),
        house.address: ("evm", house.private_key),
    }
    when = datetime.fromtimestamp(int(block["timestamp"], 16), UTC)
    return Snapshot(
        config,
        prepared,
        chains,
        wallets,
        keys,
        receipt.block_number,
        receipt.block_hash,
        when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        anvil.url,
    )


def check(s: Snapshot, path: Path, snapshot_time: str | None = None) -> Any:
    return assess_reserves(
        s.prepared,
        read_reserves(path, s.config.assets),
        {"ethereum": s.url},
        snapshot_time or s.snapshot_time,
    )


def test_balances_match_the_chain_at_the_snapshot_block(snapshot: Snapshot, tmp_path: Path) -> None:
    result = check(snapshot, snapshot.write(tmp_path / "r.toml"))
    assert result.errors == [] and result.shortfalls == []
    assert result.checked_chains == ["ethereum"] and result.unchecked_chains == ["bitcoin"]
    sources = {(w.chain, h.asset): h.source for w in result.reserves.wallets for h in w.holdings}
    assert sources[("ethereum", "USDT")] == "chain" and sources[("ethereum", "ETH")] == "chain"
    assert sources[("bitcoin", "BTC")] == "declared"


def test_a_declared_balance_that_differs_is_an_error(snapshot: Snapshot, tmp_path: Path) -> None:
    s = copy.deepcopy(snapshot)
    s.wallets[1]["balances"]["USDT"] = "251626.75"  # what the chain holds *after* the snapshot
    result = check(s, s.write(tmp_path / "r.toml"))
    assert result.errors == [
        f"{tmp_path / 'r.toml'}: wallet 2 (ethereum {s.wallets[1]['address']}): USDT balance at "
        f"block {s.block} is 251625.75 on the chain, but 251626.75 is declared"
    ]


def test_a_wrong_block_hash_or_chain_is_an_error(snapshot: Snapshot, tmp_path: Path) -> None:
    wrong = "0x" + "ab" * 32
    result = check(snapshot, snapshot.write(tmp_path / "a.toml", block_hash=wrong))
    assert result.errors == [
        f"ethereum: cannot check balances: block {snapshot.block} has hash "
        f"{snapshot.block_hash} on the node, but the declaration says {wrong}"
    ]
    result = check(snapshot, snapshot.write(tmp_path / "b.toml", chain_id=1))
    assert len(result.errors) == 1
    assert "but ethereum is declared with chain_id 1" in result.errors[0]
    result = check(snapshot, snapshot.write(tmp_path / "c.toml", block=10**9))
    assert len(result.errors) == 1 and result.errors[0].startswith("ethereum: cannot check")


def test_reserves_far_from_the_snapshot_time(snapshot: Snapshot, tmp_path: Path) -> None:
    result = check(snapshot, snapshot.write(tmp_path / "r.toml"), "2020-01-01T00:00:00Z")
    assert len(result.errors) == 1
    assert f"ethereum: block {snapshot.block} was mined at " in result.errors[0]
    assert "reserves must be taken at the same time as liabilities" in result.errors[0]


def test_unreachable_node(snapshot: Snapshot, tmp_path: Path) -> None:
    from .support.evm_node import Anvil

    result = assess_reserves(
        snapshot.prepared,
        read_reserves(snapshot.write(tmp_path / "r.toml"), snapshot.config.assets),
        {"ethereum": f"http://user:secret@127.0.0.1:{Anvil.free_port()}/"},
        snapshot.snapshot_time,
    )
    assert len(result.errors) == 1 and "ethereum: cannot check balances" in result.errors[0]
    assert "secret" not in result.errors[0], "credentials in a URL are never shown"


def test_publish_with_rpc_marks_balances_read_from_the_chain(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    path = snapshot.write(tmp_path / "r.toml")
    options = PublishOptions(
        EPOCH,
        snapshot_time=snapshot.snapshot_time,
        site=tmp_path / "site",
        codes_path=tmp_path / "codes.csv",
        reserves_path=path,
        rpc_urls={"ethereum": snapshot.url},
    )
    result = publish(
        own_log(snapshot.config, tmp_path), PASSPHRASE, options, prepared=snapshot.prepared
    )
    assert not result.attestation.reserves.shortfall
    page = (tmp_path / "site" / "reserves.html").read_text()
    assert '251625.75 USDT <span class="muted">(read from the chain)</span>' in page
    assert '1.2504 BTC <span class="muted">(declared, not checked)</span>' in page


def test_cli_reserves_check(snapshot: Snapshot, tmp_path: Path, monkeypatch: Any) -> None:
    path = snapshot.write(tmp_path / "r.toml")
    env = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode(), "ETH_RPC": snapshot.url}
    args = ["reserves", "check", "-w", str(snapshot.config.workspace), "--epoch", EPOCH,
            "--reserves", str(path), "--snapshot-time", snapshot.snapshot_time,
            "--rpc", "ethereum=env:ETH_RPC"]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["checked_chains"] == ["ethereum"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0 and "All reserves checks pass." in result.output
    s = copy.deepcopy(snapshot)
    s.wallets[2]["balances"]["ETH"] = "7.000000000000000001"  # bob's balance after the snapshot
    bad = s.write(tmp_path / "bad.toml")
    result = CliRunner().invoke(main, [*args[:-4], "--reserves", str(bad), *args[-4:]], env=env)
    assert result.exit_code == 1, result.output
    assert "is 12.000000000000000001 on the chain, but 7.000000000000000001 is declared" in (
        result.output
    )
    assert "Reserves checks FAILED: 1 problem(s)" in result.output  # not "Shortfall:"
    for option, message in (
        ("ethereum", "expected CHAIN=URL or CHAIN=env:VARIABLE"),
        ("ethereum=env:NOPE_NOT_SET", "the environment variable NOPE_NOT_SET is not set"),
        ("ethereum=ftp://x", "the URL must start with http:// or https://"),
        ("solana=http://x", "no such chain in the reserves file"),
    ):
        result = CliRunner().invoke(main, [*args[:-1], option], env=env)
        assert result.exit_code == 3, (option, result.output)
        assert message in result.output, (option, result.output)


def test_a_token_with_other_decimals_is_refused(
    snapshot: Snapshot, anvil: Anvil, tmp_path: Path
) -> None:
    """A 6-decimal token declared as BTC (8 decimals) would be misread 100-fold."""
    wrapped = anvil.deploy_token(anvil.accounts[0], 10**9)
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assets = {**snapshot.chains["ethereum"]["assets"], "BTC": wrapped}
    path = snapshot.write(
        tmp_path / "r.toml",
        assets=assets,
        block=int(latest["number"], 16),
        block_hash=latest["hash"],
    )
    result = check(snapshot, path)
    assert result.errors == [
        f"ethereum: cannot check balances: the BTC token {wrapped} has 6 decimals, but BTC has "
        "8 in porsegregate.toml; amounts would be misread (use a separate asset code for this "
        "token)"
    ]
