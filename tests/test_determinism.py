"""porsegregate/2 publishes the same bytes from the same input, whatever the order of the
ledger's rows, and its synthetic IVs never reuse an IV for another plaintext under one key
(docs/protocol.md section 6, "Encrypted entry (porsegregate/2)"; section 5, the
secret-keyed streams): what lets a distributed engine publish what this one does."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate import _crypto
from porsegregate.protocol import layout
from porsegregate.protocol.bundle import bundle_aad, decode_shard_v2
from porsegregate.protocol.codes import parse_code
from porsegregate.protocol.hashing import FORMAT_V2, epoch_keys, padding_key, shuffle_key
from porsegregate.protocol.models import Asset
from porsegregate.protocol.serialization import parse_manifest
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import write_synthetic_liabilities
from porsegregate.publish.engine import derive_client_keys
from porsegregate.publish.epoch import (
    AssetKeys,
    Privacy,
    build_epoch,
    build_trees,
    dummy_held_counts,
    holders_by_lookup,
    split_balances,
    split_parts,
)
from porsegregate.publish.liabilities import Liabilities
from porsegregate.publish.pipeline import PublishOptions, PublishResult, publish
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE

EPOCH = "2026-11"
CLIENTS = 300
# The files of an epoch's folder that carry the time they were written: the log's checkpoint
# (its "time", the second it was signed), and the manifest that lists the checkpoint's hash.
TIMED = {
    "log/checkpoint.json",
    "log/checkpoint.json.sig",
    "log/checkpoints/1.json",
    "log/checkpoints/1.json.sig",
    "manifest.json",
    "manifest.json.sig",
}


def _workspace(root: Path) -> Path:
    """A workspace (keys, master secret) with a 300-client ledger, balances in 2 parts."""
    init_workspace(root, PASSPHRASE)
    config_path = root / "porsegregate.toml"
    text = config_path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("split =")]
    text = "\n".join(lines).replace("[privacy]\n", "[privacy]\nsplit = 2\n") + "\n"
    text += '\n[[assets]]\ncode = "USDC"\ndecimals = 6\n\n[[assets]]\ncode = "SOL"\ndecimals = 9\n'
    config_path.write_text(text, encoding="utf-8")
    write_synthetic_liabilities(load_config(config_path).liabilities, CLIENTS, 11)
    return root


def _copy(workspace: Path, to: Path) -> Path:
    shutil.copytree(workspace, to)
    return to


def _publish(workspace: Path, replace: bool = False) -> PublishResult:
    config = load_config(workspace / "porsegregate.toml")
    options = PublishOptions(
        EPOCH, snapshot_time="2026-11-30T23:59:59Z", allow_shortfall=True, replace=replace
    )
    return publish(config, PASSPHRASE, options)


def _digests(folder: Path) -> dict[str, str]:
    """Every file under the folder, by its path there: its SHA-256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _epoch_folder(result: PublishResult) -> Path:
    return result.site / layout.epoch_home(EPOCH)


def _shuffled(ledger: Path, seed: int) -> None:
    """The ledger's rows in another order (its header first): the accounts then first appear
    in another order too."""
    header, *rows = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(seed).shuffle(rows)
    ledger.write_text(header + "".join(rows), encoding="utf-8")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One workspace published three times, each from a copy of it (same secrets): as it is,
    again, and with its ledger's rows shuffled."""
    root = tmp_path_factory.mktemp("determinism")
    base = _workspace(root / "base")
    first = _publish(_copy(base, root / "first"))
    second = _publish(_copy(base, root / "second"))
    shuffled_ws = _copy(base, root / "shuffled")
    ledger = load_config(shuffled_ws / "porsegregate.toml").liabilities
    before = ledger.read_bytes()
    _shuffled(ledger, 3)
    assert ledger.read_bytes() != before
    shuffled = _publish(shuffled_ws)
    return {"base": base, "first": first, "second": second, "shuffled": shuffled, "root": root}


def _differing(a: dict[str, str], b: dict[str, str]) -> set[str]:
    return {name for name in a.keys() | b.keys() if a.get(name) != b.get(name)}


def _same_but_the_time(one: PublishResult, other: PublishResult) -> None:
    """Two publishes' epoch folders differ at most in the files that carry the time (all of
    them, unless both ran in the same second): the checkpoint with its "time" left out is
    the same, and the manifest lists the same files but the log's."""
    a, b = _epoch_folder(one), _epoch_folder(other)
    differ = _differing(_digests(a), _digests(b))
    assert differ in (set(), TIMED), differ
    checkpoints = [json.loads((f / "log/checkpoint.json").read_bytes()) for f in (a, b)]
    assert [{k: v for k, v in c.items() if k != "time"} for c in checkpoints] == [
        {k: v for k, v in checkpoints[0].items() if k != "time"}
    ] * 2
    listed = [json.loads((f / layout.MANIFEST).read_bytes())["files"] for f in (a, b)]
    untimed = [{k: v for k, v in files.items() if k not in TIMED} for files in listed]
    assert untimed[0] == untimed[1] and listed[0].keys() == listed[1].keys()


