"""Binary formats of proof bundles and shard files (docs/protocol.md section 6).

porsegregate/1 bundles are self-describing and as long as their content;
porsegregate/2 bundles have a fixed layout whose length follows from the signed
attestation and the bucket of how many assets the client holds (`BundleLayout`),
so an entry's length tells an observer nothing more (T17).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import _crypto
from ..errors import FormatError
from .amounts import AMOUNT_BYTES
from .hashing import FORMAT_V1, FORMAT_V2, LABEL, MAX_HEIGHT, SHARD_LEAF, SHARD_NODE, lp

BUNDLE_MAGIC = b"PSB1"
BUNDLE_MAGIC_V2 = b"PSB2"
SHARD_MAGIC = b"PSS1"
SHARD_MAGIC_V2 = b"PSS2"
# porsegregate/2: at most this many entries a shard on average (shard_bits), so what a client
# downloads is bounded whatever the number of clients.
SHARD_ENTRIES = 32
# 2^32 entries at most (u32 counts), 32 a shard: 2^27 shards at most.
MAX_SHARD_BITS = 27
LOOKUP_BYTES = 16
MAX_SHARD_FANOUT = 256
HASH_BYTES = 32
SIBLING_BYTES = HASH_BYTES + AMOUNT_BYTES
ACCOUNT_FIELD_BYTES = 129  # u8(length) || up to 128 bytes of UTF-8 || zero bytes
IV_BYTES = 12
TAG_BYTES = 16
MAX_ENTRIES = 2**32 - 1
# A porsegregate/2 slot names its asset by a u16 position.
MAX_ASSETS_V2 = 2**16 - 1


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
    version: str  # the format string: porsegregate/1 or porsegregate/2
    epoch: str
    account_id: str
    assets: tuple[AssetProof, ...]


@dataclass(frozen=True)
class BundleLayout:
    """porsegregate/2: what fixes every bundle's size, all read from the signed attestation:
    how many assets it lists, the one tree height, the parts of each balance, and the bytes
    of every amount and sibling sum in a slot (S, from the largest signed total)."""

    assets: int
    height: int
    parts: int
    sum_bytes: int

    @property
    def slot_bytes(self) -> int:
        s = self.sum_bytes
        return 2 + self.parts * (8 + s + (HASH_BYTES + s) * self.height)

    def slots(self, held: int) -> int:
        """How many asset slots a client holding `held` assets gets: the next power of two,
        at most the number of assets."""
        return min(self.assets, 1 << max(held - 1, 0).bit_length())

    def header_bytes(self, epoch: str) -> int:
        return 4 + 1 + len(FORMAT_V2) + 1 + len(epoch.encode()) + ACCOUNT_FIELD_BYTES + 4

    def plaintext_bytes(self, epoch: str, slots: int) -> int:
        return self.header_bytes(epoch) + slots * self.slot_bytes

    def entry_bytes(self, epoch: str, slots: int) -> int:
        return IV_BYTES + self.plaintext_bytes(epoch, slots) + TAG_BYTES

    def slot_counts(self) -> list[int]:
        """Every bucket a client can be in (the allowed entry sizes), smallest first."""
        return sorted({self.slots(k) for k in range(1, self.assets + 1)})


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
        + lp(FORMAT_V1.encode())
        + lp(epoch.encode())
        + lp(account_id.encode())
        + bytes((asset_count,))
    )


def bundle_header_v2(epoch: str) -> bytes:
    """The part of every porsegregate/2 plaintext before the account field."""
    return BUNDLE_MAGIC_V2 + lp(FORMAT_V2.encode()) + lp(epoch.encode())


def account_field(account_id: str) -> bytes:
    raw = account_id.encode()
    return lp(raw) + bytes(ACCOUNT_FIELD_BYTES - 1 - len(raw))


def sum_bytes(totals: Sequence[int]) -> int:
    """porsegregate/2's S: the bytes of the largest total, at least 1 (one width for every
    asset of an epoch, so a slot's size never tells its asset). No amount or sibling sum of
    an honest tree exceeds its total, so each fits in S bytes."""
    return max([1, *((t.bit_length() + 7) // 8 for t in totals)])


def encode_bundle_v2(bundle: Bundle, layout: BundleLayout, codes: Sequence[str]) -> bytes:
    """A porsegregate/2 plaintext; `codes` are the attestation's asset codes in its order.

    Written as given (a test may write a malformed one): an asset code not in `codes` must be
    of the form `#<position>`, and the slot count is the one the layout gives. An amount or
    sum wider than the layout's S bytes cannot be written (OverflowError)."""
    s = layout.sum_bytes
    slots = layout.slots(len(bundle.assets))
    out = bytearray(bundle_header_v2(bundle.epoch) + account_field(bundle.account_id))
    out += len(bundle.assets).to_bytes(2, "big") + slots.to_bytes(2, "big")
    for asset in bundle.assets:
        position = codes.index(asset.asset) if asset.asset in codes else int(asset.asset[1:])
        out += position.to_bytes(2, "big")
        for leaf in asset.leaves:
            out += leaf.index.to_bytes(8, "big") + leaf.amount.to_bytes(s, "big")
            for h, sib in leaf.siblings:
                out += h + sib.to_bytes(s, "big")
    out += bytes(max(slots - len(bundle.assets), 0) * layout.slot_bytes)
    return bytes(out)


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


