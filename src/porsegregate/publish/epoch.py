"""Building one epoch: every client's keys, one sum tree per asset, every encrypted proof.

This is the hot path of `publish`. Per-client state is kept in flat lists;
trees are bytes levels (tree.py); proof paths are gathered with numpy for
thousands of clients at once; shards are produced in lookup order so that
each one can be written and forgotten as soon as it is complete.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .. import _crypto
from ..protocol.amounts import AMOUNT_BYTES
from ..protocol.bundle import bundle_aad, bundle_header, leaf_header, shard_prefix_chars
from ..protocol.codes import client_secret, format_code
from ..protocol.hashing import (
    commitment_prefix,
    epoch_keys,
    leaf_prefix,
    lp,
    padding_key,
    padding_prefix,
    published_height,
    shuffle_key,
)
from ..protocol.models import AssetLiabilities
from ..protocol.tree import SumTree
from .liabilities import Liabilities

CHUNK = 4096
PART0 = (0).to_bytes(4, "big")

Progress = Callable[[str, int], None]


@dataclass
class EpochProofs:
    """What an epoch publishes about liabilities, plus the private per-client state."""

    epoch: str
    assets: tuple[AssetLiabilities, ...]
    accounts: list[str]
    codes: list[str]  # empty when rebuilt from a data room's keys (build_trees)
    shard_prefix_chars: int
    _lookups: list[bytes]
    _keys: list[bytes]
    _positions: list[np.ndarray]
    _trees: list[SumTree]
    _liabilities: Liabilities

    def shards(
        self, iv_source: Callable[[], bytes] | None = None
    ) -> Iterator[tuple[str, list[tuple[bytes, bytes]]]]:
        """(hex prefix, sorted [(lookup, encrypted entry)]) for every non-empty shard."""
        q = self.shard_prefix_chars
        order = sorted(range(len(self.accounts)), key=self._lookups.__getitem__)
        balances = self._liabilities.balances
        asset_heads = [lp(a.code.encode()) + b"\x01" for a in self.assets]
        aad_prefix = bundle_aad(self.epoch, b"")
        header_prefix = bundle_header(self.epoch, "", 0)[:-2]  # magic, version, epoch
        encrypt = _crypto.aes_gcm_encrypt
        current: str | None = None
        entries: list[tuple[bytes, bytes]] = []
        for start in range(0, len(order), CHUNK):
            chunk = np.asarray(order[start : start + CHUNK], dtype=np.int64)
            paths: list[dict[int, bytes]] = []
            for ai, tree in enumerate(self._trees):
                idx = self._positions[ai][chunk]
                held = np.nonzero(idx >= 0)[0]
                matrix = tree.paths_matrix(idx[held])
                width = matrix.shape[1]
                flat = matrix.tobytes()
                paths.append(
                    {
                        int(row): flat[width * n : width * (n + 1)]
                        for n, row in enumerate(held.tolist())
                    }
                )
            for row, ci in enumerate(chunk.tolist()):
                account = self.accounts[ci]
                amounts = balances[account]
                parts = []
                for ai, amount in enumerate(amounts):
                    if amount is None:
                        continue
                    tree = self._trees[ai]
                    parts.append(
                        asset_heads[ai]
                        + leaf_header(0, amount, tree.height, int(self._positions[ai][ci]))
                        + paths[ai][row]
                    )
                plaintext = b"".join(
                    [header_prefix, lp(account.encode()), bytes((len(parts),)), *parts]
                )
                lookup = self._lookups[ci]
                blob = encrypt(
                    self._keys[ci],
                    plaintext,
                    aad_prefix + lookup,
                    iv_source() if iv_source else None,
                )
                prefix = lookup.hex()[:q]
                if prefix != current:
                    if current is not None:
                        yield current, entries
                    current, entries = prefix, []
                entries.append((lookup, blob))
        if current is not None:
            yield current, entries


def build_epoch(
    liabilities: Liabilities,
    master_secret: bytes,
    epoch: str,
    progress: Progress | None = None,
) -> EpochProofs:
    """Every client's code and keys derived from the master secret, then the trees."""
    accounts = list(liabilities.balances)
    codes: list[str] = []
    lookups: list[bytes] = []
    keys: list[bytes] = []
    commitments: list[bytes] = []
    commit = commitment_prefix(epoch)
    sha = hashlib.sha256
    for i, account in enumerate(accounts):
        secret = client_secret(master_secret, account)
        codes.append(format_code(secret))
        k = epoch_keys(secret, epoch)
        lookups.append(k.lookup)
        keys.append(k.key)
        commitments.append(sha(commit + k.nonce + lp(account.encode())).digest())
        if progress is not None and i % 16384 == 16383:
            progress("clients", 16384)
    asset_keys = {
        a.code: AssetKeys(
            padding_key(master_secret, epoch, a.code), shuffle_key(master_secret, epoch, a.code)
        )
        for a in liabilities.assets
    }
    return build_trees(
        liabilities, epoch, ClientKeys(lookups, keys, commitments), asset_keys, codes, progress
    )


