"""Bitcoin: addresses, BIP-137 and BIP-322 proofs (vectors made by bitcoinjs and
bip322-js, plus the BIP's own), and balances read from a real regtest bitcoind.

Esplora has no server here (Blockstream's electrs is not packaged anywhere this
project can install from), so its client is tested against stand-ins: a local
HTTP server answering Esplora-format JSON, once from a small history built by
hand and once from the real regtest chain (blocks read from bitcoind and served
in Esplora's shape), whose balances must equal bitcoind's scantxoutset.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import base58
import pytest
from bech32m import codecs as bech32_codecs

from porsegregate.chains import wallet_identity
from porsegregate.chains.bitcoin import (
    BitcoinCoreRpc,
    Esplora,
    address_of,
    address_type,
    normalize_address,
    script_pubkey,
    sign_bip137,
    sign_bip322_simple,
    verify_bip137,
    verify_bip322_simple,
)
from porsegregate.errors import AddressError, ChainError, SignatureError
from porsegregate.protocol.models import ChainSnapshot

from .conftest import VECTORS as VECTOR_DIR
from .conftest import load_vectors

if TYPE_CHECKING:
    from .support.bitcoin_node import BitcoinNode

pytest_plugins = [
    "tests.support.bitcoin_node"
]  # the session fixture `bitcoind`: a real regtest node

VECTORS = load_vectors("bitcoin_signatures.json")
KEYS = {k["name"]: bytes.fromhex(k["private_key"]) for k in VECTORS["keys"]}
ERRORS: dict[str, type[Exception]] = {
    "SignatureError": SignatureError,
    "AddressError": AddressError,
}
COIN = 100_000_000


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def node_key(label: str) -> bytes:
    """A test-only key for the regtest node's addresses."""
    return hashlib.sha256(f"porsegregate test bitcoin {label}".encode()).digest()


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "case",
    VECTORS["addresses"],
    ids=lambda c: f"key{c['key']}-{c['network']}-{c['type']}",
)
def test_address_vectors(case: dict[str, str]) -> None:
    """address_of agrees with bitcoinjs-lib; the address round-trips; its script is right."""
    address, network = case["address"], case["network"]
    assert address_of(KEYS[case["key"]], case["type"], network) == address
    assert normalize_address(address, network) == address
    assert script_pubkey(address, network).hex() == case["script_pubkey"]
    expected_type = {"p2sh-p2wpkh": "p2sh", "p2pkh-uncompressed": "p2pkh"}.get(
        case["type"], case["type"]
    )
    assert address_type(address, network) == expected_type
    # T14: the wallet is the script, however the address is spelled (bech32 in capitals).
    chain = ChainSnapshot("btc", "bitcoin", network, 0, "00" * 32, ())
    identity = f"bitcoin:{network}:{case['script_pubkey']}"
    assert wallet_identity(chain, address) == identity
    if address[0] not in "123mn":
        assert wallet_identity(chain, address.upper()) == identity


def _segwit(hrp: str, version: int, program: bytes, spec: Any = None) -> str:
    """A bech32/bech32m string built directly (to make invalid combinations)."""
    if spec is None:
        spec = bech32_codecs.Encoding.BECH32 if version == 0 else bech32_codecs.Encoding.BECH32M
    data = bytes([version]) + bytes(bech32_codecs.convertbits(program, 8, 5))
    return str(bech32_codecs.bech32_encode(hrp, data, spec))


def _base58(version: int, payload: bytes) -> str:
    return base58.b58encode_check(bytes([version]) + payload).decode()


def _flip_last(text: str, alphabet: str) -> str:
    """The text with its last character replaced by another from the alphabet."""
    return text[:-1] + next(c for c in alphabet if c != text[-1])


BECH32_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE58_CHARS = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


H20 = bytes(range(20))
H32 = bytes(range(32))
# BIP-173 / BIP-350 example addresses (addresses only, no keys).
P2WPKH_BIP173 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
P2TR_BIP350 = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
P2WSH_TESTNET = "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy"
P2TR_TESTNET = "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c"
V1_WITH_BECH32 = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"
UNKNOWN_HRP = "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut"
V2 = "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"

