"""Bitcoin: addresses, proof of control by signed message, balances at a block.

Libraries, each doing one job (nothing here does curve arithmetic):

* ``coincurve`` (bindings to Bitcoin Core's libsecp256k1): recoverable ECDSA for
  BIP-137 (sign, recover), the x-only key tweak of a key-path taproot address.
* ``bip322`` (Python bindings to rust-bitcoin's ``bip322`` crate): BIP-322
  "simple" verification. It verifies only; no maintained Python library signs
  BIP-322, so :func:`sign_bip322_simple` refuses (see its docstring).
* ``base58`` (Base58Check) and ``bech32m`` (Pieter Wuille's BIP-173/BIP-350
  reference code, packaged): address encodings.

Balances come from a Bitcoin Core node (``scantxoutset``, which reads the node's
*current* UTXO set, so the node must be at the snapshot height) or from an
Esplora-compatible REST API (the address's confirmed history, summed up to the
snapshot height). Amounts are integers (satoshis) throughout; every field of
every reply is checked before it is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import base58
import bech32m  # type: ignore[import-untyped]
import bip322
from bech32m import codecs as bech32_codecs
from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

from .._http import Endpoint, HttpFailure, basic_authorization
from ..errors import AddressError, ChainError, SignatureError
from ..protocol.models import PROOF_TYPES, ChainAsset, ChainSnapshot
from ._family import (
    BalanceReader,
    ChainFamily,
    last_block_at_or_before,
    refuse_tokens,
    unsupported_proof,
)

__all__ = [
    "ADDRESS_TYPES",
    "ESPLORA_PREFIX",
    "FAMILY",
    "NETWORKS",
    "BitcoinCoreReader",
    "BitcoinCoreRpc",
    "Esplora",
    "EsploraReader",
    "address_of",
    "address_type",
    "bip137_message_hash",
    "normalize_address",
    "script_pubkey",
    "sign_bip137",
    "sign_bip322_simple",
    "verify_bip137",
    "verify_bip322_simple",
]

SATOSHIS_PER_BITCOIN = 100_000_000
MAX_MONEY = 21_000_000 * SATOSHIS_PER_BITCOIN
BIP137_MAGIC = b"Bitcoin Signed Message:\n"


@dataclass(frozen=True)
class Network:
    name: str
    p2pkh: int  # Base58Check version byte of P2PKH addresses
    p2sh: int  # ... and of P2SH addresses
    hrp: str  # bech32 human-readable part of segwit addresses


NETWORKS: dict[str, Network] = {
    "mainnet": Network("mainnet", 0x00, 0x05, "bc"),
    "testnet": Network("testnet", 0x6F, 0xC4, "tb"),
    "signet": Network("signet", 0x6F, 0xC4, "tb"),
    "regtest": Network("regtest", 0x6F, 0xC4, "bcrt"),
}
# What a version byte or HRP of another network says, for "wrong network" messages.
_BASE58_NETWORKS = {0x00: "mainnet", 0x05: "mainnet", 0x6F: "testnet", 0xC4: "testnet"}
_HRP_NETWORKS = {"bc": "mainnet", "tb": "testnet or signet", "bcrt": "regtest"}

# address_of / sign_* address types. "p2pkh" uses the compressed public key, as
# every current wallet does; "p2pkh-uncompressed" is the pre-2012 form.
ADDRESS_TYPES = ("p2pkh", "p2pkh-uncompressed", "p2sh-p2wpkh", "p2wpkh", "p2tr")

_BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_BECH32_ALPHABET = frozenset("qpzry9x8gf2tvdw0s3jn54khce6mua7l")


def _shown(text: object, limit: int = 80) -> str:
    """A value quoted for an error message: printable, and cut if long."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def _network(network: str) -> Network:
    try:
        return NETWORKS[network]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown Bitcoin network {_shown(network)}; expected one of {', '.join(NETWORKS)}"
        ) from None


def _hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256 (OpenSSL has RIPEMD-160 in its default provider since 3.0.7)."""
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP-340 tagged hash."""
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + data).digest()