def test_the_same_workspace_published_twice_gives_the_same_epoch_bytes(
    sites: dict[str, Any],
) -> None:
    first = _digests(_epoch_folder(sites["first"]))
    second = _digests(_epoch_folder(sites["second"]))
    assert first.keys() == second.keys()
    proofs = [name for name in first if name.startswith(layout.PROOFS + "/")]
    assert len(proofs) == 1 << 7  # 4,096 entries: every one of the 2^7 shards
    # The attestation, its signature, the pages and every shard: byte for byte. What
    # differs carries the time of publication (the log's checkpoint), never a proof.
    assert {"attestation.json", "attestation.json.sig", *proofs} <= first.keys() - TIMED
    _same_but_the_time(sites["first"], sites["second"])
    assert (_epoch_folder(sites["first"]) / "attestation.json").read_bytes() == (
        _epoch_folder(sites["second"]) / "attestation.json"
    ).read_bytes()


def test_the_ledger_s_row_order_changes_no_proof(sites: dict[str, Any]) -> None:
    _same_but_the_time(sites["first"], sites["shuffled"])
    # The private codes are the same codes, in the ledger's (other) order.
    codes_first = read_client_codes(sites["first"].codes)
    codes_shuffled = read_client_codes(sites["shuffled"].codes)
    assert codes_first == codes_shuffled
    assert list(codes_first) != list(codes_shuffled)


def _entries(result: PublishResult) -> dict[bytes, bytes]:
    site = result.site
    manifest = parse_manifest((site / layout.MANIFEST).read_bytes())
    bits = manifest.shard_bits
    assert bits is not None
    out: dict[bytes, bytes] = {}
    for i in range(1 << bits):
        out.update(decode_shard_v2((site / layout.shard_file(i, bits)).read_bytes()).entries)
    return out


def test_republishing_after_a_change_reuses_no_iv_for_another_plaintext(
    sites: dict[str, Any], tmp_path: Path
) -> None:
    """--replace after one client's balance changed: for every client, the same plaintext has
    the same IV and another plaintext another IV; the changed client's IV changed."""
    workspace = _copy(sites["base"], tmp_path / "ws")
    before = _publish(workspace)
    old = _entries(before)
    codes = read_client_codes(before.codes)
    ledger = load_config(workspace / "porsegregate.toml").liabilities
    header, first_row, *rest = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    account, asset, amount = first_row.rstrip("\n").split(",")
    changed_row = f"{account},{asset},1{amount}\n"  # a leading digit: another balance
    ledger.write_text(header + changed_row + "".join(rest), encoding="utf-8")
    after = _publish(workspace, replace=True)
    new = _entries(after)
    assert read_client_codes(after.codes) == codes
    same = changed = 0
    for name, code in codes.items():
        keys = epoch_keys(parse_code(code), EPOCH)
        aad = bundle_aad(EPOCH, keys.lookup, FORMAT_V2)
        a, b = old[keys.lookup], new[keys.lookup]
        pa = _crypto.aes_gcm_decrypt(keys.key, a, aad)
        pb = _crypto.aes_gcm_decrypt(keys.key, b, aad)
        assert (pa == pb) == (a[:12] == b[:12]), name
        if pa == pb:
            same += 1
            assert a == b
        else:
            changed += 1
        if name == account:
            assert pa != pb and a[:12] != b[:12]
    # The changed balance moves that asset's tree: many clients' paths (and IVs) change,
    # and those whose paths do not keep their exact entry.
    assert changed >= 1 and same >= 1, (changed, same)
    # The dummies are the same bytes (same key, same held-count histogram).
    clients = {epoch_keys(parse_code(code), EPOCH).lookup for code in codes.values()}
    dummies = old.keys() - clients
    assert len(dummies) == len(old) - len(codes) > 0
    assert all(new[lookup] == old[lookup] for lookup in dummies)
    assert new.keys() == old.keys()


# --- the pure helpers ----------------------------------------------------------------------


def _reference(picks: list[int], held: list[int]) -> list[int]:
    """The rule as written: c sorted ascending, the d-th dummy's count c[u64_d mod n]."""
    c = sorted(held)
    return [c[p % len(c)] for p in picks]