VALID = [
    (P2WPKH_BIP173.upper(), "mainnet", P2WPKH_BIP173, "p2wpkh"),
    (P2TR_BIP350, "mainnet", P2TR_BIP350, "p2tr"),
    (P2WSH_TESTNET, "testnet", P2WSH_TESTNET, "p2wsh"),
    (P2TR_TESTNET, "signet", P2TR_TESTNET, "p2tr"),
    (GENESIS, "mainnet", GENESIS, "p2pkh"),
    (_base58(0x05, H20), "mainnet", _base58(0x05, H20), "p2sh"),
    (_base58(0x6F, H20), "regtest", _base58(0x6F, H20), "p2pkh"),
    (_base58(0xC4, H20), "testnet", _base58(0xC4, H20), "p2sh"),
    (_segwit("bcrt", 0, H32).upper(), "regtest", _segwit("bcrt", 0, H32), "p2wsh"),
    (_segwit("bcrt", 1, H32), "regtest", _segwit("bcrt", 1, H32), "p2tr"),
]


@pytest.mark.parametrize(("given", "network", "canonical", "kind"), VALID)
def test_normalize_address_valid(given: str, network: str, canonical: str, kind: str) -> None:
    assert normalize_address(given, network) == canonical
    assert address_type(given, network) == kind


INVALID = [
    ("", "mainnet", "empty address"),
    (" " + GENESIS, "mainnet", "spaces around it"),
    (_flip_last(GENESIS, BASE58_CHARS), "mainnet", "bad checksum"),
    (_flip_last(_base58(0x05, H20), BASE58_CHARS), "mainnet", "bad checksum"),
    (_flip_last(P2WPKH_BIP173, BECH32_CHARS), "mainnet", "bad checksum"),
    (_flip_last(P2TR_BIP350, BECH32_CHARS), "mainnet", "bad checksum"),
    # BIP-350: a v1 program with a bech32 checksum, a v0 program with bech32m.
    (V1_WITH_BECH32, "mainnet", "bad checksum: witness version 1 needs a bech32m checksum"),
    (
        _segwit("bc", 0, H20, bech32_codecs.Encoding.BECH32M),
        "mainnet",
        "bad checksum: witness version 0 needs a bech32 checksum",
    ),
    ("B" + P2WPKH_BIP173[1:], "mainnet", "mixes upper and lower case"),
    (P2WPKH_BIP173[:-1] + "b", "mainnet", "characters bech32 does not use: ['b']"),
    (UNKNOWN_HRP, "mainnet", "unknown prefix 'tc'"),
    (GENESIS, "testnet", "wrong network: it is a mainnet address, expected testnet"),
    (_base58(0xC4, H20), "mainnet", "wrong network: it is a testnet, signet or regtest address"),
    (P2WPKH_BIP173, "regtest", "wrong network: it is a mainnet address, expected regtest"),
    (_segwit("tb", 1, H32), "regtest", "wrong network: it is a testnet or signet address"),
    (_segwit("bcrt", 0, H20), "signet", "wrong network: it is a regtest address"),
    (V2, "mainnet", "unknown type: witness version 2"),
    (_segwit("bc", 1, H20), "mainnet", "unknown type: witness version 1 with a 20-byte program"),
    (_segwit("bc", 0, bytes(21)), "mainnet", "version 0 witness program of 21 bytes"),
    (_base58(0x30, H20), "mainnet", "unknown type: version byte 0x30"),
    (base58.b58encode_check(bytes(22)).decode(), "mainnet", "Base58Check payload of 22 bytes"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "mainnet", "neither bech32 nor Base58"),
    ("bc1" + "q" * 88, "mainnet", "too long for bech32"),
]


@pytest.mark.parametrize(("given", "network", "expect"), INVALID)
def test_normalize_address_invalid(given: str, network: str, expect: str) -> None:
    with pytest.raises(AddressError, match=re.escape(expect)):
        normalize_address(given, network)


def test_unknown_network_and_type() -> None:
    with pytest.raises(ValueError, match="unknown Bitcoin network 'testnet3'"):
        normalize_address(GENESIS, "testnet3")
    with pytest.raises(ValueError, match="unknown address type 'p2wsh'"):
        address_of(KEYS["1"], "p2wsh", "mainnet")
    for bad in (b"", bytes(32), b"\xff" * 32, bytes(31) + b"\x01" + b"\x00"):
        with pytest.raises(ValueError):
            address_of(bad, "p2wpkh", "mainnet")


# --------------------------------------------------------------------------- BIP-137


@pytest.mark.parametrize("case", VECTORS["bip137"]["good"], ids=lambda c: c["name"])
def test_bip137_good(case: dict[str, Any]) -> None:
    key = verify_bip137(case["message"], case["address"], case["signature"], case["network"])
    assert key.hex() == case["public_key"]
    if "convention" not in case:
        # RFC 6979 on both sides: porsegregate signs the very same bytes as bitcoinjs-message.
        private = KEYS[case["key"]]
        mine = sign_bip137(case["message"], private, case["type"], case["network"])
        assert mine == case["signature"]


