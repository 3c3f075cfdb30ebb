"""Merkle sum trees (docs/protocol.md section 5).

A level is one bytes object of 48-byte entries, hash (32) || sum (16): the
preimage of a parent is then NODE || the two adjacent child entries, so
building is one slice and one SHA-256 per node, and proof paths for many
leaves at once are a numpy gather over the same memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

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
    positions: tuple[np.ndarray, ...]  # per level, sorted node positions (int64)
    siblings: tuple[bytes, ...]  # per level, 48-byte sibling entries aligned with positions
    root: bytes  # 48-byte entry

    @classmethod
    def build(
        cls, height: int, positions: np.ndarray, leaf_entries: bytes, sums: list[int], pad: bytes
    ) -> SparseSumTree:
        """Leaves at distinct `positions` (sorted ascending), their 48-byte entries and sums in
        that order; `pad` is the padding prefix (hashing.padding_prefix)."""
        n = len(positions)
        if len(leaf_entries) != n * ENTRY or len(sums) != n:
            raise ValueError("one 48-byte entry and one sum per leaf position")
        if n and (int(positions[-1]) >= 1 << height or int(positions[0]) < 0):
            raise ValueError("a leaf position is outside the tree")
        if n > 1 and not bool(np.all(positions[1:] > positions[:-1])):
            raise ValueError("leaf positions must be distinct and sorted")
        sha = hashlib.sha256
        zero = bytes(AMOUNT_BYTES)
        level_positions: list[np.ndarray] = []
        level_siblings: list[bytes] = []
        current = leaf_entries
        pos = positions.tolist()
        level_sums = sums
        for level in range(height):
            lead = pad + bytes((level,))
            siblings: list[bytes] = []
            parents: list[bytes] = []
            parent_pos: list[int] = []
            parent_sums: list[int] = []
            m = len(pos)
            i = 0
            while i < m:
                p = pos[i]
                here = current[ENTRY * i : ENTRY * (i + 1)]
                if not p & 1 and i + 1 < m and pos[i + 1] == p + 1:
                    there = current[ENTRY * (i + 1) : ENTRY * (i + 2)]
                    siblings += (there, here)
                    parents.append(sha(NODE + here + there).digest())
                    total = level_sums[i] + level_sums[i + 1]
                    i += 2
                else:
                    empty = sha(lead + (p ^ 1).to_bytes(8, "big")).digest() + zero
                    siblings.append(empty)
                    pair = empty + here if p & 1 else here + empty
                    parents.append(sha(NODE + pair).digest())
                    total = level_sums[i]
                    i += 1
                if total > MAX_AMOUNT:
                    raise TreeOverflowError("a subtree sum exceeds 2^128-1")
                parent_pos.append(p >> 1)
                parent_sums.append(total)
            level_positions.append(np.asarray(pos, dtype=np.int64))
            level_siblings.append(b"".join(siblings))
            current = b"".join(
                [
                    h + s.to_bytes(AMOUNT_BYTES, "big")
                    for h, s in zip(parents, parent_sums, strict=True)
                ]
            )
            pos, level_sums = parent_pos, parent_sums
        if n == 0:
            current = sha(pad + bytes((height,)) + bytes(8)).digest() + zero
        return cls(height, tuple(level_positions), tuple(level_siblings), current[:ENTRY])

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

    def paths_matrix(self, indices: np.ndarray) -> np.ndarray:
        """Sibling entries for leaves at `indices`: shape (len(indices), height * 48), uint8."""
        m = len(indices)
        out = np.empty((m, self.height, ENTRY), dtype=np.uint8)
        for k in range(self.height):
            nodes = self.positions[k]
            at = np.searchsorted(nodes, indices >> k)
            if m and (at.max() >= len(nodes) or not np.array_equal(nodes[at], indices >> k)):
                raise ValueError("a leaf index that is not in the tree")
            level = np.frombuffer(self.siblings[k], dtype=np.uint8).reshape(-1, ENTRY)
            out[:, k, :] = level[at]
        return out.reshape(m, self.height * ENTRY)
