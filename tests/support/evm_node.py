"""A real local EVM node for tests: Foundry's anvil, from the npm package @foundry-rs/anvil.

Use the session fixture ``anvil`` by naming this module in a test module, and
import it there for types only (a plain import before pytest loads the plugin
would stop pytest from rewriting its asserts, and it warns about that)::

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from .evm_node import Anvil

    pytest_plugins = ["tests.support.evm_node"]

    def test_something(anvil: Anvil) -> None: ...

The fixture's object carries the helpers (``anvil.fresh_address(label)``,
``anvil.new_account(label)``, ``Anvil.free_port()``...).

The node listens on 127.0.0.1 on a free port, with a chain id drawn at random
(so a reply from some other server on a reused port cannot pass for ours). Its
dev accounts are this module's own test keys (sha256 of fixed labels), funded
at start; transactions are signed here with eth-account and sent raw, and
anvil mines each one into its own block at once.

anvil is found under node_modules; ``npm ci`` at the project root installs it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

ROOT = Path(__file__).resolve().parents[2]
TOKEN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "erc20"
ETHER = 10**18
DEV_BALANCE = 1_000 * ETHER
DEV_ACCOUNTS = 3
START_TIMEOUT = 15.0
TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)


class NodeError(RuntimeError):
    """anvil could not be started or refused a request."""


def anvil_binary() -> Path:
    """The anvil executable shipped by @foundry-rs/anvil's platform package."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform)
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    name = "anvil.exe" if sys.platform == "win32" else "anvil"
    modules = ROOT / "node_modules" / "@foundry-rs"
    candidates = [
        modules / f"anvil-{system}-{arch}" / "bin" / name,
        modules / "anvil" / name,  # where its postinstall puts a fallback download
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        f"anvil (the local Ethereum node these tests run against) is not installed: looked for "
        f"{', '.join(str(c.relative_to(ROOT)) for c in candidates)}. Run `npm ci` in {ROOT}.",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: anvil gets SIGTERM if pytest dies without cleaning up (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rpc_call(url: str, method: str, params: list[Any], timeout: float = 10.0) -> Any:
    """A bare JSON-RPC call (independent of porsegregate's client under test)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeError(f"{method}: {reply['error']}")
    return reply["result"]


def dev_key(label: str) -> bytes:
    """A test-only private key: sha256 of a fixed label (never fund it anywhere real)."""
    return hashlib.sha256(f"porsegregate test evm {label}".encode()).digest()


def fresh_address(label: str) -> str:
    """The checksummed address of dev_key(label): a fresh, untouched account per label."""
    return str(PrivateKey(dev_key(label)).public_key.to_checksum_address())


@dataclass(frozen=True)
class DevAccount:
    label: str
    private_key: bytes
    address: str


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    contract_address: str | None


class Anvil:
    """A running anvil node and helpers to change its chain."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, chain_id: int, log: Path):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.chain_id = chain_id
        self.log = log
        self.started_in = 0.0
        self.accounts = [
            DevAccount(f"anvil dev account {i}", key, fresh_address(f"anvil dev account {i}"))
            for i, key in enumerate(dev_key(f"anvil dev account {i}") for i in range(DEV_ACCOUNTS))
        ]

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, workdir: Path, attempts: int = 5) -> Anvil:
        binary = anvil_binary()
        began = time.monotonic()
        failures: list[str] = []
        for attempt in range(attempts):
            port = _free_port()
            chain_id = 100_000 + secrets.randbelow(1_000_000_000)
            log = workdir / f"anvil-{attempt}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        str(binary),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--chain-id",
                        str(chain_id),
                        "--accounts",
                        "0",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            node = cls(process, port, chain_id, log)
            if node._wait_ready(began + START_TIMEOUT):
                node._fund_accounts()
                node.started_in = time.monotonic() - began
                return node
            node.stop()
            failures.append(f"port {port}: {node.log_tail()}")
            if time.monotonic() > began + START_TIMEOUT:
                break
        raise NodeError("anvil did not start:\n" + "\n".join(failures))

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # e.g. the port was taken between our check and its bind
            try:
                answered = int(rpc_call(self.url, "eth_chainId", [], timeout=0.5), 16)
            except (OSError, urllib.error.URLError, ValueError, NodeError):
                time.sleep(0.02)
                continue
            # Another server on a reused port would not know our random chain id.
            return answered == self.chain_id and self.process.poll() is None
        return False

    def _fund_accounts(self) -> None:
        for account in self.accounts:
            self.rpc("anvil_setBalance", [account.address, hex(DEV_BALANCE)])
        self.mine()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    # ---------------------------------------------------------------- test accounts

    ETHER = ETHER

    @staticmethod
    def free_port() -> int:
        """A 127.0.0.1 TCP port nothing listened on a moment ago."""
        return _free_port()

    @staticmethod
    def dev_key(label: str) -> bytes:
        return dev_key(label)

    @staticmethod
    def fresh_address(label: str) -> str:
        return fresh_address(label)

    @staticmethod
    def new_account(label: str) -> DevAccount:
        """A test account with a key, holding nothing until something is sent to it."""
        return DevAccount(label, dev_key(label), fresh_address(label))

    # ---------------------------------------------------------------- chain access

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        return rpc_call(self.url, method, params or [])

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> int:
        """Mine empty blocks; the new latest block number."""
        self.rpc("anvil_mine", [hex(blocks)])
        return self.block_number()

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", [timestamp])

    def send(
        self, sender: DevAccount, to: str | None, value: int = 0, data: bytes = b""
    ) -> Receipt:
        """Sign an EIP-1559 transaction with the sender's key, send it raw, return its receipt."""
        nonce = int(self.rpc("eth_getTransactionCount", [sender.address, "pending"]), 16)
        call: dict[str, Any] = {
            "from": sender.address,
            "value": hex(value),
            "data": "0x" + data.hex(),
        }
        if to is not None:
            call["to"] = to
        gas = int(self.rpc("eth_estimateGas", [call]), 16)
        base_fee = int(self.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "value": value,
            "data": data,
            "gas": gas + gas // 5,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerGas": 2 * base_fee + 10**9,
        }
        if to is not None:
            tx["to"] = to
        signed = Account.sign_transaction(tx, sender.private_key)
        tx_hash = self.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
        deadline = time.monotonic() + 10
        while (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise NodeError(f"transaction {tx_hash} was not mined")
            time.sleep(0.01)
        if receipt["status"] != "0x1":
            raise NodeError(f"transaction {tx_hash} reverted: {receipt}")
        created = receipt.get("contractAddress")
        return Receipt(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"], 16),
            block_hash=receipt["blockHash"],
            contract_address=to_checksum_address(created) if created else None,
        )

    def transfer_ether(self, sender: DevAccount, to: str, wei: int) -> Receipt:
        return self.send(sender, to, value=wei)

    def deploy_token(self, sender: DevAccount, initial_supply: int) -> str:
        """Deploy tests/fixtures/erc20/Token.bin (6 decimals), minting the supply to sender."""
        code = bytes.fromhex((TOKEN_DIR / "Token.bin").read_text().strip())
        receipt = self.send(sender, None, data=code + initial_supply.to_bytes(32, "big"))
        if receipt.contract_address is None:
            raise NodeError(f"deployment {receipt.tx_hash} created no contract")
        return receipt.contract_address

    def transfer_token(self, token: str, sender: DevAccount, to: str, amount: int) -> Receipt:
        data = (
            bytes.fromhex(TRANSFER_SELECTOR)
            + bytes.fromhex(to[2:]).rjust(32, b"\0")
            + amount.to_bytes(32, "big")
        )
        return self.send(sender, token, data=data)


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    """One anvil node for the whole session, stopped at the end."""
    node = Anvil.start(tmp_path_factory.mktemp("anvil"))
    try:
        yield node
    finally:
        node.stop()