@pytest.mark.parametrize("case", VECTORS["bip137"]["bad"], ids=lambda c: c["name"])
def test_bip137_bad(case: dict[str, str]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["match"])):
        verify_bip137(case["message"], case["address"], case["signature"], case["network"])


def test_bip137_mismatch_names_the_signers_address() -> None:
    good = VECTORS["bip137"]["good"][3]  # p2wpkh, key 1
    other = address_of(KEYS["2"], "p2wpkh", "mainnet")
    with pytest.raises(SignatureError) as caught:
        verify_bip137(good["message"], other, good["signature"], "mainnet")
    assert f"made by the key of {good['address']}" in str(caught.value)
    assert f"not of {other}" in str(caught.value)


def test_bip137_cannot_sign_taproot() -> None:
    with pytest.raises(ValueError, match="taproot needs BIP-322"):
        sign_bip137("m", KEYS["1"], "p2tr", "mainnet")


# --------------------------------------------------------------------------- BIP-322


@pytest.mark.parametrize("case", VECTORS["bip322"]["good"], ids=lambda c: c["name"])
def test_bip322_good(case: dict[str, Any]) -> None:
    key = verify_bip322_simple(case["message"], case["address"], case["signature"], case["network"])
    assert key is not None
    assert key.hex() == case["public_key"]
    assert len(key) == (32 if case["type"] == "p2tr" else 33)


@pytest.mark.parametrize("case", VECTORS["bip322"]["bip_vectors"], ids=lambda c: c["name"])
def test_bip322_test_vectors_from_the_bip(case: dict[str, Any]) -> None:
    key = verify_bip322_simple(case["message"], case["address"], case["signature"], "mainnet")
    assert key is not None and len(key) == 33
    assert script_pubkey(case["address"], "mainnet") == b"\x00\x14" + hash160(key)


@pytest.mark.parametrize("case", VECTORS["bip322"]["bad"], ids=lambda c: c["name"])
def test_bip322_bad(case: dict[str, str]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["match"])):
        verify_bip322_simple(case["message"], case["address"], case["signature"], case["network"])


def test_bip322_signing_is_refused_not_faked() -> None:
    with pytest.raises(NotImplementedError, match="no maintained Python library signs BIP-322"):
        sign_bip322_simple("m", KEYS["1"], "p2wpkh", "mainnet")


def test_signature_vectors_are_current() -> None:
    """The JSON holds what the generator's inputs say (regenerating needs npm, so this
    checks the parts that do not: keys, labels, addresses' count)."""
    for key in VECTORS["keys"]:
        assert bytes.fromhex(key["private_key"]) == hashlib.sha256(key["label"].encode()).digest()
    assert len(VECTORS["addresses"]) == 2 * 4 * 5
    generator = (VECTOR_DIR / "generate_bitcoin.py").read_text()
    assert all(key["label"] in generator for key in VECTORS["keys"])


# --------------------------------------------------------------------------- Esplora stand-in


@dataclass
class Tx:
    txid: str
    height: int
    vin: list[dict[str, Any]]
    vout: list[dict[str, Any]]


@dataclass
class Ledger:
    """A tiny chain history, served in Esplora's JSON shape."""

    txs: list[Tx] = field(default_factory=list)

    def add(
        self, height: int, spends: list[tuple[str, int]], pays: list[tuple[str | None, int]]
    ) -> str:
        txid = hashlib.sha256(f"tx {len(self.txs)}".encode()).hexdigest()
        outputs = {t.txid: t.vout for t in self.txs}
        vin: list[dict[str, Any]] = (
            [{"txid": "00" * 32, "vout": 0xFFFFFFFF, "prevout": None, "is_coinbase": True}]
            if not spends
            else [
                {"txid": prev, "vout": n, "prevout": outputs[prev][n], "is_coinbase": False}
                for prev, n in spends
            ]
        )
        vout = [
            {"scriptpubkey_address": address, "value": value, "scriptpubkey": "00"}
            if address is not None
            else {"value": value, "scriptpubkey": "6a"}
            for address, value in pays
        ]
        self.txs.append(Tx(txid, height, vin, vout))
        return txid

    def history(self, address: str) -> list[dict[str, Any]]:
        """The address's transactions, newest first (Esplora's order)."""

        def touches(tx: Tx) -> bool:
            paid = any(o.get("scriptpubkey_address") == address for o in tx.vout)
            spent = any(
                i["prevout"] is not None and i["prevout"].get("scriptpubkey_address") == address
                for i in tx.vin
            )
            return paid or spent

        mine = [(t.height, n, t) for n, t in enumerate(self.txs) if touches(t)]
        mine.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [
            {
                "txid": t.txid,
                "vin": t.vin,
                "vout": t.vout,
                "status": {
                    "confirmed": True,
                    "block_height": t.height,
                    "block_hash": f"{t.height:064x}",
                    "block_time": 1_700_000_000 + t.height,
                },
            }
            for _, _, t in mine
        ]

    def utxo_balance(self, address: str, height: int) -> int:
        """The expected answer, computed another way: replay the UTXO set."""
        unspent: dict[tuple[str, int], int] = {}
        for tx in sorted(self.txs, key=lambda t: t.height):
            if tx.height > height:
                continue
            for i in tx.vin:
                unspent.pop((i["txid"], i["vout"]), None)
            for n, o in enumerate(tx.vout):
                if o.get("scriptpubkey_address") == address:
                    unspent[(tx.txid, n)] = o["value"]
        return sum(unspent.values())


