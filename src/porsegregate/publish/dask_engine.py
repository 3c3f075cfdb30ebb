"""Publishing on a Dask cluster: the same porsegregate/2 site as the single-machine engine,
with no step that holds every client in one process.

The single-machine engine (engine.py, epoch.py) keeps every client in the arrays of one
process. Here the same stages run as Dask tasks over partitions of the lookup-id space, so
that the input, the keys, the trees and the shards are spread over the workers and the
driver holds only futures and per-partition counts:

1. read: each input file is read and checked by a worker (liabilities.read_liabilities,
   the same messages); its accounts' keys are derived there and its rows sorted by lookup id;
2. group: partition p takes, from every file, the accounts whose lookup id starts with the
   c bits of p (a keyed shuffle: lookup ids are secret-keyed, so the partitions are even)
   and sums an account's rows across files;
3. placement: each asset's leaf positions, the keyed stream of section 5, as a sort of its
   draws over tasks (`_placement`); each partition gets the range for its holders (holders
   are in lookup-id order);
4. trees: each partition hashes its leaves and sends them to the block of the position space
   they fall in; each block builds its subtree; the driver builds the top levels from the
   blocks' roots (2^t per asset) and sends each block its top path;
5. bundles and shards, in waves of partitions so that paths in flight stay bounded: each
   block sends every partition the paths of its leaves; each partition makes its clients'
   bundles (EntrySource, the same code as one machine), encrypts them with their synthetic
   IVs, merges its range of dummy entries and writes its shards (a shard is never split
   between partitions: c <= the shard bits b); the driver builds the top of the shard tree
   from the partitions' subtree roots, and the partitions fill in their shards' headers.

Everything a task computes is a function of the input and the secrets, never of the
partitioning or of which worker runs it, so a task that Dask runs again (a worker died)
gives the same bytes, and the site equals the single-machine engine's byte for byte.
Signing, the log, the pages and the codes file stay on the driver (pipeline.py).

The workers need the master secret (to derive the clients' keys) and write into the
staging folder beside the site: on a real cluster use TLS between scheduler and workers
and a filesystem every worker mounts at the same path (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import math
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _crypto
from .._version import __version__
from ..errors import ConfigError, InputError, WorkerError
from ..progress import NO_PROGRESS, Progress
from ..protocol.amounts import AMOUNT_BYTES
from ..protocol.bundle import (
    BundleLayout,
    bundle_aad,
    shard_bits,
    shard_prefix_chars,
    shard_tree,
)
from ..protocol.codes import client_secrets
from ..protocol.hashing import (
    FORMAT_V2,
    epoch_key_material,
    padded_height,
    padding_key,
    padding_prefix,
    shuffle_key,
)
from ..protocol.layout import PROOFS
from ..protocol.models import Asset, AssetLiabilities, bundle_layout
from ..protocol.tree import ENTRY, SparseSumTree
from .client_codes import HEADER as CODES_HEADER
from .client_codes import client_codes_rows
from .config import EngineChoice
from .engine import EntrySource, client_keys, leaf_entries
from .epoch import (
    MAX_PRIVACY_HEIGHT,
    MIN_AUTO_ENTRIES,
    Privacy,
    client_entries,
    dummy_entries,
    dummy_held_counts,
    dummy_key,
    emit_shards,
    entry_iv_key,
    fill_shard_header,
    holders_by_lookup,
    split_parts,
    write_shard_file,
)
from .liabilities import (
    Liabilities,
    check_not_empty,
    check_totals,
    liabilities_files,
    raise_file_problems,
    read_liabilities_file,
)

# Accounts a partition holds, about: 2^c partitions for the input's accounts.
ACCOUNTS_PER_PARTITION = 1 << 17
# Never more partitions than the fewest shards any epoch has (shard_bits(4096)), so that a
# shard is never split between two partitions.
MAX_PARTITION_BITS = 7
# Blocks of each tree: 2^4 per asset at most, so that the leaves move in (partitions x blocks)
# pieces of a useful size; each block is still one task, and there are assets x 16 of them.
MAX_BLOCK_BITS = 4
# Path bytes in flight at once, over the cluster: the bundles are made in waves this big.
WAVE_BYTES = 1 << 29
DUMMY_CHUNK = 1 << 20
PARTITIONS_ENV = "PORSEGREGATE_DASK_PARTITIONS"  # partition bits, for tests and benchmarks
STATS_ENV = "PORSEGREGATE_DASK_STATS"  # write measurements (JSON) to this file
FAULT_ENV = "PORSEGREGATE_FAULT"  # "dask-worker:<marker>": a worker kills itself once (tests)


# --- tasks: what the workers run (module-level functions, pickled by reference) -----------


@dataclass
class _Rows:
    """Accounts with their keys and balances, sorted by lookup id (one file's, or one
    partition's after the group-by)."""

    lookups: np.ndarray  # (m, 16) uint8
    keys: np.ndarray  # (m, 32)
    commitments: np.ndarray  # (m, 32)
    accounts: list[str]
    codes: list[str]
    amounts: np.ndarray  # (m, A, 16) big-endian
    held: np.ndarray  # (m, A) bool

    def top(self, bits: int) -> np.ndarray:
        head = self.lookups.view(">u8")[:, 0] if len(self.lookups) else np.zeros(0, ">u8")
        return (
            (head >> np.uint64(64 - bits)).astype(np.int64)
            if bits
            else np.zeros(len(self.lookups), dtype=np.int64)
        )

    def take(self, rows: np.ndarray | slice) -> _Rows:
        index = np.arange(len(self.accounts))[rows]
        return _Rows(
            self.lookups[rows],
            self.keys[rows],
            self.commitments[rows],
            [self.accounts[i] for i in index.tolist()],
            [self.codes[i] for i in index.tolist()],
            self.amounts[rows],
            self.held[rows],
        )


@dataclass
class _Read:
    rows: _Rows | None
    failure: InputError | None
    totals: list[int]


def _read_task(
    path: str, assets: tuple[Asset, ...], master: bytes, epoch: str, part: bool
) -> _Read:
    """One input file, read and checked as the single-machine engine reads it, its accounts'
    keys derived (engine.client_keys), sorted by lookup id."""
    try:
        ledger = read_liabilities_file(Path(path), assets, part=part)
    except InputError as exc:
        return _Read(None, exc, [0] * len(assets))
    accounts = ledger.accounts
    codes, lookups, keys, commitments = client_keys(master, epoch, accounts)
    m = len(accounts)
    amounts = np.zeros((m, len(assets), AMOUNT_BYTES), dtype=np.uint8)
    held = np.zeros((m, len(assets)), dtype=bool)
    for ai in range(len(assets)):
        amounts[ledger.holders[ai], ai] = ledger.amounts[ai]
        held[ledger.holders[ai], ai] = True
    rows = _Rows(
        np.frombuffer(lookups, dtype=np.uint8).reshape(m, 16),
        np.frombuffer(keys, dtype=np.uint8).reshape(m, 32),
        np.frombuffer(commitments, dtype=np.uint8).reshape(m, 32),
        accounts,
        codes,
        amounts,
        held,
    )
    return _Read(rows.take(_by_lookup(rows.lookups)), None, ledger.totals())


def _by_lookup(lookups: np.ndarray) -> np.ndarray:
    """The rows' order by lookup id."""
    return holders_by_lookup(np.arange(len(lookups)), lookups)


def _read_summary(read: _Read) -> tuple[InputError | None, list[int], int]:
    return read.failure, read.totals, 0 if read.rows is None else len(read.rows.accounts)


def _select(read: _Read, part: int, bits: int) -> _Rows | None:
    """The rows of one file that go to partition `part` (their lookup ids' first bits)."""
    rows = read.rows
    if rows is None:
        return None
    top = rows.top(bits)
    return rows.take(slice(int(np.searchsorted(top, part)), int(np.searchsorted(top, part + 1))))


def _group_task(assets: int, *pieces: _Rows | None) -> _Rows:
    """One partition: its accounts from every file, one row each (an account's rows in
    several files summed), sorted by lookup id."""
    found = [p for p in pieces if p is not None and len(p.accounts)]
    if not found:
        return _Rows(
            np.zeros((0, 16), np.uint8),
            np.zeros((0, 32), np.uint8),
            np.zeros((0, 32), np.uint8),
            [],
            [],
            np.zeros((0, assets, AMOUNT_BYTES), np.uint8),
            np.zeros((0, assets), bool),
        )
    rows = _Rows(
        np.concatenate([p.lookups for p in found]),
        np.concatenate([p.keys for p in found]),
        np.concatenate([p.commitments for p in found]),
        [a for p in found for a in p.accounts],
        [c for p in found for c in p.codes],
        np.concatenate([p.amounts for p in found]),
        np.concatenate([p.held for p in found]),
    )
    rows = rows.take(_by_lookup(rows.lookups))
    same = np.all(rows.lookups[1:] == rows.lookups[:-1], axis=1) if len(rows.accounts) else []
    dup = np.nonzero(same)[0]
    if not len(dup):
        return rows
    keep = np.ones(len(rows.accounts), dtype=bool)
    for i in dup.tolist():  # an account in several files (rare): row i added into row i + 1
        if rows.accounts[i] != rows.accounts[i + 1]:
            raise RuntimeError("two clients derived the same lookup id")  # 2^-128
        for ai in range(assets):
            total = int.from_bytes(rows.amounts[i, ai].tobytes(), "big") + int.from_bytes(
                rows.amounts[i + 1, ai].tobytes(), "big"
            )
            rows.amounts[i + 1, ai] = np.frombuffer(total.to_bytes(16, "big"), np.uint8)
        rows.held[i + 1] |= rows.held[i]
        keep[i] = False
    return rows.take(np.nonzero(keep)[0])


def _group_summary(rows: _Rows) -> tuple[int, list[int], list[int]]:
    """(clients, holders per asset, how many clients hold k assets for k = 0..A)."""
    counts = rows.held.sum(axis=1)
    histogram = np.bincount(counts, minlength=rows.held.shape[1] + 1)
    return len(rows.accounts), rows.held.sum(axis=0).tolist(), histogram.tolist()


def _codes_rows(rows: _Rows) -> bytes:
    return client_codes_rows(zip(rows.accounts, rows.codes, strict=True)).encode()


def _balances_task(rows: _Rows, accounts: list[str]) -> dict[str, list[int | None]]:
    where = {a: i for i, a in enumerate(rows.accounts)}
    out: dict[str, list[int | None]] = {}
    for account in accounts:
        i = where.get(account)
        if i is None:
            continue
        out[account] = [
            int.from_bytes(rows.amounts[i, ai].tobytes(), "big") if rows.held[i, ai] else None
            for ai in range(rows.held.shape[1])
        ]
    return out


# --- placement: epoch.leaf_positions, spread over tasks ---------------------------------------
#
# A leaf's position is a draw of the asset's keyed stream: the k-th distinct draw (sparse
# trees) or the index of the k-th smallest draw (dense trees, 2 x leaves > 2^height). Both
# are a sort: the draws are cut into chunks by index, sorted into buckets by value, each
# bucket sorted (and, sparse, each value kept once, at its first index), and the driver
# finds from counts alone where the leaves' draws end; the kept draws are then ranked
# (sparse: by index, again in chunks; dense: the buckets' order is the rank order).

PLACE_CHUNK = 1 << 22  # draws a task makes
PLACE_BUCKET_BITS = 4  # 2^4 buckets of values


@dataclass
class _Draws:
    """Draws (or kept draws) and their indices, grouped: group g is bounds[g] .. bounds[g+1]."""

    values: np.ndarray  # uint64
    indices: np.ndarray  # int64
    bounds: np.ndarray


def _grouped(values: np.ndarray, indices: np.ndarray, groups: np.ndarray, count: int) -> _Draws:
    order = np.argsort(groups, kind="stable")
    return _Draws(
        values[order], indices[order], np.searchsorted(groups[order], np.arange(count + 1))
    )


def _draws_task(key: bytes, height: int, first: int, last: int, dense: bool) -> _Draws:
    """Draws first .. last-1 of the asset's placement stream, by bucket of value."""
    raw = _crypto.keystream_at(key, b"placement", 8 * first, 8 * (last - first))
    values = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
    width = 64 if dense else height  # dense: the raw 64-bit draws are sorted
    if not dense:
        values &= np.uint64((1 << height) - 1)
    shift = np.uint64(max(0, width - PLACE_BUCKET_BITS))
    buckets = (values >> shift).astype(np.int64)
    indices = np.arange(first, last, dtype=np.int64)
    return _grouped(values, indices, buckets, 1 << PLACE_BUCKET_BITS)


def _group_of(draws: _Draws, group: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = int(draws.bounds[group]), int(draws.bounds[group + 1])
    return draws.values[lo:hi], draws.indices[lo:hi]


def _bucket_task(dense: bool, *pieces: tuple[np.ndarray, np.ndarray]) -> _Draws:
    """One bucket of values: sorted by (value, index); sparse, each value once (first index)."""
    values = np.concatenate([p[0] for p in pieces])
    indices = np.concatenate([p[1] for p in pieces])
    order = np.lexsort((indices, values))
    values, indices = values[order], indices[order]
    if not dense and len(values) > 1:
        first = np.ones(len(values), dtype=bool)
        first[1:] = values[1:] != values[:-1]
        values, indices = values[first], indices[first]
    return _Draws(values, indices, np.zeros(0, dtype=np.int64))


def _bucket_size(bucket: _Draws) -> int:
    return len(bucket.values)


def _kept_per_chunk(bucket: _Draws, chunk: int, chunks: int) -> np.ndarray:
    return np.bincount(bucket.indices // chunk, minlength=chunks)[:chunks]


def _kept_between(bucket: _Draws, lo: int, hi: int) -> np.ndarray:
    mine = bucket.indices[(bucket.indices >= lo) & (bucket.indices < hi)]
    return np.sort(mine)


def _kept_by_chunk(bucket: _Draws, last: int, chunk: int, chunks: int) -> _Draws:
    """The bucket's kept draws up to index `last`, grouped by chunk of index."""
    keep = bucket.indices <= last
    indices = bucket.indices[keep]
    return _grouped(bucket.values[keep], indices, indices // chunk, chunks)


def _chunk_positions(*pieces: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One chunk's kept draws in index order: the positions of consecutive leaves."""
    values = np.concatenate([p[0] for p in pieces])
    indices = np.concatenate([p[1] for p in pieces])
    return values[np.argsort(indices, kind="stable")].astype(np.int64)


def _bucket_positions(bucket: _Draws) -> np.ndarray:
    """Dense: a bucket's positions (the draws' indices) in rank order."""
    return bucket.indices


def _ranks_task(lo: int, hi: int, starts: list[int], *arrays: np.ndarray) -> np.ndarray:
    """Ranks lo .. hi-1 from ranked pieces (piece j holds ranks starts[j] ..)."""
    out = [
        array[max(0, lo - start) : max(0, hi - start)]
        for start, array in zip(starts, arrays, strict=True)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@dataclass
class _Leaves:
    """One partition's leaves of one asset, by block of the position space."""

    positions: np.ndarray  # sorted
    entries: np.ndarray  # (k, 48)
    origin: np.ndarray  # each leaf's number in the partition (holder-major, lookup order)
    bounds: np.ndarray  # leaves of block q: bounds[q] .. bounds[q+1]


def _parts_of(rows: _Rows, ai: int, split: int, key: bytes, first: int) -> np.ndarray:
    holders = np.nonzero(rows.held[:, ai])[0]
    return split_parts(rows.amounts[holders, ai], split, key, first)


def _leaves_task(
    rows: _Rows,
    ai: int,
    positions: np.ndarray,
    first: int,
    epoch: str,
    asset: str,
    key: bytes,
    split: int,
    height: int,
    bits: int,
) -> _Leaves:
    holders = np.nonzero(rows.held[:, ai])[0]
    parts = _parts_of(rows, ai, split, key, first)
    count = len(holders) * split
    numbers = np.tile(np.arange(split, dtype=np.int64), len(holders))
    commitments = np.repeat(rows.commitments[holders], split, axis=0)
    entries = leaf_entries(epoch, asset, commitments, numbers, parts.reshape(count, AMOUNT_BYTES))
    order = np.argsort(positions, kind="stable")
    placed = positions[order]
    bounds = np.searchsorted(placed >> (height - bits), np.arange((1 << bits) + 1))
    return _Leaves(placed, entries[order], order.astype(np.int64), bounds)


def _block_leaves(leaves: _Leaves, block: int) -> _Leaves:
    lo, hi = int(leaves.bounds[block]), int(leaves.bounds[block + 1])
    return _Leaves(
        leaves.positions[lo:hi], leaves.entries[lo:hi], leaves.origin[lo:hi], leaves.bounds[:0]
    )


@dataclass
class _Block:
    tree: SparseSumTree
    partition: np.ndarray  # each leaf's partition, in position order
    origin: np.ndarray  # its number there
    top_path: bytes = b""


def _block_task(low: int, block: int, pad: bytes, *pieces: _Leaves) -> _Block:
    """One block of one asset's tree, from every partition's leaves in it."""
    positions = np.concatenate([p.positions for p in pieces])
    order = np.argsort(positions, kind="stable")
    entries = np.concatenate([p.entries for p in pieces])[order]
    partition = np.concatenate(
        [np.full(len(p.positions), i, dtype=np.int32) for i, p in enumerate(pieces)]
    )[order]
    origin = np.concatenate([p.origin for p in pieces])[order]
    local = positions[order] - (block << low)
    tree = SparseSumTree.build(low, local, entries, None, pad, 0, block)
    return _Block(tree, partition, origin)


def _block_root(block: _Block) -> tuple[bytes, int]:
    return block.tree.root, len(block.tree.leaves)


def _paths_task(block: _Block, top_path: bytes, lo: int, hi: int) -> dict[int, tuple[Any, Any]]:
    """The full paths (the block's levels, then the top's) of the block's leaves that belong
    to partitions lo .. hi-1: {partition: (leaf numbers, paths (k, height*48))}."""
    mine = np.nonzero((block.partition >= lo) & (block.partition < hi))[0]
    mine = mine[np.argsort(block.partition[mine], kind="stable")]  # by partition
    top = np.frombuffer(top_path, dtype=np.uint8)
    width = ENTRY * block.tree.height
    paths = np.empty((len(mine), width + len(top)), dtype=np.uint8)
    paths[:, :width] = block.tree.paths_of_ranks(mine)
    paths[:, width:] = top
    where = block.partition[mine]
    cuts = np.searchsorted(where, np.arange(lo, hi + 1))
    return {
        p: (
            block.origin[mine[cuts[p - lo] : cuts[p - lo + 1]]],
            paths[cuts[p - lo] : cuts[p - lo + 1]],
        )
        for p in range(lo, hi)
        if cuts[p - lo + 1] > cuts[p - lo]
    }


def _pick(paths: dict[int, tuple[Any, Any]], part: int) -> tuple[Any, Any] | None:
    return paths.get(part)


@dataclass(frozen=True)
class _KnownPaths:
    """EntrySource's view of a tree: the paths of one partition's leaves, by position."""

    positions: np.ndarray  # sorted
    order: np.ndarray  # the row of `rows` of each of `positions`
    rows: np.ndarray  # (k, height*48)

    def paths_matrix(self, indices: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.positions, indices)
        if len(indices) and (
            at.max() >= len(self.positions) or not np.array_equal(self.positions[at], indices)
        ):
            raise ValueError("a leaf without its path")
        found: np.ndarray = self.rows[self.order[at]]
        return found


@dataclass
class _Dummies:
    lookups: np.ndarray  # (d, 16), sorted
    lengths: np.ndarray  # int64

    def select(self, part: int, bits: int) -> _Dummies:
        head = self.lookups.view(">u8")[:, 0] if len(self.lookups) else np.zeros(0, ">u8")
        top = (
            (head >> np.uint64(64 - bits)).astype(np.int64)
            if bits
            else np.zeros(len(head), np.int64)
        )
        lo, hi = int(np.searchsorted(top, part)), int(np.searchsorted(top, part + 1))
        return _Dummies(self.lookups[lo:hi], self.lengths[lo:hi])


def _dummy_task(
    key: bytes, first: int, last: int, histogram: np.ndarray, sizes: np.ndarray
) -> _Dummies:
    """Dummies first .. last-1 of the keyed streams (epoch._dummy_plan's formulas)."""
    count = last - first
    lookups = np.frombuffer(
        _crypto.keystream_at(key, b"lookups", 16 * first, 16 * count), dtype=np.uint8
    ).reshape(count, 16)
    picks = np.frombuffer(_crypto.keystream_at(key, b"sizes", 8 * first, 8 * count), dtype=">u8")
    lengths = sizes[dummy_held_counts(picks, histogram)]
    order = _by_lookup(lookups)
    return _Dummies(lookups[order], lengths[order].astype(np.int64))


def _dummy_select(dummies: _Dummies, part: int, bits: int) -> _Dummies:
    return dummies.select(part, bits)


def _dummy_group(*pieces: _Dummies) -> _Dummies:
    lookups = np.concatenate([p.lookups for p in pieces])
    lengths = np.concatenate([p.lengths for p in pieces])
    order = _by_lookup(lookups)
    lookups, lengths = lookups[order], lengths[order]
    if len(lookups) > 1 and bool(np.any(np.all(lookups[1:] == lookups[:-1], axis=1))):
        raise RuntimeError("a dummy lookup id collides")  # 2^-128: never in practice
    return _Dummies(lookups, lengths)


def _dummy_bytes(dummies: _Dummies) -> int:
    return int(dummies.lengths.sum())


@dataclass(frozen=True)
class _Epoch:
    """What every bundle task needs to know about the epoch (small)."""

    epoch: str
    layout: BundleLayout
    split: int
    shuffle_keys: tuple[bytes, ...]
    iv_key: bytes
    dummy_key: bytes
    bits: int  # shard bits
    partition_bits: int
    folder: str


@dataclass
class _Shards:
    root: bytes
    paths: list[list[bytes]]
    sizes: list[int]
    first: int


def _bundle_task(
    part: int,
    epoch: _Epoch,
    rows: _Rows,
    firsts: list[int],
    positions: list[np.ndarray],
    dummies: _Dummies,
    dummy_offset: int,
    assets_of: list[int],
    *found: tuple[Any, Any] | None,
) -> _Shards:
    """One partition's clients' bundles, encrypted, merged with its dummies and written
    as its range of shards (with room for their headers)."""
    _maybe_die()
    layout, split = epoch.layout, epoch.split
    n = len(rows.accounts)
    asset_paths: list[list[tuple[Any, Any]]] = [[] for _ in range(layout.assets)]
    for ai, paths in zip(assets_of, found, strict=True):  # (leaf numbers, paths) by asset
        if paths is not None:
            asset_paths[ai].append(paths)
    client_positions, holder_rows, parts, known = [], [], [], []
    for ai in range(layout.assets):
        holders = np.nonzero(rows.held[:, ai])[0]
        where = np.full((n, split), -1, dtype=np.int64)
        where[holders] = positions[ai].reshape(-1, split)
        client_positions.append(where)
        hrows = np.full(n, -1, dtype=np.int64)
        hrows[holders] = np.arange(len(holders), dtype=np.int64)
        holder_rows.append(hrows)
        parts.append(_parts_of(rows, ai, split, epoch.shuffle_keys[ai], firsts[ai]))
        leaf_numbers = np.concatenate([f[0] for f in asset_paths[ai]] or [np.zeros(0, np.int64)])
        width = ENTRY * layout.height
        leaf_rows = np.concatenate(
            [f[1] for f in asset_paths[ai]] or [np.zeros((0, width), np.uint8)]
        )
        leaf_positions_ = positions[ai][leaf_numbers]
        order = np.argsort(leaf_positions_, kind="stable")
        known.append(_KnownPaths(leaf_positions_[order], order, leaf_rows))
    source = EntrySource(
        epoch.epoch,
        layout,
        layout.sum_bytes,
        rows.accounts,
        rows.lookups,
        rows.keys,
        client_positions,
        holder_rows,
        parts,
        known,  # type: ignore[arg-type]  # only paths_matrix is used
    )
    aad = bundle_aad(epoch.epoch, b"", FORMAT_V2)
    real = client_entries(source, np.arange(n), rows.keys, rows.lookups, aad, epoch.iv_key)
    fake = dummy_entries(epoch.dummy_key, dummies.lookups, dummies.lengths, dummy_offset)
    bits = epoch.bits
    per = 1 << (bits - epoch.partition_bits)
    lo = part * per
    folder = Path(epoch.folder)
    leaves: list[bytes] = []
    sizes: list[int] = []

    def write(index: int, entries: list[tuple[bytes, bytes]]) -> None:
        leaf, size = write_shard_file(folder, epoch.epoch, bits, index, entries)
        leaves.append(leaf)
        sizes.append(size)

    emit_shards(lo, lo + per, bits, heapq.merge(real, fake), write)
    root, local = shard_tree(leaves)
    return _Shards(root, local, sizes, lo)


def _shards_root(shards: _Shards) -> tuple[bytes, int]:
    return shards.root, sum(shards.sizes)


def _headers_task(shards: _Shards, top_path: list[bytes], bits: int, folder: str) -> None:
    """Each shard's header: its index and its path (the partition's levels, then the top's)."""
    for k, path in enumerate(shards.paths):
        fill_shard_header(Path(folder), bits, shards.first + k, [*path, *top_path])


def _maybe_die() -> None:
    """Tests: PORSEGREGATE_FAULT=dask-worker:<marker> kills the worker running the first
    bundle task (SIGKILL, as the OOM killer would), once: the marker file says it happened."""
    fault = os.environ.get(FAULT_ENV, "")
    if not fault.startswith("dask-worker:"):
        return
    marker = Path(fault.split(":", 1)[1])
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _nbytes(value: Any) -> int:
    """What one of the tasks' results holds, for Dask's memory accounting and spilling (its
    default sizeof sees only the outer object)."""
    total = 64
    for item in value.__dict__.values():
        if isinstance(item, np.ndarray):
            total += item.nbytes
        elif isinstance(item, SparseSumTree):
            total += item.leaves.nbytes + sum(a.nbytes for a in (*item.parents, *item.siblings))
        elif isinstance(item, list):
            total += 8 * len(item) + sum(
                len(x) + 49 if isinstance(x, str | bytes) else 64 for x in item[:1000]
            ) * max(1, len(item)) // max(1, min(len(item), 1000))
    return total


def _register_sizes() -> None:
    from dask.sizeof import sizeof

    for kind in (_Rows, _Read, _Leaves, _Block, _Dummies, _Shards):
        sizeof.register(kind)(_nbytes)  # type: ignore[no-untyped-call]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- the driver ------------------------------------------------------------------------------


@dataclass
class _Stats:
    started: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(time.perf_counter() - start, 3)


class DaskEpoch:
    """An epoch built on a Dask cluster: what publish signs (the asset summaries, the entry
    count) on the driver; the clients, trees and shards on the workers, as futures.

    Close it (a context manager) to release the cluster; the site is written by
    `stage_shards` into the staging folder, which every worker must see.
    """

    format = FORMAT_V2

    def __init__(self, client: Any, cluster: Any, epoch: str) -> None:
        self._client = client
        self._cluster = cluster
        self.epoch = epoch
        self.assets: tuple[AssetLiabilities, ...] = ()
        self.entries = 0
        self.clients = 0
        self.shard_prefix_chars = 0
        self._stats = _Stats()
        self._groups: list[Any] = []
        self._blocks: list[list[Any]] = []
        self._top_paths: list[dict[int, bytes]] = []
        self._positions: list[list[Any]] = []
        self._firsts: list[list[int]] = []
        self._histogram = np.zeros(0, dtype=np.int64)
        self._partition_bits = 0
        self._epoch_info: _Epoch | None = None
        self._master = b""
        self._privacy = Privacy()
        self._source = Path()
        self._asset_list: tuple[Asset, ...] = ()

    # Context manager: the cluster goes when the publish is over, whatever happened.
    def __enter__(self) -> DaskEpoch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
        self._cluster = None

    def _run(self, what: str, futures: Any) -> Any:
        """Gather, mapping a worker that died too often to WorkerError."""
        from distributed import KilledWorker

        try:
            return self._client.gather(futures)
        except KilledWorker as exc:
            raise WorkerError(
                f"Dask workers died running {what} ({exc}); nothing was published, the "
                "previous site is intact"
            ) from exc

    def _gather_counting(self, what: str, futures: list[Any], progress: Progress) -> list[Any]:
        """Every result, in order, the progress told of each (all were queued before)."""
        out = []
        for future in futures:
            out.append(self._run(what, future))
            progress.advance(1)
        return out

    def _submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Any:
        return self._client.submit(fn, *args, key=f"{key}-{self.epoch}-{id(self)}", pure=False)

    # -- building: everything up to the signed roots --

    def build(
        self,
        source: Path,
        assets: tuple[Asset, ...],
        master: bytes,
        privacy: Privacy,
        progress: Progress,
    ) -> None:
        self._master, self._privacy, self._source, self._asset_list = (
            master,
            privacy,
            source,
            assets,
        )
        stats, epoch, a_count = self._stats, self.epoch, len(assets)
        files = liabilities_files(source)
        with stats.stage("read"):
            progress.begin("reading liabilities (files)", len(files))
            whole = source.is_dir()  # the files are parts: one alone may have no rows
            reads = [
                self._submit(_read_task, str(f), assets, master, epoch, whole, key=f"read-{i}")
                for i, f in enumerate(files)
            ]
            summaries = self._gather_counting(
                "reading",
                [self._submit(_read_summary, r, key=f"rsum-{i}") for i, r in enumerate(reads)],
                progress,
            )
            progress.end()
            # The checks of liabilities.read_liabilities, in its order and words.
            raise_file_problems(source, [s[0] for s in summaries if s[0] is not None])
            if whole:
                check_not_empty(source, sum(s[2] for s in summaries))
            totals = [sum(s[1][ai] for s in summaries) for ai in range(a_count)]
            check_totals(source, assets, totals)
        upper = sum(s[2] for s in summaries)
        bits = self._choose_bits(upper, privacy)
        self._partition_bits = bits
        parts = 1 << bits
        with stats.stage("group"):
            progress.begin("grouping accounts (partitions)", parts)
            groups = []
            for p in range(parts):
                pieces = [
                    self._submit(_select, r, p, bits, key=f"sel-{i}-{p}")
                    for i, r in enumerate(reads)
                ]
                groups.append(self._submit(_group_task, a_count, *pieces, key=f"group-{p}"))
            counts = self._gather_counting(
                "grouping",
                [self._submit(_group_summary, g, key=f"gsum-{p}") for p, g in enumerate(groups)],
                progress,
            )
            progress.end()
            del reads
        self._groups = groups
        n = sum(c[0] for c in counts)
        entries = privacy.entry_count(n)
        split = privacy.split
        holders = [[c[1][ai] for c in counts] for ai in range(a_count)]
        most = max((sum(h) * split for h in holders), default=0)
        height = max(privacy.tree_height(entries), padded_height(most))
        if height > MAX_PRIVACY_HEIGHT:
            raise InputError(f"{most} leaves need a tree taller than {MAX_PRIVACY_HEIGHT}")
        self._histogram = np.sum([np.asarray(c[2], dtype=np.int64) for c in counts], axis=0)
        self.clients, self.entries = n, entries
        self.shard_prefix_chars = shard_prefix_chars(entries)
        stats.values.update(
            clients=n, entries=entries, partitions=parts, files=len(files), height=height
        )
        tbits = min(bits, height, MAX_BLOCK_BITS)
        low = height - tbits
        summaries_out: list[AssetLiabilities] = []
        with stats.stage("trees"):
            progress.begin("building trees", a_count)
            pads: list[bytes] = []
            root_futures: list[list[Any]] = []
            for ai, asset in enumerate(assets):
                pad = padding_prefix(epoch, asset.code, padding_key(master, epoch, asset.code))
                skey = shuffle_key(master, epoch, asset.code)
                total = sum(holders[ai])
                placed = self._placement(ai, total * split, height, skey)
                firsts, slices, leaves = [], [], []
                at = 0
                for p in range(parts):
                    k = holders[ai][p]
                    piece = placed(at * split, (at + k) * split, p)
                    firsts.append(at)
                    slices.append(piece)
                    leaves.append(
                        self._submit(
                            _leaves_task,
                            groups[p],
                            ai,
                            piece,
                            at,
                            epoch,
                            asset.code,
                            skey,
                            split,
                            height,
                            tbits,
                            key=f"leaves-{ai}-{p}",
                        )
                    )
                    at += k
                blocks = []
                for q in range(1 << tbits):
                    pieces = [
                        self._submit(_block_leaves, leaf, q, key=f"bl-{ai}-{q}-{p}")
                        for p, leaf in enumerate(leaves)
                    ]
                    blocks.append(
                        self._submit(_block_task, low, q, pad, *pieces, key=f"block-{ai}-{q}")
                    )
                self._blocks.append(blocks)
                self._positions.append(slices)
                self._firsts.append(firsts)
                pads.append(pad)
                root_futures.append(
                    [
                        self._submit(_block_root, b, key=f"root-{ai}-{q}")
                        for q, b in enumerate(blocks)
                    ]
                )
            # Every asset's tasks are queued before any root is waited for: no barrier
            # between one asset's trees and the next.
            for ai, asset in enumerate(assets):
                pad = pads[ai]
                roots = self._run("building trees", root_futures[ai])
                used = [q for q, (_, size) in enumerate(roots) if size]
                entries_of = np.frombuffer(b"".join(roots[q][0] for q in used), dtype=np.uint8)
                top = SparseSumTree.build(
                    tbits,
                    np.asarray(used, dtype=np.int64),
                    entries_of.reshape(len(used), ENTRY),
                    None,
                    pad,
                    low,
                )
                self._top_paths.append(
                    {
                        q: top.paths_matrix(np.asarray([q], dtype=np.int64))[0].tobytes()
                        for q in used
                    }
                )
                summaries_out.append(
                    AssetLiabilities(
                        asset.code, asset.decimals, top.root_hash, top.root_sum, height, split
                    )
                )
                progress.advance(1)
            progress.end()
        self.assets = tuple(summaries_out)
        layout = bundle_layout(FORMAT_V2, self.assets)
        assert layout is not None
        self._epoch_info = _Epoch(
            epoch,
            layout,
            split,
            tuple(shuffle_key(master, epoch, a.code) for a in assets),
            entry_iv_key(master, epoch),
            dummy_key(master, epoch),
            shard_bits(entries),
            bits,
            "",
        )

    def _placement(
        self, ai: int, count: int, height: int, key: bytes
    ) -> Callable[[int, int, int], Any]:
        """Asset `ai`'s leaf positions (epoch.leaf_positions, the same numbers) as ranked
        pieces on the workers; returns ranks(lo, hi, partition) -> a future of positions."""
        space = 1 << height
        if count > space:
            raise ValueError("more leaves than positions")
        if count == 0:
            return lambda lo, hi, part: self._submit(
                _ranks_task, 0, 0, [], key=f"pnone-{ai}-{part}"
            )
        dense = 2 * count > space
        groups = 1 << PLACE_BUCKET_BITS
        if dense:
            chunk, drawn = min(PLACE_CHUNK, space), space
        else:
            chunk = max(1, min(PLACE_CHUNK, count + count // 4 + 64))
            drawn = -(-(count + count // 4 + 64) // chunk) * chunk
        draws: list[Any] = []
        while True:
            for lo in range(len(draws) * chunk, drawn, chunk):
                draws.append(
                    self._submit(
                        _draws_task,
                        key,
                        height,
                        lo,
                        min(lo + chunk, drawn),
                        dense,
                        key=f"place-{ai}-{lo}",
                    )
                )
            buckets = [
                self._submit(
                    _bucket_task,
                    dense,
                    *[
                        self._submit(_group_of, d, g, key=f"pgroup-{ai}-{g}-{i}-{drawn}")
                        for i, d in enumerate(draws)
                    ],
                    key=f"pbucket-{ai}-{g}-{drawn}",
                )
                for g in range(groups)
            ]
            sizes = self._run(
                "placing leaves",
                [
                    self._submit(_bucket_size, b, key=f"psize-{ai}-{g}-{drawn}")
                    for g, b in enumerate(buckets)
                ],
            )
            if dense or sum(sizes) >= count:
                break
            drawn *= 2  # the stream extends: the draws so far stay the first ones
        if dense:
            ranked = [self._submit(_bucket_positions, b, key=f"pranked-{ai}-{g}")
                      for g, b in enumerate(buckets)]  # fmt: skip
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64).tolist()
        else:
            ranked, starts = self._sparse_ranks(ai, buckets, count, chunk, drawn)

        def ranks(lo: int, hi: int, part: int) -> Any:
            mine = [j for j, start in enumerate(starts)
                    if start < hi and (j + 1 == len(starts) or starts[j + 1] > lo)]  # fmt: skip
            return self._submit(
                _ranks_task,
                lo,
                hi,
                [starts[j] for j in mine],
                *[ranked[j] for j in mine],
                key=f"pslice-{ai}-{part}",
            )

        return ranks

    def _sparse_ranks(
        self, ai: int, buckets: list[Any], count: int, chunk: int, drawn: int
    ) -> tuple[list[Any], list[int]]:
        """The first `count` distinct draws in index order: the chunk holding the count-th
        kept draw from the buckets' counts, the exact last index from that chunk's kept
        indices; then the kept draws ranked by index, a chunk at a time."""
        chunks = drawn // chunk
        per_chunk = np.sum(
            self._run(
                "placing leaves",
                [
                    self._submit(_kept_per_chunk, b, chunk, chunks, key=f"phist-{ai}-{g}")
                    for g, b in enumerate(buckets)
                ],
            ),
            axis=0,
        )
        upto = np.cumsum(per_chunk)
        last_chunk = int(np.searchsorted(upto, count))  # the first chunk reaching count
        before = int(upto[last_chunk - 1]) if last_chunk else 0
        inside = np.sort(np.concatenate(
            self._run(
                "placing leaves",
                [self._submit(_kept_between, b, last_chunk * chunk, (last_chunk + 1) * chunk,
                              key=f"pcut-{ai}-{g}") for g, b in enumerate(buckets)],
            )
        ))  # fmt: skip
        last = int(inside[count - before - 1])
        kept = [self._submit(_kept_by_chunk, b, last, chunk, last_chunk + 1, key=f"pkept-{ai}-{g}")
                for g, b in enumerate(buckets)]  # fmt: skip
        ranked = [
            self._submit(
                _chunk_positions,
                *[
                    self._submit(_group_of, k, c, key=f"pchunk-{ai}-{c}-{g}")
                    for g, k in enumerate(kept)
                ],
                key=f"pranked-{ai}-{c}",
            )
            for c in range(last_chunk + 1)
        ]
        sizes = [int(n) for n in per_chunk[:last_chunk]] + [count - before]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64).tolist()
        return ranked, starts

    def _choose_bits(self, accounts: int, privacy: Privacy) -> int:
        fewest = shard_bits(privacy.entries if privacy.entries is not None else MIN_AUTO_ENTRIES)
        wanted = os.environ.get(PARTITIONS_ENV)
        if wanted is not None:
            bits = int(wanted)
        else:
            workers = max(1, len(self._client.scheduler_info().get("workers", {})))
            bits = max(
                math.ceil(math.log2(workers)) if workers > 1 else 0,
                math.ceil(math.log2(max(1, accounts / ACCOUNTS_PER_PARTITION))),
            )
        return max(0, min(bits, fewest, MAX_PARTITION_BITS))

    def balances_of(self, accounts: Sequence[str]) -> Liabilities:
        """The ledger rows of these accounts only (the reserves checks name a few clients)."""
        names = sorted(set(accounts))
        found: dict[str, list[int | None]] = {}
        if names:
            secrets = client_secrets(self._master, names)
            material = epoch_key_material(secrets, self.epoch)
            bits = self._partition_bits
            by_part: dict[int, list[str]] = {}
            for name, m in zip(names, material, strict=True):
                part = int.from_bytes(m[32:40], "big") >> (64 - bits) if bits else 0
                by_part.setdefault(part, []).append(name)
            for part, members in sorted(by_part.items()):
                found.update(
                    self._run(
                        "reading balances",
                        self._submit(
                            _balances_task, self._groups[part], members, key=f"bal-{part}"
                        ),
                    )
                )
        ordered = {a: found[a] for a in names if a in found}
        return Liabilities.from_balances(self._asset_list, ordered)

    # -- writing: the codes file and the shards --

    def codes_pieces(self) -> Iterator[bytes]:
        """The private codes file, a partition at a time (never every code on the driver)."""
        yield (",".join(CODES_HEADER) + "\n").encode()
        for p, g in enumerate(self._groups):
            yield self._run("writing codes", self._submit(_codes_rows, g, key=f"codes-{p}"))

    def stage_shards(self, folder: Path, progress: Progress | None) -> tuple[bytes, int]:
        """Every shard file into `folder`/proofs (headers included); returns the shard tree's
        root and the bytes written."""
        step = progress or NO_PROGRESS
        info = self._epoch_info
        assert info is not None
        info = _Epoch(**{**info.__dict__, "folder": str(folder)})
        (folder / PROOFS).mkdir(parents=True, exist_ok=True)
        parts = 1 << self._partition_bits
        bits = self._partition_bits
        stats = self._stats
        with stats.stage("dummies"):
            dummies = self._dummies(info, parts, bits)
            sizes = self._run(
                "planning dummies",
                [self._submit(_dummy_bytes, d, key=f"dbytes-{p}") for p, d in enumerate(dummies)],
            )
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        height = info.layout.height
        leaves = sum(a * info.split for a in self._histogram_leaves())
        path_bytes = leaves * height * ENTRY
        waves = max(1, min(parts, math.ceil(path_bytes / WAVE_BYTES)))
        stats.values.update(waves=waves, path_bytes=path_bytes)
        shards: list[Any] = [None] * parts
        with stats.stage("shards"):
            step.begin("writing proofs (partitions)", parts)
            results: list[Any] = [None] * parts
            in_flight: list[list[tuple[int, Any]]] = []

            def finish_wave() -> None:
                for p, future in in_flight.pop(0):
                    results[p] = self._run("writing proofs", future)
                    step.advance(1)

            for w in range(waves):
                lo, hi = parts * w // waves, parts * (w + 1) // waves
                picked: list[list[tuple[int, Any]]] = [[] for _ in range(hi - lo)]
                for ai, blocks in enumerate(self._blocks):
                    for q, block in enumerate(blocks):
                        top = self._top_paths[ai].get(q)
                        if top is None:
                            continue
                        paths = self._submit(
                            _paths_task, block, top, lo, hi, key=f"paths-{w}-{ai}-{q}"
                        )
                        for p in range(lo, hi):
                            picked[p - lo].append(
                                (ai, self._submit(_pick, paths, p, key=f"pick-{ai}-{q}-{p}"))
                            )
                batch = []
                for p in range(lo, hi):
                    args = [(ai, fut) for ai, fut in picked[p - lo]]
                    shards[p] = self._submit(
                        _bundle_task,
                        p,
                        info,
                        self._groups[p],
                        [self._firsts[ai][p] for ai in range(len(self._blocks))],
                        [self._positions[ai][p] for ai in range(len(self._blocks))],
                        dummies[p],
                        offsets[p],
                        [a for a, _ in args],
                        *[f for _, f in args],
                        key=f"bundle-{p}",
                    )
                    batch.append((p, self._submit(_shards_root, shards[p], key=f"sroot-{p}")))
                in_flight.append(batch)
                if len(in_flight) > 1:  # the next wave is queued while this one runs
                    finish_wave()
            while in_flight:
                finish_wave()
            step.end()
            root, top_paths = shard_tree([r[0] for r in results])
            self._run(
                "writing shard headers",
                [
                    self._submit(
                        _headers_task, s, top_paths[p], info.bits, info.folder, key=f"hdr-{p}"
                    )
                    for p, s in enumerate(shards)
                ],
            )
        # Every worker's writes on stable storage before the site is swapped in (the driver's
        # own sync covers only its own filesystem view).
        self._client.run(os.sync)
        self._write_stats()
        return root, sum(r[1] for r in results)

    def _histogram_leaves(self) -> list[int]:
        return [int(c) for c in self._histogram[1:] * np.arange(1, len(self._histogram))]

    def _dummies(self, info: _Epoch, parts: int, bits: int) -> list[Any]:
        count = self.entries - self.clients
        layout = info.layout
        sizes = np.asarray(
            [layout.entry_bytes(self.epoch, layout.slots(k)) for k in range(layout.assets + 1)],
            dtype=np.int64,
        )
        chunks = [
            self._submit(
                _dummy_task,
                info.dummy_key,
                lo,
                min(lo + DUMMY_CHUNK, count),
                self._histogram,
                sizes,
                key=f"dummy-{lo}",
            )
            for lo in range(0, count, DUMMY_CHUNK)
        ]
        out = []
        for p in range(parts):
            pieces = [
                self._submit(_dummy_select, c, p, bits, key=f"dsel-{i}-{p}")
                for i, c in enumerate(chunks)
            ]
            out.append(self._submit(_dummy_group, *pieces, key=f"dgroup-{p}"))
        return out

    def _write_stats(self) -> None:
        target = os.environ.get(STATS_ENV)
        if not target:
            return
        stats = self._stats
        workers = self._client.run(_peak_rss)
        report = {
            **stats.values,
            "workers": len(workers),
            "stages": stats.stages,
            "worker_peak_rss": sorted(workers.values()),
            "driver_peak_rss": _peak_rss(),
            "tasks": _task_times(self._client),
        }
        Path(target).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def _task_times(client: Any) -> dict[str, dict[str, float]]:
    """Per stage (the task key's first word): how many tasks, their total and longest run."""
    out: dict[str, dict[str, float]] = {}
    with contextlib.suppress(Exception):
        for item in client.get_task_stream(start=0):
            name = str(item.get("key", "")).split("-")[0].strip("('\"")
            spent = sum(
                s["stop"] - s["start"]
                for s in item.get("startstops", ())
                if s["action"] == "compute"
            )
            entry = out.setdefault(name, {"count": 0, "seconds_total": 0.0, "seconds_max": 0.0})
            entry["count"] += 1
            entry["seconds_total"] = round(entry["seconds_total"] + spent, 4)
            entry["seconds_max"] = round(max(entry["seconds_max"], spent), 4)
    return out


def connect(choice: EngineChoice) -> tuple[Any, Any]:
    """A Dask client: to `choice.scheduler`, or to a new LocalCluster of worker processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - an install without the extra
        raise ConfigError(
            "the dask engine needs Dask: pip install 'porsegregate[dask]' "
            "(in a clone: pip install '.[dask]')"
        ) from exc
    if choice.scheduler:
        import dask

        try:
            return Client(  # type: ignore[no-untyped-call]
                choice.scheduler,
                timeout=dask.config.get("distributed.comm.timeouts.connect"),
                set_as_default=False,
            ), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {choice.scheduler}: {exc}"
            ) from exc
    workers = choice.workers or max(1, min(os.cpu_count() or 1, 8))
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # what goes wrong is reported as WorkerError, once
    )
    return Client(cluster, set_as_default=False), cluster  # type: ignore[no-untyped-call]


def build_epoch_dask(
    choice: EngineChoice,
    source: Path,
    assets: tuple[Asset, ...],
    master: bytes,
    epoch: str,
    privacy: Privacy,
    progress: Progress | None = None,
) -> DaskEpoch:
    """Read, group, place and build every tree on the cluster; the caller closes it."""
    client, cluster = connect(choice)
    built = DaskEpoch(client, cluster, epoch)
    try:
        _same_software(client)
        _register_sizes()
        client.run(_register_sizes)
        client.run(_ignore_sigint)
        with contextlib.suppress(Exception):  # the scheduler records task times from now on
            client.get_task_stream(count=0)
        built._stats.values["engine_start_seconds"] = round(
            time.perf_counter() - built._stats.started, 3
        )
        built.build(source, assets, master, privacy, progress or NO_PROGRESS)
    except BaseException:
        built.close()
        raise
    return built


def _same_software(client: Any) -> None:
    """Every worker runs this porsegregate, and the Dask versions agree: a site made by two
    versions of the code would not be the one either would make."""
    try:
        client.get_versions(check=True)
    except ValueError as exc:
        raise ConfigError(f"the Dask cluster's versions do not match: {exc}") from exc
    found = client.run(_porsegregate_version)
    others = sorted({v for v in found.values() if v != __version__})
    if others:
        raise ConfigError(
            f"Dask workers run porsegregate {', '.join(others)}, this machine {__version__}: "
            "install the same version everywhere"
        )


def _porsegregate_version() -> str:
    return __version__


def _ignore_sigint() -> None:
    """A Ctrl-C in the terminal reaches the workers too: the driver decides what stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