def decode_bundle(
    data: bytes, fmt: str = FORMAT_V1, layout: BundleLayout | None = None, codes: Sequence[str] = ()
) -> Bundle:
    """The bundle of an attestation of format `fmt`; a porsegregate/2 bundle needs the signed
    layout and asset codes. A slot naming an asset position the attestation does not have
    gets the code `#<position>`, which no attestation lists (check asset-known)."""
    if fmt == FORMAT_V2:
        if layout is None:
            raise ValueError("a porsegregate/2 bundle is read with its attestation's layout")
        return _decode_bundle_v2(data, layout, codes)
    r = _Reader(data)
    if r.take(4) != BUNDLE_MAGIC:
        raise FormatError("not a porsegregate/1 proof bundle")
    version = r.lp_text("version")
    if version != FORMAT_V1:
        raise FormatError(f"unsupported bundle version {version!r}")
    epoch = r.lp_text("epoch")
    account_id = r.lp_text("account id")
    assets = []
    held = r.uint(1)
    if held == 0:
        raise FormatError("the proof lists no asset")
    for _ in range(held):
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


def _decode_bundle_v2(data: bytes, layout: BundleLayout, codes: Sequence[str]) -> Bundle:
    r = _Reader(data)
    if r.take(4) != BUNDLE_MAGIC_V2:
        raise FormatError("not a porsegregate/2 proof bundle")
    version = r.lp_text("version")
    if version != FORMAT_V2:
        raise FormatError(f"unsupported bundle version {version!r}")
    epoch = r.lp_text("epoch")
    field = r.take(ACCOUNT_FIELD_BYTES)
    size = field[0]
    if not 1 <= size <= ACCOUNT_FIELD_BYTES - 1 or any(field[1 + size :]):
        raise FormatError("the account id field is malformed")
    try:
        account_id = field[1 : 1 + size].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("account id is not UTF-8") from exc
    held, slots = r.uint(2), r.uint(2)
    if held == 0:
        raise FormatError("the proof lists no asset")
    if held > layout.assets or slots != layout.slots(held):
        raise FormatError(
            f"{held} assets in {slots} slots; the attestation's layout gives "
            f"{layout.slots(min(held, layout.assets))} slots for at most {layout.assets} assets"
        )
    expected = layout.plaintext_bytes(epoch, slots)
    if len(data) != expected:
        raise FormatError(f"{len(data)} bytes; {held} assets in {slots} slots take {expected}")
    assets = []
    last = -1
    for _ in range(held):
        position = r.uint(2)
        code = codes[position] if position < len(codes) else f"#{position}"
        if position == last:
            raise FormatError(f"asset {code} is listed twice")
        if position < last:
            before = codes[last] if last < len(codes) else f"#{last}"
            raise FormatError(f"asset {code} is out of the attestation's order (after {before})")
        last = position
        leaves = []
        s = layout.sum_bytes
        for part in range(layout.parts):
            index = r.uint(8)
            amount = r.uint(s)
            siblings = tuple((r.take(32), r.uint(s)) for _ in range(layout.height))
            leaves.append(LeafProof(part, amount, index, siblings))
        assets.append(AssetProof(code, tuple(leaves)))
    if any(r.take(len(data) - r.pos)):
        raise FormatError("the unused slots are not all zero bytes")
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


def bundle_aad(epoch: str, lookup: bytes, fmt: str = FORMAT_V1) -> bytes:
    return lp(fmt.encode()) + lp(epoch.encode()) + lookup


def shard_prefix_chars(entries: int) -> int:
    """Fewest hex digits so that a shard holds at most ~256 entries on average (porsegregate/1
    counted the clients, porsegregate/2 counts every entry, dummies included)."""
    q = 0
    while entries > MAX_SHARD_FANOUT * 16**q:
        q += 1
    return q


def encode_shard(entries: list[tuple[bytes, bytes]]) -> bytes:
    """Entries (lookup, encrypted entry) must already be sorted by lookup."""
    out = bytearray(SHARD_MAGIC + len(entries).to_bytes(4, "big"))
    for lookup, blob in entries:
        out += lookup + len(blob).to_bytes(4, "big") + blob
    return bytes(out)


def decode_shard(data: bytes, prefix: str | None = None) -> dict[bytes, bytes]:
    """A shard's entries by lookup id: sorted, each once, each under the shard's hex `prefix`
    (when given; "" for proofs/all.bin)."""
    r = _Reader(data)
    if r.take(4) != SHARD_MAGIC:
        raise FormatError("not a porsegregate shard file")
    entries: dict[bytes, bytes] = {}
    last = b""
    for n in range(r.uint(4)):
        lookup = r.take(LOOKUP_BYTES)
        if lookup <= last:
            raise FormatError(f"entry {n}'s lookup id is not above the one before it")
        if prefix is not None and not lookup.hex().startswith(prefix):
            raise FormatError(f"entry {n}'s lookup id {lookup.hex()} is not under {prefix!r}")
        last = lookup
        entries[lookup] = r.take(r.uint(4))
    r.done()
    return entries