Route = Callable[[str], tuple[int, bytes]]


class StandIn:
    """A local HTTP server answering each request from a callable of its path.

    A leading /api (where public Esplora instances live) is dropped from the path;
    POST bodies (JSON-RPC) are read and ignored.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.route: Route = lambda path: (404, b"not found")
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.removeprefix("/api")
                stand_in.requests.append(path)
                status, body = stand_in.route(path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def esplora_routes(
    tip: int,
    histories: Callable[[str], Any],
    blocks: Callable[[int], tuple[str, int]] | None = None,
    page: int = 25,
) -> Route:
    """Esplora's paths over a tip height, address histories and blocks."""

    def route(path: str) -> tuple[int, bytes]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts == ["blocks", "tip", "height"]:
            return 200, str(tip).encode()
        if len(parts) == 2 and parts[0] == "block-height" and blocks is not None:
            height = int(parts[1])
            return (200, blocks(height)[0].encode()) if height <= tip else (404, b"not found")
        if len(parts) == 2 and parts[0] == "block" and blocks is not None:
            for height in range(tip + 1):
                block_hash, timestamp = blocks(height)
                if block_hash == parts[1]:
                    body = {"id": block_hash, "height": height, "timestamp": timestamp}
                    return 200, json.dumps(body).encode()
            return 404, b"Block not found"
        if len(parts) in (4, 5) and parts[0] == "address" and parts[2:4] == ["txs", "chain"]:
            txs = histories(parts[1])
            start = 0
            if len(parts) == 5:
                ids = [t["txid"] for t in txs]
                start = ids.index(parts[4]) + 1
            return 200, json.dumps(txs[start : start + page]).encode()
        return 404, b"not found"

    return route


@pytest.fixture
def esplora_server() -> Iterator[StandIn]:
    server = StandIn()
    try:
        yield server
    finally:
        server.close()


X = "bc1qra80kecjx4sygqjc838xhgazj4v2t6xy4865j3"  # key 1's p2wpkh (tests/vectors)
Y = "1LPxqHJ4cnAo9KY2iQUjwGDuGJtXucshF4"
SNAPSHOT = 135


def small_history() -> Ledger:
    """Pay, spend, pay-and-spend in one tx, two outputs to X in one tx, more than 25
    transactions (pagination), and movements after the snapshot height."""
    ledger = Ledger()
    coinbase = ledger.add(100, [], [(X, 50_000), (None, 0)])
    change = ledger.add(101, [(coinbase, 0)], [(Y, 30_000), (X, 19_000)])  # pays and spends X
    funding = ledger.add(101, [], [(Y, 1_000_000)])
    double = ledger.add(102, [(funding, 0)], [(X, 1_111), (X, 2_222), (Y, 900_000)])
    small = [ledger.add(103 + i, [], [(X, 1_000)]) for i in range(30)]
    ledger.add(133, [(small[0], 0), (small[5], 0), (small[9], 0), (double, 1)], [(Y, 5_000)])
    ledger.add(SNAPSHOT + 5, [], [(X, 7_777)])
    ledger.add(SNAPSHOT + 6, [(change, 1)], [(Y, 18_000)])
    return ledger


@pytest.mark.parametrize("height", [99, 100, 101, 102, 110, 132, 133, SNAPSHOT, 140, 141, 150])
def test_esplora_balance_at_heights(esplora_server: StandIn, height: int) -> None:
    ledger = small_history()
    assert len(ledger.history(X)) == 36  # two pages of 25, then an empty one
    esplora_server.route = esplora_routes(150, ledger.history)
    got = Esplora(esplora_server.url).balance_at(X, height)
    assert got == ledger.utxo_balance(X, height)
    assert type(got) is int


