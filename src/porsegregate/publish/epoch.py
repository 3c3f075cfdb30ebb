"""Building one epoch: every client's keys, one sum tree per asset, every encrypted proof.

This is the hot path of `publish`. Per-client state is kept in flat lists;
trees are bytes levels (tree.py); proof paths are gathered with numpy for
thousands of clients at once; shards are produced in lookup order so that
each one can be written and forgotten as soon as it is complete.

porsegregate/2 (what publish writes) hides the client count and who holds
what from anyone without a code (T17): every tree of the epoch has one height
(`[privacy] height`) with its leaves at secret random positions and padding
nodes for the empty subtrees; each balance may be split into random parts;
every bundle has the fixed size of its bucket; dummy entries fill the shards to
the published entry count. porsegregate/1 (dense power-of-two trees, a bundle
as long as its content, one entry per client) is kept to rebuild an old
epoch from its data room and to write the first format's test vectors.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _crypto
from ..errors import InputError
from ..progress import NO_PROGRESS, Progress
from ..protocol.amounts import AMOUNT_BYTES
from ..protocol.bundle import (
    BundleLayout,
    account_field,
    bundle_aad,
    bundle_header,
    bundle_header_v2,
    leaf_header,
    shard_bits,
    shard_index,
    shard_prefix_chars,
)
from ..protocol.codes import client_secret, format_code
from ..protocol.hashing import (
    FORMAT_V1,
    FORMAT_V2,
    SALT,
    commitment_prefix,
    epoch_keys,
    leaf_prefix,
    lp,
    padded_height,
    padding_key,
    padding_prefix,
    published_height,
    shuffle_key,
)
from ..protocol.models import AssetLiabilities, bundle_layout
from ..protocol.tree import SparseSumTree, SumTree
from .liabilities import Liabilities

CHUNK = 4096
PART0 = (0).to_bytes(4, "big")
# The published entry count, unless the config fixes one: the next power of two at or
# above the client count, never below this, so a small custodian's site looks like any other.
MIN_AUTO_ENTRIES = 4096
# Leaf positions are int64 below 2^height.
MAX_PRIVACY_HEIGHT = 62


@dataclass(frozen=True)
class Privacy:
    """`[privacy]` of the config: what an observer of the site can learn (T17).

    `height` is the one height of every tree (None: ceil(log2(entries * split)), at least 1,
    which tells nothing the entry count does not; raised for all alike when a tree has more
    leaves); `entries` the number of entries the shards hold (None: the next power of two at
    or above max(clients, 4096)); `split` the parts each balance is split into.
    """

    height: int | None = None
    entries: int | None = None
    split: int = 1

    def entry_count(self, clients: int) -> int:
        if self.entries is None:
            return _auto(clients)
        if clients > self.entries:
            raise InputError(
                f"{clients} clients do not fit in the {self.entries} entries [privacy] entries "
                "publishes; raise it (the count is public: choose a bound, not the client count)"
            )
        return self.entries


def _auto(clients: int) -> int:
    return 1 << (max(clients, MIN_AUTO_ENTRIES) - 1).bit_length()


@dataclass
class EpochProofs:
    """What an epoch publishes about liabilities, plus the private per-client state."""

    epoch: str
    format: str
    assets: tuple[AssetLiabilities, ...]
    accounts: list[str]
    codes: list[str]  # empty when rebuilt from a data room's keys (build_trees)
    shard_prefix_chars: int
    entries: int  # what the shards hold: clients (porsegregate/1), or clients and dummies
    _lookups: list[bytes]
    _keys: list[bytes]
    # Per asset, each client's leaf positions, shape (clients, parts); -1 where not held.
    _positions: list[np.ndarray]
    # Per asset, each client's part amounts (None where not held).
    _parts: list[list[tuple[int, ...] | None]]
    _trees: Sequence[SumTree | SparseSumTree]
    _liabilities: Liabilities
    _dummy_key: bytes | None = None  # porsegregate/2 publish: what the dummy entries come from

    @property
    def layout(self) -> BundleLayout | None:
        return bundle_layout(self.format, self.assets)

    def shards(
        self, iv_source: Callable[[], bytes] | None = None
    ) -> Iterator[tuple[int, list[tuple[bytes, bytes]]]]:
        """(shard index, sorted [(lookup, encrypted entry)]): porsegregate/1 every non-empty
        shard (its index: its hex prefix's value); porsegregate/2 every shard 0..2^b-1 in
        order, the empty ones too."""
        if self.layout is None:
            q = self.shard_prefix_chars
            current: int | None = None
            entries: list[tuple[bytes, bytes]] = []
            for lookup, blob in self._entries_v1(iv_source):
                index = int(lookup.hex()[:q] or "0", 16)
                if index != current:
                    if current is not None:
                        yield current, entries
                    current, entries = index, []
                entries.append((lookup, blob))
            if current is not None:
                yield current, entries
            return
        # -- porsegregate/2 shards (issue 11, FORMAT helper): every index, by lookup id bits
        bits = shard_bits(self.entries)
        next_index = 0
        entries = []
        for lookup, blob in heapq.merge(self._entries_v2(iv_source), self._dummies()):
            index = shard_index(lookup, bits)
            while next_index < index:
                yield next_index, entries
                next_index, entries = next_index + 1, []
            entries.append((lookup, blob))
        while next_index < 1 << bits:
            yield next_index, entries
            next_index, entries = next_index + 1, []
        # -- end porsegregate/2 shards

    def _order(self) -> list[int]:
        return sorted(range(len(self.accounts)), key=self._lookups.__getitem__)

    def _paths(self, chunk: np.ndarray) -> list[dict[int, bytes]]:
        """Per asset, {row in chunk: the client's parts' paths, concatenated}."""
        out: list[dict[int, bytes]] = []
        for ai, tree in enumerate(self._trees):
            idx = self._positions[ai][chunk]  # (rows, parts)
            held = np.nonzero(idx[:, 0] >= 0)[0]
            parts = idx.shape[1]
            matrix = tree.paths_matrix(idx[held].reshape(-1))
            width = matrix.shape[1] * parts
            flat = matrix.tobytes()
            out.append(
                {int(row): flat[width * n : width * (n + 1)] for n, row in enumerate(held.tolist())}
            )
        return out

    def _entries_v1(self, iv_source: Callable[[], bytes] | None) -> Iterator[tuple[bytes, bytes]]:
        order = self._order()
        balances = self._liabilities.balances
        asset_heads = [lp(a.code.encode()) + b"\x01" for a in self.assets]
        aad_prefix = bundle_aad(self.epoch, b"")
        header_prefix = bundle_header(self.epoch, "", 0)[:-2]  # magic, version, epoch
        encrypt = _crypto.aes_gcm_encrypt
        for start in range(0, len(order), CHUNK):
            chunk = np.asarray(order[start : start + CHUNK], dtype=np.int64)
            paths = self._paths(chunk)
            for row, ci in enumerate(chunk.tolist()):
                account = self.accounts[ci]
                parts = []
                for ai, amount in enumerate(balances[account]):
                    if amount is None:
                        continue
                    tree = self._trees[ai]
                    parts.append(
                        asset_heads[ai]
                        + leaf_header(0, amount, tree.height, int(self._positions[ai][ci, 0]))
                        + paths[ai][row]
                    )
                plaintext = b"".join(
                    [header_prefix, lp(account.encode()), bytes((len(parts),)), *parts]
                )
                lookup = self._lookups[ci]
                iv = iv_source() if iv_source else None
                yield lookup, encrypt(self._keys[ci], plaintext, aad_prefix + lookup, iv)

    def _entries_v2(self, iv_source: Callable[[], bytes] | None) -> Iterator[tuple[bytes, bytes]]:
        layout = self.layout
        assert layout is not None
        order = self._order()
        aad_prefix = bundle_aad(self.epoch, b"", FORMAT_V2)
        header = bundle_header_v2(self.epoch)
        heads = [ai.to_bytes(2, "big") for ai in range(len(self.assets))]
        slot = layout.slot_bytes
        height = layout.height
        encrypt = _crypto.aes_gcm_encrypt
        # porsegregate/2 slots (issue 11, FORMAT helper): amounts and sibling sums in S bytes;
        # of each 48-byte path level keep the hash and the sum's last S bytes.
        s = layout.sum_bytes
        keep = np.r_[0:32, 48 - s : 48]
        for start in range(0, len(order), CHUNK):
            chunk = np.asarray(order[start : start + CHUNK], dtype=np.int64)
            paths = self._paths(chunk)
            positions = [p[chunk].tolist() for p in self._positions]
            for row, ci in enumerate(chunk.tolist()):
                out = [header, account_field(self.accounts[ci]), b""]
                held = 0
                for ai, amounts in enumerate(self._parts):
                    part_amounts = amounts[ci]
                    if part_amounts is None:
                        continue
                    held += 1
                    out.append(heads[ai])
                    where = positions[ai][row]
                    path = paths[ai][row]
                    narrow = np.frombuffer(path, dtype=np.uint8).reshape(-1, 48)[:, keep].tobytes()
                    narrow_bytes = height * (32 + s)
                    for p, amount in enumerate(part_amounts):
                        out.append(where[p].to_bytes(8, "big") + amount.to_bytes(s, "big"))
                        out.append(narrow[narrow_bytes * p : narrow_bytes * (p + 1)])
                slots = layout.slots(held)
                out[2] = held.to_bytes(2, "big") + slots.to_bytes(2, "big")
                out.append(bytes((slots - held) * slot))
                lookup = self._lookups[ci]
                iv = iv_source() if iv_source else None
                yield lookup, encrypt(self._keys[ci], b"".join(out), aad_prefix + lookup, iv)

    def _dummies(self) -> Iterator[tuple[bytes, bytes]]:
        """porsegregate/2: the entries beyond the clients', sorted by lookup id. Each is as long
        as the entry of a real client the keyed stream picks, so dummies follow the real
        entries' size distribution; its bytes (random-looking, as a real entry's) and its
        lookup id come from the same secret stream."""
        count = self.entries - len(self.accounts)
        layout = self.layout
        if count <= 0 or layout is None or self._dummy_key is None:
            return
        key = self._dummy_key
        raw = _crypto.keystream(key, b"lookups", 16 * count)
        lookups = [raw[16 * d : 16 * (d + 1)] for d in range(count)]
        taken = set(self._lookups)
        if len(set(lookups)) != count or taken.intersection(lookups):
            raise RuntimeError("a dummy lookup id collides")  # 2^-128: never in practice
        picks = np.frombuffer(_crypto.keystream(key, b"sizes", 8 * count), dtype=">u8")
        held = self._held_counts()
        sizes = {s: layout.entry_bytes(self.epoch, s) for s in layout.slot_counts()}
        lengths = [
            sizes[layout.slots(held[int(pick) % len(held)] if held else 1)] for pick in picks
        ]
        for d in sorted(range(count), key=lookups.__getitem__):
            yield lookups[d], _crypto.keystream(key, b"entry " + lookups[d], lengths[d])

    def _held_counts(self) -> list[int]:
        counts = [0] * len(self.accounts)
        for amounts in self._parts:
            for ci, a in enumerate(amounts):
                if a is not None:
                    counts[ci] += 1
        return counts


def build_epoch(
    liabilities: Liabilities,
    master_secret: bytes,
    epoch: str,
    progress: Progress | None = None,
    privacy: Privacy | None = None,
    fmt: str = FORMAT_V2,
) -> EpochProofs:
    """Every client's code and keys derived from the master secret, then the trees."""
    accounts = list(liabilities.balances)
    codes: list[str] = []
    lookups: list[bytes] = []
    keys: list[bytes] = []
    commitments: list[bytes] = []
    commit = commitment_prefix(epoch)
    sha = hashlib.sha256
    progress = progress or NO_PROGRESS
    progress.begin("deriving client keys", len(accounts))
    for i, account in enumerate(accounts):
        secret = client_secret(master_secret, account)
        codes.append(format_code(secret))
        k = epoch_keys(secret, epoch)
        lookups.append(k.lookup)
        keys.append(k.key)
        commitments.append(sha(commit + k.nonce + lp(account.encode())).digest())
        if i % 16384 == 16383:
            progress.advance(16384)
    progress.advance(len(accounts) % 16384)
    progress.end()
    asset_keys = {
        a.code: AssetKeys(
            padding_key(master_secret, epoch, a.code), shuffle_key(master_secret, epoch, a.code)
        )
        for a in liabilities.assets
    }
    proofs = build_trees(
        liabilities,
        epoch,
        ClientKeys(lookups, keys, commitments),
        asset_keys,
        codes,
        progress,
        privacy or Privacy(),
        fmt,
    )
    proofs._dummy_key = dummy_key(master_secret, epoch)
    return proofs