def _compact_size(n: int) -> bytes:
    """Bitcoin's variable-length integer (CompactSize)."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class _Address:
    text: str  # canonical spelling
    kind: str  # p2pkh, p2sh, p2wpkh, p2wsh, p2tr
    payload: bytes  # the hash (base58 types) or witness program (segwit)


def _decode_bech32(address: str, net: Network) -> _Address:
    if address.lower() != address and address.upper() != address:
        raise AddressError(f"address {_shown(address)} mixes upper and lower case")
    text = address.lower()
    if len(text) > 90:
        raise AddressError(f"address {_shown(address)} is too long for bech32 (over 90 characters)")
    hrp, _, data = text.rpartition("1")
    bad = sorted(set(data) - _BECH32_ALPHABET)
    if bad:
        raise AddressError(f"address {_shown(address)} has characters bech32 does not use: {bad}")
    try:
        _, values, spec = bech32_codecs.bech32_decode(text)
    except bech32_codecs.DecodeError:
        raise AddressError(f"address {_shown(address)} has a bad checksum") from None
    if hrp != net.hrp:
        other = _HRP_NETWORKS.get(hrp)
        if other is not None:
            raise AddressError(
                f"address {_shown(address)} is for the wrong network: it is a {other} "
                f"address, expected {net.name}"
            )
        raise AddressError(f"address {_shown(address)} has an unknown prefix {hrp!r}")
    if not values:
        raise AddressError(f"address {_shown(address)} has no witness version")
    version = values[0]
    if version > 16:
        raise AddressError(f"address {_shown(address)} has an invalid witness version {version}")
    expected = bech32_codecs.Encoding.BECH32 if version == 0 else bech32_codecs.Encoding.BECH32M
    if spec != expected:
        right, wrong = ("bech32", "bech32m") if version == 0 else ("bech32m", "bech32")
        raise AddressError(
            f"address {_shown(address)} has a bad checksum: witness version {version} "
            f"needs a {right} checksum, this one is {wrong} (BIP-350)"
        )
    try:
        program = bytes(bech32_codecs.convertbits(values[1:], 5, 8, False))
    except bech32_codecs.DecodeError:
        raise AddressError(f"address {_shown(address)} has invalid padding") from None
    if not 2 <= len(program) <= 40:
        raise AddressError(
            f"address {_shown(address)} has a witness program of {len(program)} bytes (2-40)"
        )
    if version == 0 and len(program) == 20:
        kind = "p2wpkh"
    elif version == 0 and len(program) == 32:
        kind = "p2wsh"
    elif version == 0:
        raise AddressError(
            f"address {_shown(address)} has a version 0 witness program of {len(program)} "
            "bytes; only 20 (P2WPKH) and 32 (P2WSH) are valid"
        )
    elif version == 1 and len(program) == 32:
        kind = "p2tr"
    else:
        raise AddressError(
            f"address {_shown(address)} is of an unknown type: witness version {version} "
            f"with a {len(program)}-byte program (not P2WPKH, P2WSH or P2TR)"
        )
    return _Address(_encode_segwit(net, version, program), kind, program)


def _decode_base58(address: str, net: Network) -> _Address:
    bad = sorted(set(address) - _BASE58_ALPHABET)
    if bad:
        raise AddressError(
            f"address {_shown(address)} is neither bech32 nor Base58: it contains {bad}"
        )
    try:
        payload = base58.b58decode_check(address)
    except ValueError:
        raise AddressError(f"address {_shown(address)} has a bad checksum") from None
    if len(payload) != 21:
        raise AddressError(
            f"address {_shown(address)} is of an unknown type: Base58Check payload of "
            f"{len(payload)} bytes, expected 21"
        )
    version, digest = payload[0], payload[1:]
    if version == net.p2pkh:
        kind = "p2pkh"
    elif version == net.p2sh:
        kind = "p2sh"
    elif version in _BASE58_NETWORKS:
        other = _BASE58_NETWORKS[version]
        if other == "testnet":
            other = "testnet, signet or regtest"
        raise AddressError(
            f"address {_shown(address)} is for the wrong network: it is a {other} "
            f"address, expected {net.name}"
        )
    else:
        raise AddressError(
            f"address {_shown(address)} is of an unknown type: version byte 0x{version:02x}"
        )
    return _Address(base58.b58encode_check(payload).decode("ascii"), kind, digest)


def _looks_bech32(text: str) -> bool:
    lower = text.lower()
    return any(lower.startswith(hrp + "1") for hrp in _HRP_NETWORKS)


def _decode(address: str, network: str) -> _Address:
    net = _network(network)
    if not isinstance(address, str):
        raise AddressError(f"an address is text, not {type(address).__name__}")
    if not address:
        raise AddressError("empty address")
    if len(address) > 100:
        raise AddressError(f"address {_shown(address)} is too long to be a Bitcoin address")
    if address != address.strip():
        raise AddressError(f"address {_shown(address)} has spaces around it")
    if _looks_bech32(address):
        return _decode_bech32(address, net)
    if not set(address) <= _BASE58_ALPHABET:
        hrp, separator, data = address.lower().rpartition("1")
        if separator and hrp and len(data) >= 6 and set(data) <= _BECH32_ALPHABET:
            raise AddressError(
                f"address {_shown(address)} has an unknown prefix {hrp!r}: Bitcoin uses "
                f"{', '.join(repr(h) for h in _HRP_NETWORKS)}"
            )
    return _decode_base58(address, net)


def normalize_address(address: str, network: str) -> str:
    """The canonical spelling of a P2PKH, P2SH, P2WPKH, P2WSH or P2TR address.

    Bech32 addresses come back lowercase. AddressError says what is wrong (wrong
    network, bad checksum, unknown type...); ValueError for an unknown network.
    """
    return _decode(address, network).text


def address_type(address: str, network: str) -> str:
    """One of "p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr" (AddressError if invalid)."""
    return _decode(address, network).kind


def _script_of(decoded: _Address) -> bytes:
    if decoded.kind == "p2pkh":
        return b"\x76\xa9\x14" + decoded.payload + b"\x88\xac"
    if decoded.kind == "p2sh":
        return b"\xa9\x14" + decoded.payload + b"\x87"
    version = 0 if decoded.kind in ("p2wpkh", "p2wsh") else 1
    opcode = 0 if version == 0 else 0x50 + version
    return bytes([opcode, len(decoded.payload)]) + decoded.payload


def script_pubkey(address: str, network: str) -> bytes:
    """The output script (scriptPubKey) that pays the address."""
    return _script_of(_decode(address, network))


# --------------------------------------------------------------------------- keys


def _private_key(private_key: bytes) -> PrivateKey:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ValueError("a Bitcoin private key is 32 bytes")
    try:
        return PrivateKey(private_key)
    except ValueError:
        raise ValueError("the private key is out of range for secp256k1") from None


def _taproot_output_key(internal_xonly: bytes) -> bytes:
    """BIP-341/BIP-86 key-path output key: P + hash_TapTweak(P)·G (no script tree)."""
    key = PublicKeyXOnly(internal_xonly)
    key.tweak_add(_tagged_hash("TapTweak", internal_xonly))
    return key.format()


def _encode_p2pkh(digest: bytes, net: Network) -> str:
    return base58.b58encode_check(bytes([net.p2pkh]) + digest).decode("ascii")


def _encode_p2sh(digest: bytes, net: Network) -> str:
    return base58.b58encode_check(bytes([net.p2sh]) + digest).decode("ascii")


def _encode_segwit(net: Network, version: int, program: bytes) -> str:
    """Bech32 (version 0) or bech32m (version 1+) segwit address."""
    address = bech32m.encode(net.hrp, version, program)
    if not isinstance(address, str):  # pragma: no cover - the library checks its output
        raise AddressError(f"cannot encode a version {version} witness program")
    return address


def _p2sh_p2wpkh_hash(compressed: bytes) -> bytes:
    return _hash160(b"\x00\x14" + _hash160(compressed))


def address_of(private_key: bytes, address_type: str, network: str) -> str:
    """The address of a private key: "p2pkh", "p2pkh-uncompressed", "p2sh-p2wpkh",
    "p2wpkh" or "p2tr" (key path only, BIP-86 style tweak with no script tree)."""
    net = _network(network)
    public = _private_key(private_key).public_key
    compressed = public.format(compressed=True)
    if address_type == "p2pkh":
        return _encode_p2pkh(_hash160(compressed), net)
    if address_type == "p2pkh-uncompressed":
        return _encode_p2pkh(_hash160(public.format(compressed=False)), net)
    if address_type == "p2sh-p2wpkh":
        return _encode_p2sh(_p2sh_p2wpkh_hash(compressed), net)
    if address_type == "p2wpkh":
        return _encode_segwit(net, 0, _hash160(compressed))
    if address_type == "p2tr":
        return _encode_segwit(net, 1, _taproot_output_key(compressed[1:]))
    raise ValueError(
        f"unknown address type {_shown(address_type)}; expected one of {', '.join(ADDRESS_TYPES)}"
    )


# --------------------------------------------------------------------------- BIP-137

# Header byte ranges of BIP-137: 27-30 P2PKH uncompressed, 31-34 P2PKH compressed,
# 35-38 P2SH-P2WPKH, 39-42 P2WPKH; the low two bits are the recovery id.
_HEADER_KINDS = ("p2pkh-uncompressed", "p2pkh", "p2sh-p2wpkh", "p2wpkh")
_HEADER_BASE = {kind: 27 + 4 * i for i, kind in enumerate(_HEADER_KINDS)}
# Which header kinds prove which address kinds. 31-34 ("compressed P2PKH") for a
# segwit address is what Electrum and Bitcoin Core's own signmessagewithprivkey-
# based tools produce (they know no segwit headers); the key is compressed either
# way and the address is checked against it, so it proves the same thing.
_ACCEPTED_HEADERS = {
    "p2pkh": ("p2pkh-uncompressed", "p2pkh"),
    "p2sh": ("p2sh-p2wpkh", "p2pkh"),
    "p2wpkh": ("p2wpkh", "p2pkh"),
}
_ADDRESS_KIND_NAMES = {"p2sh": "p2sh (p2sh-p2wpkh)"}


def bip137_message_hash(message: str) -> bytes:
    """Bitcoin Core's signmessage digest: double SHA-256 of magic and message, each
    with its CompactSize length."""
    data = message.encode("utf-8")
    return _sha256d(
        _compact_size(len(BIP137_MAGIC)) + BIP137_MAGIC + _compact_size(len(data)) + data
    )


def _b64decode(signature: str) -> bytes:
    if not isinstance(signature, str):
        raise SignatureError("malformed signature: not a base64 string")
    try:
        return base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed signature: not base64") from None


def sign_bip137(message: str, private_key: bytes, address_type: str, network: str) -> str:
    """A BIP-137 signature (base64) of message for address_of(private_key, address_type)."""
    _network(network)
    if address_type not in _HEADER_BASE:
        raise ValueError(
            f"BIP-137 cannot sign for {_shown(address_type)} addresses; it covers "
            f"{', '.join(_HEADER_KINDS)} (taproot needs BIP-322)"
        )
    recoverable = _private_key(private_key).sign_recoverable(
        bip137_message_hash(message), hasher=None
    )
    header = _HEADER_BASE[address_type] + recoverable[64]
    return base64.b64encode(bytes([header]) + recoverable[:64]).decode("ascii")


def verify_bip137(message: str, address: str, signature: str, network: str) -> bytes:
    """Check a BIP-137 (Bitcoin Core signmessage style) signature; the signer's key.

    Returns the 33-byte compressed public key. AddressError for an invalid address,
    SignatureError if the signature is malformed, its header claims another
    address type, or its key is not the address's.
    """
    decoded = _decode(address, network)
    if decoded.kind not in _ACCEPTED_HEADERS:
        raise SignatureError(
            f"BIP-137 cannot prove control of a {decoded.kind} address; use BIP-322"
        )
    raw = _b64decode(signature)
    if len(raw) != 65:
        raise SignatureError(f"malformed signature: expected 65 bytes, got {len(raw)}")
    header = raw[0]
    if not 27 <= header <= 42:
        raise SignatureError(f"malformed signature: header byte {header} is outside 27-42")
    claimed = _HEADER_KINDS[(header - 27) // 4]
    if claimed not in _ACCEPTED_HEADERS[decoded.kind]:
        raise SignatureError(
            f"the signature's header byte {header} claims a {claimed} address, but "
            f"{decoded.text} is {_ADDRESS_KIND_NAMES.get(decoded.kind, decoded.kind)}"
        )
    try:
        public = PublicKey.from_signature_and_message(
            raw[1:] + bytes([(header - 27) % 4]), bip137_message_hash(message), hasher=None
        )
    except ValueError:
        raise SignatureError(
            "signature does not verify: no public key can be recovered from it"
        ) from None
    compressed = public.format(compressed=True)
    net = NETWORKS[network]
    if decoded.kind == "p2pkh":
        key = public.format(compressed=claimed == "p2pkh")
        signer = _encode_p2pkh(_hash160(key), net)
    elif decoded.kind == "p2sh":
        signer = _encode_p2sh(_p2sh_p2wpkh_hash(compressed), net)
    else:
        signer = _encode_segwit(net, 0, _hash160(compressed))
    if signer != decoded.text:
        raise SignatureError(
            f"signature does not match the address: it was made by the key of {signer} "
            f"(public key {compressed.hex()}), not of {decoded.text} (or the message differs)"
        )
    return compressed


# --------------------------------------------------------------------------- BIP-322


def _witness_stack(raw: bytes) -> list[bytes]:
    """Parse a consensus-serialized witness stack (a BIP-322 simple signature)."""

    def read_compact(pos: int) -> tuple[int, int]:
        if pos >= len(raw):
            raise SignatureError("malformed signature: witness ends early")
        first = raw[pos]
        if first < 0xFD:
            return first, pos + 1
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        if pos + 1 + size > len(raw):
            raise SignatureError("malformed signature: witness ends early")
        return int.from_bytes(raw[pos + 1 : pos + 1 + size], "little"), pos + 1 + size

    count, pos = read_compact(0)
    if count > 1000:
        raise SignatureError(f"malformed signature: witness claims {count} items")
    items = []
    for _ in range(count):
        length, pos = read_compact(pos)
        if pos + length > len(raw):
            raise SignatureError("malformed signature: witness item runs past the end")
        items.append(raw[pos : pos + length])
        pos += length
    if pos != len(raw):
        raise SignatureError(
            f"malformed signature: {len(raw) - pos} bytes after the witness "
            "(a BIP-322 'full' signature or a BIP-137 one?)"
        )
    return items


def verify_bip322_simple(message: str, address: str, signature: str, network: str) -> bytes | None:
    """Check a BIP-322 "simple" signature (base64 witness) for a segwit address.

    Verification is rust-bitcoin's bip322 crate. Returns the signer's key where the
    witness shows it: the 33-byte compressed key for P2WPKH (and P2SH-P2WPKH), the
    32-byte x-only output key for P2TR; None for other scripts the verifier accepts.
    AddressError for an invalid address, SignatureError otherwise.
    """
    decoded = _decode(address, network)
    if decoded.kind == "p2pkh":
        raise SignatureError(
            f"a BIP-322 simple signature cannot prove control of the p2pkh address "
            f"{decoded.text} (it has no witness); use BIP-137"
        )
    raw = _b64decode(signature)
    stack = _witness_stack(raw)
    if not stack:
        raise SignatureError("malformed signature: empty witness")
    canonical_signature = base64.b64encode(raw).decode("ascii")
    try:
        result = bip322.verify_simple_encoded(decoded.text, message, canonical_signature)
    except bip322.VerificationError as exc:
        raise SignatureError(
            f"BIP-322 signature does not verify for {decoded.text}: {_shown(str(exc), 160)}"
        ) from None
    # bip322 0.3.0 returns None on success (its stub says bool) and raises on failure.
    if result is False:
        raise SignatureError(f"BIP-322 signature does not verify for {decoded.text}")
    if decoded.kind == "p2tr":
        return decoded.payload
    if decoded.kind in ("p2wpkh", "p2sh") and len(stack) == 2 and len(stack[1]) == 33:
        return stack[1]
    return None


def sign_bip322_simple(message: str, private_key: bytes, address_type: str, network: str) -> str:
    """Not available: no maintained Python library signs BIP-322.

    The ``bip322`` package binds only the Rust crate's verifier; embit, coincurve,
    python-bitcoinlib, bitcoin-utils and bdkpython have no BIP-322 signer. Building
    the to_spend/to_sign transactions here would be a hand-rolled BIP-322
    implementation, which this module does not contain. Sign with a wallet (Sparrow,
    Electrum 4.5+, Bitcoin Knots, a hardware wallet) or with bip322-js (npm), and
    verify here with :func:`verify_bip322_simple`. P2WPKH and P2SH-P2WPKH addresses
    can also prove control with :func:`sign_bip137`.
    """
    raise NotImplementedError(
        "BIP-322 signing is not available in porsegregate (no maintained Python library "
        "signs BIP-322); sign with a wallet or bip322-js, or use BIP-137 for p2pkh, "
        "p2sh-p2wpkh and p2wpkh addresses"
    )


# --------------------------------------------------------------------------- replies


_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_REPLY_BYTES = 32 * 1024 * 1024
_ESPLORA_HEADERS = {"Accept": "application/json, text/plain"}


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _satoshis(value: Any) -> int | None:
    """A BTC amount from bitcoind (parsed as Decimal) in satoshis; None if not exact."""
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        return None
    try:
        sats = Decimal(value) * SATOSHIS_PER_BITCOIN
    except InvalidOperation:
        return None
    if not sats.is_finite() or sats != sats.to_integral_value() or not 0 <= sats <= MAX_MONEY:
        return None
    return int(sats)


# --------------------------------------------------------------------------- Bitcoin Core

_CORE_CHAINS = {
    "main": "mainnet",
    "test": "testnet",
    "testnet4": "testnet",
    "signet": "signet",
    "regtest": "regtest",
}


def _wrong_height(tip: int, height: int) -> str:
    return (
        f"the node is at height {tip}, not the snapshot height {height}; scantxoutset "
        "reads only the current UTXO set, so it needs a node whose tip is the snapshot "
        f"block (e.g. one run with -stopatheight={height}, then restarted with -connect=0 "
        "so it stays there)"
    )


class BitcoinCoreRpc:
    """A Bitcoin Core (or Knots) node over JSON-RPC.

    Credentials: the URL's user:password (http://user:pass@127.0.0.1:8332/), or
    ``cookie_file`` (the node's ``.cookie``, read at every call since the node
    rewrites it when it restarts). They never appear in error messages.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        *,
        cookie_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._node = Endpoint(url, "Bitcoin node", timeout=timeout)
        self.display_url = self._node.display_url
        self._cookie_file = Path(cookie_file) if cookie_file is not None else None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._network: str | None = None

    def __repr__(self) -> str:
        return f"BitcoinCoreRpc({self.display_url!r})"

    def _fail(self, call: str, why: str) -> NoReturn:
        raise ChainError(f"{call} to Bitcoin node {self.display_url} failed: {why}")

    def _cookie_headers(self, call: str) -> dict[str, str]:
        """The cookie file's credentials, read now (the node rewrites it when it restarts);
        without a cookie file, the endpoint sends the URL's."""
        if self._cookie_file is None:
            return {}
        try:
            credentials = self._cookie_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            self._fail(call, f"cannot read the cookie file {self._cookie_file} ({exc})")
        return {"Authorization": basic_authorization(credentials)}

    def call(self, method: str, params: list[Any], shown: str | None = None) -> Any:
        """One JSON-RPC call; its ``result`` (floats parsed as Decimal), not yet checked."""
        call = shown or method
        with self._lock:
            request_id = next(self._ids)
        body = json.dumps({"jsonrpc": "1.0", "id": request_id, "method": method, "params": params})
        headers = {"Content-Type": "application/json", **self._cookie_headers(call)}
        try:
            answer = self._node.post(body.encode(), headers=headers, max_bytes=_MAX_REPLY_BYTES)
        except HttpFailure as exc:
            self._fail(call, exc.reason)
        status, raw = answer.status, answer.body
        if status == 401:
            self._fail(call, "HTTP 401: the node refused the credentials (user:password or cookie)")
        try:
            reply = json.loads(
                raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant
            )
        except UnicodeDecodeError:
            self._fail(call, f"HTTP {status}; reply is not UTF-8 text")
        except (ValueError, RecursionError):
            start = _shown(raw[:60].decode("utf-8", "replace"))
            self._fail(call, f"HTTP {status}; reply is not JSON: {start}")
        if not isinstance(reply, dict):
            self._fail(call, f"HTTP {status}; reply is not a JSON-RPC response object")
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                self._fail(call, "reply carries a malformed JSON-RPC error")
            code = error.get("code")
            text = error.get("message")
            code_text = str(code) if type(code) is int else "?"
            message = _shown(text, 300) if isinstance(text, str) else "(no message)"
            self._fail(call, f"node answered error {code_text}: {message}")
        if status != 200:
            self._fail(call, f"HTTP {status}")
        if reply.get("id") != request_id:
            self._fail(call, "reply id is not the request's")
        if "result" not in reply:
            self._fail(call, "reply has neither result nor error")
        return reply["result"]

    @staticmethod
    def _height(height: int) -> int:
        if type(height) is not int or height < 0:
            raise ValueError(f"block height must be a non-negative integer, not {height!r}")
        return height

    def network(self) -> str:
        """The node's network as porsegregate names it ("mainnet", "regtest"...)."""
        if self._network is None:
            info = self.call("getblockchaininfo", [])
            chain = info.get("chain") if isinstance(info, dict) else None
            if chain not in _CORE_CHAINS:
                self._fail("getblockchaininfo", f"unknown chain {_shown(chain)}")
            self._network = _CORE_CHAINS[chain]
        return self._network

    def tip_height(self) -> int:
        """The height of the node's newest block (getblockcount)."""
        result = self.call("getblockcount", [])
        if type(result) is not int or result < 0:
            self._fail("getblockcount", f"block count is malformed: {_shown(result)}")
        return result

    def block_hash(self, height: int) -> str:
        call = f"getblockhash({self._height(height)})"
        result = self.call("getblockhash", [height], call)
        if not isinstance(result, str) or not _HEX64.fullmatch(result):
            self._fail(call, f"block hash is malformed: {_shown(result)}")
        return result

    def block(self, height: int) -> tuple[str, int]:
        """(block hash, block time in unix seconds) of the block at height."""
        block_hash = self.block_hash(height)
        call = f"getblockheader({block_hash})"
        header = self.call("getblockheader", [block_hash, True], call)
        if not isinstance(header, dict):
            self._fail(call, "result is not a block header object")
        if header.get("hash") != block_hash or header.get("height") != height:
            self._fail(call, f"the node returned another header ({_shown(header.get('hash'))})")
        time = header.get("time")
        if type(time) is not int or time < 0:
            self._fail(call, f"block time is malformed: {_shown(time)}")
        return block_hash, time

    def balances_at(self, addresses: list[str], height: int) -> dict[str, int]:
        """Satoshis held by each address in the UTXO set at height (keys: the addresses
        as given). ``scantxoutset`` reads the node's *current* UTXO set, so the node's
        tip must be exactly the snapshot height; ChainError otherwise."""
        self._height(height)
        if not addresses:
            return {}
        network = self.network()
        tip = self.call("getblockcount", [])
        if type(tip) is not int:
            self._fail("getblockcount", f"block count is malformed: {_shown(tip)}")
        if tip != height:
            self._fail("getblockcount", _wrong_height(tip, height))
        scripts: dict[str, bytes] = {}
        descriptors: list[str] = []
        for address in addresses:
            decoded = _decode(address, network)
            scripts[address] = _script_of(decoded)
            descriptor = f"addr({decoded.text})"
            if descriptor not in descriptors:
                descriptors.append(descriptor)
        call = f"scantxoutset(start, {len(descriptors)} addresses)"
        result = self.call("scantxoutset", ["start", descriptors], call)
        if not isinstance(result, dict) or result.get("success") is not True:
            self._fail(call, f"the scan did not succeed: {_shown(result, 200)}")
        tip = result.get("height")
        if type(tip) is not int:
            self._fail(call, f"reply has no height: {_shown(tip)}")
        if tip != height:
            self._fail(call, _wrong_height(tip, height))
        unspents = result.get("unspents")
        if not isinstance(unspents, list):
            self._fail(call, "reply has no list of unspent outputs")
        wanted = set(scripts.values())
        found: dict[bytes, int] = {}
        for utxo in unspents:
            script = utxo.get("scriptPubKey") if isinstance(utxo, dict) else None
            amount = _satoshis(utxo.get("amount")) if isinstance(utxo, dict) else None
            if not isinstance(script, str) or amount is None:
                self._fail(call, f"malformed unspent output: {_shown(utxo, 200)}")
            try:
                key = bytes.fromhex(script)
            except ValueError:
                self._fail(call, f"malformed scriptPubKey: {_shown(script)}")
            if key not in wanted:
                self._fail(call, f"the node returned an output for another script: {script}")
            found[key] = found.get(key, 0) + amount
        total = _satoshis(result.get("total_amount"))
        if total is None or total != sum(found.values()):
            self._fail(call, "total_amount does not match the sum of the unspent outputs")
        best = result.get("bestblock")
        if best != self.block_hash(height):
            self._fail(
                call,
                f"the scan's best block {_shown(best)} is not the node's block at height "
                f"{height} (did the chain change during the scan?)",
            )
        return {address: found.get(script, 0) for address, script in scripts.items()}