def test_esplora_balance_worked_example(esplora_server: StandIn) -> None:
    esplora_server.route = esplora_routes(150, small_history().history)
    api = Esplora(esplora_server.url + "/")
    # 19,000 change + 1,111 + 30 x 1,000 - 3 x 1,000 spent at 133
    assert api.balance_at(X, SNAPSHOT) == 19_000 + 1_111 + 27_000
    assert api.balance_at(X, 101) == 19_000
    assert api.balance_at(X, 150) == 1_111 + 27_000 + 7_777
    assert api.balance_at(Y, SNAPSHOT) == 30_000 + 900_000 + 5_000
    assert api.balance_at(address_of(KEYS["2"], "p2tr", "mainnet"), SNAPSHOT) == 0


def test_esplora_pagination_requests(esplora_server: StandIn) -> None:
    ledger = small_history()
    esplora_server.route = esplora_routes(150, ledger.history)
    Esplora(esplora_server.url).balance_at(X.upper(), SNAPSHOT)  # bech32 in any case
    ids = [t["txid"] for t in ledger.history(X)]
    assert esplora_server.requests == [
        "/blocks/tip/height",
        f"/address/{X}/txs/chain",
        f"/address/{X}/txs/chain/{ids[24]}",
        f"/address/{X}/txs/chain/{ids[35]}",
    ]


def test_esplora_block(esplora_server: StandIn) -> None:
    esplora_server.route = esplora_routes(
        150, small_history().history, lambda h: (hashlib.sha256(b"%d" % h).hexdigest(), 1_000 + h)
    )
    assert Esplora(esplora_server.url).block(7) == (hashlib.sha256(b"7").hexdigest(), 1_007)
    with pytest.raises(ChainError, match=r"GET /block-height/151 .* HTTP 404"):
        Esplora(esplora_server.url).block(151)


def _one_tx(**change: Any) -> Route:
    """A history of one transaction (X's oldest) with some fields replaced."""
    tx = small_history().history(X)[-1]
    tx.update(change)
    return esplora_routes(150, lambda address: [tx])


def _stuck(routes: Route) -> Route:
    """A server that ignores last_seen_txid and answers every page with the first."""

    def route(path: str) -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        if len(parts) == 5 and parts[0] == "address":
            path = "/" + "/".join(parts[:4])
        return routes(path)

    return route


SPENT_FROM_X = {"txid": "11" * 32, "vout": 0, "prevout": {"scriptpubkey_address": X, "value": 5}}
ESPLORA_FAULTS: list[tuple[str, Route, str]] = [
    (
        "tip below the snapshot",
        esplora_routes(SNAPSHOT - 1, small_history().history),
        f"tip is at height {SNAPSHOT - 1}, below the snapshot height {SNAPSHOT}",
    ),
    ("HTTP 500", lambda path: (500, b"internal error"), "HTTP 500: 'internal error'"),
    ("tip not a number", lambda path: (200, b"12a"), "tip height is not a number"),
    (
        "a float amount",
        esplora_routes(150, lambda a: [{"txid": "ab" * 32, "vout": [{"value": 1.5}]}]),
        "reply is not acceptable JSON ('the float 1.5 is not a number')",
    ),
    (
        "a negative amount",
        _one_tx(vout=[{"scriptpubkey_address": X, "value": -1}]),
        "output value is not a satoshi amount: -1",
    ),
    (
        "a boolean amount",
        _one_tx(vout=[{"scriptpubkey_address": X, "value": True}]),
        "output value is not a satoshi amount: True",
    ),
    ("unconfirmed in the chain list", _one_tx(status={"confirmed": False}), "is not confirmed"),
    ("no block height", _one_tx(status={"confirmed": True}), "malformed block height"),
    ("no vout", _one_tx(vout=None), "has no vin or vout list"),
    ("bad txid", _one_tx(txid="xyz"), "malformed txid: 'xyz'"),
    (
        "input without prevout",
        _one_tx(vin=[{"txid": "00" * 32, "vout": 0}]),
        "input without its prevout",
    ),
    (
        "not a list",
        lambda path: (200, b'{"txs": []}' if "/address/" in path else b"150"),
        "not a list of transactions",
    ),
    (
        "pagination ignores the last txid",
        _stuck(esplora_routes(150, small_history().history)),
        "pagination stuck",
    ),
    ("history sums below zero", _one_tx(vin=[SPENT_FROM_X], vout=[]), "negative balance (-5)"),
]


