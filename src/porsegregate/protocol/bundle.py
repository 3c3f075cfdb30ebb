"""Binary formats of proof bundles and shard files (docs/protocol.md section 6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import FormatError
from .amounts import AMOUNT_BYTES
from .hashing import MAX_HEIGHT, PROTOCOL_VERSION, VERSION, lp

BUNDLE_MAGIC = b"PSB1"
SHARD_MAGIC = b"PSS1"
LOOKUP_BYTES = 16
MAX_SHARD_FANOUT = 256


@dataclass(frozen=True)
class LeafProof:
    part: int
    amount: int
    index: int
    siblings: tuple[tuple[bytes, int], ...]

    @property
    def height(self) -> int:
        return len(self.siblings)


@dataclass(frozen=True)
class AssetProof:
    asset: str
    leaves: tuple[LeafProof, ...]

    @property
    def balance(self) -> int:
        return sum(leaf.amount for leaf in self.leaves)


@dataclass(frozen=True)
class Bundle:
    version: str
    epoch: str
    account_id: str
    assets: tuple[AssetProof, ...]


def leaf_header(part: int, amount: int, height: int, index: int) -> bytes:
    return (
        part.to_bytes(4, "big")
        + amount.to_bytes(AMOUNT_BYTES, "big")
        + bytes((height,))
        + index.to_bytes(8, "big")
    )


def bundle_header(epoch: str, account_id: str, asset_count: int) -> bytes:
    return (
        BUNDLE_MAGIC
        + lp(VERSION)
        + lp(epoch.encode())
        + lp(account_id.encode())
        + bytes((asset_count,))
    )


def encode_bundle(bundle: Bundle) -> bytes:
    out = bytearray(bundle_header(bundle.epoch, bundle.account_id, len(bundle.assets)))
    for asset in bundle.assets:
        out += lp(asset.asset.encode()) + bytes((len(asset.leaves),))
        for leaf in asset.leaves:
            out += leaf_header(leaf.part, leaf.amount, leaf.height, leaf.index)
            for h, s in leaf.siblings:
                out += h + s.to_bytes(AMOUNT_BYTES, "big")
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def lp_text(self, what: str) -> str:
        raw = self.take(self.uint(1))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what} is not UTF-8") from exc

    def done(self) -> None:
        if self.pos != len(self.data):
            raise FormatError(f"{len(self.data) - self.pos} trailing bytes")


def decode_bundle(data: bytes) -> Bundle:
    r = _Reader(data)
    if r.take(4) != BUNDLE_MAGIC:
        raise FormatError("not a porsegregate proof bundle")
    version = r.lp_text("version")
    if version != PROTOCOL_VERSION:
        raise FormatError(f"unsupported bundle version {version!r}")
    epoch = r.lp_text("epoch")
    account_id = r.lp_text("account id")
    assets = []
    for _ in range(r.uint(1)):
        code = r.lp_text("asset")
        count = r.uint(1)
        if count == 0:
            raise FormatError(f"asset {code} has no leaves")
        leaves = []
        for _ in range(count):
            part = r.uint(4)
            amount = r.uint(AMOUNT_BYTES)
            height = r.uint(1)
            if height > MAX_HEIGHT:
                raise FormatError(f"height {height} of {code} is over {MAX_HEIGHT}")
            index = r.uint(8)
            siblings = tuple((r.take(32), r.uint(AMOUNT_BYTES)) for _ in range(height))
            leaves.append(LeafProof(part, amount, index, siblings))
        assets.append(AssetProof(code, tuple(leaves)))
    r.done()
    return Bundle(version, epoch, account_id, tuple(assets))


def asset_order_problem(bundle: Bundle, attested: Sequence[str]) -> str | None:
    """Why the bundle's assets are not each listed once in the attestation's order, or None.

    `attested` is the attestation's asset codes in its order. An asset it does not list is
    left to the `asset-known` check (docs/protocol.md sections 6 and 9).
    """
    position = {code: i for i, code in enumerate(attested)}
    seen: set[str] = set()
    last = -1
    for asset in bundle.assets:
        code = asset.asset
        if code in seen:
            return f"asset {code} is listed twice"
        seen.add(code)
        here = position.get(code)
        if here is None:
            continue
        if here < last:
            return f"asset {code} is out of the attestation's order (after {attested[last]})"
        last = here
    return None


def bundle_aad(epoch: str, lookup: bytes) -> bytes:
    return lp(VERSION) + lp(epoch.encode()) + lookup


def shard_prefix_chars(clients: int) -> int:
    """Fewest hex digits so that a shard holds at most ~256 bundles on average."""
    q = 0
    while clients > MAX_SHARD_FANOUT * 16**q:
        q += 1
    return q


def encode_shard(entries: list[tuple[bytes, bytes]]) -> bytes:
    """Entries (lookup, encrypted entry) must already be sorted by lookup."""
    out = bytearray(SHARD_MAGIC + len(entries).to_bytes(4, "big"))
    for lookup, blob in entries:
        out += lookup + len(blob).to_bytes(4, "big") + blob
    return bytes(out)


def decode_shard(data: bytes) -> dict[bytes, bytes]:
    r = _Reader(data)
    if r.take(4) != SHARD_MAGIC:
        raise FormatError("not a porsegregate shard file")
    entries: dict[bytes, bytes] = {}
    for _ in range(r.uint(4)):
        lookup = r.take(LOOKUP_BYTES)
        entries[lookup] = r.take(r.uint(4))
    r.done()
    return entries