def dummy_key(master_secret: bytes, epoch: str) -> bytes:
    return _crypto.hkdf(master_secret, SALT, b"dummies\x00" + lp(epoch.encode()), 32)


@dataclass(frozen=True)
class AssetKeys:
    """One asset's secret keys for one epoch: the padding key, and the key of the leaves'
    order (porsegregate/1: the keyed shuffle; porsegregate/2: the positions and the split)."""

    padding: bytes
    shuffle: bytes


@dataclass(frozen=True)
class ClientKeys:
    """Every client's lookup id, proof key and account commitment for one epoch, in the order
    of the liabilities' accounts (flat lists: publish holds millions)."""

    lookups: list[bytes]
    keys: list[bytes]
    commitments: list[bytes]


def build_trees(
    liabilities: Liabilities,
    epoch: str,
    clients: ClientKeys,
    asset_keys: Mapping[str, AssetKeys],
    codes: list[str],
    progress: Progress | None = None,
    privacy: Privacy | None = None,
    fmt: str = FORMAT_V2,
) -> EpochProofs:
    """The trees and proofs from one epoch's keys alone: publish derives them from the master
    secret; an auditor's data room (dataroom_export.py) holds exactly these, and no codes."""
    accounts = list(liabilities.balances)
    n = len(accounts)
    lookups, keys, commitments = clients.lookups, clients.keys, clients.commitments
    if not len(lookups) == len(keys) == len(commitments) == n:
        raise ValueError("one lookup id, key and commitment per client is needed")
    if len(set(lookups)) != n:  # 128-bit collisions do not happen; refuse rather than lose a client
        raise RuntimeError("two clients derived the same lookup id")
    privacy = privacy or Privacy()
    build = _build_v1 if fmt == FORMAT_V1 else _build_v2
    progress = progress or NO_PROGRESS
    progress.begin("building trees", len(liabilities.assets))
    trees, positions, parts, summaries = build(
        liabilities, epoch, commitments, asset_keys, privacy, progress
    )
    progress.end()
    entries = n if fmt == FORMAT_V1 else privacy.entry_count(n)
    return EpochProofs(
        epoch=epoch,
        format=fmt,
        assets=tuple(summaries),
        accounts=accounts,
        codes=codes,
        shard_prefix_chars=shard_prefix_chars(entries),
        entries=entries,
        _lookups=lookups,
        _keys=keys,
        _positions=positions,
        _parts=parts,
        _trees=trees,
        _liabilities=liabilities,
    )


