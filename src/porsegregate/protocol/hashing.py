"""The porsegregate/1 hashing and derivation rules (docs/protocol.md, sections 2-5).

Kept apart from the tree and file formats so both verifiers and the publisher
share one definition of every preimage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .. import _crypto
from .amounts import amount_bytes

# The domain label of every hash preimage and key derivation, in every protocol version: it
# names the hashing scheme, which porsegregate/2 kept (docs/protocol.md, notation).
LABEL = "porsegregate/1"
VERSION = LABEL.encode()
SALT = VERSION
# The format strings of published documents: a verifier reads both, forever; publish writes
# the newest.
FORMAT_V1 = "porsegregate/1"
FORMAT_V2 = "porsegregate/2"
FORMATS = (FORMAT_V1, FORMAT_V2)
PROTOCOL_VERSION = FORMAT_V2

LEAF = b"\x00"
NODE = b"\x01"
PAD = b"\x02"
ACCOUNT = b"\x03"
CODE_CHECK = b"\x04"
DEDICATED = b"\x05"
SHARD_LEAF = b"\x06"
SHARD_NODE = b"\x07"

MAX_ACCOUNT_ID_BYTES = 128
MAX_HEIGHT = 64
# porsegregate/1: every published tree has at least 2^10 leaves, so a small custodian, or a
# rare asset, does not reveal how few clients hold it (T6).
MIN_PADDED_HEIGHT = 10
# porsegregate/2: every tree of an epoch has one height (by default ceil(log2(entries x
# parts)), publish/epoch.py, so it reveals nothing the entry count does not: T17); a balance is
# split into at most this many parts.
MAX_PARTS = 16

EPOCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ASSET_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
CHAIN_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
MAX_LABEL = 200


def lp(data: bytes) -> bytes:
    if len(data) > 255:
        raise ValueError("field longer than 255 bytes")
    return bytes((len(data),)) + data


def check_epoch_id(epoch: str) -> str:
    if not EPOCH_RE.fullmatch(epoch):
        raise ValueError(
            f"epoch id {epoch!r} must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit"
        )
    return epoch


def check_asset_code(code: str) -> str:
    if not ASSET_RE.fullmatch(code):
        raise ValueError(
            f"asset code {code!r} must be 1-32 of A-Z 0-9 . _ - starting with a letter or digit"
        )
    return code


def account_id_problem(account_id: str) -> str | None:
    """Why an account id is unacceptable, or None (T13: bounded, no control characters)."""
    if not account_id:
        return "account id is empty"
    if len(account_id.encode("utf-8", "surrogatepass")) > MAX_ACCOUNT_ID_BYTES:
        return f"account id is longer than {MAX_ACCOUNT_ID_BYTES} bytes"
    if account_id != account_id.strip():
        return "account id has leading or trailing whitespace"
    if account_id.isascii() and account_id.isprintable():
        return None
    for ch in account_id:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return f"account id contains control character U+{ord(ch):04X}"
    return None


@dataclass(frozen=True)
class EpochKeys:
    nonce: bytes
    lookup: bytes
    key: bytes


def epoch_keys(client_secret: bytes, epoch: str) -> EpochKeys:
    k = epoch_key_material([client_secret], epoch)[0]
    return EpochKeys(nonce=k[0:32], lookup=k[32:48], key=k[48:80])


def epoch_key_material(client_secrets: Sequence[bytes], epoch: str) -> list[bytes]:
    """epoch_keys for many clients at once: each client's 80 bytes, nonce || lookup || key."""
    return _crypto.hkdf_each(client_secrets, SALT, b"epoch-keys\x00" + lp(epoch.encode()), 80)


def commitment_prefix(epoch: str) -> bytes:
    return ACCOUNT + lp(VERSION) + lp(epoch.encode())


def account_commitment(epoch: str, nonce: bytes, account_id: str) -> bytes:
    return account_commitments(epoch, [nonce], [account_id])[0]


def account_commitments(
    epoch: str, nonces: Sequence[bytes], account_ids: Sequence[str]
) -> list[bytes]:
    """account_commitment for many clients at once."""
    prefix = commitment_prefix(epoch)
    return _crypto.sha256_each(
        [prefix + n + lp(a.encode()) for n, a in zip(nonces, account_ids, strict=True)]
    )


def leaf_prefix(epoch: str, asset: str) -> bytes:
    """The part of every client leaf preimage shared within one tree."""
    return LEAF + lp(VERSION) + lp(epoch.encode()) + lp(asset.encode())


def leaf_hash(epoch: str, asset: str, commitment: bytes, part: int, amount: int) -> bytes:
    return _crypto.sha256(
        leaf_prefix(epoch, asset) + commitment + part.to_bytes(4, "big") + amount_bytes(amount)
    )


def padding_key(master_secret: bytes, epoch: str, asset: str) -> bytes:
    info = b"padding\x00" + lp(epoch.encode()) + lp(asset.encode())
    return _crypto.hkdf(master_secret, SALT, info, 32)


def padding_prefix(epoch: str, asset: str, key: bytes) -> bytes:
    return PAD + lp(VERSION) + lp(epoch.encode()) + lp(asset.encode()) + key


def padding_node(prefix: bytes, level: int, index: int) -> bytes:
    """porsegregate/2: the empty subtree of height `level` at `index` among its level's nodes
    (`prefix` from padding_prefix): no one without the padding key tells it from a node."""
    return _crypto.sha256(prefix + bytes((level,)) + index.to_bytes(8, "big"))


def shuffle_key(master_secret: bytes, epoch: str, asset: str) -> bytes:
    info = b"shuffle\x00" + lp(epoch.encode()) + lp(asset.encode())
    return _crypto.hkdf(master_secret, SALT, info, 32)


def node_hash(left: bytes, left_sum: int, right: bytes, right_sum: int) -> bytes:
    return _crypto.sha256(NODE + left + amount_bytes(left_sum) + right + amount_bytes(right_sum))


def padded_height(leaves: int) -> int:
    """Smallest h with 2^h >= leaves (0 for a tree of at most one leaf)."""
    return max(leaves - 1, 0).bit_length()


def published_height(leaves: int) -> int:
    """The height porsegregate/1 padded a tree of `leaves` client leaves to (never below 10)."""
    return max(MIN_PADDED_HEIGHT, padded_height(leaves))


def check_chain_id(chain: str) -> str:
    if not CHAIN_RE.fullmatch(chain):
        raise ValueError(
            f"chain id {chain!r} must be 1-32 of a-z 0-9 . _ - starting with a letter or digit"
        )
    return chain


def text_problem(text: str, limit: int = MAX_LABEL) -> str | None:
    """Why a name that goes into a signed message line is unacceptable, or None.

    Control characters (a newline above all) could forge extra lines of a
    proof-of-control message, so they are refused.
    """
    if not text or text != text.strip():
        return "must be non-empty without leading or trailing spaces"
    if len(text) > limit:
        return f"is longer than {limit} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text):
        return "contains a control or line-break character"
    return None


def dedicated_tag(epoch: str, nonce: bytes, account_id: str, chain: str, address: str) -> bytes:
    """Binds a client_dedicated wallet to one client; only that client's code opens it."""
    return _crypto.sha256(
        DEDICATED
        + lp(VERSION)
        + lp(epoch.encode())
        + nonce
        + lp(account_id.encode())
        + lp(chain.encode())
        + lp(address.encode())
    )
