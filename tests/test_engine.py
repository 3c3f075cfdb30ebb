"""The bulk engine of publish (publish/engine.py, the batched primitives it stands on) gives
exactly what the one-client-at-a-time definitions give, whatever the number of workers."""

from __future__ import annotations

import csv
import hashlib
import io
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate import _crypto
from porsegregate.errors import TreeOverflowError
from porsegregate.protocol.amounts import MAX_AMOUNT
from porsegregate.protocol.bundle import shard_bits
from porsegregate.protocol.codes import (
    client_secret,
    client_secrets,
    format_code,
    format_codes,
    parse_code,
)
from porsegregate.protocol.hashing import NODE, epoch_key_material, epoch_keys, padding_node
from porsegregate.protocol.models import Asset
from porsegregate.protocol.tree import ENTRY, SparseSumTree, fold_path
from porsegregate.publish import engine
from porsegregate.publish.client_codes import HEADER, client_codes_rows, escape_cell
from porsegregate.publish.epoch import Privacy, build_epoch
from porsegregate.publish.liabilities import Liabilities

# --- batched primitives ----------------------------------------------------------------------


def test_hkdf_each_is_rfc_5869() -> None:
    # RFC 5869, test cases 1 and 3 (SHA-256).
    ikm = bytes([0x0B] * 22)
    okm = _crypto.hkdf_each([ikm], bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)[0]
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    okm = _crypto.hkdf_each([ikm], b"", b"", 42)[0]
    assert okm.hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=5), st.binary(max_size=20),
       st.binary(max_size=40), st.integers(1, 200))  # fmt: skip
def test_hkdf_each_equals_hkdf(ikms: list[bytes], salt: bytes, info: bytes, length: int) -> None:
    assert _crypto.hkdf_each(ikms, salt, info, length) == [
        _crypto.hkdf(ikm, salt, info, length) for ikm in ikms
    ]


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.lists(st.binary(max_size=100), max_size=6))
def test_hmac_and_sha256_batches_equal_one_at_a_time(key: bytes, messages: list[bytes]) -> None:
    assert _crypto.hmac_sha256_each(key, messages) == [
        _crypto.hmac_sha256(key, m) for m in messages
    ]
    assert _crypto.sha256_each(messages) == [_crypto.sha256(m) for m in messages]
    records = b"".join(m[:7].ljust(7, b"\0") for m in messages)
    assert _crypto.sha256_records(records, 7) == b"".join(
        hashlib.sha256(records[i : i + 7]).digest() for i in range(0, len(records), 7)
    )


def test_sha256_records_refuses_a_partial_record() -> None:
    with pytest.raises(ValueError, match="whole number of records"):
        _crypto.sha256_records(b"abc", 2)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 3000))
def test_keystream_at_is_a_slice_of_the_stream(offset: int, length: int) -> None:
    key = bytes(range(32))
    assert (
        _crypto.keystream_at(key, b"label", offset, length)
        == _crypto.keystream(key, b"label", offset + length)[offset:]
    )


account_ids = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
).filter(lambda a: a == a.strip())


@settings(max_examples=40, deadline=None)
@given(st.lists(account_ids, max_size=8))
def test_codes_and_epoch_keys_in_bulk_equal_one_at_a_time(accounts: list[str]) -> None:
    master = bytes(range(32))
    secrets = client_secrets(master, accounts)
    assert secrets == [client_secret(master, a) for a in accounts]
    codes = format_codes(secrets)
    assert codes == [format_code(s) for s in secrets]
    assert [parse_code(c) for c in codes] == secrets
    material = epoch_key_material(secrets, "2026-11")
    for secret, m in zip(secrets, material, strict=True):
        k = epoch_keys(secret, "2026-11")
        assert m == k.nonce + k.lookup + k.key