# Per asset: the tree, each client's leaf positions, each client's parts, the signed summary.
_Built = tuple[
    Sequence[SumTree | SparseSumTree],
    list[np.ndarray],
    list[list[tuple[int, ...] | None]],
    list[AssetLiabilities],
]


def _build_v1(
    liabilities: Liabilities,
    epoch: str,
    commitments: list[bytes],
    asset_keys: Mapping[str, AssetKeys],
    privacy: Privacy,
    progress: Progress,
) -> _Built:
    """porsegregate/1: each tree padded to a power of two (at least 2^10) with padding leaves,
    all leaves in a keyed shuffle."""
    accounts = list(liabilities.balances)
    n = len(accounts)
    sha = hashlib.sha256
    balances = liabilities.balances
    trees: list[SumTree] = []
    positions: list[np.ndarray] = []
    parts: list[list[tuple[int, ...] | None]] = []
    summaries: list[AssetLiabilities] = []
    for ai, asset in enumerate(liabilities.assets):
        holders = [ci for ci, a in enumerate(accounts) if balances[a][ai] is not None]
        amounts = [balances[accounts[ci]][ai] or 0 for ci in holders]
        height = published_height(len(holders))
        size = 1 << height
        prefix = leaf_prefix(epoch, asset.code)
        entries = []
        for ci, amt in zip(holders, amounts, strict=True):
            encoded = amt.to_bytes(AMOUNT_BYTES, "big")
            entries.append(sha(prefix + commitments[ci] + PART0 + encoded).digest() + encoded)
        pad = padding_prefix(epoch, asset.code, asset_keys[asset.code].padding)
        zero = bytes(AMOUNT_BYTES)
        entries.extend(
            sha(pad + j.to_bytes(8, "big")).digest() + zero for j in range(size - len(holders))
        )
        skey = asset_keys[asset.code].shuffle
        # Keyed shuffle: sort by HMAC(shuffle key, leaf hash), compared as 32-byte big-endian.
        sort_keys = np.frombuffer(
            b"".join([hmac.digest(skey, e[:32], "sha256") for e in entries]), dtype=">u8"
        ).reshape(-1, 4)
        order = np.lexsort(sort_keys.T[::-1])
        del sort_keys
        all_sums = amounts + [0] * (size - len(holders))
        order_list = order.tolist()
        tree = SumTree.build(
            b"".join([entries[j] for j in order_list]), [all_sums[j] for j in order_list]
        )
        del entries, order_list
        where = np.empty(size, dtype=np.int64)
        where[order] = np.arange(size, dtype=np.int64)
        client_pos = np.full((n, 1), -1, dtype=np.int64)
        client_pos[np.asarray(holders, dtype=np.int64), 0] = where[: len(holders)]
        held: list[tuple[int, ...] | None] = [None] * n
        for ci, amt in zip(holders, amounts, strict=True):
            held[ci] = (amt,)
        trees.append(tree)
        positions.append(client_pos)
        parts.append(held)
        summaries.append(
            AssetLiabilities(asset.code, asset.decimals, tree.root_hash, tree.root_sum, height)
        )
        progress.advance(1)
    return trees, positions, parts, summaries