# --------------------------------------------------------------------------- Esplora


class Esplora:
    """An Esplora-compatible REST API (Blockstream's esplora/electrs, mempool.space).

    ``balance_at`` sums the address's confirmed history up to the height: every
    output paying the address in a block at or below it, minus every output of
    the address spent by a transaction in such a block.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._api = Endpoint(base_url, "Esplora API", timeout=timeout)
        self.display_url = self._api.display_url
        if "?" in self._api.url:
            raise ValueError("Esplora API URL cannot have a query string")
        self._base = self._api.url.rstrip("/")

    def __repr__(self) -> str:
        return f"Esplora({self.display_url!r})"

    def _fail(self, path: str, why: str) -> NoReturn:
        raise ChainError(f"GET {path} from Esplora API {self.display_url} failed: {why}")

    def _get(self, path: str) -> bytes:
        try:
            reply = self._api.get(
                self._base + path, headers=_ESPLORA_HEADERS, max_bytes=_MAX_REPLY_BYTES
            )
        except HttpFailure as exc:
            self._fail(path, exc.reason)
        if reply.status != 200:
            text = _shown(reply.body[:120].decode("utf-8", "replace"), 140)
            self._fail(path, f"HTTP {reply.status}: {text}")
        return reply.body

    def _text(self, path: str) -> str:
        try:
            return self._get(path).decode("ascii").strip()
        except UnicodeDecodeError:
            self._fail(path, "reply is not ASCII text")

    def _json(self, path: str) -> Any:
        raw = self._get(path)
        try:
            return json.loads(
                raw.decode("utf-8"),
                parse_float=lambda text: _reject_constant(f"the float {text}"),
                parse_constant=_reject_constant,
            )
        except UnicodeDecodeError:
            self._fail(path, "reply is not UTF-8 text")
        except (ValueError, RecursionError) as exc:
            self._fail(path, f"reply is not acceptable JSON ({_shown(str(exc), 80)})")

    @staticmethod
    def _height(height: int) -> int:
        if type(height) is not int or height < 0:
            raise ValueError(f"block height must be a non-negative integer, not {height!r}")
        return height

    def tip_height(self) -> int:
        path = "/blocks/tip/height"
        text = self._text(path)
        if not text.isdigit():
            self._fail(path, f"tip height is not a number: {_shown(text)}")
        return int(text)

    def block(self, height: int) -> tuple[str, int]:
        """(block hash, block time in unix seconds) of the block at height."""
        path = f"/block-height/{self._height(height)}"
        block_hash = self._text(path)
        if not _HEX64.fullmatch(block_hash):
            self._fail(path, f"block hash is malformed: {_shown(block_hash)}")
        path = f"/block/{block_hash}"
        block = self._json(path)
        if not isinstance(block, dict):
            self._fail(path, "reply is not a block object")
        if block.get("id") != block_hash or block.get("height") != height:
            self._fail(path, f"the API returned another block ({_shown(block.get('id'))})")
        timestamp = block.get("timestamp")
        if type(timestamp) is not int or timestamp < 0:
            self._fail(path, f"block timestamp is malformed: {_shown(timestamp)}")
        return block_hash, timestamp

    def _value(self, path: str, output: Any) -> tuple[str | None, int]:
        """(address or None, satoshis) of an output object from the API."""
        if not isinstance(output, dict):
            self._fail(path, f"malformed output: {_shown(output, 200)}")
        value = output.get("value")
        if type(value) is not int or not 0 <= value <= MAX_MONEY:
            self._fail(path, f"output value is not a satoshi amount: {_shown(value)}")
        address = output.get("scriptpubkey_address")
        if address is not None and not isinstance(address, str):
            self._fail(path, f"malformed output address: {_shown(address)}")
        return address, value

    def _net_effect(self, path: str, tx: Any, address: str) -> tuple[str, int, int]:
        """(txid, block height, satoshis received minus spent by the address)."""
        if not isinstance(tx, dict):
            self._fail(path, f"malformed transaction: {_shown(tx, 200)}")
        txid = tx.get("txid")
        if not isinstance(txid, str) or not _HEX64.fullmatch(txid):
            self._fail(path, f"malformed txid: {_shown(txid)}")
        status = tx.get("status")
        if not isinstance(status, dict) or status.get("confirmed") is not True:
            self._fail(path, f"transaction {txid} in the confirmed history is not confirmed")
        tx_height = status.get("block_height")
        if type(tx_height) is not int or tx_height < 0:
            self._fail(path, f"transaction {txid} has a malformed block height")
        vin, vout = tx.get("vin"), tx.get("vout")
        if not isinstance(vin, list) or not isinstance(vout, list):
            self._fail(path, f"transaction {txid} has no vin or vout list")
        net = 0
        for output in vout:
            paid_to, value = self._value(path, output)
            if paid_to is not None and _canonical_form(paid_to) == address:
                net += value
        for spend in vin:
            if not isinstance(spend, dict):
                self._fail(path, f"transaction {txid} has a malformed input")
            if spend.get("is_coinbase") is True:
                continue
            prevout = spend.get("prevout")
            if prevout is None:
                self._fail(path, f"transaction {txid} has an input without its prevout")
            spent_from, value = self._value(path, prevout)
            if spent_from is not None and _canonical_form(spent_from) == address:
                net -= value
        return txid, tx_height, net

    def balance_at(self, address: str, height: int) -> int:
        """The address's balance in satoshis at the end of block `height`."""
        self._height(height)
        if not isinstance(address, str) or not address or "/" in address:
            raise AddressError(f"address {_shown(address)} is not an address")
        tip = self.tip_height()
        if tip < height:
            self._fail(
                "/blocks/tip/height",
                f"the API's tip is at height {tip}, below the snapshot height {height}",
            )
        wanted = _canonical_form(address)
        quoted = urllib.parse.quote(wanted, safe="")
        balance = 0
        seen: set[str] = set()
        last: str | None = None
        while True:
            path = f"/address/{quoted}/txs/chain" + (f"/{last}" if last else "")
            page = self._json(path)
            if not isinstance(page, list):
                self._fail(path, "reply is not a list of transactions")
            if not page:
                break
            fresh = 0
            for tx in page:
                txid, tx_height, net = self._net_effect(path, tx, wanted)
                if txid in seen:
                    continue
                seen.add(txid)
                fresh += 1
                if tx_height <= height:
                    balance += net
            if not fresh:
                self._fail(path, "the page repeats transactions already seen (pagination stuck)")
            last = page[-1]["txid"]
        if balance < 0:
            self._fail(
                f"/address/{quoted}/txs/chain",
                f"the history sums to a negative balance ({balance}) at height {height}: "
                "it is incomplete",
            )
        return balance


