"""The arithmetic of the append-only log of attestations: RFC 9162 hashing and proofs.

Pure functions over leaf hashes: the roots (2.1.1), inclusion paths and
consistency proofs (2.1.3, 2.1.4) the publisher puts on the site, and the
short algorithms every verifier checks them with (the browser verifier
implements the same ones). The log's storage is the publisher's
(publish/history.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .models import LogEntry

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


def final_entries(entries: Sequence[LogEntry]) -> dict[str, LogEntry]:
    """Each epoch's last entry, in log order: a republished epoch counts at its last entry."""
    finals: dict[str, LogEntry] = {}
    for entry in entries:
        finals.pop(entry.epoch, None)
        finals[entry.epoch] = entry
    return finals