def _build_v2(
    liabilities: Liabilities,
    epoch: str,
    commitments: list[bytes],
    asset_keys: Mapping[str, AssetKeys],
    privacy: Privacy,
    progress: Progress,
) -> _Built:
    """porsegregate/2: one height for every tree, leaves at keyed random positions, padding
    nodes for empty subtrees, each balance in `split` keyed random parts."""
    accounts = list(liabilities.balances)
    n = len(accounts)
    sha = hashlib.sha256
    balances = liabilities.balances
    split = privacy.split
    holders_of = [
        [ci for ci, a in enumerate(accounts) if balances[a][ai] is not None]
        for ai in range(len(liabilities.assets))
    ]
    most = max((len(h) * split for h in holders_of), default=0)
    # Unset [privacy] height (issue 11): ceil(log2(E * P)), at least 1, from the entry count.
    wanted = privacy.height
    if wanted is None:
        wanted = max(1, padded_height(privacy.entry_count(n) * split))
    height = max(wanted, padded_height(most))
    if height > MAX_PRIVACY_HEIGHT:
        raise InputError(f"{most} leaves need a tree taller than {MAX_PRIVACY_HEIGHT}")
    trees: list[SparseSumTree] = []
    positions: list[np.ndarray] = []
    parts: list[list[tuple[int, ...] | None]] = []
    summaries: list[AssetLiabilities] = []
    for ai, asset in enumerate(liabilities.assets):
        holders = holders_of[ai]
        keys = asset_keys[asset.code]
        amounts = [balances[accounts[ci]][ai] or 0 for ci in holders]
        split_amounts = split_balances(amounts, split, keys.shuffle)
        prefix = leaf_prefix(epoch, asset.code)
        leaves: list[bytes] = []
        sums: list[int] = []
        part_tags = [p.to_bytes(4, "big") for p in range(split)]
        for ci, pieces in zip(holders, split_amounts, strict=True):
            for p, amt in enumerate(pieces):
                encoded = amt.to_bytes(AMOUNT_BYTES, "big")
                leaves.append(
                    sha(prefix + commitments[ci] + part_tags[p] + encoded).digest() + encoded
                )
                sums.append(amt)
        where = leaf_positions(len(leaves), height, keys.shuffle)
        order = np.argsort(where, kind="stable")
        order_list = order.tolist()
        tree = SparseSumTree.build(
            height,
            where[order],
            b"".join([leaves[j] for j in order_list]),
            [sums[j] for j in order_list],
            padding_prefix(epoch, asset.code, keys.padding),
        )
        del leaves, order_list
        client_pos = np.full((n, split), -1, dtype=np.int64)
        if holders:
            client_pos[np.asarray(holders, dtype=np.int64)] = where.reshape(-1, split)
        held: list[tuple[int, ...] | None] = [None] * n
        for ci, pieces in zip(holders, split_amounts, strict=True):
            held[ci] = pieces
        trees.append(tree)
        positions.append(client_pos)
        parts.append(held)
        summaries.append(
            AssetLiabilities(
                asset.code, asset.decimals, tree.root_hash, tree.root_sum, height, split
            )
        )
        progress.advance(1)
    return trees, positions, parts, summaries


