"""The transparency log: RFC 9162 roots and proofs, the shared vectors, hypothesis invariants."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate.protocol.transparency import (
    consistency_proof,
    inclusion_path,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from porsegregate.publish.history import TransparencyLog

from .conftest import VECTORS, load_vectors

LOG = load_vectors("log.json")


@pytest.mark.parametrize(
    "case", LOG["inclusion"], ids=lambda c: f"{c['index']}/{c['size']} {c.get('why', 'valid')}"
)
def test_inclusion_vector(case: dict[str, Any]) -> None:
    got = verify_inclusion(
        leaf_hash(bytes.fromhex(case["entry"])),
        case["index"],
        case["size"],
        [bytes.fromhex(h) for h in case["path"]],
        bytes.fromhex(case["root"]),
    )
    assert got is case["valid"]


@pytest.mark.parametrize(
    "case",
    LOG["consistency"],
    ids=lambda c: f"{c['first']}->{c['second']} {c.get('why', 'valid')}",
)
def test_consistency_vector(case: dict[str, Any]) -> None:
    got = verify_consistency(
        case["first"],
        case["second"],
        bytes.fromhex(case["first_root"]),
        bytes.fromhex(case["second_root"]),
        [bytes.fromhex(h) for h in case["path"]],
    )
    assert got is case["valid"]


def test_log_vectors_are_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(VECTORS / "generate_log.py"), str(tmp_path)], check=True, timeout=60
    )
    assert (tmp_path / "log.json").read_bytes() == (VECTORS / "log.json").read_bytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.data())
def test_every_proof_verifies_and_nothing_else_does(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(bytes([i % 256, i // 256]) * 16) for i in range(n)]
    root = root_of(leaves)
    i = data.draw(st.integers(0, n - 1))
    path = inclusion_path(i, leaves)
    assert verify_inclusion(leaves[i], i, n, path, root)
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        assert not verify_inclusion(leaves[j], i, n, path, root)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, leaves)
    assert verify_consistency(m, n, root_of(leaves[:m]), root, proof)
    if m < n:
        other = [*leaves[: m - 1], leaf_hash(b"forged")]
        assert not verify_consistency(m, n, root_of(other), root, proof)


def test_the_log_is_append_only(tmp_path: Path) -> None:
    import sqlite3

    with TransparencyLog(tmp_path / "log.sqlite") as log:
        log.append(b"\x01" * 32)
        log.append(b"\x02" * 32)
    con = sqlite3.connect(tmp_path / "log.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE leaf SET entry = ? WHERE id = 1", (b"\x03" * 32,))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM leaf WHERE id = 2")
    con.close()
    with TransparencyLog(tmp_path / "log.sqlite") as log:
        assert log.size == 2 and log.entries() == [b"\x01" * 32, b"\x02" * 32]
        with pytest.raises(ValueError, match="32-byte"):
            log.append(b"short")
