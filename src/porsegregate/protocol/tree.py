"""Merkle sum trees (docs/protocol.md section 5).

A level is one bytes object of 48-byte entries, hash (32) || sum (16): the
preimage of a parent is then NODE || the two adjacent child entries, so
building is one slice and one SHA-256 per node, and proof paths for many
leaves at once are a numpy gather over the same memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .._crypto import sha256_records
from ..errors import PathError, TreeOverflowError
from .amounts import AMOUNT_BYTES, MAX_AMOUNT
from .hashing import MAX_HEIGHT, NODE, node_hash

HASH_BYTES = 32
ENTRY = HASH_BYTES + AMOUNT_BYTES


def entry(hash_: bytes, amount: int) -> bytes:
    return hash_ + amount.to_bytes(AMOUNT_BYTES, "big")


@dataclass(frozen=True)
class SumTree:
    levels: tuple[bytes, ...]

    @classmethod
    def build(cls, leaf_entries: bytes, sums: Iterable[int]) -> SumTree:
        """Leaf entries (count a power of two) and their sums, in leaf order."""
        count = len(leaf_entries) // ENTRY
        if count == 0 or count & (count - 1) or len(leaf_entries) != count * ENTRY:
            raise ValueError("a sum tree needs a power-of-two number of 48-byte leaf entries")
        level_sums = list(sums)
        levels = [leaf_entries]
        current = leaf_entries
        sha = hashlib.sha256
        while len(current) > ENTRY:
            parent_sums = [level_sums[i] + level_sums[i + 1] for i in range(0, len(level_sums), 2)]
            if parent_sums and max(parent_sums) > MAX_AMOUNT:
                raise TreeOverflowError("a subtree sum exceeds 2^128-1")
            out = bytearray()
            for i, s in enumerate(parent_sums):
                out += sha(NODE + current[2 * ENTRY * i : 2 * ENTRY * (i + 1)]).digest()
                out += s.to_bytes(AMOUNT_BYTES, "big")
            current = bytes(out)
            levels.append(current)
            level_sums = parent_sums
        return cls(tuple(levels))

    @property
    def height(self) -> int:
        return len(self.levels) - 1

    @property
    def root_hash(self) -> bytes:
        return self.levels[-1][:HASH_BYTES]

    @property
    def root_sum(self) -> int:
        return int.from_bytes(self.levels[-1][HASH_BYTES:ENTRY], "big")

    def path(self, index: int) -> list[tuple[bytes, int]]:
        out = []
        for k in range(self.height):
            s = (index >> k) ^ 1
            e = self.levels[k][ENTRY * s : ENTRY * (s + 1)]
            out.append((e[:HASH_BYTES], int.from_bytes(e[HASH_BYTES:], "big")))
        return out

    def paths_matrix(self, indices: np.ndarray) -> np.ndarray:
        """Sibling entries for many leaves: shape (len(indices), height * 48), uint8."""
        m = len(indices)
        out = np.empty((m, self.height, ENTRY), dtype=np.uint8)
        for k in range(self.height):
            level = np.frombuffer(self.levels[k], dtype=np.uint8).reshape(-1, ENTRY)
            out[:, k, :] = level[(indices >> k) ^ 1]
        return out.reshape(m, self.height * ENTRY)


def fold_path(
    leaf: bytes, amount: int, index: int, siblings: list[tuple[bytes, int]], height: int
) -> tuple[bytes, int]:
    """Recompute (root hash, root sum) from a leaf, checking shape and ranges (T1-T3, T6, T10)."""
    if len(siblings) != height or height > MAX_HEIGHT:
        raise PathError(
            "path-height", f"the path has {len(siblings)} levels; the signed tree has {height}"
        )
    if not 0 <= index < (1 << height):
        raise PathError("index-range", f"leaf index {index} is outside a tree of height {height}")
    if not 0 <= amount <= MAX_AMOUNT:
        raise PathError("sum-range", "the leaf amount is outside [0, 2^128-1]")
    cur, total = leaf, amount
    for k, (sib, sib_sum) in enumerate(siblings):
        if len(sib) != HASH_BYTES:
            raise PathError("bundle-format", f"sibling {k} is not a 32-byte hash")
        if not 0 <= sib_sum <= MAX_AMOUNT:
            raise PathError("sum-range", f"sibling sum at level {k} is outside [0, 2^128-1]")
        if (index >> k) & 1:
            cur = node_hash(sib, sib_sum, cur, total)
        else:
            cur = node_hash(cur, total, sib, sib_sum)
        total += sib_sum
        if total > MAX_AMOUNT:
            raise PathError("sum-range", f"the sum at level {k + 1} exceeds 2^128-1")
    return cur, total


@dataclass(frozen=True)
class SparseSumTree:
    """porsegregate/2: a sum tree of height `height` whose leaves sit at chosen positions among
    2^height, every empty subtree a padding node (docs/protocol.md section 5).

    Only the nodes on the leaves' paths exist: level k holds the positions of its nodes
    (sorted) and, aligned with them, each node's sibling entry, real or padding, so a leaf's
    path is one lookup per level. The cost is about n * (height - log2 n + 2) hashes for n
    leaves, never 2^height.
    """

    height: int
    leaves: np.ndarray  # the leaves' positions, sorted (int64)
    parents: tuple[np.ndarray, ...]  # per level, each node's parent among the next level's
    siblings: tuple[np.ndarray, ...]  # per level, (nodes, 48) uint8 sibling entries, aligned
    root: bytes  # 48-byte entry

    @classmethod
    def build(
        cls,
        height: int,
        positions: np.ndarray,
        leaf_entries: bytes | np.ndarray,
        sums: object = None,
        pad: bytes = b"",
        base_level: int = 0,
        block: int = 0,
    ) -> SparseSumTree:
        """Leaves at distinct `positions` (sorted ascending) and their 48-byte entries (hash ||
        16-byte big-endian sum) in that order; `pad` is the padding prefix
        (hashing.padding_prefix). `sums` is ignored: the entries carry them.

        A subtree of a taller tree is built the same way: its bottom level is the tree's level
        `base_level`, and it is the `block`-th subtree of that height from the left (its
        padding nodes are named by their level and index in the whole tree; see `join`).

        A level at a time with numpy: pair the nodes by parent, fill a missing child with its
        padding node, hash every parent of the level in one batched call."""
        n = len(positions)
        entries = (
            np.frombuffer(leaf_entries, dtype=np.uint8)
            if isinstance(leaf_entries, bytes | bytearray)
            else np.ascontiguousarray(leaf_entries, dtype=np.uint8)
        )
        if entries.size != n * ENTRY:
            raise ValueError("one 48-byte entry per leaf position")
        entries = entries.reshape(n, ENTRY)
        pos = np.asarray(positions, dtype=np.int64)
        if n and (int(pos[-1]) >= 1 << height or int(pos[0]) < 0):
            raise ValueError("a leaf position is outside the tree")
        if n > 1 and not bool(np.all(pos[1:] > pos[:-1])):
            raise ValueError("leaf positions must be distinct and sorted")
        level_parents: list[np.ndarray] = []
        level_siblings: list[np.ndarray] = []
        leaves = pos
        for level in range(height):
            parents = pos >> 1
            first = np.ones(len(pos), dtype=bool)
            first[1:] = parents[1:] != parents[:-1]
            group = np.cumsum(first) - 1
            parent_pos = parents[first]
            count = len(parent_pos)
            right = (pos & 1).astype(bool)
            left_side = np.empty((count, ENTRY), dtype=np.uint8)
            right_side = np.empty((count, ENTRY), dtype=np.uint8)
            has_left = np.zeros(count, dtype=bool)
            has_right = np.zeros(count, dtype=bool)
            has_left[group[~right]] = True
            has_right[group[right]] = True
            left_side[group[~right]] = entries[~right]
            right_side[group[right]] = entries[right]
            lead = pad + bytes((base_level + level,))
            first_index = block << (height - level)
            for side, present, offset in ((left_side, has_left, 0), (right_side, has_right, 1)):
                missing = np.nonzero(~present)[0]
                if len(missing):
                    side[missing, :HASH_BYTES] = _padding_nodes(
                        lead, first_index + 2 * parent_pos[missing] + offset
                    )
                    side[missing, HASH_BYTES:] = 0
            siblings = np.where(right[:, None], left_side[group], right_side[group])
            level_parents.append(group.astype(np.int32))
            level_siblings.append(siblings)
            preimages = np.empty((count, 1 + 2 * ENTRY), dtype=np.uint8)
            preimages[:, 0] = NODE[0]
            preimages[:, 1 : 1 + ENTRY] = left_side
            preimages[:, 1 + ENTRY :] = right_side
            parent_entries = np.empty((count, ENTRY), dtype=np.uint8)
            parent_entries[:, :HASH_BYTES] = np.frombuffer(
                sha256_records(preimages.tobytes(), 1 + 2 * ENTRY), dtype=np.uint8
            ).reshape(count, HASH_BYTES)
            parent_entries[:, HASH_BYTES:] = add_sums(
                left_side[:, HASH_BYTES:], right_side[:, HASH_BYTES:]
            )
            pos, entries = parent_pos, parent_entries
        if n == 0:
            lead = pad + bytes((base_level + height,))
            root = _padding_nodes(lead, np.full(1, block, dtype=np.int64)).tobytes()
            empty = root + bytes(AMOUNT_BYTES)
            return cls(height, leaves, tuple(level_parents), tuple(level_siblings), empty)
        return cls(
            height, leaves, tuple(level_parents), tuple(level_siblings), entries[0].tobytes()
        )

    @classmethod
    def join(
        cls, blocks: list[SparseSumTree], top_of: Callable[[np.ndarray, np.ndarray], SparseSumTree]
    ) -> SparseSumTree:
        """The tree of height t + h made of 2^t subtrees of height h (`blocks`, left to right,
        each built with its `block` number and no base level) under a top tree of height t
        whose leaves are the non-empty blocks' roots: `top_of(block numbers, root entries)`
        builds it with base level h. Equal to building the whole tree at once."""
        h = blocks[0].height
        used = [b for b, tree in enumerate(blocks) if len(tree.leaves)]
        roots = np.frombuffer(b"".join(blocks[b].root for b in used), dtype=np.uint8)
        top = top_of(np.asarray(used, dtype=np.int64), roots.reshape(len(used), ENTRY))
        parents: list[np.ndarray] = []
        siblings: list[np.ndarray] = []
        if not used:
            empty = tuple(np.zeros(0, dtype=np.int32) for _ in range(h))
            nothing = tuple(np.zeros((0, ENTRY), dtype=np.uint8) for _ in range(h))
            leaves = np.zeros(0, dtype=np.int64)
            return cls(
                h + top.height, leaves, (*empty, *top.parents), (*nothing, *top.siblings), top.root
            )
        for k in range(h):
            offset = 0
            level_parents = []
            for rank, b in enumerate(used):
                tree = blocks[b]
                if k + 1 < h:
                    level_parents.append(tree.parents[k] + offset)
                    offset += len(tree.siblings[k + 1])
                else:
                    level_parents.append(np.full(len(tree.parents[k]), rank, dtype=np.int32))
            parents.append(np.concatenate(level_parents).astype(np.int32))
            siblings.append(np.concatenate([blocks[b].siblings[k] for b in used]))
        leaves = np.concatenate([(b << h) + blocks[b].leaves for b in used])
        return cls(
            h + top.height,
            leaves,
            (*parents, *top.parents),
            (*siblings, *top.siblings),
            top.root,
        )

    @property
    def root_hash(self) -> bytes:
        return self.root[:HASH_BYTES]

    @property
    def root_sum(self) -> int:
        return int.from_bytes(self.root[HASH_BYTES:ENTRY], "big")

    def path(self, index: int) -> list[tuple[bytes, int]]:
        row = self.paths_matrix(np.asarray([index], dtype=np.int64))[0].tobytes()
        return [
            (
                row[ENTRY * k : ENTRY * k + HASH_BYTES],
                int.from_bytes(row[ENTRY * k + HASH_BYTES : ENTRY * (k + 1)], "big"),
            )
            for k in range(self.height)
        ]

    def ranks(self, indices: np.ndarray) -> np.ndarray:
        """Each leaf index's rank among the leaves (ValueError for one that is not a leaf)."""
        at = np.searchsorted(self.leaves, indices)
        if len(indices) and (
            at.max() >= len(self.leaves) or not np.array_equal(self.leaves[at], indices)
        ):
            raise ValueError("a leaf index that is not in the tree")
        return at.astype(np.int64)

    def paths_matrix(self, indices: np.ndarray) -> np.ndarray:
        """Sibling entries for leaves at `indices`: shape (len(indices), height * 48), uint8."""
        return self.paths_of_ranks(self.ranks(indices))

    def paths_of_ranks(self, ranks: np.ndarray) -> np.ndarray:
        """Sibling entries for the leaves of these ranks: (len(ranks), height * 48), uint8."""
        m = len(ranks)
        out = np.empty((m, self.height, ENTRY), dtype=np.uint8)
        node = ranks
        for k in range(self.height):
            out[:, k, :] = self.siblings[k][node]
            node = self.parents[k][node]
        return out.reshape(m, self.height * ENTRY)