cells = st.text(st.sampled_from(list("ab1 =+-@\t\r\n,\"'ü")), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(cells, cells), max_size=6))
def test_the_codes_file_is_what_the_csv_module_writes(rows: list[tuple[str, str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((escape_cell(a), escape_cell(c)) for a, c in rows)
    assert ",".join(HEADER) + "\n" + client_codes_rows(rows) == text.getvalue()


# --- the sparse sum tree ---------------------------------------------------------------------


def reference_root(height: int, leaves: dict[int, tuple[bytes, int]], pad: bytes) -> bytes:
    """The tree's root entry straight from section 5's definition, recursively."""

    def node(level: int, index: int) -> tuple[bytes, int]:
        lo, hi = index << level, (index + 1) << level
        if not any(lo <= p < hi for p in leaves):
            return padding_node(pad, level, index), 0
        if level == 0:
            return leaves[index]
        (lh, ls), (rh, rs) = node(level - 1, 2 * index), node(level - 1, 2 * index + 1)
        digest = hashlib.sha256(
            NODE + lh + ls.to_bytes(16, "big") + rh + rs.to_bytes(16, "big")
        ).digest()
        return digest, ls + rs

    h, s = node(height, 0)
    return h + s.to_bytes(16, "big")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 7), st.data())
def test_sparse_tree_is_the_definition_and_every_path_folds(
    height: int, data: st.DataObject
) -> None:
    positions = sorted(
        data.draw(st.sets(st.integers(0, (1 << height) - 1), max_size=min(1 << height, 12)))
    )
    amounts = [data.draw(st.integers(0, 2**100)) for _ in positions]
    leaves = {
        p: (hashlib.sha256(p.to_bytes(8, "big")).digest(), a)
        for p, a in zip(positions, amounts, strict=True)
    }
    pad = b"\x02pad" + bytes(32)
    entries = b"".join(h + a.to_bytes(16, "big") for h, a in leaves.values())
    tree = SparseSumTree.build(height, np.asarray(positions, dtype=np.int64), entries, None, pad)
    assert tree.root == reference_root(height, leaves, pad)
    for p in positions:
        h, a = leaves[p]
        assert fold_path(h, a, p, tree.path(p), height) == (tree.root_hash, tree.root_sum)


def test_sparse_tree_refuses_an_overflowing_sum_and_a_stranger() -> None:
    entries = b"".join(bytes(32) + MAX_AMOUNT.to_bytes(16, "big") for _ in range(2))
    with pytest.raises(TreeOverflowError):
        SparseSumTree.build(2, np.asarray([0, 3]), entries, None, b"\x02")
    tree = SparseSumTree.build(2, np.asarray([0, 3]), bytes(2 * ENTRY), None, b"\x02")
    with pytest.raises(ValueError, match="not in the tree"):
        tree.paths_matrix(np.asarray([1]))


# --- the engine: the same epoch whatever the number of workers -------------------------------


def _ledger(n: int) -> Liabilities:
    assets = (Asset("BTC", 8), Asset("ETH", 18), Asset("USDC", 6))
    rng = np.random.default_rng(5)
    balances: dict[str, list[int | None]] = {}
    for i in range(n):
        held = rng.random(3) < (0.7, 0.4, 0.2)
        if not held.any():
            held[0] = True
        balances[f"client-{i:05d}"] = [
            int(rng.integers(0, 10**12)) * 10**6 if h else None for h in held
        ]
    return Liabilities.from_balances(assets, balances)


def _publish_bytes(n: int, workers: int, monkeypatch: pytest.MonkeyPatch, split: int) -> dict:
    monkeypatch.setattr(engine, "PARALLEL_MIN", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, str(workers))
    proofs = build_epoch(_ledger(n), bytes(range(32)), "2026-11", None, Privacy(split=split))
    written: dict[int, bytes] = {}

    def write(index: int, entries: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
        data = b"".join(lookup + blob for lookup, blob in entries)
        return hashlib.sha256(data).digest(), len(entries)

    shards = proofs.write_shards(6, write)
    for index, digest, count in shards:
        written[index] = digest + count.to_bytes(4, "big")
    return {
        "assets": proofs.assets,
        "codes": proofs.codes_file,
        "lookups": proofs._keys.lookups.tobytes(),
        "shards": written,
    }


@pytest.mark.parametrize("split", [1, 2])
def test_one_worker_and_two_publish_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch, split: int
) -> None:
    one = _publish_bytes(3000, 1, monkeypatch, split)
    two = _publish_bytes(3000, 2, monkeypatch, split)
    assert one == two
    assert len(one["shards"]) == 64
    assert sum(int.from_bytes(v[32:], "big") for v in one["shards"].values()) == 4096


def test_the_bulk_entries_are_the_generator_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """write_shards (bulk, forked) and shards() (the reference generator the vectors use) give
    the same entries, dummies included."""
    monkeypatch.setattr(engine, "PARALLEL_MIN", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    proofs = build_epoch(_ledger(500), bytes(range(32)), "2026-11")

    def keep(index: int, entries: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
        return b"".join(a + b for a, b in entries), len(entries)

    bits = shard_bits(proofs.entries)
    bulk = {index: data for index, data, _ in proofs.write_shards(bits, keep)}
    reference = {index: b"".join(a + b for a, b in entries) for index, entries in proofs.shards()}
    assert bulk == reference
    assert len(bulk) == 1 << bits


def test_worker_count_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.WORKERS_ENV, "3")
    assert engine.worker_count(10**6) == engine.worker_count(10) == 3  # asked for: given
    monkeypatch.setenv(engine.WORKERS_ENV, "none")
    assert engine.worker_count(10) == 1  # small inputs: one process
    assert 1 <= engine.worker_count(10**6) <= min(8, len(os.sched_getaffinity(0)))


def test_a_killed_worker_raises_worker_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from porsegregate import _fs
    from porsegregate.errors import WorkerError

    monkeypatch.setenv(_fs.FAULT_ENV, engine.WORKER_FAULT)
    with pytest.raises(WorkerError, match="a worker process died"):
        engine.fork_map(_boom, [1, 2, 4], 2, {"factor": 1})
    assert engine.shared_state() == {}


def _boom(task: int) -> int:
    if task == 3:
        raise RuntimeError(f"worker failed on task {task}")
    return task * engine.shared_state()["factor"]


def test_workers_see_the_shared_state_and_a_failure_fails_the_run() -> None:
    assert engine.fork_map(_boom, [1, 2, 4], 2, {"factor": 10}) == [10, 20, 40]
    with pytest.raises(RuntimeError, match="task 3"):
        engine.fork_map(_boom, list(range(6)), 2, {"factor": 1})
    assert engine.shared_state() == {}  # nothing left behind for the next run


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4), st.integers(0, 3), st.data())
def test_a_tree_joined_from_blocks_is_the_tree_built_at_once(
    low: int, top: int, data: st.DataObject
) -> None:
    height = low + top
    positions = sorted(
        data.draw(st.sets(st.integers(0, (1 << height) - 1), max_size=min(1 << height, 20)))
    )
    entries = np.frombuffer(
        b"".join(hashlib.sha256(bytes([p % 256, p // 256])).digest() + p.to_bytes(16, "big")
                 for p in positions),
        dtype=np.uint8,
    ).reshape(len(positions), ENTRY)  # fmt: skip
    pad = b"\x02pad"
    pos = np.asarray(positions, dtype=np.int64)
    whole = SparseSumTree.build(height, pos, entries.tobytes(), None, pad)
    blocks = []
    for b in range(1 << top):
        mine = (pos >> low) == b
        blocks.append(
            SparseSumTree.build(low, pos[mine] - (b << low), entries[mine], None, pad, 0, b)
        )
    joined = SparseSumTree.join(
        blocks, lambda used, roots: SparseSumTree.build(top, used, roots, None, pad, low)
    )
    assert joined.root == whole.root
    assert joined.height == whole.height
    assert np.array_equal(joined.leaves, whole.leaves)
    if positions:
        assert np.array_equal(joined.paths_matrix(pos), whole.paths_matrix(pos))
