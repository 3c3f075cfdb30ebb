"""EVM chains: addresses, personal_sign proofs (shared vectors) and balances read
from a real anvil node at a past block height."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_keys.datatypes import PublicKey
from eth_utils.address import to_checksum_address

from porsegregate.chains.evm import (
    EvmRpc,
    address_of,
    normalize_address,
    sign_personal,
    verify_personal_sign,
)
from porsegregate.errors import AddressError, ChainError, SignatureError

from .conftest import VECTORS as VECTOR_DIR
from .conftest import load_vectors

if TYPE_CHECKING:
    from .support.evm_node import Anvil

# The session fixture `anvil`: a real local node.
pytest_plugins = ["tests.support.evm_node"]
ETHER = 10**18

VECTORS = load_vectors("evm_signatures.json")
ERRORS: dict[str, type[Exception]] = {
    "SignatureError": SignatureError,
    "AddressError": AddressError,
}
ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- addresses

# The EIP-55 specification's own examples (addresses, no keys).
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
]


@pytest.mark.parametrize("checksummed", EIP55)
@pytest.mark.parametrize("spelling", ["as is", "lower", "upper"])
def test_normalize_address_eip55(checksummed: str, spelling: str) -> None:
    given = {
        "as is": checksummed,
        "lower": checksummed.lower(),
        "upper": "0x" + checksummed[2:].upper(),
    }[spelling]
    assert normalize_address(given) == checksummed


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda k: k["label"])
def test_normalize_address_agrees_with_eth_utils(key: dict[str, str]) -> None:
    assert normalize_address(key["address"].lower()) == to_checksum_address(key["address"])


GOOD = EIP55[0]
BAD_ADDRESSES = [
    ("no 0x", GOOD[2:], "must start with '0x'"),
    ("0X prefix", "0X" + GOOD[2:], "must start with '0x'"),
    ("empty", "", "must start with '0x'"),
    ("only 0x", "0x", "has 0 hexadecimal digits"),
    ("39 digits", GOOD[:-1], "has 39 hexadecimal digits"),
    ("41 digits", GOOD + "a", "has 41 hexadecimal digits"),
    ("a tx hash", "0x" + "ab" * 32, "has 64 hexadecimal digits"),
    ("non-hex g", GOOD[:-1] + "g", "'g', which is not a hexadecimal digit"),
    ("ENS name", "vitalik.eth", "must start with '0x'"),
    ("trailing newline", GOOD + "\n", "spaces or line breaks"),
    ("leading space", " " + GOOD, "spaces or line breaks"),
    ("one letter case flipped", GOOD[:2] + GOOD[2:].replace("aA", "AA", 1), "EIP-55 checksum"),
    ("all case swapped", GOOD[:2] + GOOD[2:].swapcase(), "EIP-55 checksum"),
]


@pytest.mark.parametrize(
    ("given", "expect"), [c[1:] for c in BAD_ADDRESSES], ids=[c[0] for c in BAD_ADDRESSES]
)
def test_normalize_address_rejects(given: str, expect: str) -> None:
    with pytest.raises(AddressError, match=re.escape(expect)):
        normalize_address(given)


def test_normalize_address_rejects_non_text() -> None:
    with pytest.raises(AddressError, match="must be text"):
        normalize_address(0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("case", VECTORS["good"], ids=lambda c: c["name"])
def test_signature_vector_good(case: dict[str, str]) -> None:
    public_key = verify_personal_sign(case["message"], case["address"], case["signature"])
    assert len(public_key) == 33
    assert public_key.hex() == case["expect_public_key"]
    derived = PublicKey.from_compressed_bytes(public_key).to_checksum_address()
    assert derived == case["expect_address"]


@pytest.mark.parametrize("case", VECTORS["bad"], ids=lambda c: c["name"])
def test_signature_vector_bad(case: dict[str, str]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["contains"])) as caught:
        verify_personal_sign(case["message"], case["address"], case["signature"])
    assert type(caught.value) is ERRORS[case["error"]]


def test_signature_vectors_are_reproducible(tmp_path: Path) -> None:
    """evm_signatures.json is exactly what generate_evm.py makes from its fixed keys."""
    subprocess.run(
        [sys.executable, str(VECTOR_DIR / "generate_evm.py"), str(tmp_path)],
        check=True,
        timeout=120,
    )
    name = "evm_signatures.json"
    assert (tmp_path / name).read_bytes() == (VECTOR_DIR / name).read_bytes()


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda k: k["label"])
def test_address_of_and_sign_personal(key: dict[str, str]) -> None:
    private_key = bytes.fromhex(key["private_key"])
    assert address_of(private_key) == key["address"]
    # RFC 6979 signatures are deterministic: the vectors' own signatures come back.
    made = [
        case
        for case in VECTORS["good"]
        if case["expect_address"] == key["address"]
        and re.fullmatch(r"0x[0-9a-f]{128}1[bc]", case["signature"])
    ]
    assert made
    for case in made:
        assert sign_personal(case["message"], private_key) == case["signature"]


def test_same_key_same_public_key_for_any_message() -> None:
    key = hashlib.sha256(b"porsegregate test evm same key twice").digest()
    address = address_of(key)
    first = verify_personal_sign("wallet A", address, sign_personal("wallet A", key))
    second = verify_personal_sign("wallet B", address.lower(), sign_personal("wallet B", key))
    assert first == second


@pytest.mark.parametrize(
    "key",
    [b"", bytes(31), bytes(32), b"\xff" * 32, "00" * 32],
    ids=["empty", "31 bytes", "zero", "above the order", "hex text"],
)
def test_bad_private_keys(key: Any) -> None:
    with pytest.raises(ValueError, match="private key"):
        sign_personal("x", key)
    with pytest.raises(ValueError, match="private key"):
        address_of(key)


# --------------------------------------------------------------------------- a real node


def test_chain_id(anvil: Anvil) -> None:
    assert EvmRpc(anvil.url).chain_id() == anvil.chain_id


def test_block_hash_and_timestamp(anvil: Anvil) -> None:
    rpc = EvmRpc(anvil.url)
    latest_hash, latest_time = rpc.block(anvil.block_number())
    when = latest_time + 86_400
    anvil.set_next_block_timestamp(when)
    receipt = anvil.transfer_ether(anvil.accounts[2], anvil.fresh_address("timestamp probe"), 1)
    block_hash, timestamp = rpc.block(receipt.block_number)
    assert (block_hash, timestamp) == (receipt.block_hash.lower(), when)
    assert re.fullmatch(r"0x[0-9a-f]{64}", block_hash)
    assert block_hash != latest_hash
    genesis_hash, _ = rpc.block(0)
    assert re.fullmatch(r"0x[0-9a-f]{64}", genesis_hash)


def test_balances_at_a_past_block(anvil: Anvil) -> None:
    """The snapshot height's balances, not the latest, after later transfers changed them."""
    rpc = EvmRpc(anvil.url)
    issuer, payer = anvil.accounts[0], anvil.accounts[1]
    holder = anvil.new_account("holder")
    supply = 1_000_000 * 10**6

    before_deploy = anvil.block_number()
    token = anvil.deploy_token(issuer, supply)
    funded = anvil.transfer_token(token, issuer, holder.address, 1_250_000_000)
    paid = anvil.transfer_ether(payer, holder.address, 3 * ETHER + 1)
    snapshot = paid.block_number
    assert snapshot == funded.block_number + 1

    # After the snapshot: more in, some out (the holder pays gas too), more blocks.
    anvil.transfer_token(token, issuer, holder.address, 5)
    anvil.transfer_ether(payer, holder.address, 7)
    anvil.transfer_token(token, holder, anvil.fresh_address("elsewhere"), 250_000_000)
    latest = anvil.mine(3)

    assert rpc.erc20_balance(token, holder.address, snapshot) == 1_250_000_000
    assert rpc.erc20_balance(token, holder.address, funded.block_number - 1) == 0
    assert rpc.erc20_balance(token, holder.address, latest) == 1_000_000_005
    assert rpc.erc20_balance(token.lower(), holder.address.lower(), snapshot) == 1_250_000_000
    assert rpc.erc20_balance(token, issuer.address, snapshot) == supply - 1_250_000_000
    assert rpc.native_balance(holder.address, snapshot) == 3 * ETHER + 1
    assert rpc.native_balance(holder.address, funded.block_number) == 0
    after = rpc.native_balance(holder.address, latest)
    assert 0 < after < 3 * ETHER + 1 + 7, "the holder paid gas after the snapshot"
    assert after == int(anvil.rpc("eth_getBalance", [holder.address, "latest"]), 16)

    # Before the token existed there is no contract to ask.
    with pytest.raises(ChainError, match="returned no data at block"):
        rpc.erc20_balance(token, holder.address, before_deploy)