@pytest.mark.parametrize(
    ("name", "route", "expect"), ESPLORA_FAULTS, ids=[f[0] for f in ESPLORA_FAULTS]
)
def test_esplora_faults(esplora_server: StandIn, name: str, route: Route, expect: str) -> None:
    esplora_server.route = route
    api = Esplora(esplora_server.url.replace("http://", "http://alice:s3cret@") + "/api")
    with pytest.raises(ChainError, match=re.escape(expect)) as caught:
        api.balance_at(X, SNAPSHOT)
    assert "s3cret" not in str(caught.value)
    assert esplora_server.url + "/..." in str(caught.value)


def test_esplora_unreachable_and_bad_arguments() -> None:
    with pytest.raises(ChainError, match="cannot connect"):
        Esplora("http://127.0.0.1:1", timeout=2).balance_at(X, 1)
    with pytest.raises(ValueError, match="non-negative integer"):
        Esplora("http://127.0.0.1:1").balance_at(X, -1)
    with pytest.raises(ValueError, match="http:// or https://"):
        Esplora("ftp://example.invalid")
    with pytest.raises(ValueError, match="positive number"):
        Esplora("http://127.0.0.1:1", timeout=0)


# --------------------------------------------------------------------------- bitcoind


def _wif(private_key: bytes) -> str:
    return base58.b58encode_check(b"\xef" + private_key + b"\x01").decode()


def test_core_block(bitcoind: BitcoinNode) -> None:
    rpc = BitcoinCoreRpc(bitcoind.url)
    height = bitcoind.height()
    for h in (0, 1, height):
        block_hash = bitcoind.rpc("getblockhash", [h])
        header = bitcoind.rpc("getblockheader", [block_hash])
        assert rpc.block(h) == (block_hash, header["time"])
    assert rpc.network() == "regtest"
    with pytest.raises(
        ChainError, match=rf"getblockhash\({height + 5}\) .*Block height out of range"
    ):
        rpc.block(height + 5)


def test_core_balances_at_the_tip_and_the_wrong_height(bitcoind: BitcoinNode) -> None:
    keys = {
        kind: node_key(f"node {kind}")
        for kind in ("p2pkh", "p2pkh-uncompressed", "p2sh-p2wpkh", "p2wpkh", "p2tr")
    }
    addresses = {kind: address_of(key, kind, "regtest") for kind, key in keys.items()}
    unfunded = address_of(node_key("node unfunded"), "p2wpkh", "regtest")
    amounts = {
        "p2pkh": 10_000_000,
        "p2pkh-uncompressed": 3_000_001,
        "p2sh-p2wpkh": 20_000_000,
        "p2wpkh": 150_000_000,
        "p2tr": 25_000_000,
    }
    bitcoind.send({addresses[k]: v for k, v in amounts.items() if k != "p2wpkh"})
    bitcoind.send({addresses["p2wpkh"]: 100_000_000})
    bitcoind.send({addresses["p2wpkh"]: 50_000_000})  # two outputs, one address
    height = bitcoind.mine()

    asked = [*addresses.values(), addresses["p2wpkh"].upper(), unfunded]
    expected = {addresses[k]: v for k, v in amounts.items()}
    expected[addresses["p2wpkh"].upper()] = amounts["p2wpkh"]
    expected[unfunded] = 0
    by_password = BitcoinCoreRpc(bitcoind.url).balances_at(asked, height)
    assert by_password == expected
    by_cookie = BitcoinCoreRpc(bitcoind.base, cookie_file=bitcoind.cookie_file)
    assert by_cookie.balances_at(asked, height) == expected
    assert all(type(v) is int for v in by_password.values())

    rpc = BitcoinCoreRpc(bitcoind.url)
    with pytest.raises(
        ChainError, match=f"the node is at height {height}, not the snapshot height {height - 1}"
    ):
        rpc.balances_at(asked, height - 1)
    bitcoind.mine()
    with pytest.raises(
        ChainError, match=f"node is at height {height + 1}, not the snapshot height {height}"
    ) as caught:
        rpc.balances_at(asked, height)
    assert f"-stopatheight={height}" in str(caught.value)
    assert bitcoind.password not in str(caught.value)
    assert rpc.balances_at([], height) == {}


