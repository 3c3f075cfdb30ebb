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
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _crypto
from ..errors import InputError
from ..progress import NO_PROGRESS, Progress
from ..protocol.amounts import AMOUNT_BYTES
from ..protocol.bundle import (
    BundleLayout,
    bundle_aad,
    bundle_header,
    leaf_header,
    shard_bits,
    shard_body,
    shard_header,
    shard_header_bytes,
    shard_leaf,
    shard_prefix_chars,
)
from ..protocol.hashing import (
    FORMAT_V1,
    FORMAT_V2,
    SALT,
    leaf_prefix,
    lp,
    padded_height,
    padding_key,
    padding_prefix,
    published_height,
    shuffle_key,
)
from ..protocol.layout import shard_file
from ..protocol.models import AssetLiabilities, bundle_layout
from ..protocol.tree import SparseSumTree, SumTree
from .client_codes import parse_client_codes
from .engine import (
    EntrySource,
    KeyArrays,
    TreeTask,
    build_sparse_trees,
    derive_client_keys,
    encrypt_entries,
    fork_map,
    release_free_memory,
    tune_allocator,
    worker_count,
)
from .engine import shared_state as engine_shared
from .liabilities import Liabilities

CHUNK = 8192
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

    def tree_height(self, entries: int) -> int:
        """The height of every tree: the configured one, or (None) the least that holds every
        published entry's parts, so the height tells nothing the entry count does not."""
        if self.height is not None:
            return self.height
        return max(1, padded_height(entries * self.split))

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
    # The private codes file's bytes (client_codes.py); empty when rebuilt from a data
    # room's keys (build_trees).
    codes_file: bytes
    shard_prefix_chars: int
    entries: int  # what the shards hold: clients (porsegregate/1), or clients and dummies
    _keys: KeyArrays
    # Per asset, each client's leaf positions, shape (clients, parts); -1 where not held.
    _positions: list[np.ndarray]
    # Per asset, each client's row in _parts (-1 where not held), and the holders' part
    # amounts, shape (holders, parts, 16), big-endian.
    _holder_rows: list[np.ndarray]
    _parts: list[np.ndarray]
    _trees: Sequence[SumTree | SparseSumTree]
    _liabilities: Liabilities
    _dummy_key: bytes | None = None  # porsegregate/2 publish: what the dummy entries come from
    # porsegregate/2 publish: V, the key of the entries' synthetic IVs (entry_iv_key); None
    # when rebuilt from a data room, which makes plaintexts but never writes an entry.
    _iv_key: bytes | None = None

    @property
    def clients(self) -> int:
        return len(self.accounts)

    @property
    def codes(self) -> list[str]:
        """Each account's code, in the accounts' order (from the codes file: tests, tools)."""
        if not self.codes_file:
            return []
        return list(parse_client_codes(self.codes_file, "codes").values())

    @property
    def layout(self) -> BundleLayout | None:
        return bundle_layout(self.format, self.assets)

    def shards(
        self, iv_source: Callable[[], bytes] | None = None
    ) -> Iterator[tuple[int, list[tuple[bytes, bytes]]]]:
        """(shard index, sorted [(lookup, encrypted entry)]): porsegregate/1 every non-empty
        shard (its index: its hex prefix's value; `iv_source` gives its IVs in order for the
        test vectors, else random); porsegregate/2 every shard 0..2^b-1 in order, the empty
        ones too (IVs synthetic, never given)."""
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
        if iv_source is not None:
            raise ValueError(
                "porsegregate/2 entries take synthetic IVs (entry_iv_key), never given"
            )
        # porsegregate/2: the bulk writer's own entries, in this process.
        made: dict[int, list[tuple[bytes, bytes]]] = {}

        def keep(index: int, entries: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
            made[index] = entries
            return b"", len(entries)

        for index, _, _ in self.write_shards(shard_bits(self.entries), keep, in_process=True):
            yield index, made.pop(index)

    def _lookup(self, ci: int) -> bytes:
        return bytes(self._keys.lookups[ci].tobytes())

    # What an auditor with the data room compares the published entries with.

    def lookup_of(self, row: int) -> bytes:
        return self._lookup(row)

    def key_of(self, row: int) -> bytes:
        return bytes(self._keys.keys[row].tobytes())

    def by_lookup(self, rows: np.ndarray) -> np.ndarray:
        """These clients (account rows) in lookup-id order, the order of the shards."""
        halves = self._keys.lookups[rows].view(">u8")
        return rows[np.lexsort((halves[:, 1], halves[:, 0]))]

    def plaintexts(self, rows: np.ndarray) -> list[bytes]:
        """porsegregate/2: the bundles of these clients exactly as publish encrypts them."""
        return self.entry_source().plaintexts(rows)

    def write_shards(
        self,
        shard_bits: int,
        write: Callable[[int, list[tuple[bytes, bytes]]], tuple[bytes, int]],
        done: Callable[[int], None] | None = None,
        in_process: bool = False,
    ) -> list[tuple[int, bytes, int]]:
        """porsegregate/2: every one of the 2^shard_bits shards (shard i holds the entries whose
        lookup id's top bits are i), real and dummy entries merged in lookup order, each handed
        to `write(index, entries)` as soon as it is complete, in worker processes forked from
        this one. Returns (index, what write returned) for every shard, in index order.

        With `in_process` everything runs in this process (shards(): `write` may keep state).
        Each entry's IV is synthetic (encrypt_entries): proofs rebuilt from a data room, which
        have no IV key, cannot write entries."""
        if self._iv_key is None:
            raise ValueError(
                "porsegregate/2 entries need the epoch's IV key, derived from the master "
                "secret: proofs rebuilt from a data room make plaintexts, never entries"
            )
        order = self._order()
        top = self._keys.lookups[order].view(">u8")[:, 0] if len(order) else np.zeros(0, ">u8")
        real_shard = _shard_of(top, shard_bits)
        dummy_lookups, dummy_lengths = self._dummy_plan()
        dummy_top = dummy_lookups.view(">u8")[:, 0] if len(dummy_lookups) else np.zeros(0, ">u8")
        dummy_shard = _shard_of(dummy_top, shard_bits)
        shards = 1 << shard_bits
        workers = 1 if in_process else worker_count(self.entries)
        pieces = min(shards, max(1, workers * 8))
        bounds = [(shards * k // pieces, shards * (k + 1) // pieces) for k in range(pieces)]
        tasks = [
            (
                lo,
                hi,
                int(np.searchsorted(real_shard, lo)),
                int(np.searchsorted(real_shard, hi)),
                int(np.searchsorted(dummy_shard, lo)),
                int(np.searchsorted(dummy_shard, hi)),
            )
            for lo, hi in bounds
        ]
        shared = {
            "proofs": self,
            "order": order,
            "bits": shard_bits,
            "write": write,
            "dummy_lookups": dummy_lookups,
            "dummy_lengths": dummy_lengths,
        }
        results = fork_map(
            _shard_task,
            tasks,
            workers,
            shared,
            None if done is None else (lambda t: done(t[1] - t[0])),
        )
        return [item for part in results for item in part]

    def _dummy_plan(self) -> tuple[np.ndarray, np.ndarray]:
        """The dummy entries beyond the clients': their lookup ids (sorted, (d, 16)) and
        lengths. Each is as long as the entry of a real client the keyed stream picks, so
        dummies follow the real entries' size distribution (dummy_held_counts: only the
        histogram of the clients' held counts matters, not their order); their lookup ids and
        bytes (random-looking, as a real entry's) come from the same secret key."""
        count = self.entries - len(self.accounts)
        layout = self.layout
        if count <= 0 or layout is None or self._dummy_key is None:
            return np.zeros((0, 16), dtype=np.uint8), np.zeros(0, dtype=np.int64)
        key = self._dummy_key
        raw = _crypto.keystream(key, b"lookups", 16 * count)
        lookups = np.frombuffer(raw, dtype=np.uint8).reshape(count, 16)
        if _duplicates(lookups) or _collides(self._keys.lookups, raw):
            raise RuntimeError("a dummy lookup id collides")  # 2^-128: never in practice
        picks = np.frombuffer(_crypto.keystream(key, b"sizes", 8 * count), dtype=">u8")
        held = self._held_counts()
        sizes = np.asarray(
            [layout.entry_bytes(self.epoch, layout.slots(k)) for k in range(layout.assets + 1)]
        )
        if len(held):
            histogram = np.bincount(held, minlength=layout.assets + 1).astype(np.int64)
            lengths = sizes[dummy_held_counts(picks, histogram)]
        else:
            lengths = np.full(count, sizes[1], dtype=np.int64)
        halves = lookups.view(">u8")
        order = np.lexsort((halves[:, 1], halves[:, 0]))
        return lookups[order], lengths[order]

    def _order(self) -> np.ndarray:
        """Client indices sorted by lookup id."""
        halves = self._keys.lookups.view(">u8")
        return np.lexsort((halves[:, 1], halves[:, 0])).astype(np.int64)

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
            chunk = order[start : start + CHUNK]
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
                lookup = self._lookup(ci)
                iv = iv_source() if iv_source else None
                key = self._keys.keys[ci].tobytes()
                yield lookup, encrypt(key, plaintext, aad_prefix + lookup, iv)

    def entry_source(self) -> EntrySource:
        layout = self.layout
        assert layout is not None
        return EntrySource(
            self.epoch,
            layout,
            layout.sum_bytes,
            self.accounts,
            self._keys.lookups,
            self._keys.keys,
            self._positions,
            self._holder_rows,
            self._parts,
            [t for t in self._trees if isinstance(t, SparseSumTree)],
        )

    def _dummy_entries(
        self, lookups: np.ndarray, lengths: np.ndarray, lo: int, hi: int
    ) -> Iterator[tuple[bytes, bytes]]:
        """Dummies lo .. hi (in lookup order): their bytes are one keyed stream, "entries",
        cut in lookup order into the dummies' lengths; read from where dummy lo starts."""
        if lo >= hi:
            return
        assert self._dummy_key is not None
        start = int(lengths[:lo].sum())
        yield from dummy_entries(self._dummy_key, lookups[lo:hi], lengths[lo:hi], start)

    def _held_counts(self) -> np.ndarray:
        """How many assets each client holds."""
        counts = np.zeros(len(self.accounts), dtype=np.int64)
        for where in self._positions:
            counts += where[:, 0] >= 0
        return counts


def _shard_of(top: np.ndarray, bits: int) -> np.ndarray:
    """The shard index of each lookup id from its first 8 bytes (big-endian u64)."""
    if bits == 0:
        return np.zeros(len(top), dtype=np.int64)
    return (top >> np.uint64(64 - bits)).astype(np.int64)


def _shard_task(task: tuple[int, int, int, int, int, int]) -> list[tuple[int, bytes, int]]:
    """One worker's range of shards: their entries made, merged, handed to write."""
    lo, hi, r_lo, r_hi, d_lo, d_hi = task
    shared = engine_shared()
    proofs: EpochProofs = shared["proofs"]
    order: np.ndarray = shared["order"]
    bits: int = shared["bits"]
    write = shared["write"]
    lookups, keys = proofs._keys.lookups, proofs._keys.keys
    source = proofs.entry_source()
    aad = bundle_aad(proofs.epoch, b"", FORMAT_V2)

    iv_key = proofs._iv_key
    assert iv_key is not None  # write_shards refuses without it

    out: list[tuple[int, bytes, int]] = []
    real = client_entries(source, order[r_lo:r_hi], keys, lookups, aad, iv_key)
    dummies = proofs._dummy_entries(shared["dummy_lookups"], shared["dummy_lengths"], d_lo, d_hi)
    emit_shards(
        lo, hi, bits, heapq.merge(real, dummies), lambda i, e: out.append((i, *write(i, e)))
    )
    return out


# --- making shards: shared by this process's workers and the Dask engine's -------------------


def client_entries(
    source: EntrySource,
    rows: np.ndarray,
    keys: np.ndarray,
    lookups: np.ndarray,
    aad: bytes,
    iv_key: bytes,
) -> Iterator[tuple[bytes, bytes]]:
    """(lookup, encrypted entry) of the clients at `rows` (in that order: lookup-id order),
    CHUNK at a time."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        blobs = encrypt_entries(keys[chunk], source.plaintexts(chunk), lookups[chunk], aad, iv_key)
        data = lookups[chunk].tobytes()
        for i, blob in enumerate(blobs):
            yield data[16 * i : 16 * i + 16], blob


def dummy_entries(
    key: bytes, lookups: np.ndarray, lengths: np.ndarray, start: int
) -> Iterator[tuple[bytes, bytes]]:
    """(lookup, bytes) of consecutive dummies (in lookup order), the first of which begins at
    byte `start` of the keyed stream "entries" that all the dummies' bytes are cut from."""
    ends = np.cumsum(lengths)
    for first in range(0, len(lengths), CHUNK):
        last = min(first + CHUNK, len(lengths))
        begin = int(ends[first - 1]) if first else 0
        data = _crypto.keystream_at(key, b"entries", start + begin, int(ends[last - 1]) - begin)
        at = 0
        for d in range(first, last):
            size = int(lengths[d])
            yield lookups[d].tobytes(), data[at : at + size]
            at += size


def emit_shards(
    lo: int,
    hi: int,
    bits: int,
    entries: Iterable[tuple[bytes, bytes]],
    write: Callable[[int, list[tuple[bytes, bytes]]], None],
) -> None:
    """Hand shards lo .. hi-1 to `write(index, entries)`, in order, each with its entries (a
    shard holds the lookup ids whose first `bits` bits are its index; `entries` sorted by
    lookup id, all within those shards), the empty ones too."""
    current, pending = lo, list[tuple[bytes, bytes]]()
    shift = 64 - bits
    for lookup, blob in entries:
        if pending and pending[-1][0] == lookup:
            raise RuntimeError("two entries have one lookup id")  # 2^-128: never in practice
        index = int.from_bytes(lookup[:8], "big") >> shift if bits else 0
        while index > current:
            write(current, pending)
            current, pending = current + 1, []
        pending.append((lookup, blob))
    while current < hi:
        write(current, pending)
        current, pending = current + 1, []


def write_shard_file(folder: Path, epoch: str, bits: int, index: int,
                     entries: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:  # fmt: skip
    """A PSS2 file with room for its header (filled in once the shard tree is known): its
    leaf in the shard tree and its size."""
    room = bytes(shard_header_bytes(bits))
    body = shard_body(entries)
    with open(folder / shard_file(index, bits), "wb") as f:
        f.write(room)
        f.write(body)
    return shard_leaf(epoch, bits, index, body), len(room) + len(body)


def fill_shard_header(folder: Path, bits: int, index: int, path: Sequence[bytes]) -> None:
    """Shard `index`'s header (its index and path to the shards root) over the room left."""
    fd = os.open(folder / shard_file(index, bits), os.O_WRONLY)
    try:
        os.pwrite(fd, shard_header(bits, index, path), 0)
    finally:
        os.close(fd)


def _collides(lookups: np.ndarray, dummies: bytes) -> bool:
    """Whether a dummy lookup id equals a client's."""
    if not dummies:
        return False
    both = np.concatenate([lookups, np.frombuffer(dummies, dtype=np.uint8).reshape(-1, 16)])
    halves = both.view(">u8")
    order = np.lexsort((halves[:, 1], halves[:, 0]))
    ordered = halves[order]
    return bool(np.any(np.all(ordered[1:] == ordered[:-1], axis=1)))


def build_epoch(
    liabilities: Liabilities,
    master_secret: bytes,
    epoch: str,
    progress: Progress | None = None,
    privacy: Privacy | None = None,
    fmt: str = FORMAT_V2,
) -> EpochProofs:
    """Every client's code and keys derived from the master secret, then the trees."""
    tune_allocator()
    accounts = liabilities.accounts
    step = progress or NO_PROGRESS
    step.begin("deriving client keys", len(accounts))
    codes, keys = derive_client_keys(master_secret, epoch, accounts, step.advance)
    step.end()
    asset_keys = {
        a.code: AssetKeys(
            padding_key(master_secret, epoch, a.code), shuffle_key(master_secret, epoch, a.code)
        )
        for a in liabilities.assets
    }
    proofs = build_trees(
        liabilities, epoch, keys, asset_keys, codes, progress, privacy or Privacy(), fmt
    )
    proofs._dummy_key = dummy_key(master_secret, epoch)
    proofs._iv_key = entry_iv_key(master_secret, epoch)
    return proofs


def dummy_key(master_secret: bytes, epoch: str) -> bytes:
    """D = HKDF(M, LABEL, "dummies" || 0x00 || lp(e), 32): the dummy entries' key."""
    return _crypto.hkdf(master_secret, SALT, b"dummies\x00" + lp(epoch.encode()), 32)


def entry_iv_key(master_secret: bytes, epoch: str) -> bytes:
    """V = HKDF(M, LABEL, "entry-ivs" || 0x00 || lp(e), 32): the key of the porsegregate/2
    entries' synthetic IVs (encrypt_entries). Secret: never published, nor in a data room."""
    return _crypto.hkdf(master_secret, SALT, b"entry-ivs\x00" + lp(epoch.encode()), 32)


def dummy_held_counts(picks: np.ndarray, histogram: np.ndarray) -> np.ndarray:
    """The held count each dummy's length is taken from: c[pick mod n], c the n clients'
    held-asset counts sorted ascending, given as their histogram (histogram[k]: how many
    clients hold exactly k assets). Returns int64, one per pick."""
    hist = np.asarray(histogram, dtype=np.int64)
    if hist.ndim != 1 or np.any(hist < 0):
        raise ValueError("a histogram is a 1-d array of non-negative counts")
    n = int(hist.sum())
    if n == 0:
        raise ValueError("no client's held count to take a dummy's length from")
    at = np.asarray(picks, dtype=np.uint64) % np.uint64(n)
    ends = np.cumsum(hist).astype(np.uint64)  # c[ends[k-1] .. ends[k]-1] == k
    counts: np.ndarray = np.searchsorted(ends, at, side="right").astype(np.int64)
    return counts


@dataclass(frozen=True)
class AssetKeys:
    """One asset's secret keys for one epoch: the padding key, and the key of the leaves'
    order (porsegregate/1: the keyed shuffle; porsegregate/2: the positions and the split)."""

    padding: bytes
    shuffle: bytes


def build_trees(
    liabilities: Liabilities,
    epoch: str,
    clients: KeyArrays,
    asset_keys: Mapping[str, AssetKeys],
    codes_file: bytes,
    progress: Progress | None = None,
    privacy: Privacy | None = None,
    fmt: str = FORMAT_V2,
) -> EpochProofs:
    """The trees and proofs from one epoch's keys alone: publish derives them from the master
    secret; an auditor's data room (dataroom_export.py) holds exactly these, and no codes."""
    accounts = liabilities.accounts
    n = len(accounts)
    if not len(clients.lookups) == len(clients.keys) == len(clients.commitments) == n:
        raise ValueError("one lookup id, key and commitment per client is needed")
    if _duplicates(clients.lookups):  # 128-bit collisions do not happen; refuse, never lose one
        raise RuntimeError("two clients derived the same lookup id")
    privacy = privacy or Privacy()
    entries = n if fmt == FORMAT_V1 else privacy.entry_count(n)
    step = progress or NO_PROGRESS
    step.begin("building trees", len(liabilities.assets))
    if fmt == FORMAT_V1:
        built = _build_v1(liabilities, epoch, clients.commitments, asset_keys, privacy, step)
    else:
        built = _build_v2(
            liabilities,
            epoch,
            clients.commitments,
            clients.lookups,
            asset_keys,
            privacy,
            step,
            entries,
        )
    step.end()
    release_free_memory()
    trees, positions, holder_rows, parts, summaries = built
    # The commitments are in the leaves now; millions of them need not stay in memory.
    clients = KeyArrays(clients.lookups, clients.keys, clients.commitments[:0])
    return EpochProofs(
        epoch=epoch,
        format=fmt,
        assets=tuple(summaries),
        accounts=accounts,
        codes_file=codes_file,
        shard_prefix_chars=shard_prefix_chars(entries),
        entries=entries,
        _keys=clients,
        _positions=positions,
        _holder_rows=holder_rows,
        _parts=parts,
        _trees=trees,
        _liabilities=liabilities,
    )


def _duplicates(lookups: np.ndarray) -> bool:
    halves = lookups.view(">u8")
    ordered = halves[np.lexsort((halves[:, 1], halves[:, 0]))]
    return bool(np.any(np.all(ordered[1:] == ordered[:-1], axis=1)))


# Per asset: the tree, each client's leaf positions, each client's row among the holders,
# the holders' part amounts, the signed summary.
_Built = tuple[
    Sequence[SumTree | SparseSumTree],
    list[np.ndarray],
    list[np.ndarray],
    list[np.ndarray],
    list[AssetLiabilities],
]


def _holder_rows(n: int, holders: np.ndarray) -> np.ndarray:
    """Each account's row among `holders` (in the order given), -1 where not a holder."""
    rows = np.full(n, -1, dtype=np.int64)
    rows[holders] = np.arange(len(holders), dtype=np.int64)
    return rows


def _build_v1(
    liabilities: Liabilities,
    epoch: str,
    commitments: np.ndarray,
    asset_keys: Mapping[str, AssetKeys],
    privacy: Privacy,
    progress: Progress,
) -> _Built:
    """porsegregate/1: each tree padded to a power of two (at least 2^10) with padding leaves,
    all leaves in a keyed shuffle."""
    n = len(commitments)
    sha = hashlib.sha256
    holders_of, amounts_of = list(liabilities.holders), list(liabilities.amounts)
    trees: list[SumTree] = []
    positions: list[np.ndarray] = []
    summaries: list[AssetLiabilities] = []
    for ai, asset in enumerate(liabilities.assets):
        holders = holders_of[ai].tolist()
        amounts = [int.from_bytes(row.tobytes(), "big") for row in amounts_of[ai]]
        height = published_height(len(holders))
        size = 1 << height
        prefix = leaf_prefix(epoch, asset.code)
        entries = []
        for ci, amt in zip(holders, amounts, strict=True):
            encoded = amt.to_bytes(AMOUNT_BYTES, "big")
            commitment = commitments[ci].tobytes()
            entries.append(sha(prefix + commitment + PART0 + encoded).digest() + encoded)
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
        trees.append(tree)
        positions.append(client_pos)
        summaries.append(
            AssetLiabilities(asset.code, asset.decimals, tree.root_hash, tree.root_sum, height)
        )
        progress.advance(1)
    holder_rows = [_holder_rows(n, h) for h in holders_of]
    parts = [a.reshape(len(a), 1, AMOUNT_BYTES) for a in amounts_of]
    return trees, positions, holder_rows, parts, summaries


def _build_v2(
    liabilities: Liabilities,
    epoch: str,
    commitments: np.ndarray,
    lookups: np.ndarray,
    asset_keys: Mapping[str, AssetKeys],
    privacy: Privacy,
    progress: Progress,
    entries: int,
) -> _Built:
    """porsegregate/2: one height for every tree, leaves at keyed random positions, padding
    nodes for empty subtrees, each balance in `split` keyed random parts. Each asset's holders
    are taken in ascending lookup-id order (placement draws and the split stream follow it),
    so nothing depends on the ledger's order of rows or accounts."""
    n = len(commitments)
    split = privacy.split
    holders_of, amounts_of = [], []
    for holders, amounts in zip(liabilities.holders, liabilities.amounts, strict=True):
        order = _lookup_order(holders, lookups)
        holders_of.append(holders[order])
        amounts_of.append(amounts[order])
    most = max((len(h) * split for h in holders_of), default=0)
    height = max(privacy.tree_height(entries), padded_height(most))
    if height > MAX_PRIVACY_HEIGHT:
        raise InputError(f"{most} leaves need a tree taller than {MAX_PRIVACY_HEIGHT}")
    tasks = []
    parts_of = []
    for ai, asset in enumerate(liabilities.assets):
        keys = asset_keys[asset.code]
        parts = split_parts(amounts_of[ai], split, keys.shuffle)
        parts_of.append(parts)
        tasks.append(
            TreeTask(
                asset.code,
                holders_of[ai],
                parts,
                padding_prefix(epoch, asset.code, keys.padding),
                keys.shuffle,
            )
        )
    built = build_sparse_trees(
        epoch, height, commitments, tasks, leaf_positions, lambda: progress.advance(1)
    )
    trees: list[SparseSumTree] = []
    positions: list[np.ndarray] = []
    summaries: list[AssetLiabilities] = []
    for ai, (asset, (tree, where)) in enumerate(zip(liabilities.assets, built, strict=True)):
        client_pos = np.full((n, split), -1, dtype=np.int64)
        if len(holders_of[ai]):
            client_pos[holders_of[ai]] = where.reshape(-1, split)
        trees.append(tree)
        positions.append(client_pos)
        summaries.append(
            AssetLiabilities(
                asset.code, asset.decimals, tree.root_hash, tree.root_sum, height, split
            )
        )
    holder_rows = [_holder_rows(n, h) for h in holders_of]
    return trees, positions, holder_rows, parts_of, summaries


def _lookup_order(holders: np.ndarray, lookups: np.ndarray) -> np.ndarray:
    """The permutation of `holders` that sorts them by lookup id (16 bytes, big-endian)."""
    halves = lookups[holders].view(">u8").reshape(len(holders), 2)
    return np.lexsort((halves[:, 1], halves[:, 0])).astype(np.int64)


def holders_by_lookup(holders: np.ndarray, lookups: np.ndarray) -> np.ndarray:
    """An asset's holders (indices into the accounts) sorted by their lookup ids (`lookups`:
    every account's, (n, 16)): the order porsegregate/2 places and splits them in."""
    ordered: np.ndarray = np.asarray(holders, dtype=np.int64)[_lookup_order(holders, lookups)]
    return ordered


def split_parts(amounts: np.ndarray, parts: int, key: bytes, first: int = 0) -> np.ndarray:
    """split_balances over a (holders, 16) big-endian array: (holders, parts, 16). `first` is
    the index of amounts[0] among the asset's holders (in lookup-id order): a slice of them
    splits as it does within the whole."""
    if parts == 1:
        return amounts.reshape(len(amounts), 1, AMOUNT_BYTES)
    values = [int.from_bytes(row.tobytes(), "big") for row in amounts]
    pieces = split_balances(values, parts, key, first)
    flat = b"".join(p.to_bytes(AMOUNT_BYTES, "big") for piece in pieces for p in piece)
    return np.frombuffer(flat, dtype=np.uint8).reshape(len(amounts), parts, AMOUNT_BYTES)


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


def split_balances(
    amounts: list[int], parts: int, key: bytes, first: int = 0
) -> list[tuple[int, ...]]:
    """Each amount as `parts` non-negative parts that add up to it: parts - 1 cut points drawn
    uniformly in [0, amount] from the keyed stream (32 bytes each, reduced modulo amount + 1,
    a bias below 2^-128), sorted, and the gaps between them. amounts[0] is holder `first`:
    its cut points are read from byte 32 * (parts - 1) * first of the stream."""
    if parts == 1:
        return [(a,) for a in amounts]
    if first < 0:
        raise ValueError("first is a holder's index: not negative")
    width = 32 * (parts - 1)
    stream = _crypto.keystream_at(key, b"split", width * first, width * len(amounts))
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
