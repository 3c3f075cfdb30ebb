"""T15: balances read again from the verifier's own node (`--rpc` of audit, verify, cosign).

A custodian chooses the node it reads, so `source: chain` and the snapshot block are its
own claim. Here custodians publish through a lying node (tests/support/lying_node.py: a
proxy in front of the real anvil or regtest bitcoind that edits one reply): the site is
signed, logged and consistent, every other check holds, and only reading the chain again
from the honest node catches the edited balance, block hash or chain id.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from porsegregate import _crypto
from porsegregate.audit import audit_site
from porsegregate.chains import ChainReading, bitcoin, ed25519
from porsegregate.cli import main
from porsegregate.cosign import cosign
from porsegregate.errors import FormatError, InputError, VerificationError
from porsegregate.protocol.cosignature import (
    COSIGN_FORMAT,
    COSIGN_FORMAT_REREAD,
    RereadChain,
    document_bytes,
    parse_document,
)
from porsegregate.protocol.serialization import parse_attestation
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import Config, load_config
from porsegregate.publish.demo_reserves import write_signed_reserves
from porsegregate.publish.pipeline import PreparedEpoch, PublishOptions, prepare_epoch, publish
from porsegregate.publish.workspace import init_workspace
from porsegregate.verify import checks
from porsegregate.verify.client import verify_site
from porsegregate.verify.cosignatures import verify_cosignatures

from .conftest import PASSPHRASE, own_log
from .support.lying_node import LyingNode
from .test_browser import browser  # noqa: F401 - the fixture, for the page test

if TYPE_CHECKING:
    from .support.bitcoin_node import BitcoinNode
    from .support.evm_node import Anvil

pytest_plugins = ["tests.support.evm_node", "tests.support.bitcoin_node"]

EPOCH = "2026-11"
ETHER = 10**18
CLIENT = "bob-7731"  # the sample workspace's client with ETH and USDT
NOWHERE = "http://127.0.0.1:9/"  # a node that is never asked: nothing of its chain is re-read


@dataclass
class Chain:
    config: Config
    prepared: PreparedEpoch
    chains: dict[str, dict[str, Any]]
    wallets: list[dict[str, Any]]
    keys: dict[str, tuple[str, bytes]]
    snapshot_time: str
    url: str
    token: str
    bob: str
    omnibus: str

    def publish(self, folder: Path, url: str, wallets: list[dict[str, Any]] | None = None,
                **changes: Any) -> Path:  # fmt: skip
        chains = copy.deepcopy(self.chains)
        chains["ethereum"].update(changes)
        folder.mkdir()
        reserves = folder / "reserves.toml"
        declared = copy.deepcopy(wallets if wallets is not None else self.wallets)
        write_signed_reserves(reserves, self.prepared, chains, declared, self.keys)
        options = PublishOptions(
            EPOCH,
            snapshot_time=self.snapshot_time,
            site=folder / "site",
            codes_path=folder / "codes.csv",
            reserves_path=reserves,
            rpc_urls={"ethereum": url},
        )
        publish(own_log(self.config, folder), PASSPHRASE, options, prepared=self.prepared)
        return folder / "site"


@pytest.fixture(scope="module")
def evm(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    root = tmp_path_factory.mktemp("reread-evm")
    init_workspace(root, PASSPHRASE)
    config = load_config(root / "porsegregate.toml")
    prepared = prepare_epoch(config, PASSPHRASE, EPOCH)
    funder = anvil.accounts[0]
    omnibus = anvil.new_account("reread omnibus")
    bob = anvil.new_account("reread bob dedicated")
    token = anvil.deploy_token(funder, 10**15)  # 6 decimals, like USDT
    anvil.transfer_token(token, funder, omnibus.address, 251_625_750_000)
    anvil.transfer_ether(funder, omnibus.address, ETHER)
    receipt = anvil.transfer_ether(funder, bob.address, 12 * ETHER + 1)
    block = anvil.rpc("eth_getBlockByNumber", [hex(receipt.block_number), False])
    # The chain moves on after the snapshot: a re-read at "latest" would differ.
    anvil.transfer_token(token, funder, omnibus.address, 1_000_000)
    anvil.transfer_ether(bob, funder.address, 5 * ETHER)
    anvil.mine(2)
    btc_key, sol_key = bytes.fromhex("21" * 32), bytes.fromhex("22" * 32)
    btc = bitcoin.address_of(btc_key, "p2wpkh", "mainnet")
    sol = ed25519.address_of(sol_key)
    mint = ed25519.address_of(bytes.fromhex("23" * 32))
    chains = {
        "bitcoin": {"kind": "bitcoin", "network": "mainnet", "block": 900_000,
                    "block_hash": "00" * 32, "assets": {"BTC": "native"}},
        "ethereum": {"kind": "evm", "chain_id": anvil.chain_id, "block": receipt.block_number,
                     "block_hash": receipt.block_hash, "assets": {"ETH": "native", "USDT": token}},
        "solana": {"kind": "ed25519", "network": "mainnet", "block": 300_000_000,
                   "block_hash": "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
                   "assets": {"USDT": mint}},
    }  # fmt: skip
    wallets = [
        {"chain": "bitcoin", "address": btc, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"BTC": "1.2504"}},
        {"chain": "ethereum", "address": omnibus.address, "category": "client_segregated",
         "holder": "Client Trust", "balances": {"ETH": "1", "USDT": "251625.75"}},
        {"chain": "ethereum", "address": bob.address, "category": "client_dedicated",
         "holder": "Client Trust", "client": CLIENT, "balances": {"ETH": "12.000000000000000001"}},
        {"chain": "solana", "address": sol, "category": "proprietary",
         "holder": "Example Custody Ltd", "balances": {"USDT": "5"}},
    ]  # fmt: skip
    keys = {
        btc: ("p2wpkh", btc_key),
        sol: ("ed25519", sol_key),
        omnibus.address: ("evm", omnibus.private_key),
        bob.address: ("evm", bob.private_key),
    }
    when = datetime.fromtimestamp(int(block["timestamp"], 16), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Chain(config, prepared, chains, wallets, keys, when, anvil.url, token,
                 bob.address, omnibus.address)  # fmt: skip


@pytest.fixture(scope="module")
def honest(evm: Chain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evm.publish(tmp_path_factory.mktemp("reread-honest") / "p", evm.url)


def shown(chain: Chain) -> str:
    """The node's URL as errors show it."""
    return chain.url.rstrip("/") + "/"