def _padding_nodes(lead: bytes, indices: np.ndarray) -> np.ndarray:
    """The padding node hashes H(lead || u64 index) for many indices: (len, 32) uint8."""
    count = len(indices)
    preimages = np.empty((count, len(lead) + 8), dtype=np.uint8)
    preimages[:, : len(lead)] = np.frombuffer(lead, dtype=np.uint8)
    preimages[:, len(lead) :] = indices.astype(">u8").view(np.uint8).reshape(count, 8)
    digests = sha256_records(preimages.tobytes(), len(lead) + 8)
    return np.frombuffer(digests, dtype=np.uint8).reshape(count, HASH_BYTES)


def add_sums(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise sums of 16-byte big-endian amounts, (rows, 16) uint8 each, exact; raises
    TreeOverflowError when one exceeds 2^128-1."""
    a = np.ascontiguousarray(left).view(">u8")
    b = np.ascontiguousarray(right).view(">u8")
    lo = a[:, 1] + b[:, 1]
    carry = (lo < a[:, 1]).astype(np.uint64)
    high = a[:, 0] + b[:, 0]
    over = high < a[:, 0]
    total_high = high + carry
    over |= total_high < high
    if bool(over.any()):
        raise TreeOverflowError("a subtree sum exceeds 2^128-1")
    out = np.empty((len(lo), 2), dtype=">u8")
    out[:, 0] = total_high
    out[:, 1] = lo
    return out.view(np.uint8).reshape(len(lo), AMOUNT_BYTES)
