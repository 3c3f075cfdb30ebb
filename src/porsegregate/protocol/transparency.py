"""The append-only log of attestations (RFC 9162 hashing), and its proofs.

Storage is pymerkle's SQLite backend: an append-only table (triggers refuse
updates and deletes) whose roots are RFC 9162's Merkle Tree Hash. The proofs
published on the site are RFC 9162's inclusion path and consistency proof
(sections 2.1.3 and 2.1.4), generated here from the stored leaf hashes and
checked against pymerkle's root, so any client can verify them with the short
algorithms below (the browser verifier implements the same ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError

LEAF = b"\x00"
NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 9162 2.1.1)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, over leaf hashes."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_path(index, leaves[:k]), root_of(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), root_of(leaves[:k])]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1, over leaf hashes."""
    n = len(leaves)
    if not 0 < first <= n:
        raise ValueError(f"no consistency proof from size {first} to {n}")

    def subproof(m: int, sub: Sequence[bytes], complete: bool) -> list[bytes]:
        size = len(sub)
        if m == size:
            return [] if complete else [root_of(sub)]
        k = _split(size)
        if m <= k:
            return [*subproof(m, sub[:k], complete), root_of(sub[k:])]
        return [*subproof(m - k, sub[k:], False), root_of(sub[:k])]

    return subproof(first, leaves, True)


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `path` prove leaf `index` of a tree of `size` under `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of `second` leaves an append-only extension of `first`?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return len(path) == 0 and first_root == second_root
    proof = list(path)
    if first & (first - 1) == 0:  # a power of two: first_root is the first node
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


class TransparencyLog:
    """The custodian's log: one entry (an attestation's SHA-256) per published attestation."""

    def __init__(self, path: Path) -> None:
        from pymerkle import SqliteTree

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._tree = SqliteTree(str(path))
        except Exception as exc:  # sqlite3 errors, or pymerkle's "not contiguous"
            raise ConfigError(f"{path}: not a porsegregate transparency log ({exc})") from exc

    def close(self) -> None:
        self._tree.close()

    def __enter__(self) -> TransparencyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return int(self._tree.get_size())

    def entries(self) -> list[bytes]:
        return [bytes(self._tree.get_entry(i)) for i in range(1, self.size + 1)]

    def leaves(self) -> list[bytes]:
        return [bytes(self._tree.get_leaf(i)) for i in range(1, self.size + 1)]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else bytes(self._tree.get_root(size))

    def append(self, entry: bytes) -> int:
        """Append an entry; its 0-based index. The stored leaf must be RFC 9162's."""
        if len(entry) != 32:
            raise ValueError("log entries are 32-byte SHA-256 digests")
        index = int(self._tree.append_entry(entry)) - 1
        if bytes(self._tree.get_leaf(index + 1)) != leaf_hash(entry):
            raise ConfigError(f"{self.path}: the log does not hash leaves as RFC 9162")
        return index
