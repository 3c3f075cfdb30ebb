"""Invariants of the sum tree and path folding, over random trees (hypothesis)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate.errors import PathError, TreeOverflowError
from porsegregate.protocol.amounts import MAX_AMOUNT
from porsegregate.protocol.hashing import node_hash, padded_height
from porsegregate.protocol.tree import ENTRY, SumTree, entry, fold_path

amounts = st.integers(min_value=0, max_value=2**100)


def build(values: list[int]) -> tuple[SumTree, list[bytes]]:
    height = padded_height(len(values))
    values = values + [0] * ((1 << height) - len(values))
    leaves = [hashlib.sha256(b"leaf" + i.to_bytes(8, "big")).digest() for i in range(len(values))]
    tree = SumTree.build(b"".join(entry(h, v) for h, v in zip(leaves, values, strict=True)), values)
    return tree, leaves


@settings(max_examples=60, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=70))
def test_every_leaf_folds_to_the_root_and_sums_are_conserved(values: list[int]) -> None:
    tree, leaves = build(values)
    assert tree.root_sum == sum(values)
    assert tree.height == padded_height(len(values))
    for i, leaf in enumerate(leaves):
        value = values[i] if i < len(values) else 0
        assert fold_path(leaf, value, i, tree.path(i), tree.height) == (
            tree.root_hash,
            tree.root_sum,
        )


@settings(max_examples=40, deadline=None)
@given(st.lists(amounts, min_size=2, max_size=40), st.data())
def test_any_changed_byte_or_sum_in_a_path_fails(values: list[int], data: st.DataObject) -> None:
    tree, leaves = build(values)
    i = data.draw(st.integers(0, len(values) - 1))
    path = tree.path(i)
    level = data.draw(st.integers(0, len(path) - 1))
    h, s = path[level]
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, 31))
        bit = data.draw(st.integers(0, 7))
        h = h[:at] + bytes((h[at] ^ (1 << bit),)) + h[at + 1 :]
    else:
        s = data.draw(st.integers(0, 2**100).filter(lambda x: x != path[level][1]))
    path[level] = (h, s)
    root, _ = fold_path(leaves[i], values[i], i, path, tree.height)
    assert root != tree.root_hash


@settings(max_examples=30, deadline=None)
@given(st.lists(amounts, min_size=2, max_size=40), st.data())
def test_a_changed_leaf_amount_or_index_fails(values: list[int], data: st.DataObject) -> None:
    tree, leaves = build(values)
    i = data.draw(st.integers(0, len(values) - 1))
    other = data.draw(st.integers(0, (1 << tree.height) - 1).filter(lambda j: j != i))
    assert fold_path(leaves[i], values[i], other, tree.path(i), tree.height)[0] != tree.root_hash
    assert fold_path(leaves[i], values[i] + 1, i, tree.path(i), tree.height)[0] != tree.root_hash


def test_parent_binds_each_child_sum_separately() -> None:
    """T1: moving value from one side to the other changes the parent hash."""
    a, b = b"\x01" * 32, b"\x02" * 32
    assert node_hash(a, 10, b, 5) != node_hash(a, 5, b, 10)
    assert node_hash(a, 10, b, 5) != node_hash(b, 5, a, 10)


def test_paths_matrix_matches_single_paths() -> None:
    import numpy as np

    tree, _ = build(list(range(1, 30)))
    idx = np.array([0, 5, 17, 31], dtype=np.int64)
    matrix = tree.paths_matrix(idx)
    for row, i in enumerate(idx.tolist()):
        expected = b"".join(entry(h, s) for h, s in tree.path(i))
        assert matrix[row].tobytes() == expected


@pytest.mark.parametrize(
    ("height", "index", "siblings", "amount", "check"),
    [
        (2, 0, 1, 1, "path-height"),
        (2, 0, 3, 1, "path-height"),
        (2, 4, 2, 1, "index-range"),
        (2, -1, 2, 1, "index-range"),
        (2, 0, 2, MAX_AMOUNT + 1, "sum-range"),
        (65, 0, 65, 1, "path-height"),
    ],
)
def test_fold_rejects_bad_shapes(
    height: int, index: int, siblings: int, amount: int, check: str
) -> None:
    path = [(b"\x00" * 32, 1)] * siblings
    with pytest.raises(PathError) as info:
        fold_path(b"\x00" * 32, amount, index, path, height)
    assert info.value.check == check


def test_fold_rejects_a_sum_overflow() -> None:
    """T2/T3: a sibling sum that would wrap a negative balance around is out of range."""
    with pytest.raises(PathError) as info:
        fold_path(b"\x00" * 32, 5, 0, [(b"\x00" * 32, MAX_AMOUNT - 4)], 1)
    assert info.value.check == "sum-range"


def test_tree_refuses_overflowing_totals() -> None:
    values = [MAX_AMOUNT, 1]
    with pytest.raises(TreeOverflowError):
        SumTree.build(b"".join(entry(b"\x00" * 32, v) for v in values), values)


def test_tree_refuses_a_non_power_of_two() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        SumTree.build(b"\x00" * ENTRY * 3, [0, 0, 0])


@pytest.mark.parametrize(
    ("n", "h"), [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11)]
)
def test_padded_height(n: int, h: int) -> None:
    assert padded_height(n) == h