# -- porsegregate/2 shards: by lookup id bits, each with its path to the signed shards root ------


def shard_bits(entries: int) -> int:
    """The smallest b >= 0 with entries <= 32 * 2^b: at most 32 entries a shard on average."""
    b = 0
    while entries > SHARD_ENTRIES << b:
        b += 1
    return b


def shard_index(lookup: bytes, bits: int) -> int:
    """The shard a lookup id is in: its first `bits` bits."""
    return int.from_bytes(lookup, "big") >> (8 * LOOKUP_BYTES - bits)


def shard_header_bytes(bits: int) -> int:
    return 9 + HASH_BYTES * bits


SHARD_HEADER_BYTES = shard_header_bytes


def shard_body(entries: Sequence[tuple[bytes, bytes]]) -> bytes:
    """u32 count || (lookup || u32 length || entry)...; entries already sorted by lookup."""
    parts = [len(entries).to_bytes(4, "big")]
    for lookup, blob in entries:
        parts += (lookup, len(blob).to_bytes(4, "big"), blob)
    return b"".join(parts)


def shard_leaf(epoch: str, bits: int, index: int, body: bytes) -> bytes:
    """SHA-256(0x06 || lp(label) || lp(epoch) || u8 b || u32 index || body)."""
    return _crypto.sha256(
        SHARD_LEAF
        + lp(LABEL.encode())
        + lp(epoch.encode())
        + bytes((bits,))
        + index.to_bytes(4, "big")
        + body
    )


def shard_node(left: bytes, right: bytes) -> bytes:
    return _crypto.sha256(SHARD_NODE + left + right)


def shard_tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """(root, each leaf's path leaf level first) of the 2^b shard leaves in index order."""
    count = len(leaves)
    if count == 0 or count & (count - 1):
        raise ValueError(f"{count} shard leaves: a shard tree has 2^b leaves")
    paths: list[list[bytes]] = [[] for _ in range(count)]
    level = list(leaves)
    width = 1  # how many leaves each node of `level` covers
    while len(level) > 1:
        for n in range(len(level)):
            sibling = level[n ^ 1]
            for leaf in range(n * width, (n + 1) * width):
                paths[leaf].append(sibling)
        level = [shard_node(level[n], level[n + 1]) for n in range(0, len(level), 2)]
        width *= 2
    return level[0], paths


def shard_root_of(leaf: bytes, index: int, path: Sequence[bytes]) -> bytes:
    """The root a shard's leaf folds to with its path (bit k of index: the side at level k)."""
    node = leaf
    for level, sibling in enumerate(path):
        node = shard_node(sibling, node) if (index >> level) & 1 else shard_node(node, sibling)
    return node


def shard_header(bits: int, index: int, path: Sequence[bytes]) -> bytes:
    """b"PSS2" || u8 b || u32 index || b path hashes (leaf level first); the file is this
    header followed by the body."""
    if len(path) != bits or not 0 <= index < 1 << bits:
        raise ValueError(f"shard {index} of {bits} bits with a path of {len(path)}")
    return SHARD_MAGIC_V2 + bytes((bits,)) + index.to_bytes(4, "big") + b"".join(path)


@dataclass(frozen=True)
class ShardV2:
    bits: int
    index: int
    path: tuple[bytes, ...]
    body: bytes
    entries: dict[bytes, bytes]

    def root(self, epoch: str) -> bytes:
        return shard_root_of(
            shard_leaf(epoch, self.bits, self.index, self.body), self.index, self.path
        )


def decode_shard_v2(data: bytes) -> ShardV2:
    """A PSS2 shard file: header, path and entries, sorted, each once and each under the
    shard's index (the lookup id's first b bits)."""
    r = _Reader(data)
    if r.take(4) != SHARD_MAGIC_V2:
        raise FormatError("not a porsegregate/2 shard file")
    bits = r.uint(1)
    if bits > MAX_SHARD_BITS:
        raise FormatError(f"shard bits {bits} is over {MAX_SHARD_BITS}")
    index = r.uint(4)
    if index >= 1 << bits:
        raise FormatError(f"shard index {index} is not below 2^{bits}")
    path = tuple(r.take(HASH_BYTES) for _ in range(bits))
    body_at = r.pos
    entries: dict[bytes, bytes] = {}
    last = b""
    for n in range(r.uint(4)):
        lookup = r.take(LOOKUP_BYTES)
        if lookup <= last:
            raise FormatError(f"entry {n}'s lookup id is not above the one before it")
        if shard_index(lookup, bits) != index:
            raise FormatError(f"entry {n}'s lookup id {lookup.hex()} is not in shard {index}")
        last = lookup
        entries[lookup] = r.take(r.uint(4))
    r.done()
    return ShardV2(bits, index, path, data[body_at:], entries)