def test_unreachable_node_hides_credentials(anvil: Anvil) -> None:
    port = anvil.free_port()  # nothing listens there
    rpc = EvmRpc(f"http://alice:s3cret@127.0.0.1:{port}/v3/APIKEY123?key=QUERYKEY", timeout=2)
    with pytest.raises(ChainError) as caught:
        rpc.chain_id()
    message = str(caught.value)
    assert f"eth_chainId to EVM node http://127.0.0.1:{port}/... failed: cannot connect" in message
    for secret in ("alice", "s3cret", "APIKEY123", "QUERYKEY"):
        assert secret not in message
        assert secret not in repr(rpc)


def test_block_not_there_yet(anvil: Anvil) -> None:
    rpc = EvmRpc(anvil.url)
    future = anvil.block_number() + 1000
    with pytest.raises(ChainError, match=f"no block at height {future}; its latest block is"):
        rpc.block(future)
    with pytest.raises(ChainError, match=r"eth_getBalance .* node answered error"):
        rpc.native_balance(anvil.accounts[0].address, future)


def test_erc20_without_contract(anvil: Anvil) -> None:
    rpc = EvmRpc(anvil.url)
    nobody = anvil.fresh_address("no contract here")
    with pytest.raises(ChainError, match=r"balanceOf at .* returned no data"):
        rpc.erc20_balance(nobody, anvil.accounts[0].address, anvil.block_number())


