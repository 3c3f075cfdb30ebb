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