def _canonical_form(address: str) -> str:
    """Bech32 addresses compare in lowercase; Base58 ones are case-sensitive."""
    return address.lower() if _looks_bech32(address) else address


# --------------------------------------------------------------------------- the family

# The genesis block hash of each network, as an Esplora API names the network it serves.
GENESIS_NETWORKS = {
    "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f": "mainnet",
    "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943": "testnet",  # testnet3
    "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043": "testnet",  # testnet4
    "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6": "signet",
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206": "regtest",
}

# `--rpc bitcoin=esplora+https://...` names an Esplora API; a plain URL, a Bitcoin Core node.
ESPLORA_PREFIX = "esplora+"


def _same_network(network: str, chain: ChainSnapshot) -> None:
    if network != chain.network:
        raise ChainError(
            f"the node serves {network}, but {chain.id} is declared with network {chain.network}"
        )


class BitcoinCoreReader:
    """Balances from a Bitcoin Core node's UTXO set (its tip must be the snapshot block)."""

    def __init__(self, url: str) -> None:
        self.rpc = BitcoinCoreRpc(url)

    @property
    def node(self) -> str:
        return self.rpc.display_url

    def network(self, chain: ChainSnapshot) -> str:
        return self.rpc.network()

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        return self.rpc.block(chain.block_height)

    def block_at_or_before(self, chain: ChainSnapshot, time: int) -> tuple[int, str, int]:
        _same_network(self.rpc.network(), chain)
        return last_block_at_or_before(self.rpc.tip_height(), self.rpc.block, time, self.node)

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        return None

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        addresses = sorted({address for address, _ in holdings})
        found = self.rpc.balances_at(addresses, chain.block_height)
        return {(address, asset.code): found.get(address, 0) for address, asset in holdings}