def test_bad_arguments(anvil: Anvil) -> None:
    for url in ("ftp://127.0.0.1/", "127.0.0.1:8545", "http:///x", "http://127.0.0.1:99999/"):
        with pytest.raises(ValueError, match="URL"):
            EvmRpc(url)
    with pytest.raises(ValueError, match="timeout"):
        EvmRpc(anvil.url, timeout=0)
    rpc = EvmRpc(anvil.url)
    for height in (-1, True, 1.0):
        with pytest.raises(ValueError, match="block height"):
            rpc.block(height)  # type: ignore[arg-type]
    with pytest.raises(AddressError):
        rpc.native_balance("0x1234", 0)


# --------------------------------------------------------------------------- a node that misbehaves

Reply = tuple[int, dict[str, str], bytes]


def _rpc_reply(request: dict[str, Any], **fields: Any) -> Reply:
    body = {"jsonrpc": "2.0", "id": request["id"], **fields}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _raw(body: bytes, status: int = 200, **headers: str) -> Callable[[dict[str, Any]], Reply]:
    return lambda request: (status, headers, body)


def _result(value: Any) -> Callable[[dict[str, Any]], Reply]:
    return lambda request: _rpc_reply(request, result=value)


def _block(**fields: Any) -> Callable[[dict[str, Any]], Reply]:
    good = {"number": "0x5", "hash": "0x" + "ab" * 32, "timestamp": "0x6553f100"}
    return _result({**good, **fields})


def _slow(request: dict[str, Any]) -> Reply:
    time.sleep(1.0)
    return _rpc_reply(request, result="0x1")


def _auth(request: dict[str, Any]) -> Reply:
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    if request["authorization"] != expected:
        return 401, {}, b"unauthorized"
    return _rpc_reply(request, result="0x1")