def _esplora_tx(tx: dict[str, Any], height: int) -> dict[str, Any]:
    """A bitcoind getblock (verbosity 3) transaction in Esplora's JSON shape."""

    def sats(value: Decimal) -> int:
        return int(value * COIN)

    vin = []
    for i in tx["vin"]:
        if "coinbase" in i:
            vin.append(
                {"txid": "00" * 32, "vout": 0xFFFFFFFF, "prevout": None, "is_coinbase": True}
            )
        else:
            prev = i["prevout"]
            vin.append(
                {
                    "txid": i["txid"],
                    "vout": i["vout"],
                    "is_coinbase": False,
                    "prevout": {
                        "scriptpubkey_address": prev["scriptPubKey"].get("address"),
                        "value": sats(prev["value"]),
                    },
                }
            )
    vout = [
        {"scriptpubkey_address": o["scriptPubKey"].get("address"), "value": sats(o["value"])}
        for o in tx["vout"]
    ]
    status = {"confirmed": True, "block_height": height}
    return {"txid": tx["txid"], "vin": vin, "vout": vout, "status": status}


def test_core_and_esplora_agree_on_a_real_history(
    bitcoind: BitcoinNode, esplora_server: StandIn
) -> None:
    """Real transactions (payments, spends, pay-and-spend, > 25 of them): bitcoind's
    scantxoutset at each height, then the same chain served in Esplora's shape."""
    key = node_key("node history")
    x = address_of(key, "p2wpkh", "regtest")
    y = address_of(node_key("node history other"), "p2tr", "regtest")
    wallet = bitcoind.key_wallet("history", [f"wpkh({_wif(key)})"])
    rpc = BitcoinCoreRpc(bitcoind.url)
    start = bitcoind.height()
    seen: dict[int, dict[str, int]] = {start: rpc.balances_at([x, y], start)}

    def mine() -> None:
        height = bitcoind.mine()
        seen[height] = rpc.balances_at([x, y], height)

    for block in range(3):
        for i in range(10):
            bitcoind.send({x: 1_000_000 * (block + 1) + i})
        mine()
    bitcoind.spend(wallet, {y: 12_345_678}, change_address=x)  # spends from x, pays x
    mine()
    bitcoind.spend(wallet, {y: 1_000_000, x: 2_000_000}, change_address=x)
    bitcoind.send({x: 777})
    mine()
    mine()  # nothing for x in this block
    assert seen[start][x] == 0
    assert seen[start + 3][x] == sum(1_000_000 * (b + 1) + i for b in range(3) for i in range(10))
    assert seen[start + 4][x] < seen[start + 3][x] - 12_345_678  # the fee came from x too
    assert seen[start + 4][y] == 12_345_678

    tip = bitcoind.height()
    blocks: list[tuple[str, int]] = []
    history: dict[str, list[dict[str, Any]]] = {x: [], y: []}
    for height in range(tip + 1):
        block = bitcoind.rpc("getblock", [bitcoind.rpc("getblockhash", [height]), 3])
        blocks.append((block["hash"], block["time"]))
        for tx in block["tx"]:
            shaped = _esplora_tx(tx, height)
            for address in (x, y):
                touched = [o["scriptpubkey_address"] for o in shaped["vout"]] + [
                    i["prevout"]["scriptpubkey_address"] for i in shaped["vin"] if i["prevout"]
                ]
                if address in touched:
                    history[address].append(shaped)
    for txs in history.values():
        txs.reverse()  # newest first, as Esplora lists them
    assert len(history[x]) > 25
    esplora_server.route = esplora_routes(tip, lambda a: history[a], lambda h: blocks[h])
    api = Esplora(esplora_server.url)
    for height, balances in seen.items():
        assert {a: api.balance_at(a, height) for a in (x, y)} == balances, height
    assert api.block(tip) == rpc.block(tip)


def test_core_errors(bitcoind: BitcoinNode) -> None:
    wrong = bitcoind.url.replace(bitcoind.password, "not-the-password")
    with pytest.raises(ChainError, match="HTTP 401") as caught:
        BitcoinCoreRpc(wrong).block(0)
    assert "not-the-password" not in str(caught.value)
    assert f"http://127.0.0.1:{bitcoind.port}/" in str(caught.value)
    with pytest.raises(ChainError, match="HTTP 401"):
        BitcoinCoreRpc(bitcoind.base).block(0)  # no credentials at all
    with pytest.raises(ChainError, match="cannot read the cookie file"):
        BitcoinCoreRpc(bitcoind.base, cookie_file=bitcoind.datadir / "missing").block(0)
    with pytest.raises(ChainError, match="cannot connect"):
        BitcoinCoreRpc("http://u:p@127.0.0.1:1/", timeout=2).block(0)
    mainnet = address_of(KEYS["1"], "p2wpkh", "mainnet")
    with pytest.raises(AddressError, match="wrong network"):
        BitcoinCoreRpc(bitcoind.url).balances_at([mainnet], bitcoind.height())
    with pytest.raises(ChainError, match="Method not found"):
        BitcoinCoreRpc(bitcoind.url).call("nosuchmethod", [])


