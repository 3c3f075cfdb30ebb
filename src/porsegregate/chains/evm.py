"""Ethereum and other EVM chains: addresses, personal_sign proofs, balances at a block.

Signatures are checked by eth-account (EIP-191 ``personal_sign``) and the
signer's public key is recovered by eth-keys, so the reserves layer can see
the same key behind two wallets, even on two chains. Balances are read over
JSON-RPC from a node the custodian or auditor names, always at a fixed block
number (the snapshot height), never at "latest"; every field of every reply is
checked before it is used, and amounts stay integers (wei, token base units).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_keys.datatypes import PrivateKey, Signature
from eth_utils.crypto import keccak

from .._http import Endpoint, HttpFailure
from ..errors import AddressError, ChainError, SignatureError
from ..protocol.models import PROOF_TYPES, ChainAsset, ChainSnapshot
from ._family import BalanceReader, ChainFamily, last_block_at_or_before, unsupported_proof

__all__ = [
    "FAMILY",
    "EvmReader",
    "EvmRpc",
    "address_of",
    "normalize_address",
    "sign_personal",
    "verify_personal_sign",
]

# Order of the secp256k1 group; r and s of a signature lie in [1, N - 1].
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# ERC-20 balanceOf(address): the first four bytes of keccak256("balanceOf(address)").
BALANCE_OF_SELECTOR = "70a08231"
DECIMALS_SELECTOR = "313ce567"

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_HASH32 = re.compile(r"0x[0-9a-fA-F]{64}")
_DATA32 = re.compile(r"0x[0-9a-fA-F]{64}")
# A JSON-RPC QUANTITY: 0x, then the shortest hex (no leading zeros, "0x0" for zero).
# 64 digits is the most a 256-bit EVM word needs.
_QUANTITY = re.compile(r"0x(?:0|[1-9a-fA-F][0-9a-fA-F]{0,63})")
_MAX_REPLY_BYTES = 8 * 1024 * 1024


def _shown(text: str, limit: int = 80) -> str:
    """A value quoted for an error message: printable, and cut if long."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def _shown_json(value: Any, limit: int = 80) -> str:
    """A value from a reply, shown as JSON (ASCII only), cut if long."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- addresses


def _checksummed(hex40: str) -> str:
    """EIP-55: uppercase each letter whose nibble in keccak256(lowercase hex) is >= 8."""
    lower = hex40.lower()
    digest = keccak(text=lower).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)
    )


def normalize_address(address: str) -> str:
    """The EIP-55 checksummed form of an EVM address.

    All-lowercase and all-uppercase hex carry no checksum and are accepted;
    mixed case is a checksum and must be right. Raises AddressError saying
    what is wrong.
    """
    if not isinstance(address, str):
        raise AddressError(f"EVM address must be text, not {type(address).__name__}")
    if address != address.strip():
        raise AddressError(
            f"EVM address {_shown(address)} has spaces or line breaks around it; remove them"
        )
    if not address.startswith("0x"):
        raise AddressError(
            f"EVM address {_shown(address)} must start with '0x' (lowercase) "
            "followed by 40 hexadecimal digits"
        )
    digits = address[2:]
    bad = next((c for c in digits if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise AddressError(
            f"EVM address {_shown(address)} contains {bad!r}, which is not a hexadecimal digit "
            "(0-9, a-f)"
        )
    if len(digits) != 40:
        raise AddressError(
            f"EVM address {_shown(address)} has {len(digits)} hexadecimal digits after '0x'; "
            "an address has exactly 40 (20 bytes): it may be cut short, or be a transaction "
            "hash or a public key instead"
        )
    checksummed = _checksummed(digits)
    if digits in (digits.lower(), digits.upper()) or address == checksummed:
        return checksummed
    raise AddressError(
        f"EVM address {_shown(address)} has mixed upper and lower case, but the case does not "
        "match its EIP-55 checksum: the address was probably mistyped or altered. Copy it again "
        "from the wallet"
    )


# --------------------------------------------------------------------------- signatures


def _private_key(private_key: bytes) -> PrivateKey:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ValueError("an EVM private key is exactly 32 bytes")
    if not 1 <= int.from_bytes(private_key, "big") < SECP256K1_N:
        raise ValueError("an EVM private key must lie between 1 and the secp256k1 order minus 1")
    return PrivateKey(private_key)


def address_of(private_key: bytes) -> str:
    """The checksummed address of a 32-byte secp256k1 private key."""
    return normalize_address(_private_key(private_key).public_key.to_checksum_address())


def sign_personal(message: str, private_key: bytes) -> str:
    """An EIP-191 personal_sign signature of the UTF-8 message: 0x + 130 hex digits, v 27/28."""
    signed = Account.sign_message(encode_defunct(text=message), _private_key(private_key))
    signature = bytes(signed.signature)
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise AssertionError("eth-account returned an unexpected signature layout")
    return "0x" + signature.hex()


def _parse_signature(signature: str) -> tuple[int, int, int]:
    """(r, s, recovery id 0/1) from 0x-hex r || s || v; SignatureError if malformed."""
    if not isinstance(signature, str):
        raise SignatureError(f"signature must be text, not {type(signature).__name__}")
    if not signature.startswith("0x"):
        raise SignatureError(
            "signature must be '0x' followed by 130 hexadecimal digits (65 bytes: r, s, v); "
            f"got {_shown(signature)}"
        )
    digits = signature[2:]
    bad = next((c for c in digits if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise SignatureError(f"signature contains {bad!r}, which is not a hexadecimal digit")
    if len(digits) != 130:
        raise SignatureError(
            f"signature has {len(digits)} hexadecimal digits after '0x'; a personal_sign "
            "signature has exactly 130 (65 bytes: r, s, v)"
        )
    raw = bytes.fromhex(digits)
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    if v in (27, 28):
        v -= 27
    elif v not in (0, 1):
        raise SignatureError(f"signature recovery byte v is {v}; expected 27 or 28 (or 0 or 1)")
    if not (1 <= r < SECP256K1_N and 1 <= s < SECP256K1_N):
        raise SignatureError("signature r or s is out of range (zero or not below the curve order)")
    if s > SECP256K1_N // 2:
        raise SignatureError(
            "signature s is in the upper half of the curve order (a non-canonical, malleated "
            "signature, rejected as in EIP-2); wallets produce the lower-half form"
        )
    return r, s, v


def verify_personal_sign(message: str, address: str, signature: str) -> bytes:
    """Check an EIP-191 personal_sign signature of the UTF-8 message by the address.

    Returns the signer's 33-byte compressed secp256k1 public key. Raises
    AddressError for a malformed address and SignatureError for a malformed
    signature or one made by another key (the message names both addresses).
    """
    declared = normalize_address(address)
    if not isinstance(message, str):
        raise SignatureError(f"signed message must be text, not {type(message).__name__}")
    r, s, v = _parse_signature(signature)
    try:
        signable = encode_defunct(text=message)
        digest = bytes(defunct_hash_message(text=message))
        canonical = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])
        recovered = normalize_address(Account.recover_message(signable, signature=canonical))
        public_key = Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
    except UnicodeEncodeError as exc:
        raise SignatureError("signed message is not valid Unicode text") from exc
    except Exception as exc:  # eth-keys BadSignature, eth-utils ValidationError, ValueError
        raise SignatureError(f"signature does not recover to any public key ({exc})") from exc
    if normalize_address(public_key.to_checksum_address()) != recovered:
        raise SignatureError("eth-account and eth-keys recovered different signers")
    if recovered != declared:
        raise SignatureError(
            f"signature was made by {recovered}, not by the declared address {declared} "
            "(wrong message or account, or an altered signature)"
        )
    compressed = public_key.to_compressed_bytes()
    if len(compressed) != 33:
        raise AssertionError("eth-keys returned a compressed key that is not 33 bytes")
    return compressed


# --------------------------------------------------------------------------- JSON-RPC


_ERROR_DETAIL_BYTES = 64 * 1024
_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": "porsegregate",
}


def _http_error_detail(body: bytes) -> str:
    """The JSON-RPC error message a node may put in the body of an HTTP error (e.g. 429)."""
    try:
        message = json.loads(body[:_ERROR_DETAIL_BYTES].decode("utf-8"))["error"]["message"]
    except Exception:
        return ""
    return f": {_shown(message, 200)}" if isinstance(message, str) else ""


def _reject_float(text: str) -> NoReturn:
    raise ValueError(f"number {text[:40]} is not an integer")


def _reject_constant(text: str) -> NoReturn:
    raise ValueError(f"{text} is not JSON")


class EvmRpc:
    """A JSON-RPC client for one EVM node, reading state at fixed block heights.

    The URL may carry ``user:password@``: they are sent as HTTP Basic
    authorization and never appear in error messages (nor does the query
    string or path, where providers put API keys).
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self._node = Endpoint(url, "EVM node", timeout=timeout, example="http://127.0.0.1:8545")
        self.display_url = self._node.display_url
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EvmRpc({self.display_url!r})"

    # ------------------------------------------------------------------ transport

    def _fail(self, method: str, why: str) -> NoReturn:
        raise ChainError(f"{method} to EVM node {self.display_url} failed: {why}")

    def call(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; the ``result`` member, not yet validated."""
        with self._lock:
            request_id = next(self._ids)
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        ).encode()
        try:
            answer = self._node.post(body, headers=_HEADERS, max_bytes=_MAX_REPLY_BYTES)
        except HttpFailure as exc:
            self._fail(method, exc.reason)
        if not answer.ok:
            detail = _http_error_detail(answer.body)
            self._fail(method, f"HTTP {answer.status} {_shown(answer.reason, 60)}{detail}")
        raw = answer.body
        try:
            reply = json.loads(
                raw.decode("utf-8"), parse_float=_reject_float, parse_constant=_reject_constant
            )
        except UnicodeDecodeError:
            self._fail(method, "reply is not UTF-8 text")
        except (ValueError, RecursionError) as exc:
            start = _shown(raw[:60].decode("utf-8", "replace"))
            self._fail(method, f"reply is not acceptable JSON ({_shown(str(exc), 80)}): {start}")
        if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
            self._fail(method, "reply is not a JSON-RPC 2.0 response object")
        reply_id = reply.get("id")
        if type(reply_id) is not int or reply_id != request_id:
            self._fail(method, f"reply id {_shown_json(reply_id, 40)} is not the request's")
        if "error" in reply:
            error = reply["error"]
            if not isinstance(error, dict):
                self._fail(method, "reply carries a malformed JSON-RPC error")
            code = error.get("code")
            text = error.get("message")
            code_text = str(code) if type(code) is int else "?"
            shown = _shown(text, 300) if isinstance(text, str) else "(no message)"
            self._fail(method, f"node answered error {code_text}: {shown}")
        if "result" not in reply:
            self._fail(method, "reply has neither result nor error")
        return reply["result"]

    def _quantity(self, method: str, what: str, value: Any) -> int:
        if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
            self._fail(method, f"{what} is not a JSON-RPC hex quantity: {_shown_json(value)}")
        return int(value[2:], 16)

    @staticmethod
    def _height(height: int) -> str:
        if type(height) is not int or height < 0:
            raise ValueError(f"block height must be a non-negative integer, not {height!r}")
        return hex(height)

    # ------------------------------------------------------------------ queries

    def chain_id(self) -> int:
        """The chain id the node serves (EIP-155): 1 for Ethereum mainnet."""
        chain = self._quantity("eth_chainId", "chain id", self.call("eth_chainId", []))
        if chain == 0:
            self._fail("eth_chainId", "chain id is 0")
        return chain

    def latest_height(self) -> int:
        """The number of the node's newest block."""
        return self._quantity("eth_blockNumber", "block number", self.call("eth_blockNumber", []))

    def block(self, height: int) -> tuple[str, int]:
        """(hash as 0x lowercase hex, timestamp in unix seconds) of the block at height."""
        method = "eth_getBlockByNumber"
        result = self.call(method, [self._height(height), False])
        if result is None:
            try:
                latest = f"; its latest block is {self.latest_height()}"
            except ChainError:
                latest = ""
            self._fail(method, f"node has no block at height {height}{latest}")
        if not isinstance(result, dict):
            self._fail(method, "result is not a block object")
        number = self._quantity(method, "block number", result.get("number"))
        if number != height:
            self._fail(method, f"asked for block {height}, node returned block {number}")
        block_hash = result.get("hash")
        if not isinstance(block_hash, str) or not _HASH32.fullmatch(block_hash):
            self._fail(method, f"block hash is malformed: {_shown_json(block_hash)}")
        timestamp = self._quantity(method, "block timestamp", result.get("timestamp"))
        return block_hash.lower(), timestamp

    def native_balance(self, address: str, height: int) -> int:
        """The address's balance in wei (the chain's native coin) at the block height."""
        method = "eth_getBalance"
        result = self.call(method, [normalize_address(address), self._height(height)])
        return self._quantity(method, "balance", result)

    def erc20_balance(self, contract: str, address: str, height: int) -> int:
        """The address's balance of the ERC-20 token at contract, in base units, at height."""
        method = "eth_call"
        token = normalize_address(contract)
        holder = normalize_address(address)
        data = "0x" + BALANCE_OF_SELECTOR + holder[2:].lower().rjust(64, "0")
        result = self.call(method, [{"to": token, "data": data}, self._height(height)])
        if result == "0x":
            self._fail(
                method,
                f"balanceOf at {token} returned no data at block {height}: there is no "
                "contract at that address at that block, or it is not an ERC-20 token",
            )
        if not isinstance(result, str) or not _DATA32.fullmatch(result):
            self._fail(
                method,
                f"balanceOf at {token} did not return one 32-byte word: {_shown_json(result)}",
            )
        return int(result[2:], 16)

    def erc20_decimals(self, contract: str, height: int) -> int:
        """The token's `decimals()` at the block: amounts are compared in the asset's units."""
        method = "eth_call"
        token = normalize_address(contract)
        result = self.call(
            method, [{"to": token, "data": "0x" + DECIMALS_SELECTOR}, self._height(height)]
        )
        if not isinstance(result, str) or not _DATA32.fullmatch(result):
            self._fail(
                method,
                f"decimals() at {token} did not return one 32-byte word at block {height}: "
                f"{_shown_json(result)}",
            )
        value = int(result[2:], 16)
        if value > 255:
            self._fail(method, f"decimals() at {token} returned {value}, not a uint8")
        return value


# --------------------------------------------------------------------------- the family


class EvmReader:
    """Balances of an EVM chain from a JSON-RPC node, after checking it serves that chain."""

    def __init__(self, url: str) -> None:
        self.rpc = EvmRpc(url)

    @property
    def node(self) -> str:
        return self.rpc.display_url

    def network(self, chain: ChainSnapshot) -> str:
        return str(self.rpc.chain_id())

    def _check_chain(self, chain: ChainSnapshot) -> None:
        chain_id = self.rpc.chain_id()
        if str(chain_id) != chain.network:
            raise ChainError(
                f"the node serves chain id {chain_id}, but {chain.id} is declared with "
                f"chain_id {chain.network}"
            )

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        self._check_chain(chain)
        return self.rpc.block(chain.block_height)

    def block_at_or_before(self, chain: ChainSnapshot, time: int) -> tuple[int, str, int]:
        self._check_chain(chain)
        return last_block_at_or_before(self.rpc.latest_height(), self.rpc.block, time, self.node)

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


class EvmFamily:
    """EVM chains (Ethereum, Polygon...): a chain is its EIP-155 chain id, tokens are ERC-20."""

    kind = "evm"
    proof_types = PROOF_TYPES["evm"]
    tokens = True

    def network(self, table: Mapping[str, Any]) -> str:
        chain_number = table.get("chain_id")
        if isinstance(chain_number, bool) or not isinstance(chain_number, int) or chain_number < 1:
            raise ValueError("an evm chain needs chain_id, a positive integer (1 = Ethereum)")
        return str(chain_number)

    def block_hash(self, text: str) -> str:
        if not _HASH32.fullmatch(text.lower()):
            raise ValueError("block_hash must be 0x and 64 hex digits")
        return text.lower()

    def normalize_address(self, address: str, network: str) -> str:
        return normalize_address(address)

    def identity(self, address: str, network: str) -> str:
        return normalize_address(address)[2:].lower()

    def verify_control(
        self, *, network: str, address: str, proof_type: str, signature: str, message: str
    ) -> bytes | None:
        if proof_type != "eip191":
            raise unsupported_proof(self.kind, proof_type)
        return verify_personal_sign(message, address, signature)

    def balance_reader(self, chain: ChainSnapshot, url: str) -> BalanceReader:
        return EvmReader(url)

    def _demo_type(self, address_type: str) -> None:
        if address_type != self.kind:
            raise ValueError(f"an evm demo key has address type 'evm', not {address_type!r}")

    def demo_address(self, key: bytes, address_type: str, network: str) -> str:
        self._demo_type(address_type)
        return address_of(key)

    def demo_proof_type(self, address_type: str) -> str:
        self._demo_type(address_type)
        return "eip191"

    def demo_sign(self, key: bytes, address_type: str, network: str, message: str) -> str:
        self._demo_type(address_type)
        return sign_personal(message, key)


FAMILY: ChainFamily = EvmFamily()