def leaf_positions(count: int, height: int, key: bytes) -> np.ndarray:
    """`count` distinct positions in [0, 2^height), uniformly at random from the keyed stream,
    in the order drawn (int64): leaf k of the tree sits at position k of the result."""
    space = 1 << height
    if count > space:
        raise ValueError("more leaves than positions")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if 2 * count > space:  # dense: a keyed permutation of every position, its first `count`
        draws = np.frombuffer(_crypto.keystream(key, b"placement", 8 * space), dtype=">u8")
        return np.argsort(draws, kind="stable")[:count].astype(np.int64)
    mask = np.uint64(space - 1)
    want = count + count // 4 + 64
    while True:
        draws = np.frombuffer(_crypto.keystream(key, b"placement", 8 * want), dtype=">u8") & mask
        _, first = np.unique(draws, return_index=True)
        if len(first) >= count:
            chosen: np.ndarray = draws[np.sort(first)[:count]].astype(np.int64)
            return chosen
        want *= 2  # the stream extends: the draws so far stay the first ones


def split_balances(amounts: list[int], parts: int, key: bytes) -> list[tuple[int, ...]]:
    """Each amount as `parts` non-negative parts that add up to it: parts - 1 cut points drawn
    uniformly in [0, amount] from the keyed stream (32 bytes each, reduced modulo amount + 1,
    a bias below 2^-128), sorted, and the gaps between them."""
    if parts == 1:
        return [(a,) for a in amounts]
    stream = _crypto.keystream(key, b"split", 32 * (parts - 1) * len(amounts))
    out = []
    at = 0
    for amount in amounts:
        cuts = []
        for _ in range(parts - 1):
            cuts.append(int.from_bytes(stream[at : at + 32], "big") % (amount + 1))
            at += 32
        cuts.sort()
        bounds = [0, *cuts, amount]
        out.append(tuple(bounds[p + 1] - bounds[p] for p in range(parts)))
    return out