@dataclass(frozen=True)
class AssetKeys:
    """One asset's secret keys for one epoch (padding leaves, keyed shuffle)."""

    padding: bytes
    shuffle: bytes


@dataclass(frozen=True)
class ClientKeys:
    """Every client's lookup id, proof key and account commitment for one epoch, in the order
    of the liabilities' accounts (flat lists: publish holds millions)."""

    lookups: list[bytes]
    keys: list[bytes]
    commitments: list[bytes]


def build_trees(
    liabilities: Liabilities,
    epoch: str,
    clients: ClientKeys,
    asset_keys: Mapping[str, AssetKeys],
    codes: list[str],
    progress: Progress | None = None,
) -> EpochProofs:
    """The trees and proofs from one epoch's keys alone: publish derives them from the master
    secret; an auditor's data room (dataroom_export.py) holds exactly these, and no codes."""
    accounts = list(liabilities.balances)
    n = len(accounts)
    lookups, keys, commitments = clients.lookups, clients.keys, clients.commitments
    if not len(lookups) == len(keys) == len(commitments) == n:
        raise ValueError("one lookup id, key and commitment per client is needed")
    sha = hashlib.sha256
    if len(set(lookups)) != n:  # 128-bit collisions do not happen; refuse rather than lose a client
        raise RuntimeError("two clients derived the same lookup id")

    balances = liabilities.balances
    trees: list[SumTree] = []
    positions: list[np.ndarray] = []
    summaries: list[AssetLiabilities] = []
    for ai, asset in enumerate(liabilities.assets):
        holders = [ci for ci, a in enumerate(accounts) if balances[a][ai] is not None]
        amounts = [balances[accounts[ci]][ai] or 0 for ci in holders]
        height = published_height(len(holders))
        size = 1 << height
        prefix = leaf_prefix(epoch, asset.code)
        entries = []
        for ci, amt in zip(holders, amounts, strict=True):
            encoded = amt.to_bytes(AMOUNT_BYTES, "big")
            entries.append(sha(prefix + commitments[ci] + PART0 + encoded).digest() + encoded)
        pad = padding_prefix(epoch, asset.code, asset_keys[asset.code].padding)
        zero = bytes(AMOUNT_BYTES)
        entries.extend(
            sha(pad + j.to_bytes(8, "big")).digest() + zero for j in range(size - len(holders))
        )
        skey = asset_keys[asset.code].shuffle
        # Keyed shuffle: sort by HMAC(shuffle key, leaf hash), compared as 32-byte big-endian.
        sort_keys = np.frombuffer(
            b"".join([hmac.digest(skey, e[:32], "sha256") for e in entries]), dtype=">u8"
        ).reshape(-1, 4)
        order = np.lexsort(sort_keys.T[::-1])
        del sort_keys
        all_sums = amounts + [0] * (size - len(holders))
        order_list = order.tolist()
        tree = SumTree.build(
            b"".join([entries[j] for j in order_list]), [all_sums[j] for j in order_list]
        )
        del entries, order_list
        where = np.empty(size, dtype=np.int64)
        where[order] = np.arange(size, dtype=np.int64)
        client_pos = np.full(n, -1, dtype=np.int64)
        client_pos[np.asarray(holders, dtype=np.int64)] = where[: len(holders)]
        trees.append(tree)
        positions.append(client_pos)
        summaries.append(
            AssetLiabilities(asset.code, asset.decimals, tree.root_hash, tree.root_sum, height)
        )
        if progress is not None:
            progress("trees", 1)
    return EpochProofs(
        epoch=epoch,
        assets=tuple(summaries),
        accounts=accounts,
        codes=codes,
        shard_prefix_chars=shard_prefix_chars(n),
        _lookups=lookups,
        _keys=keys,
        _positions=positions,
        _trees=trees,
        _liabilities=liabilities,
    )