def _add(amount: int, text: str) -> str:
    return hex(int(text, 16) + amount)


@pytest.fixture(scope="module")
def inflated(evm: Chain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Published through a node that adds 1 ETH to bob's balance and 1000 USDT to the
    omnibus wallet's: the custodian declares (and signs) what its node says."""
    bob, omnibus = evm.bob.lower(), evm.omnibus.lower()[2:]

    def edit(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBalance" and params[0].lower() == bob:
            return _add(ETHER, result)
        if method == "eth_call" and params[0]["data"].endswith(omnibus):
            return "0x" + (int(result, 16) + 1_000_000_000).to_bytes(32, "big").hex()
        return result

    wallets = copy.deepcopy(evm.wallets)
    wallets[1]["balances"]["USDT"] = "252625.75"
    wallets[2]["balances"]["ETH"] = "13.000000000000000001"
    with LyingNode(evm.url, edit) as node:
        return evm.publish(tmp_path_factory.mktemp("reread-inflated") / "p", node.url, wallets)


def test_an_honest_site_passes_the_reread(evm: Chain, honest: Path) -> None:
    report = audit_site(str(honest), rpc_urls={"ethereum": evm.url})
    assert report.ok, [c for c in report.failed]
    line = next(c for c in report.checks if c.id == "reserves-reread")
    assert line.status == "pass"
    assert "ethereum: 3 balances at block" in line.detail and "match the signed ones" in line.detail
    [reading] = report.rereads
    assert reading.balances is not None and reading.declared == 0
    # Without --rpc the check is not applicable, and says the balances are the custodian's word.
    line = next(c for c in audit_site(str(honest)).checks if c.id == "reserves-reread")
    assert line.status == "n/a" and "custodian's node" in line.detail


def test_declared_holdings_are_not_reread(evm: Chain, honest: Path) -> None:
    """Bitcoin here and Solana (an Ed25519 chain: no reader) were published as declared:
    no node is asked (NOWHERE would fail), and they are reported as not checked."""
    urls = {"ethereum": evm.url, "bitcoin": NOWHERE, "solana": NOWHERE}
    report = audit_site(str(honest), rpc_urls=urls)
    assert report.ok
    line = next(c for c in report.checks if c.id == "reserves-reread")
    assert "bitcoin: nothing to re-read, every holding is declared, not checked" in line.detail
    assert "solana: nothing to re-read, every holding is declared, not checked" in line.detail
    shown = {r.chain: (r.balances is None, r.declared) for r in report.rereads}
    assert shown == {"bitcoin": (True, 1), "ethereum": (False, 0), "solana": (True, 1)}


def test_an_inflated_balance_is_caught_by_audit(evm: Chain, inflated: Path) -> None:
    plain = audit_site(str(inflated))
    assert plain.ok, "every other check holds: the lie is signed, logged and consistent"
    report = audit_site(str(inflated), rpc_urls={"ethereum": evm.url})
    assert not report.ok
    assert [c.id for c in report.failed] == ["reserves-reread", "reserves-reread"]
    details = sorted(c.detail for c in report.failed)
    block = evm.chains["ethereum"]["block"]
    assert details == sorted([
        f"epoch {EPOCH}: ethereum {evm.bob} ETH: the attestation signs 13.000000000000000001 ETH "
        f"at block {block}, the node at {shown(evm)} reads 12.000000000000000001 ETH",
        f"epoch {EPOCH}: ethereum {evm.omnibus} USDT: the attestation signs 252625.75 USDT at "
        f"block {block}, the node at {shown(evm)} reads 251625.75 USDT",
    ]), details  # fmt: skip


def test_an_inflated_balance_is_caught_by_verify(
    evm: Chain, inflated: Path, tmp_path: Path
) -> None:
    code = read_client_codes(inflated.parent / "codes.csv")[CLIENT]
    report = verify_site(str(inflated), CLIENT, code)
    assert report.verified
    report = verify_site(str(inflated), CLIENT, code, rpc_urls={"ethereum": evm.url})
    assert not report.verified and report.failed is not None
    assert report.failed.id == "reserves-reread"
    assert f"ethereum {evm.bob} ETH: the attestation signs 13.000000000000000001 ETH" in (
        report.failed.detail
    )
    runner = CliRunner(env={"PORSEGREGATE_CODE": code})
    args = ["verify", "--site", str(inflated), "--account", CLIENT]
    result = runner.invoke(
        main, [*args, "--rpc", "ethereum=env:ETH_NODE"], env={"ETH_NODE": evm.url}
    )
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED: check reserves-reread failed: ethereum " in result.output
    # A downloaded proof file carries the signed attestation: the same re-read works offline
    # from the site (online to the node).
    proof = tmp_path / "proof.json"
    result = runner.invoke(main, [*args, "--save-proof", str(proof)])
    assert result.exit_code == 0, result.output
    offline = ["verify", "--proof", str(proof), "--account", CLIENT]
    result = runner.invoke(main, [*offline, "--rpc", f"ethereum={evm.url}"])
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED: check reserves-reread failed: ethereum " in result.output
    result = runner.invoke(main, [*args, "--rpc", "nochain=http://127.0.0.1:9/"])
    assert result.exit_code == 3, result.output
    assert "--rpc nochain: the attestation of epoch 2026-11 lists no chain 'nochain'" in (
        result.output
    )


def test_audit_cli_and_a_real_subprocess(evm: Chain, honest: Path, inflated: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["audit", str(honest), "--rpc", f"ethereum={evm.url}", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["reread"][0]["chain"] == "ethereum" and doc["reread"][0]["balances_read"] == 3
    result = runner.invoke(main, ["audit", str(honest), "--rpc", "nochain=http://127.0.0.1:9/"])
    assert result.exit_code == 3 and "lists no chain 'nochain'" in result.output
    proc = subprocess.run(
        [sys.executable, "-m", "porsegregate.cli", "audit", str(inflated),
         "--rpc", f"ethereum={evm.url}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAIL reserves-reread: epoch {EPOCH}: ethereum {evm.bob} ETH" in proc.stdout
    assert "AUDIT FAILED: 1 check(s) failed: reserves-reread" in proc.stdout


def test_a_block_of_another_fork_is_caught(evm: Chain, tmp_path: Path) -> None:
    fake = "0x" + "ab" * 32

    def edit(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and isinstance(result, dict):
            return {**result, "hash": fake}
        return result

    with LyingNode(evm.url, edit) as node:
        site = evm.publish(tmp_path / "p", node.url, block_hash=fake)
    report = audit_site(str(site), rpc_urls={"ethereum": evm.url})
    [failure] = report.failed
    block = evm.chains["ethereum"]["block"]
    honest_hash = evm.chains["ethereum"]["block_hash"].lower()
    assert failure.detail == (
        f"epoch {EPOCH}: ethereum: block {block} is {honest_hash} on the node at "
        f"{shown(evm)}, but the attestation signs {fake}: the balances were read on "
        "another fork, or the signed block hash was altered"
    )
    assert report.rereads[0].balances is None, "no balance is read on another block"


def test_another_chain_id_is_caught(evm: Chain, anvil: Anvil, tmp_path: Path) -> None:
    def edit(method: str, params: list[Any], result: Any) -> Any:
        return "0x1" if method == "eth_chainId" else result

    with LyingNode(evm.url, edit) as node:
        site = evm.publish(tmp_path / "p", node.url, chain_id=1)
    result = CliRunner().invoke(main, ["audit", str(site), "--rpc", f"ethereum={evm.url}"])
    assert result.exit_code == 1, result.output
    assert (
        f"ethereum: the node at {shown(evm)} serves chain id {anvil.chain_id}, but the "
        "attestation signs chain id 1"
    ) in result.output


def _auditor_pem(path: Path) -> _crypto.Ed25519PrivateKey:
    key = _crypto.generate_signing_key()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def test_cosign_states_the_chains_it_reread(evm: Chain, honest: Path, tmp_path: Path) -> None:
    import shutil

    site = tmp_path / "site"
    shutil.copytree(honest, site)
    key_path = tmp_path / "auditor.pem"
    key = _auditor_pem(key_path)
    fingerprint = _crypto.fingerprint(key.public_key())
    result = CliRunner().invoke(
        main,
        ["cosign", str(site), "--key", str(key_path), "--name", "Reread Audit LLP",
         "--rpc", f"ethereum={evm.url}", "--rpc", f"solana={NOWHERE}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    chain = evm.chains["ethereum"]
    assert f"re-read:              ethereum at block {chain['block']}" in result.output
    assert "not re-read:          solana: every holding is declared, not checked" in result.output
    document = (site / "auditors" / fingerprint / "auditor.json").read_bytes()
    parsed = parse_document(document)
    assert parsed.format == COSIGN_FORMAT_REREAD
    assert parsed.reread == (RereadChain("ethereum", chain["block"], chain["block_hash"].lower()),)
    assert json.loads(document)["reread"] == [
        {"block_hash": chain["block_hash"].lower(), "block_height": chain["block"],
         "chain": "ethereum"}
    ]  # fmt: skip
    statement = (site / "auditors" / fingerprint / "statement.txt").read_text()
    assert "read the ethereum balances again from its own node" in statement
    # Every verifier shows it.
    [check] = verify_cosignatures(site, (site / "attestation.json").read_bytes())
    assert check.ok and check.reread == parsed.reread
    assert "having read again from its own nodes the balances of ethereum at block" in check.detail
    code = read_client_codes(honest.parent / "codes.csv")[CLIENT]
    out = CliRunner().invoke(
        main,
        ["verify", "--site", str(site), "--account", CLIENT, "--json"],
        env={"PORSEGREGATE_CODE": code},
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["auditors"][0]["reread"] == [
        {"chain": "ethereum", "block_height": chain["block"],
         "block_hash": chain["block_hash"].lower()}
    ]  # fmt: skip
    assert "who read the balances of ethereum at block" in json.dumps(doc["checks"])
    assert audit_site(str(site)).ok


def test_cosign_refuses_balances_its_node_does_not_confirm(
    evm: Chain, inflated: Path, tmp_path: Path
) -> None:
    import shutil

    site = tmp_path / "site"
    shutil.copytree(inflated, site)
    with pytest.raises(VerificationError) as info:
        cosign(site, _crypto.generate_signing_key(), "A", rpc_urls={"ethereum": evm.url})
    assert info.value.check == "reserves-reread"
    assert "refusing to co-sign balances your node does not confirm" in info.value.detail
    # Nothing is written: the publisher's empty index is all there is.
    assert [p.name for p in (site / "auditors").iterdir()] == ["index.json"]
    assert (site / "auditors" / "index.json").read_bytes() == b"[]", "nothing is written"
    with pytest.raises(InputError, match="lists no chain 'nochain'"):
        cosign(site, _crypto.generate_signing_key(), "A", rpc_urls={"nochain": NOWHERE})


def test_a_cosignature_claiming_another_block_fails(
    evm: Chain, honest: Path, tmp_path: Path
) -> None:
    """A format-2 auditor.json must name the attestation's own blocks; old format-1
    documents stay readable (every existing co-signature test writes them)."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(honest, site)
    key = _crypto.generate_signing_key()
    cosign(site, key, "Plain Audit")
    fingerprint = _crypto.fingerprint(key.public_key())
    folder = site / "auditors" / fingerprint
    old = parse_document((folder / "auditor.json").read_bytes())
    assert old.format == COSIGN_FORMAT and old.reread == ()
    chain = evm.chains["ethereum"]
    for reread, message in (
        ((RereadChain("ethereum", chain["block"] + 1, chain["block_hash"].lower()),),
         f"it says it re-read ethereum at block {chain['block'] + 1}"),
        ((RereadChain("polygon", 5, "0x" + "00" * 32),),
         "it says it re-read chain polygon, which the attestation does not list"),
    ):  # fmt: skip
        document = document_bytes(
            old.name, fingerprint, old.epoch, old.attestation_sha256, old.statement_sha256,
            old.time, reread,
        )  # fmt: skip
        (folder / "auditor.json").write_bytes(document)
        (folder / "auditor.json.sig").write_bytes(key.sign(document))
        [check] = verify_cosignatures(site, (site / "attestation.json").read_bytes())
        assert not check.ok and message in check.detail, check.detail


def test_the_reread_member_is_parsed_strictly() -> None:
    base = {
        "attestation_sha256": "a" * 64, "epoch": EPOCH, "fingerprint": "b" * 64,
        "format": COSIGN_FORMAT_REREAD, "name": "A", "statement_sha256": "c" * 64,
        "time": "2026-11-30T00:00:00Z",
    }  # fmt: skip
    good = {"block_hash": "0x" + "00" * 32, "block_height": 5, "chain": "ethereum"}
    from porsegregate.protocol.serialization import canonical

    def parse(doc: dict[str, Any]) -> Any:
        return parse_document(canonical(doc))

    assert parse({**base, "reread": [good]}).reread == (
        RereadChain("ethereum", 5, good["block_hash"]),
    )
    for doc, message in (
        ({**base}, "it must have exactly the members"),
        ({**base, "format": COSIGN_FORMAT, "reread": [good]}, "it must have exactly the members"),
        ({**base, "reread": []}, "reread must be a list of 1 to"),
        ({**base, "reread": [{**good, "extra": 1}]}, "reread[0] must have exactly the members"),
        ({**base, "reread": [{**good, "block_height": -1}]}, "reread[0].block_height"),
        ({**base, "reread": [{**good, "chain": "Bad Chain"}]}, "reread[0].chain"),
        ({**base, "reread": [{**good, "block_hash": "a\nb"}]}, "reread[0].block_hash"),
        ({**base, "reread": [good, good]}, "names a chain twice"),
        ({**base, "reread": [{**good, "chain": "z"}, good]}, "not sorted by chain"),
    ):
        with pytest.raises(FormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse(doc)


def test_reread_problems_is_a_pure_comparison(evm: Chain, honest: Path) -> None:
    attestation = parse_attestation((honest / "attestation.json").read_bytes())
    chain = attestation.reserves.chain("ethereum")
    assert chain is not None
    signed = {
        (w.address, h.asset): h.amount
        for w in attestation.reserves.wallets
        if w.chain == "ethereum"
        for h in w.holdings
    }
    same = ChainReading(
        "ethereum", "n", chain.network, chain.block_height, chain.block_hash, signed
    )
    assert checks.reread_problems(attestation, same) == []
    missing = replace(same, balances={k: v for k, v in signed.items() if k[1] != "USDT"})
    assert checks.reread_problems(attestation, missing) == [
        f"ethereum {evm.omnibus} USDT: the node at n returned no balance"
    ]


def test_bitcoin_balances_read_again(bitcoind: BitcoinNode, tmp_path: Path) -> None:
    """A custodian whose node adds 0.1 BTC to its cold wallet; the auditor's bitcoind sees
    the truth. (scantxoutset reads the tip: everything happens before the next block.)"""
    init_workspace(tmp_path / "ws", PASSPHRASE)
    config = load_config(tmp_path / "ws" / "porsegregate.toml")
    prepared = prepare_epoch(config, PASSPHRASE, EPOCH)
    cold_key = _crypto.sha256(b"porsegregate tests: reread cold")
    warm_key = _crypto.sha256(b"porsegregate tests: reread warm")
    cold = bitcoin.address_of(cold_key, "p2wpkh", "regtest")
    warm = bitcoin.address_of(warm_key, "p2pkh", "regtest")
    bitcoind.send({cold: 100_000_000, warm: 25_040_000})
    height = bitcoind.mine(1)
    header = bitcoind.rpc("getblockheader", [bitcoind.rpc("getblockhash", [height])])
    chains = {"bitcoin": {"kind": "bitcoin", "network": "regtest", "block": height,
                          "block_hash": header["hash"], "assets": {"BTC": "native"}}}  # fmt: skip
    keys = {cold: ("p2wpkh", cold_key), warm: ("p2pkh", warm_key)}
    when = datetime.fromtimestamp(header["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cold_script = bitcoin.script_pubkey(cold, "regtest").hex()

    def edit(method: str, params: list[Any], result: Any) -> Any:
        if method != "scantxoutset":
            return result
        for utxo in result["unspents"]:
            if utxo["scriptPubKey"] == cold_script:
                utxo["amount"] = round(utxo["amount"] + 0.1, 8)
                result["total_amount"] = round(result["total_amount"] + 0.1, 8)
                break
        return result

    def publish_with(name: str, url: str, cold_balance: str) -> Path:
        wallets = [
            {"chain": "bitcoin", "address": cold, "category": "client_segregated",
             "holder": "Client Trust", "balances": {"BTC": cold_balance}},
            {"chain": "bitcoin", "address": warm, "category": "client_segregated",
             "holder": "Client Trust", "balances": {"BTC": "0.2504"}},
        ]  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        write_signed_reserves(folder / "r.toml", prepared, copy.deepcopy(chains), wallets, keys)
        options = PublishOptions(
            EPOCH, snapshot_time=when, site=folder / "site", codes_path=folder / "codes.csv",
            reserves_path=folder / "r.toml", rpc_urls={"bitcoin": url}, allow_shortfall=True,
        )  # fmt: skip
        publish(own_log(config, folder), PASSPHRASE, options, prepared=prepared)
        return folder / "site"

    honest = publish_with("honest", bitcoind.url, "1")
    with LyingNode(bitcoind.url, edit) as node:
        lied = publish_with("lied", node.url, "1.1")
    report = audit_site(str(honest), rpc_urls={"bitcoin": bitcoind.url})
    assert report.ok, report.failed
    assert report.rereads[0].network == "regtest" and report.rereads[0].block_hash == header["hash"]
    report = audit_site(str(lied), rpc_urls={"bitcoin": bitcoind.url})
    [failure] = report.failed
    assert f"bitcoin {cold} BTC: the attestation signs 1.1 BTC at block {height}" in failure.detail
    assert "reads 1 BTC" in failure.detail
    code = next(iter(read_client_codes(tmp_path / "lied" / "codes.csv").items()))
    result = CliRunner().invoke(
        main,
        ["verify", "--site", str(lied), "--account", code[0], "--rpc", f"bitcoin={bitcoind.url}"],
        env={"PORSEGREGATE_CODE": code[1]},
    )
    assert result.exit_code == 1, result.output
    assert "check reserves-reread failed: bitcoin " in result.output


@pytest.mark.browser
def test_the_reserves_page_shows_only_verified_confirmations(
    evm: Chain,
    honest: Path,
    tmp_path: Path,
    browser: Any,  # noqa: F811 - the fixture
) -> None:
    """The page says "the custodian's node only" by itself; the browser adds "confirmed by
    <auditor> (co-signature verified)" for a chain a verifying co-signature re-read, and
    nothing for a co-signature that fails, or for a chain whose balances are all declared."""
    import shutil

    from .test_browser import csp_violations, serve, verify_in_page
    from .test_js import write_cosignature

    site = tmp_path / "site"
    shutil.copytree(honest, site)
    cosign(site, _crypto.generate_signing_key(), "Reread Audit LLP", rpc_urls={"ethereum": evm.url})
    signed = json.loads((site / "attestation.json").read_bytes())["reserves"]["chains"]
    entries = {
        c["id"]: {"block_hash": c["block"]["hash"], "block_height": c["block"]["height"],
                  "chain": c["id"]}
        for c in signed
    }  # fmt: skip
    url, server = serve(site)
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    try:
        # The verify page lists the auditor with the chains it re-read.
        code = read_client_codes(honest.parent / "codes.csv")[CLIENT]
        page.goto(url + "verify.html")
        overall = verify_in_page(page, CLIENT, code)
        assert "NOT" not in overall and "Verified" in overall, overall
        block = evm.chains["ethereum"]["block"]
        assert page.inner_text("#auditors-list .auditor-reread") == (
            f"Read the balances of ethereum at block {block} again from its own node(s)."
        )
        # A co-signature whose statement was changed after signing fails: it confirms nothing.
        write_cosignature(
            site, _crypto.generate_signing_key(), statement=b"changed",
            fields={"format": COSIGN_FORMAT_REREAD, "name": "Broken LLP",
                    "reread": [entries["ethereum"]], "statement_sha256": "0" * 64},
        )  # fmt: skip
        # A valid one "re-reading" bitcoin, whose balances are all declared: nothing to confirm.
        write_cosignature(
            site, _crypto.generate_signing_key(),
            fields={"format": COSIGN_FORMAT_REREAD, "name": "Declared LLP",
                    "reread": [entries["bitcoin"]]},
        )  # fmt: skip
        page.goto(url + "reserves.html")
        cell = page.locator('td.read-by[data-chain="ethereum"]')
        page.wait_for_function(
            "() => document.querySelector('td.read-by[data-chain=ethereum] .reread-confirmed')",
            timeout=30_000,
        )
        assert cell.inner_text().splitlines() == [
            "the custodian's node only",
            "confirmed by Reread Audit LLP (co-signature verified)",
        ]
        bitcoin_cell = page.locator('td.read-by[data-chain="bitcoin"]').inner_text()
        solana_cell = page.locator('td.read-by[data-chain="solana"]').inner_text()
        assert bitcoin_cell == "nobody: declared, not checked"
        assert solana_cell == "nobody: declared, not checked (no reader for Ed25519 chains)"
        body = page.inner_text("body")
        assert "Broken LLP" not in body and "Declared LLP" not in body
        assert problems == [] and csp_violations(page) == []
    finally:
        context.close()
        server.shutdown()
        server.server_close()
