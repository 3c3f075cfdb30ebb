"""The hot path of publish for millions of clients: keys, trees and proof entries in bulk.

Per-client state lives in numpy arrays, one row per client (lookup ids, keys, leaf
positions) or per holder (amounts), never in per-client Python objects; every
step works on thousands of clients at once. The work is spread over worker
processes forked from this one: they read its arrays copy-on-write and send
back only bytes (keys, trees, or the names and hashes of the files they wrote).
Results never depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .. import _crypto
from .._fs import FAULT_ENV
from ..errors import WorkerError
from ..protocol.amounts import AMOUNT_BYTES
from ..protocol.bundle import BundleLayout, account_field, bundle_header_v2
from ..protocol.codes import client_secrets, format_codes
from ..protocol.hashing import account_commitments, epoch_key_material, leaf_prefix
from ..protocol.tree import ENTRY, HASH_BYTES, SparseSumTree
from .client_codes import HEADER as CODES_HEADER
from .client_codes import client_codes_rows

T = TypeVar("T")
R = TypeVar("R")

# Below this many clients one process does everything: forking costs more than it saves.
PARALLEL_MIN = 20_000
KEY_CHUNK = 32_768
WORKERS_ENV = "PORSEGREGATE_WORKERS"

# What forked workers read: set just before the fork, so they inherit it.
_SHARED: dict[str, Any] = {}


# glibc's malloc raises its mmap threshold (up to 32 MiB) after a large block is freed, so the
# many arrays of a few MiB that the workers send back and the trees' join frees would stay in
# the heap, counted in the peak, though free. Fixing the threshold at 1 MiB keeps them mapped
# apart and returned to the system when freed (M_MMAP_THRESHOLD = -3 in malloc.h).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def tune_allocator() -> None:
    """Let freed large arrays go back to the system (glibc only; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release_free_memory() -> None:
    """Give the heap's free pages back to the system between the large steps (glibc)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def worker_count(items: int = PARALLEL_MIN) -> int:
    """How many processes to use: PORSEGREGATE_WORKERS when set, else the CPUs this process
    may run on (at most 8), and 1 for inputs too small to gain from more."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return min(int(configured), 64)
    if items < PARALLEL_MIN:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def fork_map(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    workers: int,
    shared: dict[str, Any],
    done: Callable[[T], None] | None = None,
) -> list[R]:
    """[fn(task) for task in tasks], in order, over `workers` forked processes that see
    `shared` (through the module's _SHARED). `done(task)` runs here as each result arrives.

    A worker that dies (killed, out of memory) stops the run with WorkerError; any failure
    or interrupt here stops every worker before it is raised."""
    _SHARED.clear()
    _SHARED.update(shared)
    try:
        if workers <= 1 or len(tasks) <= 1:
            out = []
            for task in tasks:
                out.append(fn(task))
                if done is not None:
                    done(task)
            return out
        context = multiprocessing.get_context("fork")
        results: list[R] = []
        # A worker that dies leaves a pipe without a reader: writing to it must raise here
        # (and end as WorkerError), not kill this process with SIGPIPE, which the CLI
        # restores so that `| head` ends quietly.
        previous_sigpipe = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        pool = ProcessPoolExecutor(
            min(workers, len(tasks)), mp_context=context, initializer=_worker_signals
        )
        try:
            for task, result in zip(
                tasks, pool.map(functools.partial(_run, fn), tasks), strict=True
            ):
                results.append(result)
                if done is not None:
                    done(task)
        except BrokenProcessPool as exc:
            _stop(pool)
            raise WorkerError(
                "a worker process died before its work was done (killed, or out of memory?); "
                "nothing was published: run again, with PORSEGREGATE_WORKERS=1 if memory is short"
            ) from exc
        except BaseException:
            _stop(pool)
            raise
        finally:
            signal.signal(signal.SIGPIPE, previous_sigpipe)
        pool.shutdown()
        return results
    finally:
        _SHARED.clear()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started, end the workers now, and wait for the pool's own threads
    (they must not write to a dead worker's pipe once SIGPIPE is the CLI's again)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


# A test-only hook, as _fs.FAULT_ENV: PORSEGREGATE_FAULT=worker makes a worker kill itself
# (SIGKILL) at its first task, so that tests see what a killed worker does to a run.
WORKER_FAULT = "worker"


def _run(fn: Callable[[T], R], task: T) -> R:
    if os.environ.get(FAULT_ENV) == WORKER_FAULT:
        os.kill(os.getpid(), signal.SIGKILL)
    return fn(task)


def _worker_signals() -> None:
    """A worker ends quietly when the pool terminates it (SIGTERM) and leaves Ctrl-C to the
    parent, which stops the pool and cleans up: it must not run the CLI's handlers."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def ranges(count: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, count)) for lo in range(0, count, size)]


# --- client keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyArrays:
    """Every client's lookup id (n, 16), proof key (n, 32) and account commitment (n, 32),
    in the order of the liabilities' accounts."""

    lookups: np.ndarray
    keys: np.ndarray
    commitments: np.ndarray

    @classmethod
    def from_lists(
        cls, lookups: Sequence[bytes], keys: Sequence[bytes], commitments: Sequence[bytes]
    ) -> KeyArrays:
        n = len(lookups)
        return cls(
            np.frombuffer(b"".join(lookups), dtype=np.uint8).reshape(n, 16),
            np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(n, 32),
            np.frombuffer(b"".join(commitments), dtype=np.uint8).reshape(n, 32),
        )


def derive_client_keys(
    master_secret: bytes,
    epoch: str,
    accounts: Sequence[str],
    done: Callable[[int], None] | None = None,
) -> tuple[bytes, KeyArrays]:
    """Every client's epoch keys, derived from the master secret, and their codes as the
    private codes file's bytes (never a list of millions of strings)."""
    n = len(accounts)
    tasks = ranges(n, KEY_CHUNK)
    results = fork_map(
        _keys_chunk,
        tasks,
        worker_count(n),
        {"master": master_secret, "epoch": epoch, "accounts": accounts},
        None if done is None else (lambda t: done(t[1] - t[0])),
    )
    codes = (",".join(CODES_HEADER) + "\n" + "".join([r[0] for r in results])).encode()
    arrays = [b"".join([r[1] for r in results]), b"".join([r[2] for r in results])]
    arrays.append(b"".join([r[3] for r in results]))
    return codes, KeyArrays(
        np.frombuffer(arrays[0], dtype=np.uint8).reshape(n, 16),
        np.frombuffer(arrays[1], dtype=np.uint8).reshape(n, 32),
        np.frombuffer(arrays[2], dtype=np.uint8).reshape(n, 32),
    )


def _keys_chunk(bounds: tuple[int, int]) -> tuple[str, bytes, bytes, bytes]:
    lo, hi = bounds
    accounts = _SHARED["accounts"][lo:hi]
    codes, lookups, keys, commitments = client_keys(_SHARED["master"], _SHARED["epoch"], accounts)
    return client_codes_rows(zip(accounts, codes, strict=True)), lookups, keys, commitments


def client_keys(
    master_secret: bytes, epoch: str, accounts: Sequence[str]
) -> tuple[list[str], bytes, bytes, bytes]:
    """The accounts' codes, and their lookup ids (16 bytes each), keys (32) and commitments
    (32), concatenated in the accounts' order."""
    secrets = client_secrets(master_secret, accounts)
    material = epoch_key_material(secrets, epoch)
    commitments = account_commitments(epoch, [m[:32] for m in material], accounts)
    return (
        format_codes(secrets),
        b"".join([m[32:48] for m in material]),
        b"".join([m[48:80] for m in material]),
        b"".join(commitments),
    )


# --- trees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeTask:
    """One asset's tree: its holders (indices into the accounts), their part amounts
    (holders, parts, 16) big-endian, and its keys."""

    asset: str
    holders: np.ndarray
    parts: np.ndarray
    padding_prefix: bytes
    shuffle_key: bytes


def leaf_entries(
    epoch: str, asset: str, commitments: np.ndarray, numbers: np.ndarray, amounts: np.ndarray
) -> np.ndarray:
    """Leaf entries, one per row of (commitment (32), part number, amount (16))."""
    prefix = np.frombuffer(leaf_prefix(epoch, asset), dtype=np.uint8)
    count = len(amounts)
    width = len(prefix) + 32 + 4 + AMOUNT_BYTES
    pre = np.empty((count, width), dtype=np.uint8)
    pre[:, : len(prefix)] = prefix
    at = len(prefix)
    pre[:, at : at + 32] = commitments
    pre[:, at + 32 : at + 36] = numbers.astype(">u4").view(np.uint8).reshape(count, 4)
    pre[:, at + 36 :] = amounts
    out = np.empty((count, ENTRY), dtype=np.uint8)
    out[:, :HASH_BYTES] = np.frombuffer(
        _crypto.sha256_records(pre.tobytes(), width), dtype=np.uint8
    ).reshape(count, HASH_BYTES)
    out[:, HASH_BYTES:] = amounts
    return out


# Each tree is built as 2^BLOCK_BITS subtrees side by side when several processes share the
# work, so that the largest asset does not keep one process busy while the others wait.
BLOCK_BITS = 3


def build_sparse_trees(
    epoch: str,
    height: int,
    commitments: np.ndarray,
    tasks: Sequence[TreeTask],
    place: Callable[[int, int, bytes], np.ndarray],
    done: Callable[[], None] | None = None,
) -> list[tuple[SparseSumTree, np.ndarray]]:
    """Per asset, its porsegregate/2 tree and each leaf's position (holder-major). The trees'
    blocks are spread over the workers, largest first, and joined here (SparseSumTree.join:
    the same tree as one build)."""
    leaves = sum(t.parts.shape[0] * t.parts.shape[1] for t in tasks)
    workers = worker_count(leaves)
    bits = min(height, BLOCK_BITS) if workers > 1 else 0
    low = height - bits
    placed = []
    jobs = []
    for ai, task in enumerate(tasks):
        count = task.parts.shape[0] * task.parts.shape[1]
        where = place(count, height, task.shuffle_key)
        order = np.argsort(where, kind="stable")
        bounds = np.searchsorted(where[order] >> low, np.arange((1 << bits) + 1))
        placed.append((where, order))
        for b in range(1 << bits):
            jobs.append((ai, b, int(bounds[b]), int(bounds[b + 1])))
    jobs.sort(key=lambda job: job[2] - job[3])  # largest first
    shared = {
        "epoch": epoch,
        "height": low,
        "commitments": commitments,
        "tasks": tasks,
        "placed": placed,
    }
    built = fork_map(_block_task, jobs, workers, shared)
    blocks: dict[tuple[int, int], SparseSumTree] = {
        (ai, b): tree for (ai, b, _, _), tree in zip(jobs, built, strict=True)
    }
    del built
    out = []
    for ai, task in enumerate(tasks):
        # Each asset's blocks are let go once joined: one asset's are copied at a time.
        mine = [blocks.pop((ai, b)) for b in range(1 << bits)]
        tree = SparseSumTree.join(mine, functools.partial(_top, bits, task.padding_prefix, low))
        del mine
        out.append((tree, placed[ai][0]))
        if done is not None:
            done()
    return out


def _top(bits: int, pad: bytes, low: int, used: np.ndarray, roots: np.ndarray) -> SparseSumTree:
    return SparseSumTree.build(bits, used, roots, None, pad, low)


def _block_task(job: tuple[int, int, int, int]) -> SparseSumTree:
    """One block of one asset's tree: its leaves hashed, its levels built."""
    ai, block, lo, hi = job
    task: TreeTask = _SHARED["tasks"][ai]
    low: int = _SHARED["height"]
    where, order = _SHARED["placed"][ai]
    leaves = order[lo:hi]  # leaf numbers (holder-major) in position order
    nparts = task.parts.shape[1]
    holders = task.holders[leaves // nparts]
    numbers = leaves % nparts
    amounts = task.parts.reshape(-1, AMOUNT_BYTES)[leaves]
    entries = leaf_entries(
        _SHARED["epoch"], task.asset, _SHARED["commitments"][holders], numbers, amounts
    )
    local = where[leaves] - (block << low)
    return SparseSumTree.build(low, local, entries, None, task.padding_prefix, 0, block)


# --- proof entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class EntrySource:
    """What porsegregate/2 entries are made of, client by client (arrays in account order)."""

    epoch: str
    layout: BundleLayout
    sum_bytes: int
    accounts: Sequence[str]
    lookups: np.ndarray  # (n, 16)
    keys: np.ndarray  # (n, 32)
    positions: Sequence[np.ndarray]  # per asset (n, parts) int64, -1 where not held
    holder_rows: Sequence[np.ndarray]  # per asset (n,) int64 row in `parts`, -1
    parts: Sequence[np.ndarray]  # per asset (holders, parts, 16) big-endian
    trees: Sequence[SparseSumTree]

    def plaintexts(self, rows: np.ndarray) -> list[bytes]:
        """The bundles of the clients at `rows` (account indices), in that order."""
        layout, s = self.layout, self.sum_bytes
        height, nparts, assets = layout.height, layout.parts, layout.assets
        slot_bytes = layout.slot_bytes
        part_bytes = 8 + s + (HASH_BYTES + s) * height
        count = len(rows)
        held = np.zeros((count, assets), dtype=bool)
        slots_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for ai in range(assets):
            where = self.positions[ai][rows]
            have = np.nonzero(where[:, 0] >= 0)[0]
            if not len(have):
                continue
            held[have, ai] = True
            k = len(have)
            index = where[have].reshape(-1)
            paths = self.trees[ai].paths_matrix(index).reshape(k, nparts, height, ENTRY)
            amounts = self.parts[ai][self.holder_rows[ai][rows[have]]]  # (k, parts, 16)
            slot = np.empty((k, slot_bytes), dtype=np.uint8)
            slot[:, 0] = ai >> 8
            slot[:, 1] = ai & 0xFF
            body = slot[:, 2:].reshape(k, nparts, part_bytes)
            body[:, :, :8] = index.astype(">u8").view(np.uint8).reshape(k, nparts, 8)
            body[:, :, 8 : 8 + s] = amounts[:, :, AMOUNT_BYTES - s :]
            sib = body[:, :, 8 + s :].reshape(k, nparts, height, HASH_BYTES + s)
            sib[..., :HASH_BYTES] = paths[..., :HASH_BYTES]
            sib[..., HASH_BYTES:] = paths[..., ENTRY - s :]
            slots_of[ai] = (have, slot)
        counts = held.sum(axis=1)
        slots = np.asarray([layout.slots(k) for k in range(assets + 1)])[counts]
        rank = np.cumsum(held, axis=1) - 1
        header = np.frombuffer(bundle_header_v2(self.epoch), dtype=np.uint8)
        fields = np.frombuffer(
            b"".join([account_field(self.accounts[int(r)]) for r in rows]), dtype=np.uint8
        ).reshape(count, -1)
        head = len(header) + fields.shape[1] + 4
        out: list[bytes] = [b""] * count
        for size in np.unique(slots).tolist():
            members = np.nonzero(slots == size)[0]
            pt = np.zeros((len(members), head + size * slot_bytes), dtype=np.uint8)
            pt[:, : len(header)] = header
            pt[:, len(header) : len(header) + fields.shape[1]] = fields[members]
            pt[:, head - 4 : head - 2] = counts[members].astype(">u2").view(np.uint8).reshape(-1, 2)
            pt[:, head - 2 : head] = np.array([size >> 8, size & 0xFF], dtype=np.uint8)
            body = pt[:, head:].reshape(len(members), size, slot_bytes)
            local = np.full(count, -1, dtype=np.int64)
            local[members] = np.arange(len(members))
            for ai, (have, slot) in slots_of.items():
                mine = local[have] >= 0
                body[local[have[mine]], rank[have[mine], ai]] = slot[mine]
            data = pt.tobytes()
            width = pt.shape[1]
            for n, member in enumerate(members.tolist()):
                out[member] = data[n * width : (n + 1) * width]
        return out


def encrypt_entries(
    keys: np.ndarray,
    plaintexts: Iterable[bytes],
    lookups: np.ndarray,
    aad_prefix: bytes,
    iv_key: bytes,
) -> list[bytes]:
    """porsegregate/2 entries: AES-256-GCM of each plaintext under its client's key, aad =
    prefix || lookup, with a synthetic IV (SIV): HMAC-SHA256(iv_key, lookup || plaintext)[:12],
    one bulk HMAC call for the batch. The same input gives the same bytes; another plaintext
    under the same key and lookup gets another IV (but for a 2^-96 chance)."""
    plain = list(plaintexts)
    key_bytes = keys.tobytes()
    lookup_bytes = lookups.tobytes()
    if len(key_bytes) != 32 * len(plain) or len(lookup_bytes) != 16 * len(plain):
        raise ValueError("one 32-byte key and one 16-byte lookup id per plaintext")
    ivs = entry_ivs(iv_key, [lookup_bytes[16 * i : 16 * i + 16] for i in range(len(plain))], plain)
    encrypt = _crypto.aes_gcm_encrypt
    return [
        encrypt(
            key_bytes[32 * i : 32 * i + 32],
            pt,
            aad_prefix + lookup_bytes[16 * i : 16 * i + 16],
            ivs[i],
        )
        for i, pt in enumerate(plain)
    ]


def entry_ivs(iv_key: bytes, lookups: Sequence[bytes], plaintexts: Sequence[bytes]) -> list[bytes]:
    """Each entry's synthetic IV: HMAC-SHA256(V, lookup (16) || plaintext)[0:12]."""
    if len(iv_key) != 32:
        raise ValueError("the entry IV key V is 32 bytes")
    macs = _crypto.hmac_sha256_each(
        iv_key, [lookup + pt for lookup, pt in zip(lookups, plaintexts, strict=True)]
    )
    return [mac[: _crypto.IV_BYTES] for mac in macs]


def shared_state() -> dict[str, Any]:
    """What a forked worker sees (for the publisher's shard writers)."""
    return _SHARED