def test_bip137_interoperates_with_bitcoind(bitcoind: BitcoinNode) -> None:
    """The node's own signmessage verifies here, and ours verify in the node."""
    key = node_key("node signer")
    message = "porsegregate proof of control\nchain: bitcoin regtest"
    address = address_of(key, "p2pkh", "regtest")
    theirs = bitcoind.rpc("signmessagewithprivkey", [_wif(key), message])
    public = verify_bip137(message, address, theirs, "regtest")
    assert hash160(public) == script_pubkey(address, "regtest")[3:23]
    for kind in ("p2pkh", "p2pkh-uncompressed"):
        ours = sign_bip137(message, key, kind, "regtest")
        assert bitcoind.rpc("verifymessage", [address_of(key, kind, "regtest"), ours, message])
        assert not bitcoind.rpc(
            "verifymessage", [address_of(key, kind, "regtest"), ours, message + "."]
        )


def test_core_malformed_replies(esplora_server: StandIn) -> None:
    """Wrong answers from something that claims to be a node."""

    def reply(result: Any) -> Route:
        return lambda path: (200, json.dumps({"result": result, "error": None, "id": 1}).encode())

    cases: list[tuple[Route, Callable[[BitcoinCoreRpc], object], str]] = [
        (lambda p: (200, b"<html>"), lambda r: r.block(1), "reply is not JSON"),
        (reply("zz"), lambda r: r.block(1), "block hash is malformed"),
        (
            lambda p: (200, b'{"result": 1, "error": null, "id": 99}'),
            lambda r: r.block(1),
            "reply id",
        ),
        (
            lambda p: (
                500,
                b'{"result": null, "error": {"code": -8, "message": "out of range"}, "id": 1}',
            ),
            lambda r: r.block(1),
            "node answered error -8: 'out of range'",
        ),
        (reply({"chain": "litecoin"}), lambda r: r.network(), "unknown chain 'litecoin'"),
    ]
    for route, call, expect in cases:
        esplora_server.route = route
        # The stand-in only answers GET; bitcoind's client POSTs, so serve POST too.
        rpc = BitcoinCoreRpc(
            esplora_server.url.replace("http://", "http://bob:hunter2@") + "/wallet/w"
        )
        with pytest.raises(ChainError, match=re.escape(expect)) as caught:
            call(rpc)
        assert "hunter2" not in str(caught.value)
        assert esplora_server.url + "/..." in str(caught.value)


def test_core_amounts_are_exact() -> None:
    from porsegregate.chains.bitcoin import _satoshis

    assert _satoshis(Decimal("20999999.99999999")) == 2_099_999_999_999_999
    assert _satoshis(Decimal("0.1")) == 10_000_000
    assert _satoshis(Decimal("0.000000001")) is None
    assert _satoshis(Decimal("-1")) is None
    assert _satoshis(Decimal("21000000.00000001")) is None
    assert _satoshis(True) is None
    assert _satoshis(0.1) is None  # never a float


# ------------------------------------------------------------------ the network a node serves


def test_the_network_each_reader_serves(bitcoind: BitcoinNode, esplora_server: StandIn) -> None:
    """What `--rpc` re-reads compare with the signed network (docs/protocol.md section 12):
    Bitcoin Core's getblockchaininfo, an Esplora API's genesis block."""
    from porsegregate.chains import family
    from porsegregate.chains.bitcoin import GENESIS_NETWORKS
    from porsegregate.protocol.models import ChainAsset, ChainSnapshot

    chain = ChainSnapshot("bitcoin", "bitcoin", "mainnet", 1, "00" * 32, (ChainAsset("BTC", None),))
    core = family("bitcoin").balance_reader(chain, bitcoind.url)
    assert core.network(chain) == "regtest", "the node's network, whatever the chain declares"
    assert core.node.startswith("http://127.0.0.1:") and "@" not in core.node
    genesis = bitcoind.rpc("getblockhash", [0])
    assert GENESIS_NETWORKS[genesis] == "regtest", "the table's regtest genesis is bitcoind's"
    mainnet = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    for first, named in (
        (mainnet, "mainnet"),
        ("ab" * 32, f"the chain with genesis block {'ab' * 32}"),
    ):
        esplora_server.route = esplora_routes(
            10, lambda a: [], lambda h, g=first: (g if h == 0 else f"{h:064x}", 1_231_006_505)
        )
        reader = family("bitcoin").balance_reader(chain, "esplora+" + esplora_server.url)
        assert reader.network(chain) == named