@pytest.mark.parametrize(
    ("held", "picks"),
    [
        ([2, 2, 2, 2], [0, 1, 2, 3, 4, 2**64 - 1]),  # every client the same count
        ([3], [0, 1, 7, 2**64 - 1]),  # n = 1: always that client's count
        ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 9]),  # picks over the whole range, wrapping
        ([4, 0, 4, 1, 1], [0, 1, 2, 3, 4]),  # unsorted counts: their sorted order counts
        ([1, 1, 3], [2**64 - 1, 2**64 - 2, 2**64 - 3]),  # the largest u64s (2^64-1 mod 3 = 0)
    ],
)
def test_dummy_held_counts_table(held: list[int], picks: list[int]) -> None:
    histogram = np.bincount(np.asarray(held), minlength=5).astype(np.int64)
    got = dummy_held_counts(np.asarray(picks, dtype=np.uint64), histogram)
    assert got.dtype == np.int64
    assert got.tolist() == _reference(picks, held)


def test_dummy_held_counts_needs_a_client() -> None:
    with pytest.raises(ValueError, match="no client"):
        dummy_held_counts(np.zeros(3, dtype=np.uint64), np.zeros(4, dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
    st.lists(st.integers(0, 2**64 - 1), max_size=40),
)
def test_dummy_held_counts_is_the_sorted_list_s(held: list[int], picks: list[int]) -> None:
    histogram = np.bincount(np.asarray(held), minlength=7).astype(np.int64)
    got = dummy_held_counts(np.asarray(picks, dtype=np.uint64), histogram)
    assert got.tolist() == _reference(picks, held)


def _amounts(values: list[int]) -> np.ndarray:
    raw = b"".join(v.to_bytes(16, "big") for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), 16)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 2**128 - 1), min_size=1, max_size=30),
    st.integers(2, 5),
    st.data(),
)
def test_a_slice_splits_as_within_the_whole(values: list[int], parts: int, data: Any) -> None:
    key = bytes(range(32))
    first = data.draw(st.integers(0, len(values) - 1))
    last = data.draw(st.integers(first, len(values)))
    whole = split_parts(_amounts(values), parts, key)
    piece = split_parts(_amounts(values[first:last]), parts, key, first)
    assert piece.tobytes() == whole[first:last].tobytes()
    sums = [sum(p) for p in split_balances(values[first:last], parts, key, first)]
    assert sums == values[first:last]


def test_a_slice_read_from_the_stream_start_splits_otherwise() -> None:
    """`first` matters: the same amounts split from the stream's start give other parts."""
    key = bytes(range(32))
    values = [10**20, 10**21, 10**22]
    assert split_balances(values, 3, key, 1) != split_balances(values, 3, key, 0)


def test_holders_are_taken_in_lookup_id_order() -> None:
    lookups = np.frombuffer(
        bytes.fromhex(
            "ff"
            + "00" * 15  # account 0: the largest first byte
            + "00" * 15
            + "02"  # account 1
            + "00" * 16  # account 2: the least
            + "00" * 7
            + "01"
            + "00" * 8  # account 3: differs in byte 8 (the low half)
            + "00" * 15
            + "01"  # account 4
        ),
        dtype=np.uint8,
    ).reshape(5, 16)
    holders = np.asarray([0, 1, 3, 4], dtype=np.int64)
    assert holders_by_lookup(holders, lookups).tolist() == [4, 1, 3, 0]
    assert holders_by_lookup(np.asarray([2, 0], dtype=np.int64), lookups).tolist() == [2, 0]
    assert holders_by_lookup(np.zeros(0, dtype=np.int64), lookups).tolist() == []
    ordered = [bytes(lookups[i]) for i in holders_by_lookup(np.arange(5), lookups)]
    assert ordered == sorted(ordered)


def test_proofs_rebuilt_without_the_iv_key_make_plaintexts_but_no_entry() -> None:
    """A data room's rebuild (build_trees from the epoch's keys, as dataroom_export does) has
    the bundles publish encrypts, but no V: writing an entry is refused, clearly."""
    master = bytes(range(32))
    balances: dict[str, list[int | None]] = {
        f"client-{i}": [i * 10**6, None if i % 3 else i] for i in range(40)
    }
    liabilities = Liabilities.from_balances((Asset("BTC", 8), Asset("ETH", 18)), balances)
    published = build_epoch(liabilities, master, EPOCH, privacy=Privacy(split=2))
    _, keys = derive_client_keys(master, EPOCH, liabilities.accounts)
    asset_keys = {
        a.code: AssetKeys(padding_key(master, EPOCH, a.code), shuffle_key(master, EPOCH, a.code))
        for a in liabilities.assets
    }
    rebuilt = build_trees(liabilities, EPOCH, keys, asset_keys, b"", privacy=Privacy(split=2))
    rows = np.arange(len(liabilities.accounts))
    assert rebuilt.assets == published.assets
    assert rebuilt.plaintexts(rows) == published.plaintexts(rows)
    with pytest.raises(ValueError, match="IV key"):
        list(rebuilt.shards())
    with pytest.raises(ValueError, match="synthetic IVs"):
        list(published.shards(lambda: bytes(12)))