ROUTES: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "/html": _raw(b"<html><body>502 Bad Gateway</body></html>"),
    "/not-utf8": _raw(b'{"jsonrpc": "2.0", "id": 1, "result": "\xff"}'),
    "/not-rpc": _raw(b'{"result": "0x1"}'),
    "/list": _raw(b"[]"),
    "/wrong-id": lambda request: (200, {}, b'{"jsonrpc": "2.0", "id": 999, "result": "0x1"}'),
    "/rpc-error": lambda request: _rpc_reply(
        request, error={"code": -32000, "message": "missing trie node abc (path )"}
    ),
    "/no-result": lambda request: _rpc_reply(request),
    "/leading-zero": _result("0x01"),
    "/no-prefix": _result("1"),
    "/bare-0x": _result("0x"),
    "/integer": _result(1),
    "/float": _raw(b'{"jsonrpc": "2.0", "id": 1, "result": 1.5}'),
    "/nan": _raw(b'{"jsonrpc": "2.0", "id": 1, "result": NaN}'),
    "/null": _result(None),
    "/too-long": _result("0x1" + "0" * 64),
    "/http-500": _raw(b"oops", status=500),
    "/http-429": _raw(b'{"jsonrpc":"2.0","id":1,"error":{"code":429,"message":"slow down"}}', 429),
    "/redirect": _raw(b"", status=307, Location="http://127.0.0.1:1/elsewhere"),
    "/slow": _slow,
    "/auth": _auth,
    "/short-word": _result("0x" + "00" * 31),
    "/two-words": _result("0x" + "00" * 64),
    "/block-mismatch": _block(number="0x6"),
    "/block-bad-hash": _block(hash="0x1234"),
    "/block-no-time": _block(timestamp=None),
    "/block-string": _result("0x5"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length))
        request["authorization"] = self.headers.get("Authorization")
        status, headers, body = ROUTES[self.path](request)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def bad_node() -> Iterator[str]:
    """A tiny local HTTP server answering each path with one kind of wrong reply."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ADDRESS = EIP55[0]
MALFORMED: list[tuple[str, Callable[[EvmRpc], object], str]] = [
    ("/html", EvmRpc.chain_id, "reply is not acceptable JSON"),
    ("/not-utf8", EvmRpc.chain_id, "reply is not UTF-8"),
    ("/not-rpc", EvmRpc.chain_id, "not a JSON-RPC 2.0 response"),
    ("/list", EvmRpc.chain_id, "not a JSON-RPC 2.0 response"),
    ("/wrong-id", EvmRpc.chain_id, "reply id 999 is not the request's"),
    ("/rpc-error", EvmRpc.chain_id, "node answered error -32000: 'missing trie node"),
    ("/no-result", EvmRpc.chain_id, "neither result nor error"),
    ("/leading-zero", EvmRpc.chain_id, 'chain id is not a JSON-RPC hex quantity: "0x01"'),
    ("/no-prefix", EvmRpc.chain_id, "not a JSON-RPC hex quantity"),
    ("/bare-0x", EvmRpc.chain_id, "not a JSON-RPC hex quantity"),
    ("/integer", EvmRpc.chain_id, "not a JSON-RPC hex quantity: 1"),
    ("/float", EvmRpc.chain_id, "is not an integer"),
    ("/nan", EvmRpc.chain_id, "NaN is not JSON"),
    ("/null", EvmRpc.chain_id, "not a JSON-RPC hex quantity: null"),
    ("/too-long", lambda rpc: rpc.native_balance(ADDRESS, 5), "balance is not a JSON-RPC hex"),
    ("/http-500", EvmRpc.chain_id, "failed: HTTP 500 'Internal Server Error'"),
    ("/http-429", EvmRpc.chain_id, "failed: HTTP 429 'Too Many Requests': 'slow down'"),
    ("/redirect", EvmRpc.chain_id, "HTTP 307"),
    ("/short-word", lambda rpc: rpc.erc20_balance(ADDRESS, ADDRESS, 5), "one 32-byte word"),
    ("/two-words", lambda rpc: rpc.erc20_balance(ADDRESS, ADDRESS, 5), "one 32-byte word"),
    ("/block-mismatch", lambda rpc: rpc.block(5), "asked for block 5, node returned block 6"),
    ("/block-bad-hash", lambda rpc: rpc.block(5), "block hash is malformed"),
    ("/block-no-time", lambda rpc: rpc.block(5), "block timestamp is not a JSON-RPC hex"),
    ("/block-string", lambda rpc: rpc.block(5), "result is not a block object"),
]


@pytest.mark.parametrize(("path", "call", "expect"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_replies(
    bad_node: str, path: str, call: Callable[[EvmRpc], object], expect: str
) -> None:
    rpc = EvmRpc(bad_node.replace("http://", "http://alice:s3cret@") + path, timeout=5)
    with pytest.raises(ChainError, match=re.escape(expect)) as caught:
        call(rpc)
    assert str(caught.value).startswith("eth_")
    assert bad_node + "/..." in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_good_reply_through_the_same_server(bad_node: str) -> None:
    assert EvmRpc(bad_node + "/block-string").latest_height() == 5


def test_credentials_sent_as_basic_auth(bad_node: str) -> None:
    assert EvmRpc(bad_node.replace("http://", "http://alice:s3cret@") + "/auth").chain_id() == 1
    with pytest.raises(ChainError, match="HTTP 401"):
        EvmRpc(bad_node + "/auth").chain_id()


def test_timeout(bad_node: str) -> None:
    began = time.monotonic()
    with pytest.raises(ChainError, match=r"no answer within 0\.2 s"):
        EvmRpc(bad_node + "/slow", timeout=0.2).chain_id()
    assert time.monotonic() - began < 0.9


# --------------------------------------------------------------------------- the token fixture


def test_token_bytecode_is_reproducible() -> None:
    """Token.bin and Token.abi.json are what build.mjs makes from Token.sol (needs `npm ci`)."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed: scripts/test.sh installs it"
    assert (ROOT / "node_modules" / "solc").is_dir(), f"run `npm ci` in {ROOT}"
    done = subprocess.run(
        [node, "tests/fixtures/erc20/build.mjs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