class EsploraReader:
    """Balances from an Esplora API, summed from each address's confirmed history."""

    def __init__(self, url: str) -> None:
        self.api = Esplora(url.removeprefix(ESPLORA_PREFIX))

    @property
    def node(self) -> str:
        return self.api.display_url

    def network(self, chain: ChainSnapshot) -> str:
        """Named by the API's genesis block; an unknown genesis is shown as its hash."""
        genesis, _ = self.api.block(0)
        return GENESIS_NETWORKS.get(genesis, f"the chain with genesis block {genesis}")

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        return self.api.block(chain.block_height)

    def block_at_or_before(self, chain: ChainSnapshot, time: int) -> tuple[int, str, int]:
        _same_network(self.network(chain), chain)
        return last_block_at_or_before(self.api.tip_height(), self.api.block, time, self.node)

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        return None

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        return {
            (address, asset.code): self.api.balance_at(address, chain.block_height)
            for address, asset in holdings
        }


class BitcoinFamily:
    """Bitcoin and its test networks: one native coin, BIP-137 and BIP-322 proofs."""

    kind = "bitcoin"
    proof_types = PROOF_TYPES["bitcoin"]
    tokens = False

    def network(self, table: Mapping[str, Any]) -> str:
        network = table.get("network", "mainnet")
        if not isinstance(network, str) or network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}")
        return network

    def block_hash(self, text: str) -> str:
        if not _HEX64.fullmatch(text.lower()):
            raise ValueError("block_hash must be 64 hex digits")
        return text.lower()

    def normalize_address(self, address: str, network: str) -> str:
        return normalize_address(address, network)

    def identity(self, address: str, network: str) -> str:
        return script_pubkey(address, network).hex()

    def verify_control(
        self, *, network: str, address: str, proof_type: str, signature: str, message: str
    ) -> bytes | None:
        if proof_type == "bip137":
            return verify_bip137(message, address, signature, network)
        if proof_type == "bip322":
            return verify_bip322_simple(message, address, signature, network)
        raise unsupported_proof(self.kind, proof_type)

    def balance_reader(self, chain: ChainSnapshot, url: str) -> BalanceReader:
        refuse_tokens(chain)
        if url.startswith(ESPLORA_PREFIX):
            return EsploraReader(url)
        return BitcoinCoreReader(url)

    def demo_address(self, key: bytes, address_type: str, network: str) -> str:
        return address_of(key, address_type, network)

    def demo_proof_type(self, address_type: str) -> str:
        # BIP-137 works for legacy, nested and native segwit addresses; BIP-322 (needed for
        # taproot) is verified by porsegregate but signed by the wallet, not here.
        return "bip137"

    def demo_sign(self, key: bytes, address_type: str, network: str, message: str) -> str:
        return sign_bip137(message, key, address_type, network)


FAMILY: ChainFamily = BitcoinFamily()
